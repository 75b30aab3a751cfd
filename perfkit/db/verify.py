"""Expected indexes vs the catalog: present, valid, same definition, and (with explain) used."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import psycopg

from perfkit.db import catalog
from perfkit.db.explain import PlanSummary, explain_query
from perfkit.db.migration_reader import IndexStatement, expected_indexes

SCHEMA = "perfkit.indexes/1"


class IndexState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"
    DIFFERENT = "different"
    UNUSED = "unused"


@dataclass
class IndexCheck:
    name: str
    schema: str | None
    table: str
    state: IndexState
    source: str
    detail: str = ""
    used_by_query: bool | None = None
    idx_scan: int | None = None
    size_bytes: int | None = None
    expected_sql: str = ""
    actual_sql: str | None = None
    plan: PlanSummary | None = None
    plan_before: PlanSummary | None = None
    table_exists: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "schema": self.schema, "table": self.table,
            "state": self.state.value, "used_by_query": self.used_by_query,
            "idx_scan": self.idx_scan, "size_bytes": self.size_bytes, "source": self.source,
            "detail": self.detail, "expected": self.expected_sql, "actual": self.actual_sql,
            "plan": self.plan.to_json() if self.plan else None,
            "plan_before": self.plan_before.to_json() if self.plan_before else None,
        }


@dataclass
class VerifyReport:
    indexes: list[IndexCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.state is IndexState.OK for check in self.indexes)

    def failing(self) -> list[IndexCheck]:
        return [c for c in self.indexes if c.state is not IndexState.OK]

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "ok": self.ok,
                "indexes": [check.to_json() for check in self.indexes]}


def check_index(conn: psycopg.Connection[Any], stmt: IndexStatement) -> IndexCheck:
    """The state of one expected index, from pg_index and pg_get_indexdef()."""
    assert stmt.index_name is not None and stmt.table is not None
    check = IndexCheck(name=stmt.index_name, schema=stmt.schema, table=stmt.table,
                       state=IndexState.MISSING, source=str(stmt.source),
                       expected_sql=stmt.text)
    schema = catalog.resolve_table(conn, stmt.schema, stmt.table)
    if schema is None:
        check.detail = f"table {stmt.table} does not exist"
        check.table_exists = False
        return check
    check.schema = schema
    found = catalog.find_index(conn, schema, stmt.index_name)
    if found is None:
        other = catalog.equivalent_index(conn, stmt, schema)
        kind = catalog.relation_kind(conn, schema, stmt.index_name)
        if kind is not None:
            check.state = IndexState.DIFFERENT
            check.detail = f"the name {stmt.index_name} is taken by a relation of kind {kind!r}"
        elif other:
            check.detail = f"not in the database; one with this definition exists as {other}"
        else:
            check.detail = "not in the database"
        return check
    check.actual_sql = found.definition
    check.idx_scan = found.idx_scan
    check.size_bytes = found.size_bytes
    if not found.valid:
        check.state = IndexState.INVALID
        check.detail = ("INVALID (a failed or interrupted CONCURRENTLY build); queries ignore "
                        "it and IF NOT EXISTS skips it")
    elif found.table != stmt.table or not catalog.same_definition(stmt, found.definition):
        check.state = IndexState.DIFFERENT
        check.detail = f"exists as: {found.definition}"
    else:
        check.state = IndexState.OK
    return check


def prove_usage(conn: psycopg.Connection[Any], stmt: IndexStatement, check: IndexCheck) -> None:
    """Run the declared query; an index its own query does not use is `unused`."""
    if stmt.query is None:
        return
    check.plan = explain_query(conn, stmt.query)
    check.used_by_query = check.plan.uses(check.name)
    if check.state is IndexState.OK and not check.used_by_query:
        check.state = IndexState.UNUSED
        check.detail = f"its declared query runs {check.plan.describe()}"


def verify_indexes(conn: psycopg.Connection[Any], statements: list[IndexStatement], *,
                   explain: bool = False,
                   plans_before: dict[str, PlanSummary] | None = None) -> VerifyReport:
    """One check per index the files still want; with `explain`, each declared query runs."""
    report = VerifyReport()
    for stmt in expected_indexes(statements):
        check = check_index(conn, stmt)
        if explain and check.table_exists:
            prove_usage(conn, stmt, check)
        if plans_before and check.name in plans_before:
            check.plan_before = plans_before[check.name]
        report.indexes.append(check)
    return report
