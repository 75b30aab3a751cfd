"""Index advice: the costliest statements, candidate indexes, each proven with HypoPG.

A candidate is kept when it cuts a statement's plan cost by MIN_CUT or more against the
best plan the existing indexes already give, on the generic plan or with the heaviest
values (an existing index on the same leading column is no reason to stay silent: skew
shows only with the heaviest key). The set is chosen greedily: the index that serves most
statements first, never one that is a prefix of another proposed or present. Nothing is
changed: hypothetical indexes live in perfkit's own read-only transactions (db/hypo.py).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from perfkit.db import catalog
from perfkit.db.advice import Advice, IndexAdvice, Source, StatementAdvice, StatementStatus
from perfkit.db.candidates import (
    Analysis,
    Candidate,
    Param,
    ParamRole,
    TableInfo,
    TableName,
    Unadvisable,
    analyze,
)
from perfkit.db.connect import connect, failed
from perfkit.db.hypo import HYPOPG_HINT, Costs, Planner, hypopg_schema
from perfkit.db.pooler import probe
from perfkit.db.statements import DbStats, StatementStats

#: A candidate must cut a statement's plan cost by this fraction (generic or heaviest plan).
MIN_CUT = 0.5
DEFAULT_TOP = 10
_NAME_MAX = 63
#: Values of such columns are never written to a migration (tokens, password hashes...).
SECRET_COLUMN = re.compile(r"token|secret|passw|api_?key|hash|salt", re.IGNORECASE)

Say = Callable[[str], None]


# --- the session: catalog look-ups and costs, cached -----------------------------------


@dataclass(eq=False)
class _Target:
    """A statement being advised on."""

    advice: StatementAdvice
    analysis: Analysis


class _Session:
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

    def costs(self, target: _Target, indexes: tuple[Candidate, ...] = ()) -> Costs:
        """The target's costs with these hypothetical indexes (cached per set)."""
        mine = tuple(sorted(c for c in indexes if c.table in target.analysis.tables))
        key = (id(target), mine)
        if key not in self._costs:
            self._costs[key] = self._plan(target, mine)
        return self._costs[key]

    def _plan(self, target: _Target, indexes: tuple[Candidate, ...]) -> Costs:
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


# --- parameters: the heaviest values to plan with ----------------------------------------


def _literal(session: _Session, param: Param, stats: StatementStats) -> str | None:
    if param.role is ParamRole.LIMIT:
        return str(max(1, math.ceil(stats.rows_per_call)))
    if param.role is ParamRole.OFFSET:
        return "0"
    assert param.table is not None and param.column is not None
    values = session.values(param.table, param.column)
    if values is None:
        return None
    if param.role is ParamRole.RANGE:
        return None if values.middle is None else session.literal(values.middle)
    heaviest = values.heaviest
    if heaviest is None:
        return None
    if param.role is ParamRole.ANY:
        element = '"' + heaviest.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return session.literal("{" + element + "}")
    return session.literal(heaviest)


def _heaviest_params(session: _Session, analysis: Analysis,
                     stats: StatementStats) -> tuple[tuple[str, ...] | None, bool]:
    """SQL literals for $1..$n (None when a condition's parameter has no value), and
    whether any is a value of a secret-looking column."""
    values: list[str] = []
    secret = False
    for number in range(1, analysis.param_count + 1):
        param = analysis.param(number)
        if param is None:
            if number in analysis.in_conditions:
                return None, False
            values.append("NULL")
            continue
        value = _literal(session, param, stats)
        if value is None:
            return None, False
        secret = secret or bool(param.column and SECRET_COLUMN.search(param.column))
        values.append(value)
    return tuple(values), secret


# --- statements -> targets -----------------------------------------------------------------


def _target(session: _Session, stats: StatementStats) -> _Target | StatementAdvice | None:
    """A statement ready to cost, a skipped one (with its reason), or None when it reads no
    table rows (BEGIN, SET, INSERT ... VALUES)."""
    try:
        analysis = analyze(stats.query, session.resolve)
    except Unadvisable as exc:
        return None if exc.quiet else StatementAdvice(stats, StatementStatus.SKIPPED,
                                                      exc.reason)
    params, secret = _heaviest_params(session, analysis, stats)
    advice = StatementAdvice(stats, StatementStatus.NO_CANDIDATE, candidates=tuple(
        analysis.candidates), params=params, secret_params=secret,
        is_select=analysis.is_select)
    target = _Target(advice, analysis)
    try:
        advice.before = advice.after = session.costs(target)
    except Unadvisable as exc:
        advice.status, advice.reason = StatementStatus.SKIPPED, exc.reason
        return advice
    if params is None:
        advice.reason = "no statistics to plan its heaviest value with (ANALYZE the table)"
    return target


def _targets(session: _Session, stats: DbStats,
             top: int) -> tuple[list[_Target], list[StatementAdvice]]:
    """The `top` costliest statements that read table rows: those to cost, and all of them
    in order (skipped ones included)."""
    targets: list[_Target] = []
    ordered: list[StatementAdvice] = []
    for statement in stats.statements:
        if len(ordered) >= top:
            break
        found = _target(session, statement)
        if found is None:
            continue
        if isinstance(found, _Target):
            targets.append(found)
            ordered.append(found.advice)
        else:
            ordered.append(found)
    return targets, ordered


def _pool(session: _Session, targets: list[_Target]) -> list[Candidate]:
    """Every candidate once, without those an existing index already is or extends."""
    pool: list[Candidate] = []
    for target in targets:
        for candidate in target.analysis.candidates:
            present = session.present(candidate.table)
            if candidate not in pool and not any(candidate.is_prefix_of(p.columns)
                                                 for p in present):
                pool.append(candidate)
    return pool


# --- the greedy choice ----------------------------------------------------------------------


def _gains(session: _Session, candidate: Candidate, chosen: list[Candidate],
           targets: list[_Target]) -> list[tuple[_Target, float]]:
    """The targets this candidate serves on top of the chosen ones, with a score each."""
    served = []
    for target in targets:
        if candidate.table not in target.analysis.tables:
            continue
        base = session.costs(target, tuple(chosen))
        after = session.costs(target, (*chosen, candidate))
        cut = base.cut(after)
        if str(candidate) in after.indexes and cut >= MIN_CUT:
            cuts = [c for c in (_rel(base.generic, after.generic),
                                _rel(base.heaviest, after.heaviest)) if c is not None]
            saved = max(0.0, sum(cuts) / len(cuts))
            served.append((target, target.advice.stats.total_ms * saved))
    return served


def _rel(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0:
        return None
    return (before - after) / before


def _choose(session: _Session, targets: list[_Target]) -> list[Candidate]:
    """Greedy: the candidate with the largest estimated time saved (each statement's total
    time times its cost cut, summed over the statements it serves: one index serving several
    beats two), the narrowest on a tie, until no candidate cuts any statement's cost by
    MIN_CUT over the set chosen so far."""
    pool, chosen = _pool(session, targets), list[Candidate]()
    targets = [t for t in targets if t.analysis.candidates]
    while pool:
        best: tuple[tuple[float, int], Candidate] | None = None
        for candidate in list(pool):
            gains = _gains(session, candidate, chosen, targets)
            if not gains:
                pool.remove(candidate)  # the set only grows: it will not serve later either
                continue
            key = (sum(score for _t, score in gains), -len(candidate.columns))
            if best is None or key > best[0]:
                best = (key, candidate)
        if best is None:
            break
        pick = best[1]

        def covered(c: Candidate, pick: Candidate = pick) -> bool:
            return c.table == pick.table and c.is_prefix_of(pick.columns)

        chosen = [c for c in chosen if not covered(c)] + [pick]
        pool = [c for c in pool if c != pick and not covered(c)]
    return chosen


def _settle(session: _Session, chosen: list[Candidate],
            targets: list[_Target]) -> list[Candidate]:
    """With the whole set in place: each statement's cost after and the indexes its plan
    uses; indexes that no statement still needs are dropped from the set."""
    while True:
        for target in targets:
            stmt = target.advice
            after = session.costs(target, tuple(chosen))
            assert stmt.before is not None
            used = [str(c) for c in chosen if str(c) in after.indexes]
            if used and stmt.before.cut(after) >= MIN_CUT:
                stmt.status, stmt.after, stmt.indexes = StatementStatus.SERVED, after, used
            else:
                stmt.status = (StatementStatus.COVERED if stmt.candidates
                               else StatementStatus.NO_CANDIDATE)
                stmt.after, stmt.indexes = stmt.before, []
        needed = [c for c in chosen if any(str(c) in t.advice.indexes for t in targets)]
        if needed == chosen:
            return chosen
        chosen = needed


# --- the advice --------------------------------------------------------------------------------


def _index_name(session: _Session, candidate: Candidate, taken: set[str]) -> str:
    base = "idx_" + "_".join([candidate.table.name, *(c.name for c in candidate.columns)])
    base = re.sub(r"[^a-z0-9_]+", "_", base.lower())
    for n in range(1, 100):
        suffix = "" if n == 1 else f"_{n}"
        name = base.encode()[: _NAME_MAX - len(suffix)].decode(errors="ignore") + suffix
        if name not in taken and catalog.relation_kind(
                session.conn, candidate.table.schema, name) is None:
            taken.add(name)
            return name
    raise Unadvisable(f"no free index name for {candidate}")  # pragma: no cover


def _serves(candidate: Candidate, stmt: StatementAdvice, proven: bool) -> bool:
    if proven:
        return str(candidate) in stmt.indexes
    return any(c.table == candidate.table and c.is_prefix_of(candidate.columns)
               for c in stmt.candidates)


def _index_advice(session: _Session, candidates: list[Candidate], targets: list[_Target],
                  writes: Callable[[TableName], float | None]) -> list[IndexAdvice]:
    """Each chosen index named, sized, with its table's write rate and its statements (which
    from now on name it by its index name)."""
    proven = session.planner.hypopg is not None
    taken: set[str] = set()
    found = []
    for candidate in candidates:
        served = [t.advice for t in targets if _serves(candidate, t.advice, proven)]
        redundant = tuple(p.name for p in session.present(candidate.table)
                          if not p.unique and Candidate(candidate.table, p.columns)
                          .is_prefix_of(candidate.columns))
        found.append(IndexAdvice(
            _index_name(session, candidate, taken), candidate, served, proven,
            size_bytes=session.planner.size_bytes(candidate),
            writes_per_s=writes(candidate.table), makes_redundant=redundant))
    found.sort(key=lambda i: -sum(s.stats.total_ms for s in i.statements))
    names = {str(i.candidate): i.name for i in found}
    for target in targets:
        stmt = target.advice
        stmt.indexes = [names[c] for c in stmt.indexes if c in names] if proven else [
            i.name for i in found if stmt in i.statements]
    return found


def _unproven(session: _Session, targets: list[_Target]) -> list[Candidate]:
    """Without HypoPG: every candidate that no other candidate extends."""
    pool = _pool(session, targets)
    for target in targets:
        if target.analysis.candidates:
            target.advice.status = StatementStatus.UNPROVEN
    return [c for c in pool if not any(o != c and o.table == c.table
                                       and c.is_prefix_of(o.columns) for o in pool)]


def _rates(session: _Session, window: dict[TableName, float] | None
           ) -> tuple[Callable[[TableName], float | None], str]:
    if window is not None:
        return window.get, "writes/s: rows inserted and updated per second during the window"

    def since_analyze(table: TableName) -> float | None:
        return catalog.writes_since_analyze(session.conn, table)[0]

    return since_analyze, ("writes/s: rows written per second since the table's last "
                           "ANALYZE (pg_stat_user_tables)")


def advise(dsn: str | None, stats: DbStats, source: Source, *, top: int = DEFAULT_TOP,
           writes_per_s: dict[TableName, float] | None = None,
           say: Say | None = None) -> Advice:
    """The advice for these statements; nothing in the database changes."""
    started = time.perf_counter()
    tell: Say = say or (lambda _msg: None)
    with connect(dsn, application_name="perfkit-advise") as conn:
        try:
            session = _Session(conn)
            targets, ordered = _targets(session, stats, top)
            tell(f"costing {len(targets)} statement(s)")
            if session.planner.hypopg is not None:
                chosen = _settle(session, _choose(session, targets), targets)
            else:
                chosen = _unproven(session, targets)
            writes, basis = _rates(session, writes_per_s)
            indexes = _index_advice(session, chosen, targets, writes)
        except psycopg.Error as exc:
            raise failed(exc, "advising") from None
    notes = [f"source: {source.describe()}", basis, *stats.notes(), *_pooler_note(dsn, indexes)]
    if session.planner.hypopg is None:
        notes.append(f"HypoPG is not installed in this database: candidates are unproven; "
                     f"{HYPOPG_HINT}")
    return Advice(source, session.planner.hypopg is not None, indexes, ordered, notes,
                  elapsed_s=time.perf_counter() - started, min_cut=MIN_CUT)


def _pooler_note(dsn: str | None, indexes: list[IndexAdvice]) -> list[str]:
    """Said once, when there is something to build: apply-indexes will refuse this DSN."""
    if not indexes or not dsn:
        return []
    with connect(dsn, application_name="perfkit-advise") as conn:
        found = probe(conn, dsn)
    if not found.transaction_pooled:
        return []
    return ["this DSN goes through a transaction pooler (fine for advice): apply the migration "
            "through the direct connection or a session pooler (Supabase: port 5432)"]


def _writes_snapshot(dsn: str | None) -> tuple[dict[TableName, int], float]:
    with connect(dsn, application_name="perfkit-advise") as conn:
        return catalog.table_writes(conn), time.monotonic()


def watch(dsn: str, seconds: float, tick: Callable[[float], None] | None = None
          ) -> tuple[DbStats, dict[TableName, float]]:
    """Live traffic for `seconds`: its statements, and each table's writes per second."""
    from perfkit.db.statements import observe

    before, started = _writes_snapshot(dsn)
    stats = observe(dsn, seconds, tick)
    after, ended = _writes_snapshot(dsn)
    elapsed = max(ended - started, 1e-9)
    return stats, {t: (n - before.get(t, 0)) / elapsed for t, n in after.items()}


