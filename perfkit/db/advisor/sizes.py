"""How big a proposed B-tree index will be, from the planner's statistics.

HypoPG sizes one index tuple per table row, and its tuples come out wider than B-tree's:
measured on the demo, 1.0-1.6x the built size, and on two third-party apps 1.5-3.6x, since
PostgreSQL 13 stores a repeated value once with a posting list of row pointers (6 bytes
each). This model lays out the leaf pages as CREATE INDEX fills them (90%), deduplicated
where the column types allow, from pg_stats (widths, distinct values): within 11% of the
built size on 11 demo indexes (tests/db/advisor/test_sizes.py, benchmarks/advise_indexes.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from perfkit.db.advisor.candidates import Candidate

_PAGE = 8192
_USABLE = _PAGE - 24 - 16  # less the page header and B-tree's special space
_LEAF_FILL = 0.9           # CREATE INDEX fills leaf pages to the default fillfactor
_INNER_FILL = 0.7
_TUPLE_HEADER = 8          # IndexTupleData: the heap pointer and the info bits
_LINE_POINTER = 4          # ItemIdData, one per tuple on the page
_TID = 6                   # one row pointer in a posting list
_MAX_ITEM = 2704           # BTMaxItemSize: a long group takes several posting tuples
_ALIGN = {"c": 1, "s": 2, "i": 4, "d": 8}
#: Types whose equal values may differ in their bytes: B-tree does not deduplicate them.
_NO_DEDUP_TYPES = frozenset({"numeric", "float4", "float8", "jsonb", "json"})


@dataclass(frozen=True)
class ColumnShape:
    """What the catalog says of one column: its stored width and alignment, its distinct
    values, and whether its type allows deduplication."""

    width: float
    align: int
    n_distinct: float  # pg_stats: > 0 a count, < 0 minus a share of the rows
    dedup: bool = True


def _aligned(n: float, to: int) -> float:
    return math.ceil(n / to) * to


def _groups(rows: float, columns: Sequence[ColumnShape]) -> float:
    """Distinct keys: the product of the columns' distinct values, at most one a row."""
    groups = 1.0
    for column in columns:
        groups *= max(1.0, column.n_distinct if column.n_distinct > 0
                      else -column.n_distinct * rows)
    return min(groups, rows)


def estimate_btree_bytes(rows: float, columns: Sequence[ColumnShape]) -> int:
    """The size of a B-tree on these columns of a table of `rows` rows, once built."""
    offset = float(_TUPLE_HEADER)
    for column in columns:
        offset = _aligned(offset, column.align) + column.width
    tuple_bytes = _aligned(offset, 8) + _LINE_POINTER
    groups = _groups(rows, columns)
    if all(c.dedup for c in columns) and rows / groups >= 2:
        per_tuple = max(1, int((_MAX_ITEM - tuple_bytes) // _TID))
        tuples = groups * math.ceil(rows / groups / per_tuple)
        leaf = tuples * tuple_bytes + rows * _TID
    else:
        leaf = rows * tuple_bytes
    leaf_pages = math.ceil(leaf / (_USABLE * _LEAF_FILL))
    inner_pages = math.ceil(leaf_pages * tuple_bytes / (_USABLE * _INNER_FILL))
    return int((leaf_pages + inner_pages + 1) * _PAGE)  # + the metapage


def column_shapes(conn: psycopg.Connection[Any], candidate: Candidate
                  ) -> tuple[float, list[ColumnShape]] | None:
    """(the table's rows, each column's shape) from pg_class, pg_stats and pg_type; None
    when the table was never analyzed."""
    table = candidate.table
    row = conn.execute(
        "SELECT /* perfkit */ c.reltuples FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
        (table.schema, table.name)).fetchone()
    if row is None or row[0] is None or float(row[0]) < 0:
        return None
    shapes = []
    for column in candidate.columns:
        stats = conn.execute(
            "SELECT /* perfkit */ s.avg_width, s.n_distinct, t.typname, t.typcategory, "
            "t.typlen, t.typalign FROM pg_stats s JOIN pg_attribute a ON a.attname = "
            "s.attname AND a.attrelid = to_regclass(quote_ident(s.schemaname) || '.' || "
            "quote_ident(s.tablename)) JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE s.schemaname = %s AND s.tablename = %s AND s.attname = %s "
            "ORDER BY s.inherited DESC LIMIT 1",
            (table.schema, table.name, column.name)).fetchone()
        if stats is None:
            return None
        avg_width, distinct, type_name, category, length, align = stats
        shapes.append(ColumnShape(
            float(length) if int(length) > 0 else float(avg_width), _ALIGN.get(str(align), 8),
            float(distinct),
            str(type_name) not in _NO_DEDUP_TYPES and str(category) not in ("A", "C", "R")))
    return float(row[0]), shapes
