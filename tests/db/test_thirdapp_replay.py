"""The third test app's SQL module replays what its routes send (tests/thirdapp/schema.py):
the same statements (pg_stat_statements' texts) in the same numbers as the app over HTTP,
so a database test can stand in for a bench."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tests.support import CliResult
from tests.thirdapp import schema

Cli = Callable[..., CliResult]
APP_TABLES = ("articles", "favorites", "users")


def _calls(admin_dsn: str) -> Counter[str]:
    """Calls per statement of the app's tables in its database, so far, by text (an int sent
    as int2 or int4 makes two queryids of one statement)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query, sum(calls)::bigint FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database() "
            "AND query ~ '(FROM|JOIN) \"?(articles|favorites|users)' GROUP BY query"
        ).fetchall()
    return Counter({str(q): int(n) for q, n in rows})


def test_replay_sends_what_the_routes_send(cli: Cli, third_stack: Any, tmp_path: Path) -> None:
    plan = tmp_path / "four.yaml"
    plan.write_text("name: four\nheaders:\n  Authorization: \"Bearer {token}\"\nsteps:\n"
                    "  - path: /articles?tag=tag5\n  - path: /articles/article-13\n"
                    "  - path: /profiles/user17/articles\n  - path: /articles-since/97\n")
    before = _calls(third_stack.admin_dsn)
    result = cli("bench", str(plan), "--base-url", third_stack.base_url,
                 "--tokens-file", str(third_stack.tokens_file), "-n", "8")
    assert result.exit_code == 0, result.output
    by_http = _calls(third_stack.admin_dsn) - before
    before = _calls(third_stack.admin_dsn)
    schema.replay(third_stack.dsn, 8)  # the same 2 requests of each route
    by_replay = _calls(third_stack.admin_dsn) - before
    # 8 logins, 2 lists with their 20 counts each, 2 of each query-builder statement
    assert by_http == by_replay and sum(by_http.values()) == 8 + 2 * (1 + 20) + 2 * 3


def test_the_data_loads_in_seconds_and_has_its_shape(third_stack: Any) -> None:
    with psycopg.connect(third_stack.admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE third_reload")
    reload = third_stack.dsn.rsplit("/", 1)[0] + "/third_reload"
    admin_reload = third_stack.admin_dsn.rsplit("/", 1)[0] + "/third_reload"
    try:
        with psycopg.connect(admin_reload, autocommit=True) as conn:
            conn.execute("GRANT ALL ON SCHEMA public TO third")
        started = time.monotonic()
        schema.load(reload)
        assert time.monotonic() - started < 10
        with schema.connect(reload) as conn:
            counts = conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM "
                                  "favorites), (SELECT count(DISTINCT tag) FROM articles)"
                                  ).fetchone()
            favorites_pk = conn.execute("SELECT pg_get_indexdef('favorites_pkey'::regclass)"
                                        ).fetchone()
        assert counts == (2000, 300_000, schema.TAGS)
        assert favorites_pk is not None and "(user_id, article_id)" in str(favorites_pk[0])
    finally:
        with psycopg.connect(third_stack.admin_dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE third_reload WITH (FORCE)")
