"""`perfkit init` end to end: the scenario it writes from the demo backend's /openapi.json (and
from a hand-written document for the reference server) runs with `perfkit bench` as written."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perfkit.bench.scenario import load_scenario
from tests.bench.support import RefServer, users_csv
from tests.support import CliResult, DemoStack
from tests.support.openapi_docs import CONDUIT_API, OAUTH2_API, REFSERVER_API

Cli = Callable[..., CliResult]


def _run_routes(result: CliResult) -> dict[str, dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return {r["route"]: r for r in json.loads(result.stdout)["routes"] if r["phase"] == "all"}


def test_init_from_the_demo_openapi_benches_every_get_route_without_errors(
        cli: Cli, demo_stack: DemoStack, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = demo_stack.url + "/openapi.json"
    with urllib.request.urlopen(url, timeout=10) as resp:
        document = json.loads(resp.read())
    demo_gets = {f"GET {path}" for path, ops in document["paths"].items() if "get" in ops}
    assert len(demo_gets) >= 5
    monkeypatch.chdir(tmp_path)
    init = cli("init", "--openapi", url, "--format", "json")
    assert init.exit_code == 0, init.output
    plan = json.loads(init.stdout)
    assert {s["route"] for s in plan["steps"] if s["state"] == "runs"} == demo_gets
    extract = {s["route"]: s["extract"] for s in plan["steps"] if s["extract"]}
    assert extract == {"GET /accounts": {"account_id": "$[0].id"},  # feeds a list route
                       "GET /conversations": {"conversation_id": "$[*].id"}}
    scenario = load_scenario(tmp_path / "scenarios" / f"{plan['scenario']}.yaml")
    assert {s.method for s in scenario.steps} == {"GET"}
    routes = _run_routes(cli("bench", plan["scenario"], "-n", "100", "-c", "2",
                             "--format", "json"))
    assert set(routes) == demo_gets
    assert all(r["count"] >= 15 and not r["errors"] for r in routes.values()), routes


def test_init_from_a_file_runs_on_the_reference_server(
        cli: Cli, ref: RefServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = tmp_path / "items-api.json"
    document.write_text(json.dumps(REFSERVER_API))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    init = cli("init", "--openapi", str(document), "--name", "items")
    assert init.exit_code == 0, init.output
    assert "4 of 6 routes run" in init.stdout and "commented out" in init.stdout
    assert "next: perfkit bench items" in init.stdout
    monkeypatch.setenv("PERFKIT_TOKEN", "tok-123456")
    routes = _run_routes(cli("bench", "items", "--base-url", ref.url, "-n", "40",
                             "--format", "json"))
    assert set(routes) == {"GET /fast", "GET /items", "GET /items/{id}", "GET /sleep/{ms}"}
    assert not any(r["errors"] for r in routes.values())


def test_init_never_overwrites_without_force(cli: Cli, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    document = tmp_path / "api.json"
    document.write_text(json.dumps(REFSERVER_API))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "perfkit.yaml").write_text("# mine\n")
    refused = cli("init", "--openapi", str(document))
    assert refused.exit_code == 2 and "already exists" in refused.stderr
    assert "--force" in refused.stderr and refused.stdout == ""
    assert (tmp_path / "perfkit.yaml").read_text() == "# mine\n"
    assert cli("init", "--openapi", str(document), "--force").exit_code == 0
    assert "items_api" in (tmp_path / "perfkit.yaml").read_text()


def test_init_without_a_document_writes_a_first_step(cli: Cli, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path / "no-demo"))  # no backend anywhere
    monkeypatch.chdir(tmp_path)
    result = cli("init")
    assert result.exit_code == 0, result.output
    scenario = load_scenario(tmp_path / "scenarios" / "api.yaml")
    assert [s.path for s in scenario.steps] == ["/"]


def test_init_unreachable_backend_is_exit_3(cli: Cli, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    result = cli("init", "--openapi", f"http://user:pw-secret@127.0.0.1:{port}/openapi.json")
    assert result.exit_code == 3 and "unreachable" in result.stderr
    assert "pw-secret" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_init_writes_the_login_step_from_the_oauth2_password_flow(
        cli: Cli, ref: RefServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = tmp_path / "accounts.json"
    document.write_text(json.dumps(OAUTH2_API))
    monkeypatch.chdir(tmp_path)
    init = cli("init", "--openapi", str(document), "--name", "accounts")
    assert init.exit_code == 0, init.output
    assert "logs in at /token" in init.stdout and "--users-file users.csv" in init.stdout
    written = (tmp_path / "scenarios" / "accounts.yaml").read_text()
    assert "POST /token" not in written  # the login step, not a write commented out
    scenario = load_scenario(tmp_path / "scenarios" / "accounts.yaml")
    assert scenario.login is not None and scenario.login.path == "/token"
    assert scenario.login.form == {"username": "{email}", "password": "{password}",
                                   "grant_type": "password"}
    assert scenario.login.extract["token"].expr == "$.access_token"
    result = cli("bench", "accounts", "--base-url", ref.url, "--users-file",
                 str(users_csv(tmp_path / "users.csv", 4)), "-n", "20", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(r["route"], r["count"]) for r in data["logins"]] == [("POST /token", 4)]
    assert {r["route"] for r in data["routes"]} == {"GET /me"} and data["generator"]["errors"] == 0


def test_init_names_the_api_keys_header_and_leaves_instrumentation_out(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = tmp_path / "conduit.json"
    document.write_text(json.dumps(CONDUIT_API))
    monkeypatch.chdir(tmp_path)
    init = cli("init", "--openapi", str(document))
    assert init.exit_code == 0, init.output
    assert "left out (instrumentation, not the app's traffic): GET /metrics, GET /healthz" in (
        init.stdout)
    assert "an API key in the Authorization header" in init.stdout
    assert ("next: perfkit bench conduit_api -H 'Authorization: Token {token}' --duration 30s"
            in init.stdout)
    written = (tmp_path / "scenarios" / "conduit_api.yaml").read_text()
    assert "/metrics" not in written.split("# Left out")[0]
    assert "extract: {article_slug: \"$.articles[*].slug\", username: " in written
