"""Helpers for the index tests: the seed's index file and catalog look-ups on a private database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

SEED_DIR = Path(__file__).resolve().parents[2] / "indexes"
SEED_INDEXES = ("idx_conversations_account_updated", "idx_messages_conversation_timestamp",
                "idx_accounts_phone_number_id")


@pytest.fixture
def seed_dir() -> Path:
    return SEED_DIR


@pytest.fixture
def index_states() -> Callable[[str], dict[str, bool]]:
    """name -> indisvalid for every non-primary-key index of a database."""

    def states(dsn: str) -> dict[str, bool]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT c.relname, i.indisvalid FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND NOT i.indisprimary").fetchall()
        return {str(name): bool(valid) for name, valid in rows}

    return states


def run_sql(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
