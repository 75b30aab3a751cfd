"""Index advice: the costliest statements, candidate indexes, each proven with HypoPG.

A candidate is kept when it cuts a statement's plan cost by MIN_CUT or more against the
best plan the existing indexes already give, on the generic plan or with the heaviest
values (an existing index on the same leading column is no reason to stay silent: skew
shows only with the heaviest key), and saves a real share of the source's database time
by its own cut (selection.py chooses). Nothing is changed: hypothetical indexes live in
perfkit's own read-only transactions (hypothetical.py); costing.py caches the costs.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from perfkit.db import catalog
from perfkit.db.advisor.candidates import Analysis, Candidate, Unadvisable, analyze
from perfkit.db.advisor.costing import CostingSession, Target
from perfkit.db.advisor.hypothetical import HYPOPG_HINT
from perfkit.db.advisor.record import Advice, IndexAdvice, Source, StatementAdvice, StatementStatus
from perfkit.db.advisor.selection import MIN_CUT, MIN_SAVED_SHARE, Selection, pool, select
from perfkit.db.connect import connect, failed
from perfkit.db.pooler import probe
from perfkit.db.retry import once
from perfkit.db.statements import DbStats, StatementStats, observe
from perfkit.db.vocabulary import Param, ParamRole, TableName

DEFAULT_TOP = 10
_NAME_MAX = 63
#: Values of such columns are never written to a migration (tokens, password hashes...).
SECRET_COLUMN = re.compile(r"token|secret|passw|api_?key|hash|salt", re.IGNORECASE)

Say = Callable[[str], None]


# --- parameters: the heaviest values to plan with ----------------------------------------


def _literal(session: CostingSession, param: Param, stats: StatementStats) -> str | None:
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


def _heaviest_params(session: CostingSession, analysis: Analysis,
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


def _target(session: CostingSession, stats: StatementStats) -> Target | StatementAdvice | None:
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
    target = Target(advice, analysis)
    try:
        advice.before = advice.after = session.costs(target)
    except Unadvisable as exc:
        advice.status, advice.reason = StatementStatus.SKIPPED, exc.reason
        return advice
    if params is None:
        advice.reason = "no statistics to plan its heaviest value with (ANALYZE the table)"
    return target


def _targets(session: CostingSession, stats: DbStats,
             top: int) -> tuple[list[Target], list[StatementAdvice]]:
    """The `top` costliest statements that read table rows: those to cost, and all of them
    in order (skipped ones included)."""
    targets: list[Target] = []
    ordered: list[StatementAdvice] = []
    for statement in stats.statements:
        if len(ordered) >= top:
            break
        found = _target(session, statement)
        if found is None:
            continue
        if isinstance(found, Target):
            targets.append(found)
            ordered.append(found.advice)
        else:
            ordered.append(found)
    return targets, ordered


# --- the advice --------------------------------------------------------------------------------


def _index_name(session: CostingSession, candidate: Candidate, taken: set[str]) -> str:
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


def _index_advice(session: CostingSession, selection: Selection, targets: list[Target],
                  writes: Callable[[TableName], float | None]) -> list[IndexAdvice]:
    """Each chosen index named, sized, with its table's write rate and its statements (which
    from now on name it by its index name)."""
    proven = session.planner.hypopg is not None
    taken: set[str] = set()
    found = []
    for candidate in selection.chosen:
        served = [t.advice for t in targets if _serves(candidate, t.advice, proven)]
        redundant = tuple(p.name for p in session.present(candidate.table)
                          if not p.unique and Candidate(candidate.table, p.columns)
                          .is_prefix_of(candidate.columns))
        found.append(IndexAdvice(
            _index_name(session, candidate, taken), candidate, served, proven,
            size_bytes=session.planner.size_bytes(candidate),
            writes_per_s=writes(candidate.table), makes_redundant=redundant,
            saved_ms=selection.saved_ms.get(candidate)))
    found.sort(key=lambda i: (-(i.saved_ms or 0.0), -sum(s.stats.total_ms
                                                        for s in i.statements)))
    names = {str(i.candidate): i.name for i in found}
    for target in targets:
        stmt = target.advice
        stmt.indexes = [names[c] for c in stmt.indexes if c in names] if proven else [
            i.name for i in found if stmt in i.statements]
    return found


def _unproven(session: CostingSession, targets: list[Target]) -> list[Candidate]:
    """Without HypoPG: every candidate that no other candidate extends."""
    found = pool(session, targets)
    for target in targets:
        if target.analysis.candidates:
            target.advice.status = StatementStatus.UNPROVEN
    return [c for c in found if not any(o != c and o.table == c.table
                                        and c.is_prefix_of(o.columns) for o in found)]


def _rates(session: CostingSession, window: dict[TableName, float] | None
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
    """The advice for these statements; nothing in the database changes. `say` is told
    when a lost connection made the (read-only) evaluation start again on a new one."""
    started = time.perf_counter()

    def evaluate(conn: psycopg.Connection[Any]) -> _Evaluated:
        session = CostingSession(conn)
        targets, ordered = _targets(session, stats, top)
        if session.planner.hypopg is not None:
            selection = select(session, targets, stats.total_ms)
        else:
            selection = Selection(_unproven(session, targets), {}, [])
        writes, basis = _rates(session, writes_per_s)
        indexes = _index_advice(session, selection, targets, writes)
        return _Evaluated(session.planner.hypopg is not None, ordered, selection, indexes,
                          basis)

    try:  # read-only, hypothetical indexes only: a lost connection is retried once
        found = once(dsn, evaluate, doing="evaluating candidate indexes", say=say,
                     application_name="perfkit-advise")
    except psycopg.Error as exc:
        raise failed(exc, "advising") from None
    notes = [f"source: {source.describe()}", found.basis, *stats.notes(),
             *_pooler_note(dsn, found.indexes)]
    if not found.hypopg:
        notes.append(f"HypoPG is not installed in this database: candidates are unproven; "
                     f"{HYPOPG_HINT}")
    return Advice(source, found.hypopg, found.indexes, found.ordered, notes,
                  elapsed_s=time.perf_counter() - started, min_cut=MIN_CUT,
                  choices=found.selection.choices, min_saved_share=MIN_SAVED_SHARE)


@dataclass(frozen=True)
class _Evaluated:
    """What one costing session found (on one connection: all of it, or none)."""

    hypopg: bool
    ordered: list[StatementAdvice]
    selection: Selection
    indexes: list[IndexAdvice]
    basis: str


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


def _writes_snapshot(dsn: str | None, say: Say | None) -> tuple[dict[TableName, int], float]:
    writes = once(dsn, catalog.table_writes, doing="reading the tables' write counters",
                  say=say, application_name="perfkit-advise")
    return writes, time.monotonic()


def watch(dsn: str, seconds: float, tick: Callable[[float], None] | None = None,
          say: Say | None = None) -> tuple[DbStats, dict[TableName, float]]:
    """Live traffic for `seconds`: its statements, and each table's writes per second."""
    before, started = _writes_snapshot(dsn, say)
    stats = observe(dsn, seconds, tick, say=say)
    after, ended = _writes_snapshot(dsn, say)
    elapsed = max(ended - started, 1e-9)
    return stats, {t: (n - before.get(t, 0)) / elapsed for t, n in after.items()}


