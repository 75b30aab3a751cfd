"""The demo backend against the real stack: the cache effect, log lines, metrics, faults."""

from __future__ import annotations

import re
import statistics
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from perfkit.db.statements import StatementWindow
from perfkit.demo.app import (
    ACCOUNTS_OF_USER_SQL,
    CONVERSATIONS_SQL,
    PER_ROW_LOOKUPS,
    DemoConfig,
    api_routes,
    create_app,
)
from perfkit.demo.auth import DEFAULT_AUTH_LATENCY_MS
from perfkit.demo.control import LIST_ROUTES
from tests.demo.support import get, post_json
from tests.support import DemoStack


def test_uncached_auth_me_is_at_least_5x_slower_than_a_cache_hit(
        demo_stack: DemoStack) -> None:
    url = demo_stack.url + "/auth/me"
    cold, warm = [], []
    for token in demo_stack.tokens()[100:110]:  # tokens no other test uses first
        status, seconds, body = get(url, token)
        assert status == 200 and body["email"].endswith("@example.com")
        cold.append(seconds)
        for _ in range(3):
            warm.append(get(url, token)[1])
    assert statistics.median(cold) >= 5 * statistics.median(warm)
    assert statistics.median(cold) >= 0.9 * DEFAULT_AUTH_LATENCY_MS / 1000


def test_unknown_token_is_401(demo_stack: DemoStack) -> None:
    request = urllib.request.Request(demo_stack.url + "/auth/me",
                                     headers={"Authorization": "Bearer nope"})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    else:
        raise AssertionError("expected 401")


def _webhook(phone_number_id: str, sender: str) -> dict[str, Any]:
    return {"entry": [{"changes": [{"value": {
        "metadata": {"phone_number_id": phone_number_id},
        "messages": [{"from": sender, "text": {"body": "bonjour"}}]}}]}]}


def test_routes_and_cache_log_lines(demo_stack: DemoStack) -> None:
    base = demo_stack.url
    token = demo_stack.tokens()[120]
    _, _, accounts = get(f"{base}/accounts", token)
    assert accounts, "every demo user owns at least one account"
    account = accounts[0]
    _, _, conversations = get(f"{base}/conversations?account_id={account['id']}", token)
    assert len(conversations) <= 50
    stamps = [c["updated_at"] for c in conversations]
    assert stamps == sorted(stamps, reverse=True)
    conversation_id = conversations[0]["id"]
    get(f"{base}/conversations/{conversation_id}", token)
    _, _, messages = get(f"{base}/messages/{conversation_id}", token)
    assert all(m["conversation_id"] == conversation_id for m in messages)
    answer = post_json(f"{base}/webhooks/whatsapp",
                       _webhook(account["phone_number_id"], "33612345678"))
    assert answer["status"] == "ok"
    log = Path(demo_stack.log_file).read_text()
    assert re.search(r"Cache MISS: auth_user:[0-9a-f]{12}\.\.\.", log)
    assert re.search(r"Cache HIT: auth_user:[0-9a-f]{12}\.\.\.", log)
    assert f"Cache HIT: conversation:{conversation_id}" in log  # /messages after /conversations/
    assert f"Cache MISS: bot_profile:account_{account['id']}" in log
    assert token not in log


def test_first_messages_of_a_new_contact_at_once_open_one_conversation(
        demo_stack: DemoStack, demo_dsn: str) -> None:
    """The unique (account_id, contact_wa_id): concurrent webhooks upsert, none fails."""
    base = demo_stack.url
    sender = f"new-{uuid.uuid4().hex[:12]}"
    phone = "100000000000002"
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post_json(f"{base}/webhooks/whatsapp",
                                                    _webhook(phone, sender)), range(8)))
    assert {a["status"] for a in answers} == {"ok"}
    assert len({a["conversation_id"] for a in answers}) == 1
    with psycopg.connect(demo_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM messages WHERE conversation_id = %s",
                           (answers[0]["conversation_id"],)).fetchone()
    assert row == (8,)


def test_fault_knob_adds_latency_and_errors_without_restart(demo_stack: DemoStack) -> None:
    base = demo_stack.url
    token = demo_stack.tokens()[140]
    get(f"{base}/auth/me", token)
    try:
        post_json(f"{base}/_demo/faults", {"latency_ms": {"/auth/me": 200}}, method="PUT")
        assert get(f"{base}/auth/me", token)[1] >= 0.2
        post_json(f"{base}/_demo/faults", {"error_ratio": {"/accounts": 1.0}}, method="PUT")
        try:
            get(f"{base}/accounts", token)
        except urllib.error.HTTPError as exc:
            assert exc.code == 500
        else:
            raise AssertionError("expected an injected 500")
        assert get(f"{base}/auth/me", token)[0] == 200  # other routes untouched
    finally:
        post_json(f"{base}/_demo/faults", {}, method="PUT")
    assert get(f"{base}/auth/me", token)[1] < 0.2


def test_routes_control_endpoint_lists_the_api_without_control_routes(
        demo_stack: DemoStack) -> None:
    _, _, routes = get(demo_stack.url + "/_demo/routes")
    assert routes == ["/accounts", "/auth/me", "/conversations",
                      "/conversations/{conversation_id}", "/messages/{conversation_id}",
                      "/webhooks/whatsapp"]


def _shape(sql: str) -> str:
    """A statement's text without its parameters and constants (psycopg's %s, then
    pg_stat_statements' $n for them and for a constant such as LIMIT 50)."""
    return re.sub(r"%s|\$\d+|\b\d+\b", "?", sql)


def _calls(window: StatementWindow, requests: int) -> dict[str, int]:
    """Calls of each statement in the window, by its shape."""
    return {_shape(s.query): s.calls for s in window.result(requests=requests).statements}


def test_n_plus_one_fault_runs_one_more_statement_per_row(demo_stack: DemoStack,
                                                          demo_dsn: str) -> None:
    """pg_stat_statements of the demo database: 1 list statement per request, plus, under the
    fault, the per-row lookup as many times as the list has rows; off again, 1."""
    base = demo_stack.url
    token = demo_stack.tokens()[160]
    with psycopg.connect(demo_dsn) as conn:
        row = conn.execute("SELECT account_id FROM conversations GROUP BY 1 "
                           "ORDER BY count(*) DESC LIMIT 1").fetchone()
    assert row is not None
    url, per_row = f"{base}/conversations?account_id={row[0]}", PER_ROW_LOOKUPS["/conversations"]
    plain = get(url, token)[2]  # the auth cache has the token from here on
    assert len(plain) > 1
    requests = 5
    try:
        post_json(f"{base}/_demo/faults", {"n_plus_one": ["/conversations", "/accounts"]},
                  method="PUT")
        with StatementWindow(demo_dsn) as window:
            bodies = [get(url, token)[2] for _ in range(requests)]
            accounts = get(f"{base}/accounts", token)[2]
        calls = _calls(window, requests)
        assert bodies == [plain] * requests  # the response keeps its shape
        assert calls[_shape(CONVERSATIONS_SQL)] == requests
        assert calls[_shape(per_row.sql)] == requests * len(plain)  # 1 + rows statements a request
        assert calls[_shape(ACCOUNTS_OF_USER_SQL)] == 1
        assert calls[_shape(PER_ROW_LOOKUPS["/accounts"].sql)] == len(accounts)
    finally:
        post_json(f"{base}/_demo/faults", {}, method="PUT")
    with StatementWindow(demo_dsn) as window:
        assert [get(url, token)[2] for _ in range(requests)] == [plain] * requests
    calls = _calls(window, requests)
    assert calls[_shape(CONVERSATIONS_SQL)] == requests
    assert _shape(per_row.sql) not in calls


def test_every_list_route_has_its_per_row_lookup() -> None:
    """The client checks --n-plus-one against control.LIST_ROUTES; the backend runs these."""
    app = create_app(DemoConfig(dsn="postgresql://127.0.0.1:1/unused"))  # the pool stays shut
    assert set(PER_ROW_LOOKUPS) == set(LIST_ROUTES)
    assert set(LIST_ROUTES) <= set(api_routes(app))
