"""The demo backend against the real stack: the seed's cache effect, log lines and metrics."""

from __future__ import annotations

import json
import re
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg


def _get(url: str, token: str | None = None) -> tuple[int, float, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as resp:
        body = json.loads(resp.read())
        return int(resp.status), time.perf_counter() - started, body


def _tokens(demo_stack: dict[str, Any]) -> list[str]:
    return Path(demo_stack["tokens_file"]).read_text().split()


def test_uncached_auth_me_is_at_least_5x_slower_than_a_cache_hit(
        demo_stack: dict[str, Any]) -> None:
    url = demo_stack["backend"]["url"] + "/auth/me"
    cold, warm = [], []
    for token in _tokens(demo_stack)[100:110]:  # tokens no other test uses first
        status, seconds, body = _get(url, token)
        assert status == 200 and body["email"].endswith("@example.com")
        cold.append(seconds)
        for _ in range(3):
            warm.append(_get(url, token)[1])
    assert statistics.median(cold) >= 5 * statistics.median(warm)
    assert statistics.median(cold) >= 0.1  # the simulated auth provider's ~145 ms


def test_unknown_token_is_401(demo_stack: dict[str, Any]) -> None:
    request = urllib.request.Request(demo_stack["backend"]["url"] + "/auth/me",
                                     headers={"Authorization": "Bearer nope"})
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
    else:
        raise AssertionError("expected 401")


def test_seed_routes_and_cache_log_lines(demo_stack: dict[str, Any]) -> None:
    base = demo_stack["backend"]["url"]
    token = _tokens(demo_stack)[120]
    _, _, accounts = _get(f"{base}/accounts", token)
    assert accounts, "every demo user owns at least one account"
    account = accounts[0]
    _, _, conversations = _get(f"{base}/conversations?account_id={account['id']}", token)
    assert len(conversations) <= 50
    stamps = [c["updated_at"] for c in conversations]
    assert stamps == sorted(stamps, reverse=True)
    conversation_id = conversations[0]["id"]
    _get(f"{base}/conversations/{conversation_id}", token)
    _, _, messages = _get(f"{base}/messages/{conversation_id}", token)
    assert all(m["conversation_id"] == conversation_id for m in messages)
    webhook = urllib.request.Request(
        f"{base}/webhooks/whatsapp", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"entry": [{"changes": [{"value": {
            "metadata": {"phone_number_id": account["phone_number_id"]},
            "messages": [{"from": "33612345678", "text": {"body": "bonjour"}}]}}]}]}).encode())
    with urllib.request.urlopen(webhook, timeout=10) as resp:
        assert json.loads(resp.read())["status"] == "ok"
    log = Path(demo_stack["log_file"]).read_text()
    assert re.search(r"Cache MISS: auth_user:[0-9a-f]{12}\.\.\.", log)
    assert re.search(r"Cache HIT: auth_user:[0-9a-f]{12}\.\.\.", log)
    assert f"Cache HIT: conversation:{conversation_id}" in log  # /messages after /conversations/
    assert f"Cache MISS: bot_profile:account_{account['id']}" in log
    assert token not in log


def test_prometheus_has_request_histogram_samples_within_5s(demo_stack: dict[str, Any]) -> None:
    base, prom = demo_stack["backend"]["url"], demo_stack["prometheus"]["url"]
    token = _tokens(demo_stack)[130]
    for _ in range(5):
        _get(f"{base}/auth/me", token)
    query = urllib.parse.quote(
        'sum(fastapi_requests_duration_seconds_count{path="/auth/me"})')
    deadline = time.monotonic() + 5
    value = 0.0
    while time.monotonic() < deadline:
        _, _, body = _get(f"{prom}/api/v1/query?query={query}")
        result = body["data"]["result"]
        value = float(result[0]["value"][1]) if result else 0.0
        if value >= 5:
            break
        time.sleep(0.25)
    assert value >= 5


def test_unindexed_messages_query_plans_a_seq_scan(demo_dsn: str) -> None:
    with psycopg.connect(demo_dsn) as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename IN "
            "('messages', 'conversations', 'whatsapp_accounts') AND indexname NOT LIKE '%_pkey'"
        ).fetchall()
        assert indexes == [], "the seed's 'before' has primary keys only"
        plan = "\n".join(r[0] for r in conn.execute(
            'EXPLAIN SELECT id FROM messages WHERE conversation_id = md5(\'conv-1\')::uuid '
            'ORDER BY "timestamp" DESC LIMIT 50').fetchall())
    assert "Seq Scan on messages" in plan


def test_fault_knob_adds_latency_and_errors_without_restart(demo_stack: dict[str, Any]) -> None:
    base = demo_stack["backend"]["url"]
    token = _tokens(demo_stack)[140]
    _get(f"{base}/auth/me", token)

    def put(body: dict[str, Any]) -> None:
        request = urllib.request.Request(f"{base}/_demo/faults", method="PUT",
                                         headers={"Content-Type": "application/json"},
                                         data=json.dumps(body).encode())
        urllib.request.urlopen(request, timeout=5).close()

    try:
        put({"latency_ms": {"/auth/me": 200}})
        assert _get(f"{base}/auth/me", token)[1] >= 0.2
        put({"error_ratio": {"/accounts": 1.0}})
        try:
            _get(f"{base}/accounts", token)
        except urllib.error.HTTPError as exc:
            assert exc.code == 500
        else:
            raise AssertionError("expected an injected 500")
        assert _get(f"{base}/auth/me", token)[0] == 200  # other routes untouched
    finally:
        put({})
    assert _get(f"{base}/auth/me", token)[1] < 0.2
