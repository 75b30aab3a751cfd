"""Index size estimates against the sizes PostgreSQL really builds: within 25%, B-tree
deduplication of repeated values counted (HypoPG's own estimate ignores it)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest

from perfkit.db.advisor.candidates import Candidate
from perfkit.db.advisor.hypothetical import Planner, hypopg_schema
from perfkit.db.advisor.sizes import ColumnShape, estimate_btree_bytes
from perfkit.db.vocabulary import IndexColumn, TableName

UUID = ColumnShape(16, 1, -1.0)
TIMESTAMP = ColumnShape(8, 8, -1.0)


def test_repeated_values_are_stored_once_unique_ones_are_not() -> None:
    rows = 1_000_000
    unique = estimate_btree_bytes(rows, [UUID])
    two_values = estimate_btree_bytes(rows, [ColumnShape(9, 4, 2.0)])
    assert two_values < unique / 3  # 6 bytes a row in posting lists, not a tuple a row
    # a numeric column is never deduplicated: as large as one tuple a row
    numeric = estimate_btree_bytes(rows, [ColumnShape(9, 4, 2.0, dedup=False)])
    assert numeric > 3 * two_values
    # a second unique column makes every key distinct: no posting lists
    assert estimate_btree_bytes(rows, [ColumnShape(16, 1, 10_000.0), TIMESTAMP]) > unique


CASES = (
    ("messages", (("conversation_id", False),)),
    ("messages", (("conversation_id", False), ("timestamp", True))),
    ("messages", (("direction", False),)),
    ("messages", (("status", False),)),
    ("messages", (("body", False),)),
    ("whatsapp_accounts", (("phone_number_id", False),)),
    ("conversations", (("account_id", False), ("updated_at", True))),
    ("conversations", (("status", False),)),
    ("users", (("token", False),)),
)


@pytest.mark.integration
def test_estimates_are_within_a_quarter_of_the_built_size(
        advice_db: Callable[[], str]) -> None:
    dsn = advice_db()
    ratios = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        planner = Planner(conn, hypopg_schema(conn))
        for number, (table, columns) in enumerate(CASES):
            candidate = Candidate(TableName("public", table),
                                  tuple(IndexColumn(n, d) for n, d in columns))
            estimate = planner.size_bytes(candidate)
            conn.execute(candidate.definition(f"size_{number}"))  # type: ignore[arg-type]
            row = conn.execute("SELECT pg_relation_size(%s::regclass)",
                               (f"size_{number}",)).fetchone()
            assert estimate is not None and row is not None
            ratios[str(candidate)] = round(estimate / int(row[0]), 2)
    assert all(0.75 <= r <= 1.25 for r in ratios.values()), ratios
