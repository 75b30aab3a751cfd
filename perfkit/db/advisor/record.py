"""The index advice record (`perfkit.advice/1`): the statements, the proposed indexes, and
what each index does to each statement's plan cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pglast import parse_sql

from perfkit.db.advisor.candidates import Candidate
from perfkit.db.advisor.hypothetical import Costs
from perfkit.db.catalog import definition_tree
from perfkit.db.statements import StatementStats

SCHEMA = "perfkit.advice/1"


class SourceKind(StrEnum):
    RUN = "run"                # a bench run record's db.statements
    WINDOW = "window"          # live traffic observed for --since
    CUMULATIVE = "cumulative"  # everything since the statistics' last reset


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    label: str
    since: datetime | None = None
    seconds: float | None = None

    def describe(self) -> str:
        if self.kind is SourceKind.RUN:
            return f"statements of the run {self.label}"
        if self.kind is SourceKind.WINDOW:
            return f"live traffic over {self.seconds or 0:g} s"
        since = f"since {self.since:%Y-%m-%d %H:%M:%S %Z}".rstrip() if self.since else (
            "since the statistics were last reset (the server does not say when)")
        return f"pg_stat_statements {since}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "label": self.label,
                "since": self.since.isoformat() if self.since else None,
                "seconds": self.seconds}


class StatementStatus(StrEnum):
    SERVED = "served"              # a proposed index cuts its cost by MIN_CUT or more
    COVERED = "covered"            # its plan uses an existing index no candidate beats
    NO_GAIN = "no-gain"            # its plan reads no index, and no candidate cuts it enough
    NO_CANDIDATE = "no-candidate"  # its conditions give an index nothing to seek on
    UNPROVEN = "unproven"          # candidates, but no HypoPG to prove them
    SKIPPED = "skipped"            # does not parse, names a missing table, cannot be planned


@dataclass
class StatementAdvice:
    stats: StatementStats
    status: StatementStatus
    reason: str = ""
    before: Costs | None = None
    after: Costs | None = None
    indexes: list[str] = field(default_factory=list)
    candidates: tuple[Candidate, ...] = ()
    params: tuple[str, ...] | None = None  # SQL literals of the heaviest values
    secret_params: bool = False
    is_select: bool = False

    @property
    def cut(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.before.cut(self.after)

    def to_json(self) -> dict[str, Any]:
        return {"queryid": self.stats.queryid, "query": self.stats.query,
                "calls": self.stats.calls, "total_ms": self.stats.total_ms,
                "mean_ms": self.stats.mean_ms, "status": self.status.value,
                "reason": self.reason or None,
                "cost_before": self.before.to_json() if self.before else None,
                "cost_after": self.after.to_json() if self.after else None,
                "indexes": self.indexes,
                "candidates": [str(c) for c in self.candidates]}


def _sum(costs: list[Costs]) -> Costs:
    heavy = [c.heaviest for c in costs]
    return Costs(sum(c.generic for c in costs),
                 None if any(h is None for h in heavy) else sum(h or 0.0 for h in heavy))


@dataclass(frozen=True)
class Choice:
    """Why a candidate index was kept or dropped (`--explain-choice`, the JSON's `choices`)."""

    candidate: Candidate
    kept: bool
    reason: str
    saved_ms: float | None = None  # the statements' time times this index's own cut

    def to_json(self) -> dict[str, Any]:
        return {"candidate": str(self.candidate), "kept": self.kept, "reason": self.reason,
                "saved_ms": self.saved_ms}


@dataclass
class IndexAdvice:
    name: str
    candidate: Candidate
    statements: list[StatementAdvice]
    proven: bool
    size_bytes: int | None = None
    writes_per_s: float | None = None
    makes_redundant: tuple[str, ...] = ()
    saved_ms: float | None = None  # its statements' time times its own (marginal) cut

    @property
    def create_sql(self) -> str:
        return self.candidate.definition(self.name, concurrently=True)

    @property
    def cost_before(self) -> Costs | None:
        costs = [s.before for s in self.statements if s.before is not None]
        return _sum(costs) if self.proven and costs else None

    @property
    def cost_after(self) -> Costs | None:
        costs = [s.after for s in self.statements if s.after is not None]
        return _sum(costs) if self.proven and costs else None

    def to_json(self) -> dict[str, Any]:
        before, after = self.cost_before, self.cost_after
        return {"name": self.name, "schema": self.candidate.table.schema,
                "table": self.candidate.table.name,
                "columns": [{"name": c.name, "descending": c.descending}
                            for c in self.candidate.columns],
                "create_sql": self.create_sql, "proven": self.proven,
                "statements": [s.stats.queryid for s in self.statements],
                "cost_before": before.to_json() if before else None,
                "cost_after": after.to_json() if after else None,
                "size_bytes": self.size_bytes, "writes_per_s": self.writes_per_s,
                "makes_redundant": list(self.makes_redundant), "saved_ms": self.saved_ms}


@dataclass
class Advice:
    source: Source
    hypopg: bool
    indexes: list[IndexAdvice]
    statements: list[StatementAdvice]
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    min_cut: float = 0.5
    choices: list[Choice] = field(default_factory=list)
    min_saved_share: float = 0.01

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "source": self.source.to_json(), "hypopg": self.hypopg,
                "min_cut": self.min_cut, "min_saved_share": self.min_saved_share,
                "indexes": [i.to_json() for i in self.indexes],
                "statements": [s.to_json() for s in self.statements], "notes": self.notes,
                "choices": [c.to_json() for c in self.choices], "elapsed_s": self.elapsed_s}


@dataclass(frozen=True)
class AdviceMatch:
    """Advice against the indexes a migration declares, compared as parse trees."""

    found: tuple[str, ...]  # declared indexes the advice proposes too
    missing: tuple[str, ...]  # declared, not advised
    extra: tuple[IndexAdvice, ...]  # advised, not declared

    @property
    def exact(self) -> bool:
        return not self.missing and not self.extra

    def to_json(self) -> dict[str, Any]:
        return {"found": list(self.found), "missing": list(self.missing),
                "extra": [i.create_sql for i in self.extra], "exact": self.exact}


def match_declared(advice: Advice, declared: list[Any]) -> AdviceMatch:
    """Which of `declared` (CREATE INDEX IndexStatements) the advice proposes: same table,
    same definition (columns, order, direction), whatever the names."""
    def key(table: str | None, node: Any) -> str:
        return repr((table, definition_tree(node)))

    wanted = {key(s.table, s.node): str(s.index_name) for s in declared}
    advised: dict[str, IndexAdvice] = {}
    for index in advice.indexes:
        node: Any = parse_sql(index.create_sql)[0].stmt
        advised[key(str(node.relation.relname), node)] = index
    return AdviceMatch(found=tuple(v for k, v in wanted.items() if k in advised),
                       missing=tuple(v for k, v in wanted.items() if k not in advised),
                       extra=tuple(i for k, i in advised.items() if k not in wanted))
