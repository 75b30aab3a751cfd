"""Prove an index is used: run its declared query under EXPLAIN and read the plan.

The query runs in a READ ONLY transaction that is rolled back, with a custom plan for
the given parameter values (a generic plan could hide or invent an index scan). Its
settings are SET LOCAL and its prepared statement is DEALLOCATEd inside it, so a pooled
server connection keeps nothing of it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import psycopg

from perfkit.db.connect import failed, sql_text
from perfkit.db.migration_reader import DeclaredQuery
from perfkit.errors import UsageError

_names = itertools.count()


@dataclass(frozen=True)
class PlanSummary:
    """What a plan does to reach its rows, its estimated cost and (with ANALYZE) its time."""

    scans: tuple[str, ...]
    index_names: frozenset[str]
    total_cost: float
    actual_ms: float | None

    def uses(self, index_name: str) -> bool:
        return index_name in self.index_names

    def describe(self) -> str:
        return ", ".join(self.scans) or "no scan"

    def to_json(self) -> dict[str, Any]:
        return {"scans": list(self.scans), "indexes": sorted(self.index_names),
                "total_cost": self.total_cost, "actual_ms": self.actual_ms}


def _walk(node: dict[str, Any], scans: list[str], indexes: set[str]) -> None:
    kind = str(node.get("Node Type", "?"))
    index = node.get("Index Name")
    relation = node.get("Relation Name")
    if index:
        indexes.add(str(index))
        scans.append(f"{kind} using {index}")
    elif relation and "Scan" in kind:
        scans.append(f"{kind} on {relation}")
    for child in node.get("Plans", []) or []:
        _walk(child, scans, indexes)


def summarize(plan_json: Any) -> PlanSummary:
    """Parse EXPLAIN (FORMAT JSON) output."""
    top = plan_json[0] if isinstance(plan_json, list) else plan_json
    root = top["Plan"]
    scans: list[str] = []
    indexes: set[str] = set()
    _walk(root, scans, indexes)
    actual = top.get("Execution Time")
    return PlanSummary(scans=tuple(scans), index_names=frozenset(indexes),
                       total_cost=float(root.get("Total Cost", 0.0)),
                       actual_ms=None if actual is None else float(actual))


def explain_query(conn: psycopg.Connection[Any], query: DeclaredQuery, *, analyze: bool = True,
                  timeout_s: float = 30.0) -> PlanSummary:
    """EXPLAIN the declared query with its params; the user's file is named on failure."""
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    name = f"perfkit_explain_{next(_names)}"
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(sql_text(f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}"))
            conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            if not query.params:
                row = conn.execute(sql_text(f"EXPLAIN ({options}) {query.sql}")).fetchone()
            else:
                conn.execute(sql_text(f"PREPARE {name} AS {query.sql}"))
                try:
                    with conn.transaction():  # a savepoint: the DEALLOCATE below still runs
                        row = conn.execute(sql_text(
                            f"EXPLAIN ({options}) EXECUTE {name}({', '.join(query.params)})"
                        )).fetchone()
                finally:  # PREPARE is not transactional: gone before the transaction ends
                    conn.execute(sql_text(f"DEALLOCATE {name}"))
    except psycopg.Error as exc:
        if conn.broken or conn.closed:  # the session died: the database failed, not the file
            raise failed(exc, f"proving {query.source}") from None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        hint = "check -- perfkit:query and -- perfkit:params"
        if isinstance(exc, psycopg.errors.QueryCanceled):
            hint = (f"it ran over {timeout_s:g} s, perfkit's own statement_timeout for one "
                    "EXPLAIN ANALYZE (the role's is not used): give it parameters that "
                    "select fewer rows")
        raise UsageError(f"{query.source}: the declared query failed: {message}",
                         hint=hint) from None
    if row is None:
        raise UsageError(f"{query.source}: EXPLAIN returned nothing")
    return summarize(row[0])
