"""The demo's status and fault tables, from hand-built records (no stack needed)."""

from __future__ import annotations

from perfkit.demo.control import Faults
from perfkit.demo.stack import Service, StackStatus
from perfkit.render.demo import faults_document, status_document, try_line
from perfkit.render.markdown import document

UP = StackStatus(
    postgres=Service("postgres", "postgresql://perfkit:pw@127.0.0.1:5999/perfkit_demo", 11, True),
    backend=Service("backend", "http://127.0.0.1:8001", 12, True),
    prometheus=Service("prometheus", None, None, False),
    cache=False, metrics_profile="instrumentator", tokens_file="/s/tokens.txt",
    log_file="/s/backend.log", scale=0.05)


def test_status_table_rows_and_lines() -> None:
    doc = status_document(UP)
    table = doc.tables()[0]
    assert table.column("service") == ["postgres", "backend", "prometheus"]
    assert table.column("state") == ["up", "up", "DOWN"]
    assert table.column("pid") == ["11", "12", "-"]
    assert table.column("address")[2] == "-"
    text = document(doc)
    assert "cache: off   metrics: instrumentator   scale: 0.05" in text
    assert "tokens: /s/tokens.txt" in text and "backend log: /s/backend.log" in text
    assert try_line(UP, "demo-x") == ("try: curl -H 'Authorization: Bearer demo-x' "
                                      "http://127.0.0.1:8001/auth/me")


def test_status_json_keeps_the_perfkit_demo_1_shape() -> None:
    assert UP.to_json() == {
        "schema": "perfkit.demo/1",
        "postgres": {"dsn": UP.postgres.address, "pid": 11, "up": True},
        "backend": {"url": "http://127.0.0.1:8001", "pid": 12, "up": True, "cache": False,
                    "metrics_profile": "instrumentator"},
        "prometheus": {"url": None, "pid": None, "up": False},
        "tokens_file": "/s/tokens.txt", "log_file": "/s/backend.log", "scale": 0.05}
    assert not UP.all_up


def test_faults_table() -> None:
    faults = Faults({"/auth/me": 100.0, "*": 5.0}, {"/accounts": 0.25})
    table = faults_document(faults).tables()[0]
    assert table.column("route") == ["*", "/accounts", "/auth/me"]
    assert table.column("extra latency ms") == ["5.00", "0.00", "100"]
    assert table.column("5xx") == ["0.0%", "25.0%", "0.0%"]
    assert faults_document(Faults()).tables()[0].column("route") == ["(none)"]


def test_a_fault_change_leaves_the_other_faults_alone() -> None:
    faults = Faults({"/auth/me": 100.0}, {"/auth/me": 0.5})
    assert faults.changed("/auth/me", None, 0).to_json() == {
        "latency_ms": {"/auth/me": 100.0}, "error_ratio": {}, "n_plus_one": []}
    assert faults.changed("/accounts", 7.0, None).latency_ms == {"/auth/me": 100.0,
                                                                 "/accounts": 7.0}
    assert faults.to_json() == {"latency_ms": {"/auth/me": 100.0},
                                "error_ratio": {"/auth/me": 0.5},
                                "n_plus_one": []}  # unchanged itself


def test_faults_table_shows_n_plus_one_only_when_a_route_has_it() -> None:
    faults = Faults({"/auth/me": 100.0}, {}, {"/conversations"})
    table = faults_document(faults).tables()[0]
    assert table.column("route") == ["/auth/me", "/conversations"]
    assert table.column("N+1") == ["off", "on"]
    assert table.column("extra latency ms") == ["100", "0.00"]
    plain = faults_document(Faults({"/auth/me": 100.0})).tables()[0]
    assert [c.header for c in plain.columns] == ["route", "extra latency ms", "5xx"]


def test_n_plus_one_on_and_off_leaves_the_other_faults_alone() -> None:
    faults = Faults({"/auth/me": 100.0}, {}, {"/accounts"})
    on = faults.with_n_plus_one(on=["/conversations"])
    assert on.n_plus_one == {"/accounts", "/conversations"}
    assert on.with_n_plus_one(off=["/accounts"]).to_json() == {
        "latency_ms": {"/auth/me": 100.0}, "error_ratio": {}, "n_plus_one": ["/conversations"]}
    assert faults.changed("/auth/me", 0, None).n_plus_one == {"/accounts"}
    assert Faults.from_json(on.to_json()) == on
    assert Faults.from_json({}).n_plus_one == set()  # a body of an older client
