"""Fixtures for the database tests: the shipped index files, catalog look-ups, and a cluster
with pg_stat_statements and HypoPG for advice (helpers live in tests/db/support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from perfkit.demo.schema import SCHEMA_INDEXES
from tests.db import support


@pytest.fixture
def seed_dir() -> Path:
    return support.SEED_DIR


@pytest.fixture
def index_states() -> Callable[[str], dict[str, bool]]:
    """name -> indisvalid for every index of a database beyond the demo schema's own (its
    primary keys and the indexes a real app has, perfkit.demo.schema.SCHEMA_INDEXES)."""

    def states(dsn: str) -> dict[str, bool]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT c.relname, i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND NOT i.indisprimary").fetchall()
        return {str(name): bool(valid) for name, valid in rows
                if str(name) not in SCHEMA_INDEXES}

    return states


@pytest.fixture(scope="session")
def advice_server(pytestconfig: pytest.Config) -> support.Server:
    """A PostgreSQL with pg_stat_statements preloaded and HypoPG (the demo's may lack them)."""
    return support.shared_server(pytestconfig)


@pytest.fixture
def advice_db(advice_server: support.Server) -> Iterator[Callable[[], str]]:
    """Private databases in the runbook's 'before' state: demo data, a real app's indexes,
    none of the three of indexes/, pg_stat_statements and HypoPG created."""
    with support.databases(advice_server) as make:
        yield make
