"""What a report's figures cannot say, per route, with the consequence for the reader.

Each warning has a severity: `decision` when it changes what a reader would conclude (no
data, a P99 change the buckets cannot measure, a partial answer), `caveat` when a figure is
weaker than it looks, `note` for how the report was made. Readers see them grouped per
route, decisions first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from perfkit.prom.figures import WindowFigures, WindowPair
from perfkit.stats import LOAD_RATIO
from perfkit.units import fmt_bound_ms, fmt_interval_pct, fmt_ms, fmt_pct

GLOBAL_SCOPE = "all routes"


class Severity(StrEnum):
    DECISION = "decision"
    CAVEAT = "caveat"
    NOTE = "note"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.DECISION: 0, Severity.CAVEAT: 1, Severity.NOTE: 2}


@dataclass(frozen=True)
class ReportWarning:
    """One thing to know; `scope` is the route, "all routes", or None (the whole report)."""

    kind: str
    text: str
    severity: Severity = Severity.CAVEAT
    scope: str | None = None

    @property
    def route(self) -> str | None:
        return None if self.scope == GLOBAL_SCOPE else self.scope

    @property
    def message(self) -> str:
        return self.text if self.scope is None else f"{self.scope}: {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "route": self.route, "message": self.message,
                "severity": self.severity.value}


@dataclass(frozen=True)
class WarningGroup:
    """The warnings of one scope, the most severe first: one line for a reader."""

    scope: str | None
    severity: Severity
    texts: tuple[str, ...]

    @property
    def line(self) -> str:
        joined = "; ".join(self.texts)
        return joined if self.scope is None else f"{self.scope}: {joined}"


def ordered(warnings: Iterable[ReportWarning]) -> list[ReportWarning]:
    """Decisions first, then caveats, then notes; otherwise in the order found."""
    return sorted(warnings, key=lambda w: w.severity.rank)


def grouped(warnings: Iterable[ReportWarning], *, notes: bool = True) -> list[WarningGroup]:
    """One group per route (its warnings joined), one per warning about the whole report;
    ranked by their most severe warning, the whole report's first. Without `notes`, the
    notes are left out (a document that shows them already)."""
    kept = [w for w in warnings if notes or w.severity is not Severity.NOTE]
    groups: dict[object, list[ReportWarning]] = {}
    for i, warning in enumerate(ordered(kept)):
        groups.setdefault(i if warning.scope is None else warning.scope, []).append(warning)
    found = [WarningGroup(ws[0].scope, ws[0].severity, tuple(w.text for w in ws))
             for ws in groups.values()]
    return sorted(found, key=lambda g: (g.severity.rank, g.scope is not None))


def _requests(count: float) -> str:
    return "1 request" if round(count) == 1 else f"{count:.0f} requests"


def _signed_ms(value: float) -> str:
    return ("+" if value > 0 else "") + fmt_ms(value, unit=True)


def _signed_bound(value_ms: float) -> str:
    return ("+" if value_ms > 0 else "") + fmt_bound_ms(value_ms)


def _windows(sides: list[str]) -> str:
    return "both windows" if len(sides) == 2 else f"the {sides[0]} window"


def _sides(pair: WindowPair) -> list[tuple[str, WindowFigures]]:
    return [(side, f) for side, f in (("before", pair.before), ("after", pair.after))
            if f is not None]


def sample_warnings(scope: str, pair: WindowPair, min_samples: int,
                    judged_route: bool) -> list[ReportWarning]:
    """A route seen in one window only, or too few requests in a window to judge."""
    consequence = "not judged, and its" if judged_route else "its"
    if scope != GLOBAL_SCOPE and (pair.before is None) != (pair.after is None):
        ((only, figs),) = _sides(pair)
        return [ReportWarning("one-window", f"only in the {only} window "
                              f"({_requests(figs.count_exact)}, none in the other): nothing to "
                              "compare", Severity.CAVEAT, scope)]
    few = [(side, f.count_exact) for side, f in _sides(pair) if f.count_exact < min_samples]
    if not few:
        return []
    counts = (f"{few[0][1]:.0f} requests in the {few[0][0]} window" if len(few) == 1 else
              f"{few[0][1]:.0f} requests before and {few[1][1]:.0f} after")
    return [ReportWarning("low-samples", f"only {counts} (fewer than {min_samples}): "
                          f"{consequence} mean and P99 are rough",
                          Severity.CAVEAT, scope)]


def _clamped(scope: str, pair: WindowPair) -> ReportWarning | None:
    clamped = [(side, f.p99_bucket.lo_s) for side, f in _sides(pair)
               if f.p99_bucket is not None and f.p99_bucket.clamped]
    if not clamped:
        return None
    last = fmt_bound_ms(clamped[0][1] * 1000)
    text = (f"P99 >= {last} in {_windows([s for s, _ in clamped])}, clamped at the last "
            f"bucket: the histogram needs finer buckets above {last} to say more")
    if len(clamped) == 2:
        return ReportWarning("clamped-p99", text + "; its P99 change is unknown",
                             Severity.DECISION, scope)
    if pair.both:  # the other window's P99 lies below the last bucket: the sign is known
        moved = "fell" if clamped[0][0] == "before" else "rose"
        text += f"; the P99 {moved}, by more than the change shown"
    return ReportWarning("clamped-p99", text, Severity.CAVEAT, scope)


def _first_bucket(scope: str, pair: WindowPair) -> ReportWarning | None:
    """Said in the table already (the P99 shows as <= the bucket's top): a note."""
    tops = [(side, bounds[1]) for side, f in _sides(pair)
            if f.p99_ms is not None and (bounds := f.p99_bucket_ms) is not None
            and bounds[0] == 0 and bounds[1] is not None]
    if not tops:
        return None
    top = fmt_bound_ms(max(t for _, t in tops if t is not None))
    return ReportWarning("first-bucket", f"P99 in the first bucket (0, {top}] in "
                         f"{_windows([s for s, _ in tops])}: read it as <= {top} (Prometheus "
                         "interpolates from 0; the true P99 may be far lower)",
                         Severity.NOTE, scope)


def _coarse(scope: str, pair: WindowPair) -> ReportWarning | None:
    p99 = pair.p99_change()
    if p99 is None or not p99.claimed or not p99.finer_than_buckets:
        return None
    between = (f"the true change lies between {_signed_bound(p99.low_ms)} and "
               f"{_signed_bound(p99.high_ms)} (the {_signed_ms(p99.change_ms)} shown is read "
               f"from buckets up to {fmt_bound_ms(p99.widest_bucket_ms)} wide)")
    if p99.high_ms <= 0:
        return ReportWarning("coarse-buckets", f"P99 improvement certain, size uncertain: "
                             f"{between}", Severity.CAVEAT, scope)
    if p99.low_ms >= 0:
        return ReportWarning("coarse-buckets", f"P99 regression certain, size uncertain: "
                             f"{between}", Severity.CAVEAT, scope)
    if p99.same_bucket:  # the table says "same bucket" instead of a change: a note
        return ReportWarning("coarse-buckets", f"P99 in the same bucket in both windows: its "
                             f"change is below what the buckets measure ({between})",
                             Severity.NOTE, scope)
    return ReportWarning("coarse-buckets", f"P99 change not measurable with these buckets: "
                         f"{between}", Severity.DECISION, scope)


def p99_warnings(scope: str, pair: WindowPair) -> list[ReportWarning]:
    """What the P99's buckets allow: clamped, an upper bound, a change smaller than them."""
    found = (_clamped(scope, pair), _first_bucket(scope, pair), _coarse(scope, pair))
    return [w for w in found if w is not None]


def one_bucket(scope: str, pair: WindowPair,
               ci_pct: tuple[float, float] | None) -> ReportWarning | None:
    """Every request of both windows in one bucket: the rank test has nothing to order, so
    the route gets no verdict; say what the means moved and how to get a verdict."""
    buckets = {(b.lo_s, b.hi_s) for _, f in _sides(pair) for b in f.buckets if b.count > 0}
    if len(buckets) != 1:
        return None
    ((lo_s, hi_s),) = buckets
    where = (f"({lo_s * 1000:g}, {fmt_bound_ms(hi_s * 1000)}]" if hi_s is not None
             else f"> {fmt_bound_ms(lo_s * 1000)}")
    moved = ("" if ci_pct is None else f"; the means moved {fmt_pct(pair.change_pct()['mean'])} "
             f"{fmt_interval_pct(ci_pct)}")
    return ReportWarning("one-bucket", f"every request in {where} in both windows: not "
                         f"judged (the buckets cannot rank them){moved}: buckets finer than "
                         "that would give a verdict", Severity.DECISION, scope)


def load_warnings(overall: WindowPair) -> list[ReportWarning]:
    """A server answers differently at 9 and at 770 req/s: say when the windows' loads
    differ, so a change on untouched routes is read as the load's."""
    if overall.before is None or overall.after is None:
        return []
    rates = (overall.before.rps, overall.after.rps)
    if min(rates) <= 0 or max(rates) / min(rates) <= LOAD_RATIO:
        return []
    return [ReportWarning("load", f"the windows' request rates differ ({rates[0]:.3g} → "
                          f"{rates[1]:.3g} req/s): every route was measured under another "
                          "load, so a change on routes the change did not touch may be the "
                          "load's", Severity.CAVEAT, GLOBAL_SCOPE)]
