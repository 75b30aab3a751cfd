"""What the database holds: indexes from pg_index/pg_indexes, compared by parse tree.

A name in pg_indexes proves nothing: the index may be INVALID (a failed CONCURRENTLY
build) or define something else. pg_get_indexdef() and the expected statement both go
through pglast, so quoting, casts, `USING btree`, schema qualification, IF NOT EXISTS
and CONCURRENTLY do not count as differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from pglast import parse_sql

from perfkit.db.connect import sql_text
from perfkit.db.migration_reader import IndexStatement
from perfkit.db.vocabulary import IndexColumn, TableInfo, TableName

# default NULLS placement per direction: written or not, they mean the same index
_SORT_DEFAULT, _SORT_ASC, _SORT_DESC = 0, 1, 2
_NULLS_DEFAULT, _NULLS_FIRST, _NULLS_LAST = 0, 1, 2


@dataclass(frozen=True)
class CatalogIndex:
    schema: str
    name: str
    table: str
    definition: str
    valid: bool
    ready: bool
    idx_scan: int | None
    size_bytes: int


@dataclass(frozen=True)
class BuildProgress:
    """One sample of pg_stat_progress_create_index for the build running in `pid`."""

    index_name: str
    phase: str
    blocks_total: int
    blocks_done: int
    tuples_total: int
    tuples_done: int

    @property
    def fraction(self) -> tuple[int, int]:
        """(done, total) in whichever unit the phase counts."""
        if self.blocks_total:
            return self.blocks_done, self.blocks_total
        return self.tuples_done, self.tuples_total


@dataclass(frozen=True)
class Blocker:
    """A session an index build (or its DROP) waits for; never its query text (literals)."""

    pid: int
    state: str
    xact_age_s: float | None
    application_name: str
    query_age_s: float | None
    holds_table_lock: bool = False

    def describe(self) -> str:
        parts = [self.state or "unknown state"]
        if self.xact_age_s is not None:
            parts.append(f"transaction open {_age(self.xact_age_s)}")
        if self.query_age_s is not None and self.state != "active":
            parts.append(f"last query {_age(self.query_age_s)} ago")
        if self.application_name:
            parts.append(f"application {self.application_name}")
        if self.holds_table_lock:
            parts.append("holds a lock on the table")
        return f"pid {self.pid} ({', '.join(parts)})"


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


_SESSION_COLUMNS = """a.pid, a.state, extract(epoch FROM clock_timestamp() - a.xact_start),
       a.application_name, extract(epoch FROM clock_timestamp() - a.query_start),
       EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
               AND l.locktype = 'relation' AND l.relation = to_regclass(%(table)s))"""

_BLOCKERS_SQL = f"""
SELECT {_SESSION_COLUMNS}
FROM unnest(pg_blocking_pids(%(pid)s)) AS b(pid)
JOIN pg_stat_activity a ON a.pid = b.pid
ORDER BY a.xact_start NULLS LAST
"""

# what CREATE/DROP INDEX CONCURRENTLY can wait for: transactions that started before it
# and hold a snapshot, a transaction id or a lock on the table
_OLDER_SQL = f"""
SELECT {_SESSION_COLUMNS}
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND a.xact_start < %(since)s
  AND (a.backend_xmin IS NOT NULL OR a.backend_xid IS NOT NULL
       OR EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                  AND l.locktype = 'relation' AND l.relation = to_regclass(%(table)s)))
ORDER BY a.xact_start
LIMIT 5
"""


def _blocker(row: Any) -> Blocker:
    return Blocker(pid=int(row[0]), state=str(row[1] or ""),
                   xact_age_s=None if row[2] is None else float(row[2]),
                   application_name=str(row[3] or ""),
                   query_age_s=None if row[4] is None else float(row[4]),
                   holds_table_lock=bool(row[5]))


def blockers(conn: psycopg.Connection[Any], pid: int, table: str) -> list[Blocker]:
    """pg_blocking_pids(pid) with their pg_stat_activity state (empty unless `pid` waits)."""
    rows = conn.execute(_BLOCKERS_SQL, {"pid": pid, "table": table}).fetchall()
    return [_blocker(row) for row in rows]


def older_transactions(conn: psycopg.Connection[Any], table: str,
                       since: Any) -> list[Blocker]:
    """Sessions a concurrent build started at `since` may have waited for (after the fact)."""
    rows = conn.execute(_OLDER_SQL, {"since": since, "table": table}).fetchall()
    return [_blocker(row) for row in rows]


def now(conn: psycopg.Connection[Any]) -> Any:
    """The server's clock (compared with pg_stat_activity.xact_start, not the client's)."""
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


_INDEX_SQL = """
SELECT n.nspname, c.relname, t.relname, pg_get_indexdef(c.oid), i.indisvalid, i.indisready,
       s.idx_scan, pg_relation_size(c.oid)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_index i ON i.indexrelid = c.oid
JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = c.oid
WHERE n.nspname = %s AND c.relname = %s
"""


def resolve_table(conn: psycopg.Connection[Any], schema: str | None,
                  table: str) -> str | None:
    """The schema a table lives in (search_path applies when the file does not say)."""
    if schema is not None:
        row = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'm')",
            (schema, table)).fetchone()
    else:
        row = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass(quote_ident(%s)) AND c.relkind IN ('r', 'p', 'm')",
            (table,)).fetchone()
    return str(row[0]) if row else None


def find_index(conn: psycopg.Connection[Any], schema: str, name: str) -> CatalogIndex | None:
    row = conn.execute(_INDEX_SQL, (schema, name)).fetchone()
    if row is None:
        return None
    return CatalogIndex(schema=row[0], name=row[1], table=row[2], definition=row[3],
                        valid=bool(row[4]), ready=bool(row[5]),
                        idx_scan=None if row[6] is None else int(row[6]),
                        size_bytes=int(row[7]))


def equivalent_index(conn: psycopg.Connection[Any], stmt: IndexStatement,
                     schema: str) -> str | None:
    """Another index on the table with the same definition (made by hand under another name)."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
        (schema, stmt.table)).fetchall()
    for name, definition in rows:
        if name != stmt.index_name and same_definition(stmt, definition):
            return str(name)
    return None


def owner_of(conn: psycopg.Connection[Any], schema: str, name: str) -> tuple[str, bool] | None:
    """(owner, whether the current role has the owner's rights) of a table or index: CREATE
    INDEX, DROP INDEX and COMMENT need them; None when there is no such relation."""
    row = conn.execute(
        "SELECT pg_get_userbyid(c.relowner), pg_has_role(current_user, c.relowner, 'USAGE') "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", (schema, name)).fetchone()
    return None if row is None else (str(row[0]), bool(row[1]))


def can_create_in(conn: psycopg.Connection[Any], schema: str) -> bool:
    """Whether the current role may create in a schema: CREATE INDEX needs it besides the
    table's ownership (PostgreSQL 15 takes it from PUBLIC on `public`)."""
    row = conn.execute("SELECT has_schema_privilege(current_user, %s, 'CREATE')",
                       (schema,)).fetchone()
    return bool(row and row[0])


def relation_kind(conn: psycopg.Connection[Any], schema: str, name: str) -> str | None:
    """pg_class.relkind of whatever already holds a name (an index name may be taken by a table)."""
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", (schema, name)).fetchone()
    return str(row[0]) if row else None


def build_progress(conn: psycopg.Connection[Any], pid: int,
                   index_name: str) -> BuildProgress | None:
    row = conn.execute(
        "SELECT phase, blocks_total, blocks_done, tuples_total, tuples_done "
        "FROM pg_stat_progress_create_index WHERE pid = %s", (pid,)).fetchone()
    if row is None:
        return None
    return BuildProgress(index_name=index_name, phase=str(row[0]), blocks_total=int(row[1] or 0),
                         blocks_done=int(row[2] or 0), tuples_total=int(row[3] or 0),
                         tuples_done=int(row[4] or 0))


def _normalize(value: Any) -> Any:
    """A parse tree as plain data, without what does not change the index."""
    if isinstance(value, dict):
        kind = value.get("@")
        if kind == "TypeCast" and isinstance(value.get("arg"), dict) and (
                value["arg"].get("@") == "A_Const"):
            return _normalize(value["arg"])  # 'open' and 'open'::text are the same literal
        out = {k: _normalize(v) for k, v in value.items() if k != "location"}
        if kind == "IndexElem":
            ordering = out.get("ordering", {}).get("value", _SORT_DEFAULT)
            nulls = out.get("nulls_ordering", {}).get("value", _NULLS_DEFAULT)
            descending = ordering == _SORT_DESC
            if nulls == (_NULLS_FIRST if descending else _NULLS_LAST):
                nulls = _NULLS_DEFAULT
            out["ordering"] = _SORT_DESC if descending else _SORT_DEFAULT
            out["nulls_ordering"] = nulls
        if kind == "DefElem" and isinstance(out.get("arg"), dict):
            arg = out["arg"]
            out["arg"] = str(arg.get("sval", arg.get("ival", arg.get("fval", arg))))
        return out
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    return value


def definition_tree(node: Any) -> Any:
    """The parts of an IndexStmt that define the index (not its name, table or build mode)."""
    data = node(skip_none=True)
    for key in ("idxname", "relation", "concurrent", "if_not_exists", "tableSpace",
                "oldNumber", "oldCreateSubid", "oldFirstRelfilelocatorSubid",
                "reset_default_tblspc", "transformed", "idxcomment"):
        data.pop(key, None)
    data["accessMethod"] = data.get("accessMethod") or "btree"
    return _normalize(data)


def same_definition(stmt: IndexStatement, catalog_definition: str) -> bool:
    """Expected statement vs pg_get_indexdef(), compared as parse trees."""
    actual: Any = parse_sql(catalog_definition)[0].stmt
    if actual.relation.relname != stmt.table:
        return False
    return bool(definition_tree(stmt.node) == definition_tree(actual))


def index_schema(conn: psycopg.Connection[Any], schema: str | None, name: str) -> str | None:
    """The schema of an existing index named in a DROP INDEX (search_path when unqualified)."""
    if schema is not None:
        return schema if relation_kind(conn, schema, name) == "i" else None
    row = conn.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = to_regclass(quote_ident(%s)) AND c.relkind = 'i'", (name,)).fetchone()
    return str(row[0]) if row else None


def comment_of(conn: psycopg.Connection[Any], names: list[str]) -> tuple[bool, str | None]:
    """(relation exists, its current comment) for COMMENT ON INDEX/TABLE idempotence."""
    qualified = ".".join('"' + n.replace('"', '""') + '"' for n in names)
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL, obj_description(to_regclass(%s), "
                       "'pg_class')", (qualified, qualified)).fetchone()
    if row is None:
        return False, None
    return bool(row[0]), None if row[1] is None else str(row[1])


# --- what index advice reads: tables, their columns, indexes, statistics, write rates ----

_TABLE_SQL = """
SELECT /* perfkit */ n.nspname, c.relname, c.relkind,
       n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg_toast%%'
       OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e'),
       array(SELECT a.attname FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = {target}
"""


def table_info(conn: psycopg.Connection[Any], schema: str | None,
               name: str) -> TableInfo | None:
    """A table, view or catalog a statement names, as the search_path resolves it (an
    extension's views, like pg_stat_statements, count as catalogs)."""
    if schema is None:
        query = _TABLE_SQL.format(target="to_regclass(quote_ident(%s))")
        row = conn.execute(sql_text(query), (name,)).fetchone()
    else:
        query = _TABLE_SQL.format(target="to_regclass(quote_ident(%s) || '.' || quote_ident(%s))")
        row = conn.execute(sql_text(query), (schema, name)).fetchone()
    if row is None:
        return None
    indexable = str(row[2]) in ("r", "p", "m") and not row[3]
    return TableInfo(TableName(str(row[0]), str(row[1])), frozenset(str(c) for c in row[4]),
                     indexable=indexable, catalog=bool(row[3]))


@dataclass(frozen=True)
class PresentIndex:
    """A valid plain btree index of a table (no expression, no predicate)."""

    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool
    primary: bool


_PRESENT_SQL = """
SELECT /* perfkit */ c.relname, i.indisunique, i.indisprimary,
       array(SELECT a.attname FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1])
                 WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       (i.indoption::int2[])[0:i.indnkeyatts - 1]
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = to_regclass(quote_ident(%s) || '.' || quote_ident(%s))
  AND i.indisvalid AND am.amname = 'btree' AND i.indexprs IS NULL AND i.indpred IS NULL
ORDER BY c.relname
"""
_INDOPTION_DESC = 1


def present_indexes(conn: psycopg.Connection[Any], table: TableName) -> list[PresentIndex]:
    rows = conn.execute(sql_text(_PRESENT_SQL), (table.schema, table.name)).fetchall()
    found = []
    for name, unique, primary, columns, options in rows:
        flags = list(options or [])
        found.append(PresentIndex(str(name), tuple(
            IndexColumn(str(col), bool(flags[i] & _INDOPTION_DESC) if i < len(flags) else False)
            for i, col in enumerate(columns)), bool(unique), bool(primary)))
    return found


@dataclass(frozen=True)
class ColumnValues:
    """Values of a column from pg_stats (as text): its most common one, a middle one."""

    most_common: str | None
    middle: str | None

    @property
    def heaviest(self) -> str | None:
        """The value most rows share (any value when none repeats)."""
        return self.most_common if self.most_common is not None else self.middle


def column_values(conn: psycopg.Connection[Any], table: TableName,
                  column: str) -> ColumnValues | None:
    """None when the column has no statistics (the table was never analyzed)."""
    row = conn.execute(
        "SELECT /* perfkit */ (most_common_vals::text::text[])[1], "
        "(histogram_bounds::text::text[])[(array_length(histogram_bounds::text::text[], 1) + 1) "
        "/ 2] FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = %s "
        "ORDER BY inherited DESC LIMIT 1", (table.schema, table.name, column)).fetchone()
    if row is None:
        return None
    return ColumnValues(None if row[0] is None else str(row[0]),
                        None if row[1] is None else str(row[1]))


def table_writes(conn: psycopg.Connection[Any]) -> dict[TableName, int]:
    """Rows inserted and updated per table since the statistics began (for a window's rate)."""
    rows = conn.execute("SELECT /* perfkit */ schemaname, relname, n_tup_ins + n_tup_upd "
                        "FROM pg_stat_user_tables").fetchall()
    return {TableName(str(s), str(t)): int(n or 0) for s, t, n in rows}


def writes_since_analyze(conn: psycopg.Connection[Any],
                         table: TableName) -> tuple[float | None, Any]:
    """(rows written per second since the table's last ANALYZE, that time): a rate that
    leaves out the bulk load an ANALYZE usually follows."""
    row = conn.execute(
        "SELECT /* perfkit */ n_mod_since_analyze, greatest(last_analyze, last_autoanalyze), "
        "extract(epoch FROM clock_timestamp() - greatest(last_analyze, last_autoanalyze)) "
        "FROM pg_stat_user_tables WHERE schemaname = %s AND relname = %s",
        (table.schema, table.name)).fetchone()
    if row is None or row[1] is None or not row[2]:
        return None, None
    return int(row[0] or 0) / float(row[2]), row[1]
