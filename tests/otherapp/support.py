"""The second backend (tests/otherapp/app.py) with a database, a role and a Prometheus of its
own, on the test PostgreSQL server: a system perfkit was not shaped on."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from perfkit.demo import procs, prometheus
from tests.bench.support import served_url
from tests.otherapp.app import API_KEY

APP = Path(__file__).with_name("app.py")
DB_PASSWORD = "notes-db-pw-never-printed"


@dataclass(frozen=True)
class OtherStack:
    base_url: str
    dsn: str  # the app's own role: its password must never show
    prometheus_url: str
    log_file: Path
    api_key: str = API_KEY


def _database(admin_dsn: str) -> str:
    """A database and a role of the app's own (pg_read_all_stats, as a monitoring role has)."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS notes WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS notes")
        conn.execute(f"CREATE ROLE notes LOGIN PASSWORD '{DB_PASSWORD}'")  # type: ignore[arg-type]
        conn.execute("GRANT pg_read_all_stats TO notes")
        conn.execute("CREATE DATABASE notes OWNER notes")
    with psycopg.connect(admin_dsn.rsplit("/", 1)[0] + "/notes", autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        if conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
                        ).fetchone():
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
    host_port = admin_dsn.split("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql://notes:{DB_PASSWORD}@{host_port}/notes"


@contextmanager
def _prometheus(backend_port: int, work: Path) -> Iterator[str]:
    config, port = work / "prometheus.yml", procs.free_port()
    prometheus.write_config(config, backend_port)
    proc = subprocess.Popen(prometheus.command(config, work / "tsdb", port),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not prometheus.backend_scraped(url):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the other app's Prometheus did not scrape it")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@contextmanager
def running_other_stack(admin_dsn: str, work: Path) -> Iterator[OtherStack]:
    dsn = _database(admin_dsn)
    log_file = work / "notes.log"
    with served_url([sys.executable, str(APP), dsn, str(log_file)]) as url, \
            _prometheus(int(url.rsplit(":", 1)[1]), work) as prometheus_url:
        yield OtherStack(url, dsn, prometheus_url, log_file)
