"""The unindexed foreign key rule: a foreign key whose columns lead no index, so every
DELETE of a parent row (and every UPDATE of its key) scans the referencing table for
children, and every join on the key does too.

The evidence is the database's own: the referencing table's rows; the planner's cost of
the lookup PostgreSQL runs for each parent row deleted (`SELECT 1 FROM ONLY child WHERE
fk = $1`), generic and with the heaviest value, with and without a hypothetical index
(HypoPG, in a transaction that keeps nothing: db/advisor/hypothetical.py, as advise-indexes
proves its indexes); and the statements of pg_stat_statements that filter or join on the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from perfkit.db import catalog
from perfkit.db.advisor.candidates import Candidate, Unadvisable, analyze
from perfkit.db.advisor.hypothetical import HYPOPG_HINT, Costs, Planner
from perfkit.db.lint.indexes import covers, qualified, table_label
from perfkit.db.lint.inventory import ForeignKey, Inventory
from perfkit.db.lint.model import Finding
from perfkit.db.statements import StatementsUnavailable, take_snapshot
from perfkit.db.vocabulary import IndexColumn, TableInfo, quote_ident
from perfkit.errors import UsageError

_NAME_MAX = 63
#: Statements shown per foreign key (the record keeps their count and calls in full).
TOP_STATEMENTS = 5


@dataclass
class _Statements:
    """pg_stat_statements of this database, read once (or why it cannot be)."""

    texts: dict[int, tuple[str, int]] = field(default_factory=dict)  # queryid -> (text, calls)
    unavailable: str | None = None


def _read_statements(conn: psycopg.Connection[Any]) -> _Statements:
    try:
        snap = take_snapshot(conn)
    except StatementsUnavailable as exc:
        return _Statements(unavailable=exc.message)
    return _Statements({q: (text, snap.counters[q].calls) for q, text in snap.texts.items()})


def _filtering(conn: psycopg.Connection[Any], stats: _Statements, key: ForeignKey
               ) -> dict[str, Any]:
    """The statements whose conditions seek on the key's columns of the referencing table."""
    if stats.unavailable:
        return {"available": False, "why": stats.unavailable}
    tables: dict[tuple[str | None, str], TableInfo | None] = {}

    def resolve(schema: str | None, name: str) -> TableInfo | None:
        if (schema, name) not in tables:
            tables[(schema, name)] = catalog.table_info(conn, schema, name)
        return tables[(schema, name)]

    wanted = set(key.columns)
    pattern = re.compile(re.escape(key.table.name), re.IGNORECASE)
    found: list[tuple[int, int, str]] = []
    for queryid, (text, calls) in stats.texts.items():
        if not pattern.search(text):
            continue
        try:
            analysis = analyze(text, resolve)
        except Unadvisable:
            continue
        if any(c.table == key.table and {col.name for col in c.columns[:len(wanted)]} == wanted
               for c in analysis.candidates):
            found.append((calls, queryid, text))
    found.sort(key=lambda s: (-s[0], s[1]))
    top = [{"queryid": q, "calls": c, "query": t} for c, q, t in found[:TOP_STATEMENTS]]
    return {"available": True, "count": len(found), "calls": sum(c for c, _q, _t in found),
            "top": top}


def lookup_sql(key: ForeignKey) -> str:
    """What PostgreSQL runs on the referencing table for each parent row deleted."""
    where = " AND ".join(f"{quote_ident(c)} = ${n}" for n, c in enumerate(key.columns, 1))
    return f"SELECT 1 FROM ONLY {qualified(key.table.schema, key.table.name)} WHERE {where}"


def _heaviest(conn: psycopg.Connection[Any], key: ForeignKey) -> list[str] | None:
    literals = []
    for column in key.columns:
        values = catalog.column_values(conn, key.table, column)
        value = values.heaviest if values else None
        if value is None:
            return None
        literals.append(sql.Literal(value).as_string(conn))
    return literals


def _proof(planner: Planner, key: ForeignKey, candidate: Candidate) -> dict[str, Any]:
    """The lookup's plan costs before and after a hypothetical index on the key."""
    query = lookup_sql(key)
    heaviest = _heaviest(planner.conn, key)
    proof: dict[str, Any] = {"query": query, "proven": False}
    try:
        before: Costs = planner.costs(query, len(key.columns), heaviest)
        proof["cost_before"] = before.to_json()
        if planner.hypopg is None:
            proof["why"] = f"HypoPG is not installed: the cut cannot be proven; {HYPOPG_HINT}"
            return proof
        with planner.hypothetical([candidate]):
            after = planner.costs(query, len(key.columns), heaviest)
    except (Unadvisable, UsageError) as exc:
        proof["why"] = f"could not be planned: {getattr(exc, 'reason', None) or exc}"
        return proof
    proof.update(proven=True, cost_after=after.to_json(), cut=round(before.cut(after), 4))
    return proof


def _index_name(conn: psycopg.Connection[Any], key: ForeignKey, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", "idx_" + "_".join([key.table.name, *key.columns])
                  .lower())
    for n in range(1, 100):
        suffix = "" if n == 1 else f"_{n}"
        name = base.encode()[: _NAME_MAX - len(suffix)].decode(errors="ignore") + suffix
        if name not in taken and catalog.relation_kind(conn, key.table.schema, name) is None:
            taken.add(name)
            return name
    raise UsageError(f"no free index name for {key.name}")  # pragma: no cover


def _fix(conn: psycopg.Connection[Any], inventory: Inventory, key: ForeignKey,
         candidate: Candidate, taken: set[str]) -> str:
    invalid = next((i for i in inventory.indexes_of(key.table)
                    if not i.valid and not i.building and covers(i, key)), None)
    if invalid is not None:
        return (f"-- {invalid.qualified} serves it once rebuilt (the invalid_index fix "
                "rebuilds it)")
    return candidate.definition(_index_name(conn, key, taken), concurrently=True) + ";"


def foreign_key_findings(conn: psycopg.Connection[Any], inventory: Inventory,
                         dropped: set[int], planner: Planner,
                         taken: set[str]) -> list[Finding]:
    """A finding per foreign key that no valid index kept by the fixes serves."""
    unserved = [k for k in inventory.foreign_keys
                if not any(i.valid and i.oid not in dropped and covers(i, k)
                           for i in inventory.indexes_of(k.table))]
    if not unserved:
        return []
    stats = _read_statements(conn)
    findings = []
    for key in unserved:
        candidate = Candidate(key.table, tuple(IndexColumn(c) for c in key.columns))
        table = inventory.tables.get(key.table)
        parent = inventory.tables.get(key.parent)
        evidence = {
            "columns": list(key.columns), "references": table_label(key.parent),
            "referenced_columns": list(key.parent_columns),
            "rows": table.rows if table else None,
            "parent_rows": parent.rows if parent else None,
            "lookup": _proof(planner, key, candidate),
            "statements": _filtering(conn, stats, key)}
        findings.append(Finding("unindexed_foreign_key", f"{table_label(key.table)}.{key.name}",
                                table_label(key.table), evidence,
                                _fix(conn, inventory, key, candidate, taken)))
    return findings


def taken_names(inventory: Inventory) -> set[str]:
    """Index names already used (a new index's name must be free)."""
    return {i.name for i in inventory.indexes}

