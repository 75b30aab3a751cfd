"""The third backend (tests/thirdapp/app.py) with a database and a role of its own on the test
PostgreSQL server, its data loaded (tests/thirdapp/schema.py), and 20 users' tokens."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.bench.support import served_url
from tests.thirdapp import schema
from tests.thirdapp.app import TOKEN_SECRET, token

APP = Path(__file__).with_name("app.py")
DB_NAME = "third"
DB_PASSWORD = "third-db-pw-never-printed"
TOKENS = 20


@dataclass(frozen=True)
class ThirdStack:
    base_url: str
    dsn: str  # the app's own role: its password must never show
    admin_dsn: str  # a superuser on the same server (to create what a test needs)
    tokens_file: Path  # 20 users' bearer tokens, one a line
    access_log: Path  # every request the app received: `METHOD PATH?QUERY STATUS`
    token_secret: str = TOKEN_SECRET

    def tokens(self) -> list[str]:
        return self.tokens_file.read_text().split()

    def access_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


def create_database(admin_dsn: str) -> str:
    """The app's database and role (pg_read_all_stats, as a monitoring role has), with
    pg_stat_statements and hypopg (when installed) and the data loaded; its DSN."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")  # type: ignore[arg-type]
        conn.execute(f"DROP ROLE IF EXISTS {DB_NAME}")  # type: ignore[arg-type]
        conn.execute(f"CREATE ROLE {DB_NAME} LOGIN PASSWORD '{DB_PASSWORD}'")  # type: ignore[arg-type]
        conn.execute(f"GRANT pg_read_all_stats TO {DB_NAME}")  # type: ignore[arg-type]
        conn.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_NAME}")  # type: ignore[arg-type]
    with psycopg.connect(admin_dsn.rsplit("/", 1)[0] + f"/{DB_NAME}", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
                        ).fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    host_port = admin_dsn.split("@", 1)[1].rsplit("/", 1)[0]
    dsn = f"postgresql://{DB_NAME}:{DB_PASSWORD}@{host_port}/{DB_NAME}"
    schema.load(dsn)
    return dsn


@contextmanager
def running_third_stack(admin_dsn: str, work: Path) -> Iterator[ThirdStack]:
    dsn = create_database(admin_dsn)
    tokens_file, access_log = work / "tokens.txt", work / "access.log"
    tokens_file.write_text("".join(f"{token(i)}\n" for i in range(1, TOKENS + 1)))
    with served_url([sys.executable, str(APP), dsn, str(access_log)]) as url:
        yield ThirdStack(url, dsn, admin_dsn.rsplit("/", 1)[0] + f"/{DB_NAME}", tokens_file,
                         access_log)
