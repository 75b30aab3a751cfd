"""Helpers for the demo tests (a plain module: tests never import a conftest)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.support import CliResult

Cli = Callable[..., CliResult]  # the session's `cli` fixture


def get(url: str, token: str | None = None) -> tuple[int, float, Any]:
    """(status, seconds, JSON body) of a GET, with a bearer token when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as resp:
        body = json.loads(resp.read())
        return int(resp.status), time.perf_counter() - started, body


def post_json(url: str, body: Any, method: str = "POST") -> Any:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())



def prometheus_series(prometheus_url: str, selector: str) -> list[dict[str, Any]]:
    """Every series matching the selector in the last hour (even if gone stale since)."""
    query = urllib.parse.quote(f"last_over_time({selector}[1h])")
    return list(get(f"{prometheus_url}/api/v1/query?query={query}")[2]["data"]["result"])


def wait_for(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll check() every 0.25 s until true or timeout; returns the last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return check()


def messages_explainer(conn: Any, conversation: str) -> Callable[[], float]:
    """On `conn`: the demo's messages query prepared as the backend's driver executes it (a
    prepared statement, PostgreSQL choosing its plan after 5 runs), and a call returning one
    EXPLAIN ANALYZE time of it in ms; TIMING OFF, so no per-row clock reads are added."""
    from psycopg import sql

    from perfkit.demo.app import MESSAGES_SQL

    prepare = "PREPARE messages_q(uuid) AS " + MESSAGES_SQL.replace("%s", "$1")
    conn.pgconn.exec_(prepare.encode())  # the simple protocol: $1 is PREPARE's own
    explain = sql.SQL("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) EXECUTE messages_q({})"
                      ).format(sql.Literal(conversation))
    return lambda: float(conn.execute(explain).fetchone()[0][0]["Execution Time"])


def heaviest_conversation(dsn: str) -> str:
    """The conversation with the most messages: the unindexed messages query's worst case."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT conversation_id FROM messages GROUP BY 1 "
                           "ORDER BY count(*) DESC LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def explain_ms(dsn: str, conversation: str, times: int = 30) -> list[float]:
    """EXPLAIN ANALYZE times of the demo's messages query (messages_explainer), after 10 that
    settle the plan and the pages."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        once = messages_explainer(conn, conversation)
        return [once() for _ in range(times + 10)][10:]
