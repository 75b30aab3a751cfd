"""The advisor's working state: the statements being advised on, and one cached session of
catalog look-ups and plan costs with and without hypothetical indexes (hypothetical.py).

orchestrate.py builds the targets and the advice; selection.py chooses the indexes; both
ask this session for costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from perfkit.db import catalog
from perfkit.db.advisor.candidates import Analysis, Candidate
from perfkit.db.advisor.hypothetical import Costs, Planner, hypopg_schema
from perfkit.db.advisor.record import StatementAdvice
from perfkit.db.vocabulary import TableInfo, TableName


@dataclass(eq=False)
class Target:
    """A statement being advised on."""

    advice: StatementAdvice
    analysis: Analysis


class CostingSession:
    """Catalog look-ups and plan costs for one advice, cached: the greedy choice asks the
    same (statement, index set) many times."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.planner = Planner(conn, hypopg_schema(conn))
        self._tables: dict[tuple[str | None, str], TableInfo | None] = {}
        self._present: dict[TableName, list[catalog.PresentIndex]] = {}
        self._values: dict[tuple[TableName, str], catalog.ColumnValues | None] = {}
        self._costs: dict[tuple[int, tuple[Candidate, ...]], Costs] = {}

    def resolve(self, schema: str | None, name: str) -> TableInfo | None:
        key = (schema, name)
        if key not in self._tables:
            self._tables[key] = catalog.table_info(self.conn, schema, name)
        return self._tables[key]

    def present(self, table: TableName) -> list[catalog.PresentIndex]:
        if table not in self._present:
            self._present[table] = catalog.present_indexes(self.conn, table)
        return self._present[table]

    def values(self, table: TableName, column: str) -> catalog.ColumnValues | None:
        if (table, column) not in self._values:
            self._values[(table, column)] = catalog.column_values(self.conn, table, column)
        return self._values[(table, column)]

    def literal(self, value: str) -> str:
        return sql.Literal(value).as_string(self.conn)

    def costs(self, target: Target, indexes: tuple[Candidate, ...] = ()) -> Costs:
        """The target's costs with these hypothetical indexes (cached per set)."""
        mine = tuple(sorted(c for c in indexes if c.table in target.analysis.tables))
        key = (id(target), mine)
        if key not in self._costs:
            self._costs[key] = self._plan(target, mine)
        return self._costs[key]

    def _plan(self, target: Target, indexes: tuple[Candidate, ...]) -> Costs:
        stmt = target.advice
        if not indexes:
            return self.planner.costs(stmt.stats.query, target.analysis.param_count,
                                      stmt.params)
        with self.planner.hypothetical(indexes) as made:
            costs = self.planner.costs(stmt.stats.query, target.analysis.param_count,
                                       stmt.params)
        names = {h.name: c for c, h in made.items()}
        used = frozenset(str(names[n]) for n in costs.indexes if n in names)
        return Costs(costs.generic, costs.heaviest,
                     used | frozenset(n for n in costs.indexes if n not in names))
