"""What the database did during a run, as pure records (no driver): the run record's `db`.

perfkit/db/statements.py reads them from pg_stat_statements; the bench record, renderers and
the advisor only need these shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: What drivers and pools send around the app's queries: transaction control, session
#: resets of a pool (asyncpg: RESET ALL, pg_advisory_unlock_all(), CLOSE ALL, UNLISTEN *),
#: settings; and maintenance and DDL (ANALYZE, VACUUM, CREATE INDEX...), which are not the
#: traffic either. Counted in one line, never ranked with the app's SQL nor advised on.
HOUSEKEEPING = re.compile(
    r"^\s*(?:/\*.*?\*/\s*)*(?:(?:RESET|DISCARD|CLOSE|UNLISTEN|LISTEN|BEGIN|START\s+TRANSACTION|"
    r"COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION|SET|SHOW|"
    r"DEALLOCATE|ANALYZE|ANALYSE|VACUUM|REINDEX|CLUSTER|CHECKPOINT|CREATE|ALTER|DROP|"
    r"COMMENT|GRANT|REVOKE)\b|SELECT\s+pg_advisory_unlock_all\s*\(\s*\)\s*;?\s*$)",
    re.IGNORECASE | re.DOTALL)


def is_housekeeping(query: str) -> bool:
    """Whether a statement is a driver's or pool's own (see HOUSEKEEPING), not the app's."""
    return HOUSEKEEPING.match(query) is not None


@dataclass(frozen=True)
class Counters:
    """The counters of one statement (summed over roles) at one moment, or their change."""

    calls: int = 0
    total_ms: float = 0.0
    rows: int = 0
    shared_blks_hit: int = 0
    shared_blks_read: int = 0

    def minus(self, before: Counters) -> Counters:
        """The change since `before`; counters that went back (a reset, an eviction) restarted
        from zero, so their current value is the change."""
        if self.calls < before.calls:
            return self
        return Counters(self.calls - before.calls, self.total_ms - before.total_ms,
                        self.rows - before.rows, self.shared_blks_hit - before.shared_blks_hit,
                        self.shared_blks_read - before.shared_blks_read)

    def plus(self, other: Counters) -> Counters:
        return Counters(self.calls + other.calls, self.total_ms + other.total_ms,
                        self.rows + other.rows, self.shared_blks_hit + other.shared_blks_hit,
                        self.shared_blks_read + other.shared_blks_read)


@dataclass(frozen=True)
class Snapshot:
    """pg_stat_statements of the current database at `taken_at` (the server's clock)."""

    taken_at: datetime
    stats_reset: datetime | None
    texts: Mapping[int, str]
    counters: Mapping[int, Counters]
    hidden: int = 0  # statements of other roles whose text this role may not read
    hidden_ms: float = 0.0  # their execution time (pg_stat_statements shows it, not the text)


@dataclass(frozen=True)
class StatementStats:
    """One statement's share of a window: what `db.statements[]` holds in a run record."""

    queryid: int
    query: str
    calls: int
    calls_per_request: float | None
    total_ms: float
    mean_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int

    @classmethod
    def of(cls, queryid: int, query: str, counters: Counters,
           requests: int | None) -> StatementStats:
        per_request = counters.calls / requests if requests else None
        mean = counters.total_ms / counters.calls if counters.calls else 0.0
        return cls(queryid, query, counters.calls, per_request, counters.total_ms, mean,
                   counters.rows, counters.shared_blks_hit, counters.shared_blks_read)

    @property
    def rows_per_call(self) -> float:
        return self.rows / self.calls if self.calls else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"queryid": self.queryid, "query": self.query, "calls": self.calls,
                "calls_per_request": self.calls_per_request, "total_ms": self.total_ms,
                "mean_ms": self.mean_ms, "rows": self.rows,
                "shared_blks_hit": self.shared_blks_hit,
                "shared_blks_read": self.shared_blks_read}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatementStats:
        """A statement of a run record; ValueError/KeyError/TypeError when malformed."""
        per_request = data.get("calls_per_request")
        calls = int(data["calls"])
        total = float(data["total_ms"])
        return cls(queryid=int(data["queryid"]), query=str(data["query"]), calls=calls,
                   calls_per_request=None if per_request is None else float(per_request),
                   total_ms=total,
                   mean_ms=float(data.get("mean_ms", total / calls if calls else 0.0)),
                   rows=int(data.get("rows", 0)),
                   shared_blks_hit=int(data.get("shared_blks_hit", 0)),
                   shared_blks_read=int(data.get("shared_blks_read", 0)))


def share_of_latency(db_ms_per_request: float | None,
                     mean_latency_ms: float | None) -> float | None:
    """Database time per request over a mean request time (0..1, more when requests overlap
    their queries or other clients used the database): of the service time (from the send)
    it says what the target spent its time on; of the latency from the intended start, what
    a user waited on, the client-side queueing of a saturated open loop included."""
    if db_ms_per_request is None or not mean_latency_ms or mean_latency_ms <= 0:
        return None
    return db_ms_per_request / mean_latency_ms


@dataclass(frozen=True)
class Housekeeping:
    """The drivers' and pools' statements of a window, summed: the run record's
    `db.housekeeping`."""

    statements: int = 0
    calls: int = 0
    total_ms: float = 0.0
    examples: tuple[str, ...] = ()

    @classmethod
    def of(cls, stats: Iterable[StatementStats]) -> Housekeeping:
        found = sorted(stats, key=lambda s: -s.calls)
        return cls(len(found), sum(s.calls for s in found), sum(s.total_ms for s in found),
                   tuple(" ".join(s.query.split())[:40] for s in found[:4]))

    def note(self) -> str | None:
        if not self.statements:
            return None
        shown = ", ".join(self.examples) + (", ..." if self.statements > len(self.examples)
                                            else "")
        return (f"driver housekeeping and maintenance, not ranked: {self.statements} "
                f"statement(s) ({shown}), {self.calls} call(s), {self.total_ms:.1f} ms")

    def to_json(self) -> dict[str, Any]:
        return {"statements": self.statements, "calls": self.calls, "total_ms": self.total_ms,
                "examples": list(self.examples)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Housekeeping:
        if not data:
            return cls()
        return cls(int(data.get("statements", 0)), int(data.get("calls", 0)),
                   float(data.get("total_ms", 0.0)),
                   tuple(str(e) for e in data.get("examples", [])))


@dataclass(frozen=True)
class DbStats:
    """A window's statements, costliest first: the run record's `db` object."""

    statements: tuple[StatementStats, ...]
    share_of_latency: float | None = None
    db_ms_per_request: float | None = None
    seconds: float | None = None
    hidden_statements: int = 0
    reset_during: bool = False
    hidden_ms: float = 0.0  # the hidden statements' time in the window
    housekeeping: Housekeeping = field(default_factory=Housekeeping)
    share_of_service_time: float | None = None  # of the mean service time, from the send

    @property
    def total_ms(self) -> float:
        return sum(s.total_ms for s in self.statements)

    def notes(self) -> list[str]:
        """What limits these figures, in a sentence each."""
        out = []
        if self.hidden_statements:
            out.append(f"{self.hidden_statements} statement(s) of other roles are hidden from "
                       f"this role{self._hidden_share()}: grant it pg_read_all_stats to see "
                       "them (Supabase's postgres role has it)")
        kept = self.housekeeping.note()
        if kept:
            out.append(kept)
        if self.reset_during:
            out.append("pg_stat_statements was reset during the window: counts start at the "
                       "reset")
        return out

    def _hidden_share(self) -> str:
        total = self.total_ms + self.hidden_ms
        if self.hidden_ms <= 0 or total <= 0:
            return ""
        return f", {self.hidden_ms / total * 100:.0f}% of the database time"

    def to_json(self) -> dict[str, Any]:
        return {"statements": [s.to_json() for s in self.statements],
                "share_of_latency": self.share_of_latency,
                "share_of_service_time": self.share_of_service_time,
                "db_ms_per_request": self.db_ms_per_request, "seconds": self.seconds,
                "hidden_statements": self.hidden_statements, "hidden_ms": self.hidden_ms,
                "housekeeping": self.housekeeping.to_json(), "reset_during": self.reset_during}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DbStats:
        share, per_request = data.get("share_of_latency"), data.get("db_ms_per_request")
        seconds, service = data.get("seconds"), data.get("share_of_service_time")
        return cls(statements=tuple(StatementStats.from_json(s) for s in data["statements"]),
                   share_of_latency=None if share is None else float(share),
                   db_ms_per_request=None if per_request is None else float(per_request),
                   seconds=None if seconds is None else float(seconds),
                   hidden_statements=int(data.get("hidden_statements", 0)),
                   reset_during=bool(data.get("reset_during", False)),
                   hidden_ms=float(data.get("hidden_ms", 0.0)),
                   housekeeping=Housekeeping.from_json(data.get("housekeeping")),
                   share_of_service_time=None if service is None else float(service))


