"""The table rule: a table of more than `pk_min_rows` rows (the planner's estimate) without
a primary key. Logical replication cannot UPDATE or DELETE its rows, tools that edit rows
cannot name one, and duplicates creep in. The fix is a human's (it may rewrite the table),
so it is written as comments: a UNIQUE index on NOT NULL columns promoted, or an identity
column added.
"""

from __future__ import annotations

from typing import Any

import psycopg

from perfkit.db.lint.indexes import qualified, table_label
from perfkit.db.lint.inventory import Inventory, TableRow
from perfkit.db.lint.model import Finding

_PROMOTABLE_SQL = """
SELECT /* perfkit */ c.relname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = to_regclass(quote_ident(%s) || '.' || quote_ident(%s))
  AND i.indisunique AND i.indisvalid AND i.indexprs IS NULL AND i.indpred IS NULL
  AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) AS k(attnum)
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                  WHERE NOT a.attnotnull)
ORDER BY i.indnatts, c.relname
LIMIT 1
"""


def _fix(conn: psycopg.Connection[Any], table: TableRow) -> str:
    target = qualified(table.table.schema, table.table.name)
    row = conn.execute(_PROMOTABLE_SQL, (table.table.schema, table.table.name)).fetchone()
    if row is not None:
        return (f"-- {row[0]} is UNIQUE on NOT NULL columns: promote it (a quick catalog "
                f"change):\n-- ALTER TABLE {target} ADD PRIMARY KEY USING INDEX "
                f"{qualified(table.table.schema, str(row[0]))};")
    return ("-- add a key in a regular migration (this rewrites the table: plan it):\n"
            f"-- ALTER TABLE {target} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY "
            "PRIMARY KEY;")


def table_findings(conn: psycopg.Connection[Any], inventory: Inventory,
                   pk_min_rows: int) -> list[Finding]:
    findings = []
    for table in inventory.tables.values():
        rows = table.rows if table.rows is not None else table.live_rows
        if table.has_primary_key or rows is None or rows <= pk_min_rows:
            continue
        evidence = {"rows": rows, "size_bytes": table.size_bytes, "min_rows": pk_min_rows,
                    "rows_source": "pg_class.reltuples" if table.rows is not None
                    else "pg_stat_all_tables.n_live_tup"}
        findings.append(Finding("table_without_primary_key", table_label(table.table),
                                table_label(table.table), evidence, _fix(conn, table)))
    return findings
