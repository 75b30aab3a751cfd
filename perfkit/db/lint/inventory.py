"""What the lint rules read from the catalog, in one READ ONLY transaction: the schemas to
lint, their indexes (with the constraints they back and their scans), foreign keys, tables
and policies, and how old the activity statistics are.

Tables that belong to an extension are left out (the user did not make them), and so are
the schemas PostgreSQL and Supabase manage, unless named with --schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from perfkit.db.lint.model import StatsAge
from perfkit.db.vocabulary import IndexColumn, TableName
from perfkit.errors import UsageError

#: Schemas Supabase manages (its platform, not the user's schema): linted only when named.
MANAGED_SCHEMAS = ("auth", "storage", "realtime", "_realtime", "extensions", "graphql",
                   "graphql_public", "pgsodium", "pgsodium_masks", "vault",
                   "supabase_functions", "supabase_migrations", "net", "cron", "pgbouncer",
                   "_analytics", "pgtle")
_INDOPTION_DESC = 1

_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = {rel} AND d.deptype = 'e')"""


@dataclass(frozen=True)
class IndexRow:
    """One index of a linted table, as the catalog and its statistics show it."""

    oid: int
    table: TableName
    name: str
    definition: str
    valid: bool
    ready: bool
    unique: bool
    primary: bool
    partitioned: bool  # an index of a partitioned table (relkind I): no CONCURRENTLY
    method: str
    key_attnums: tuple[int, ...]  # 0 for an expression
    key_columns: tuple[IndexColumn, ...]  # plain columns only (empty when any expression)
    include_attnums: tuple[int, ...]
    classes: tuple[int, ...]  # operator class per key column
    collations: tuple[int, ...]
    has_expressions: bool
    has_predicate: bool
    constraints: tuple[str, ...]  # constraints it backs (its own PK/UNIQUE, others' FKs)
    replica_identity: bool
    idx_scan: int
    size_bytes: int
    building: bool  # a CREATE INDEX is running on it right now

    @property
    def qualified(self) -> str:
        return f"{self.table.schema}.{self.name}"

    @property
    def plain_btree(self) -> bool:
        return self.method == "btree" and not self.has_expressions and not self.has_predicate

    @property
    def protected(self) -> bool:
        """Never dropped by perfkit: a primary key, a constraint's, the replica identity."""
        return self.primary or bool(self.constraints) or self.replica_identity


@dataclass(frozen=True)
class ForeignKey:
    name: str
    table: TableName
    columns: tuple[str, ...]
    attnums: tuple[int, ...]
    parent: TableName
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableRow:
    table: TableName
    rows: float | None  # the planner's estimate; None when never analyzed
    live_rows: int | None  # from the activity statistics
    size_bytes: int
    has_primary_key: bool
    rls: bool
    index_writes: int  # rows inserted, and updated other than HOT, since the statistics began


@dataclass(frozen=True)
class Policy:
    name: str
    table: TableName
    permissive: bool
    command: str  # ALL, SELECT, INSERT, UPDATE, DELETE
    roles: tuple[str, ...]  # ("public",) for every role
    using: str | None
    with_check: str | None


@dataclass(frozen=True)
class Inventory:
    schemas: tuple[str, ...]
    indexes: tuple[IndexRow, ...]
    foreign_keys: tuple[ForeignKey, ...]
    tables: dict[TableName, TableRow]
    policies: tuple[Policy, ...]
    stats_age: StatsAge

    def indexes_of(self, table: TableName) -> list[IndexRow]:
        return [i for i in self.indexes if i.table == table]


def choose_schemas(conn: psycopg.Connection[Any], named: tuple[str, ...]) -> tuple[str, ...]:
    """The schemas named (each must exist), or every schema of the user's."""
    rows = conn.execute(
        "SELECT /* perfkit */ n.nspname FROM pg_namespace n WHERE n.nspname NOT LIKE 'pg\\_%' "
        "AND n.nspname <> 'information_schema' AND NOT EXISTS (SELECT 1 FROM pg_depend d "
        "WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e') "
        "ORDER BY 1").fetchall()
    present = [str(r[0]) for r in rows]
    if not named:
        return tuple(s for s in present if s not in MANAGED_SCHEMAS)
    everything = {str(r[0]) for r in conn.execute("SELECT nspname FROM pg_namespace")}
    missing = [s for s in named if s not in everything]
    if missing:
        raise UsageError(f"--schema {missing[0]}: no such schema in database "
                         f"{conn.info.dbname}",
                         hint=f"schemas here: {', '.join(present) or 'none'}")
    return tuple(dict.fromkeys(named))


_INDEXES_SQL = """
SELECT /* perfkit */ i.indexrelid::int8, n.nspname, t.relname, c.relname,
       pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready, i.indisunique,
       i.indisprimary, c.relkind = 'I', am.amname, i.indnkeyatts,
       (i.indkey::int2[])[0:i.indnatts - 1], (i.indoption::int2[])[0:i.indnkeyatts - 1],
       (i.indclass::oid[])[0:i.indnkeyatts - 1]::int8[],
       (i.indcollation::oid[])[0:i.indnkeyatts - 1]::int8[],
       i.indexprs IS NOT NULL, i.indpred IS NOT NULL,
       array(SELECT a.attname FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1])
                 WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       array(SELECT con.conname FROM pg_constraint con WHERE con.conindid = i.indexrelid
             ORDER BY 1),
       i.indisreplident, coalesce(s.idx_scan, 0), pg_relation_size(i.indexrelid),
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
WHERE n.nspname = ANY(%(schemas)s) AND t.relkind IN ('r', 'p', 'm')
  AND """ + _NOT_EXTENSION.format(rel="t.oid") + """
ORDER BY n.nspname, t.relname, c.relname
"""


def _index(row: Any) -> IndexRow:
    (oid, schema, table, name, definition, valid, ready, unique, primary, partitioned, method,
     nkey, attnums, options, classes, collations, exprs, pred, columns, constraints,
     replident, scans, size, building) = row
    keys = tuple(int(a) for a in (attnums or [])[:nkey])
    flags = list(options or [])
    plain = not exprs and all(keys) and len(columns or []) == len(keys)
    return IndexRow(
        oid=int(oid), table=TableName(str(schema), str(table)), name=str(name),
        definition=str(definition), valid=bool(valid), ready=bool(ready), unique=bool(unique),
        primary=bool(primary), partitioned=bool(partitioned), method=str(method),
        key_attnums=keys,
        key_columns=tuple(IndexColumn(str(col), bool(flags[i] & _INDOPTION_DESC))
                          for i, col in enumerate(columns or [])) if plain else (),
        include_attnums=tuple(int(a) for a in (attnums or [])[nkey:]),
        classes=tuple(int(c) for c in classes or []),
        collations=tuple(int(c) for c in collations or []),
        has_expressions=bool(exprs), has_predicate=bool(pred),
        constraints=tuple(str(c) for c in constraints or []),
        replica_identity=bool(replident), idx_scan=int(scans or 0),
        size_bytes=int(size or 0), building=bool(building))


_FOREIGN_KEYS_SQL = """
SELECT /* perfkit */ con.conname, n.nspname, t.relname,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.ord),
       con.conkey::int2[], pn.nspname, pt.relname,
       array(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
             ORDER BY k.ord)
FROM pg_constraint con
JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class pt ON pt.oid = con.confrelid
JOIN pg_namespace pn ON pn.oid = pt.relnamespace
WHERE con.contype = 'f' AND con.conparentid = 0 AND n.nspname = ANY(%(schemas)s)
  AND """ + _NOT_EXTENSION.format(rel="t.oid") + """
ORDER BY n.nspname, t.relname, con.conname
"""

_TABLES_SQL = """
SELECT /* perfkit */ n.nspname, c.relname, c.reltuples, s.n_live_tup, pg_table_size(c.oid),
       EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p'),
       c.relrowsecurity,
       coalesce(s.n_tup_ins + s.n_tup_upd - s.n_tup_hot_upd, 0)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = ANY(%(schemas)s)
  AND """ + _NOT_EXTENSION.format(rel="c.oid") + """
ORDER BY n.nspname, c.relname
"""

_POLICIES_SQL = """
SELECT /* perfkit */ p.polname, n.nspname, c.relname, p.polpermissive,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
       CASE WHEN p.polroles = '{0}' THEN ARRAY['public']::name[]
            ELSE array(SELECT r.rolname FROM pg_roles r WHERE r.oid = ANY(p.polroles)
                       ORDER BY 1) END,
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
ORDER BY n.nspname, c.relname, p.polname
"""

_STATS_AGE_SQL = """
SELECT /* perfkit */ extract(epoch FROM clock_timestamp()
                             - coalesce(d.stats_reset, pg_postmaster_start_time())),
       coalesce(d.stats_reset, pg_postmaster_start_time()), d.stats_reset IS NULL
FROM pg_stat_database d WHERE d.datname = current_database()
"""


def _table(row: Any) -> TableRow:
    schema, name, reltuples, live, size, has_pk, rls, writes = row
    rows = None if reltuples is None or float(reltuples) < 0 else float(reltuples)
    return TableRow(TableName(str(schema), str(name)), rows,
                    None if live is None else int(live), int(size or 0), bool(has_pk),
                    bool(rls), int(writes or 0))


def _stats_age(conn: psycopg.Connection[Any]) -> StatsAge:
    row = conn.execute(_STATS_AGE_SQL).fetchone()
    if row is None:  # pragma: no cover - every database has its row
        return StatsAge(0.0, "", True)
    since: datetime = row[1]
    return StatsAge(float(row[0]), since.isoformat(), bool(row[2]))


def read_inventory(conn: psycopg.Connection[Any], schemas: tuple[str, ...]) -> Inventory:
    """Everything the rules read, in the caller's transaction."""
    args = {"schemas": list(schemas)}
    indexes = tuple(_index(r) for r in conn.execute(_INDEXES_SQL, args).fetchall())
    keys = tuple(ForeignKey(str(r[0]), TableName(str(r[1]), str(r[2])),
                            tuple(str(c) for c in r[3]), tuple(int(a) for a in r[4]),
                            TableName(str(r[5]), str(r[6])), tuple(str(c) for c in r[7]))
                 for r in conn.execute(_FOREIGN_KEYS_SQL, args).fetchall())
    tables = {t.table: t for t in map(_table, conn.execute(_TABLES_SQL, args).fetchall())}
    policies = tuple(Policy(str(r[0]), TableName(str(r[1]), str(r[2])), bool(r[3]), str(r[4]),
                            tuple(str(x) for x in r[5]), r[6], r[7])
                     for r in conn.execute(_POLICIES_SQL, args).fetchall())
    return Inventory(schemas, indexes, keys, tables, policies, _stats_age(conn))
