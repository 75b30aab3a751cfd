"""Client vs server: a bench run's own latencies beside Prometheus's for the same routes.

The client sees network, queueing before the app (proxy, accept queue, event loop) and
itself; the server histogram sees only the handler. Their gap says which one to chase.
The run is matched to the window it mostly overlaps (a run rarely starts on a window's
edge), and the report says by how much they differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from perfkit import stats
from perfkit.errors import UsageError
from perfkit.prom.figures import WindowFigures
from perfkit.prom.windows import Window, WindowPlan

if TYPE_CHECKING:  # the run record (and hdrh) only load with --bench
    from perfkit.bench.record import Phase, Run

#: What a client-server gap says (within 10% of the server's mean, at least 1-2 ms: close).
READINGS = {
    "close": "the handler's time is nearly all of it",
    "client slower": "network, queueing before the app, or the client itself",
    "client faster": "not the same requests, or an artefact (window edges, scrape timing)",
}
#: A run is compared with a window only when at least this share of it lies inside.
MIN_RUN_SHARE = 0.5
#: Below this share of the run inside its window, the server's figures include other traffic
#: or miss some of the run's: said as a caveat.
CLEAN_RUN_SHARE = 0.9


def _when(text: str | None, source: str) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{source}: unreadable time {text!r}",
                         hint="use a file written by `perfkit bench --out`") from None
    return parsed if parsed.tzinfo else parsed.astimezone()


def _seconds(value_s: float) -> str:
    return f"{value_s:.1f} s" if value_s < 100 else f"{value_s:.0f} s"


@dataclass(frozen=True)
class BenchMatch:
    """Where a bench run lies against one window."""

    window_name: str
    window: Window
    run_start: datetime
    run_end: datetime

    @property
    def overlap_s(self) -> float:
        start, end = max(self.run_start, self.window.start), min(self.run_end, self.window.end)
        return max(0.0, (end - start).total_seconds())

    @property
    def run_share(self) -> float:
        """The share of the run inside the window (a run without duration: 1 or 0)."""
        length = (self.run_end - self.run_start).total_seconds()
        if length <= 0:
            return 1.0 if self.window.contains(self.run_start) else 0.0
        return self.overlap_s / length

    @property
    def window_share(self) -> float:
        return self.overlap_s / self.window.seconds if self.window.seconds > 0 else 0.0

    def _edge(self, at: datetime, edge: datetime, verb: str, what: str) -> str:
        delta = (edge - at).total_seconds()
        if abs(delta) < 0.05:
            return f"{verb} with {what}"
        return f"{verb} {_seconds(abs(delta))} {'before' if delta > 0 else 'after'} {what}"

    def describe(self) -> str:
        """`the run covers 98% of the after window; it started 0.4 s before it, ended …`"""
        started = self._edge(self.run_start, self.window.start, "started", "it")
        ended = self._edge(self.run_end, self.window.end, "ended", "its end")
        return (f"the run covers {self.window_share:.0%} of the {self.window_name} window "
                f"({self.run_share:.0%} of the run lies inside it); it {started}, {ended}")

    def to_json(self) -> dict[str, Any]:
        return {"window": self.window_name, "run_start": self.run_start.isoformat(),
                "run_end": self.run_end.isoformat(), "overlap_s": round(self.overlap_s, 3),
                "run_share": round(self.run_share, 4),
                "window_share": round(self.window_share, 4)}


def match_run(run: Run, plan: WindowPlan, source: str) -> BenchMatch:
    """The window the run overlaps most (the after window on a tie)."""
    start = _when(run.started_at, source)
    if start is None:
        raise UsageError(f"{source}: the run has no start time",
                         hint="use a file written by `perfkit bench --out`")
    end = _when(run.ended_at, source) or start
    candidates = [BenchMatch(name, window, start, end)
                  for name, window in (("after", plan.after), ("before", plan.before))]
    return max(candidates, key=lambda m: (m.overlap_s, m.run_share))


def _path_of(route: str) -> str:
    """"GET /conversations?account_id=3" -> "/conversations"."""
    path = route.split(" ", 1)[1] if " " in route else route
    return path.split("?", 1)[0]


def _matches(template: str, path: str) -> bool:
    if template == path:
        return True
    pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


@dataclass(frozen=True)
class ClientServerRow:
    """One bench route and phase beside the server route it hit, in the matched window."""

    route: str
    phase: Phase
    window: str
    server_route: str
    client_mean_ms: float
    client_p99_ms: float | None
    client_count: int
    server: WindowFigures

    @property
    def gap_ms(self) -> float:
        return round(self.client_mean_ms - (self.server.mean_ms or 0.0), 3)

    @property
    def p99_gap_ms(self) -> float | None:
        if self.client_p99_ms is None or self.server.p99_ms is None:
            return None
        return round(self.client_p99_ms - self.server.p99_ms, 3)

    @property
    def reading(self) -> str:
        """`close`, `client slower` or `client faster` (READINGS says what each means)."""
        server_ms = self.server.mean_ms or 0.0
        if self.gap_ms < -max(1.0, 0.1 * server_ms):
            return "client faster"
        if self.gap_ms <= max(2.0, 0.1 * server_ms):
            return "close"
        return "client slower"

    def to_json(self) -> dict[str, Any]:
        bounds = self.server.p99_bucket_ms
        return {"route": self.route, "server_route": self.server_route,
                "phase": self.phase.value, "window": self.window,
                "client": {"mean_ms": self.client_mean_ms, "p99_ms": self.client_p99_ms,
                           "count": self.client_count},
                "server": {"mean_ms": self.server.mean_ms, "p99_ms": self.server.p99_ms,
                           "p99_bucket_ms": None if bounds is None else list(bounds),
                           "count": self.server.count},
                "diff_ms": {"mean": self.gap_ms, "p99": self.p99_gap_ms},
                "reading": self.reading, "note": READINGS[self.reading]}


def client_server_rows(run: Run, window_name: str, figures: dict[str | None, WindowFigures],
                       server_routes: list[str]) -> list[ClientServerRow]:
    """One row per bench route and phase whose server route has figures in the window."""
    rows = []
    for route in run.routes():
        match = next((r for r in server_routes if _matches(r, _path_of(route))), None)
        if match is None:
            continue
        for phase in run.phases(route):
            rec = run.records[(route, phase)]
            summary = stats.summary_ms(rec.corrected)
            mean = summary["mean"]
            if mean is not None:
                rows.append(ClientServerRow(route, phase, window_name, match, mean,
                                            summary["p99"], rec.count, figures[match]))
    return rows


@dataclass(frozen=True)
class BenchComparison:
    """A bench run set beside the server's figures of the window it ran in (rows empty when
    it ran in neither)."""

    source: str
    match: BenchMatch
    rows: tuple[ClientServerRow, ...]

    @property
    def matched(self) -> bool:
        return self.match.run_share >= MIN_RUN_SHARE

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "matched": self.matched, **self.match.to_json()}


def compare_bench(run: Run, source: str, plan: WindowPlan,
                  before: dict[str | None, WindowFigures],
                  after: dict[str | None, WindowFigures],
                  server_routes: list[str]) -> BenchComparison:
    """The run beside the window it mostly overlaps; `server_routes` are the routes that may
    be matched (the exporter's unmatched labels are not routes)."""
    match = match_run(run, plan, source)
    if match.run_share < MIN_RUN_SHARE:
        return BenchComparison(source, match, ())
    figures = after if match.window_name == "after" else before
    candidates = [r for r in server_routes if r in figures]
    return BenchComparison(source, match, tuple(
        client_server_rows(run, match.window_name, figures, candidates)))
