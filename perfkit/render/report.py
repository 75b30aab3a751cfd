"""A Prometheus report as a Document: what was compared, two panels as on the seed's
dashboard (mean with bars and verdicts; P99 with its bucket, req/s and 5xx), client vs server,
the method, and the warnings grouped per route."""

from __future__ import annotations

from datetime import UTC, datetime

from perfkit.prom.caveats import GLOBAL_SCOPE, grouped
from perfkit.prom.clientside import READINGS, BenchComparison
from perfkit.prom.figures import WindowFigures, WindowPair
from perfkit.prom.judge import Judgement
from perfkit.prom.report import Report, RouteReport
from perfkit.render.model import Document, Table, name, number, text
from perfkit.units import (
    arrow,
    bar,
    fmt_at,
    fmt_interval_pct,
    fmt_ms,
    fmt_p,
    fmt_pct,
    fmt_rate,
    fmt_share,
)

BAR_WIDTH = 8
SAME_BUCKET = "same bucket"
BOTH_CLAMPED = "unknown"
P99_CAPTION = ("P99 = Prometheus's histogram_quantile over the window, interpolated in the "
               "bucket shown; >=X: above the last bucket (clamped), <=X: in the first bucket; "
               f"{SAME_BUCKET}: a change the buckets cannot measure; {BOTH_CLAMPED}: both "
               "above the last bucket")
MEAN_COLUMNS = (name("route"), number("mean ms"), number("before → after", drop=1),
                number("change", drop=3), number("95% CI"), number("p (Holm)", drop=2),
                text("verdict"))
P99_COLUMNS = (name("route"), number("P99 ms"), number("P99 bucket ms", drop=1),
               number("Δ P99"), number("req/s", drop=2), number("5xx %"))
CLIENT_COLUMNS = (name("route"), name("phase"), number("mean ms"), number("gap ms"),
                  number("P99 ms", drop=1), text("reading"))


def fmt_bucket(bounds: tuple[float, float | None] | None) -> str:
    """A Prometheus bucket (lo,hi] in ms: `(100,250]`, or `(1000,+Inf)` when clamped."""
    if bounds is None:
        return "-"
    lo, hi = bounds
    return f"({lo:g},+Inf)" if hi is None else f"({lo:g},{hi:g}]"


def _side(figs: WindowFigures | None, what: str) -> str:
    if figs is None:
        return "-"
    if what == "mean":
        return fmt_ms(figs.mean_ms)
    if what == "p99":
        return p99_cell(figs)
    if what == "bucket":
        return fmt_bucket(figs.p99_bucket_ms)
    if what == "rps":
        return fmt_rate(figs.rps)
    return fmt_share(figs.ratio_5xx, unit=False)


def p99_cell(figs: WindowFigures) -> str:
    """Prometheus's P99, or the only bound its bucket gives: `>=1000` clamped at the last
    bucket, `<=5` in the first (interpolated from 0)."""
    bounds = figs.p99_bucket_ms
    if figs.p99_ms is None or bounds is None:
        return fmt_ms(figs.p99_ms)
    if bounds[1] is None:
        return f">={bounds[0]:g}"
    if figs.p99_in_first_bucket:
        return f"<={bounds[1]:g}"
    return fmt_ms(figs.p99_ms)


def _pair(pair: WindowPair, what: str) -> str:
    return arrow(_side(pair.before, what), _side(pair.after, what))


def route_label(route: RouteReport) -> str:
    return f"{route.route} (unmatched)" if route.unmatched else route.route


def _rows(report: Report) -> list[tuple[str, WindowPair, Judgement | None]]:
    rows: list[tuple[str, WindowPair, Judgement | None]] = [
        (route_label(r), r.figures, r.judgement) for r in report.routes]
    if report.overall.before is not None or report.overall.after is not None:
        rows.append((GLOBAL_SCOPE, report.overall, None))
    return rows


def _bars(pair: WindowPair, top: float) -> str:
    cells = [bar(f.mean_ms, top, BAR_WIDTH) if f is not None and f.mean_ms is not None
             else " " * BAR_WIDTH for f in (pair.before, pair.after)]
    return arrow(*(c.ljust(BAR_WIDTH) for c in cells))


def mean_table(report: Report) -> Table:
    rows = _rows(report)
    top = max((f.mean_ms or 0.0 for _, pair, _ in rows for f in (pair.before, pair.after)
               if f is not None), default=0.0)
    cells = [[label, _pair(pair, "mean"), _bars(pair, top), fmt_pct(pair.change_pct()["mean"]),
              fmt_interval_pct(j.ci_pct if j else None), fmt_p(j.p_value if j else None),
              j.label if j else "-"] for label, pair, j in rows]
    return Table.of("Mean duration (ms), before → after, slowest first", MEAN_COLUMNS, cells)


def p99_change_cell(pair: WindowPair) -> str:
    """The P99's change, unless both lie in one bucket: Prometheus's interpolation inside it
    is no measurement."""
    p99 = pair.p99_change()
    if p99 is not None and p99.same_bucket and p99.claimed:
        return SAME_BUCKET
    if pair.before is not None and pair.after is not None and (
            pair.before.p99_clamped and pair.after.p99_clamped):
        return BOTH_CLAMPED
    return fmt_pct(pair.change_pct()["p99"])


def p99_table(report: Report) -> Table:
    cells = [[label, _pair(pair, "p99"), _pair(pair, "bucket"), p99_change_cell(pair),
              _pair(pair, "rps"), _pair(pair, "5xx")] for label, pair, _ in _rows(report)]
    return Table.of("P99 (ms) and its bucket (lo,hi], throughput and 5xx, before → after",
                    P99_COLUMNS, cells, caption=P99_CAPTION)


def client_table(bench: BenchComparison) -> Table:
    cells = [[r.route, r.phase.value, arrow(fmt_ms(r.client_mean_ms), fmt_ms(r.server.mean_ms)),
              ("+" if r.gap_ms > 0 else "") + fmt_ms(r.gap_ms),
              arrow(fmt_ms(r.client_p99_ms), fmt_ms(r.server.p99_ms)), r.reading]
             for r in bench.rows]
    return Table.of(f"Client (bench run) → server (Prometheus), {bench.match.window_name} "
                    "window", CLIENT_COLUMNS, cells, caption=bench.match.describe())


def window_lines(report: Report) -> list[str]:
    """What was compared: both windows, the split, the profile."""
    plan = report.plan
    lines = [f"{side:<7} {fmt_at(w.start)} → {fmt_at(w.end)} ({round(w.seconds, 3):g} s)"
             for side, w in (("before:", plan.before), ("after:", plan.after))]
    if plan.event is not None:
        lines.append(f"split:  change event {plan.event.id} ({plan.event.kind}: "
                     f"{plan.event.text}) at {fmt_at(plan.split_at)}")
    elif plan.split_source == "time":
        lines.append(f"split:  --split {fmt_at(plan.split_at)}")
    else:
        lines.append("split:  no change event in the lookback; before = the window right "
                     "before the after window")
    how = ("auto-detected from the server's metric names" if report.profile_source == "auto"
           else "from --profile")
    lines.append(f"profile: {report.profile or 'none found'} ({how}); Prometheus "
                 f"{report.prometheus_url}, {report.queries} queries")
    return lines


def method_notes(report: Report) -> list[str]:
    rule = report.rule
    notes = [f"verdicts: Mann-Whitney U over each window's bucket counts (a request counts at "
             f"its bucket's midpoint, the +Inf bucket at its lower bound), Holm over the "
             f"{len(report.judged)} judged route(s), alpha {rule.alpha:g}; {rule.confidence:.0%}"
             f" CI of the mean's change (exact means, spread from the buckets); faster/slower "
             f"only when the whole interval is beyond ±{rule.min_change_pct:g}% "
             f"(--min-change); fewer than {rule.min_samples} requests in a window: not judged"]
    if report.bench is not None and report.bench.rows:
        notes.append("reading: " + "; ".join(f"{reading}: {meaning}"
                                             for reading, meaning in READINGS.items()))
    if any(r.unmatched for r in report.routes):
        notes.append("(unmatched): requests the server matched to no route (404s for unknown "
                     "paths, as the exporter labels them): a mix of paths, never judged")
    return notes + series_notes(report)


def series_notes(report: Report) -> list[str]:
    """How the series over time were taken, and the counter resets they saw."""
    series = report.series
    if series is None:
        return []
    plan = series.plan
    scrape = (f"an assumed {plan.scrape_interval_s:g} s scrape interval" if plan.scrape_assumed
              else f"the {plan.scrape_interval_s:g} s scrape interval")
    notes = [f"over time: mean and P99 per route every {plan.step_s:g} s ({plan.count} points, "
             f"each over the {plan.window_s:g} s before it: the step plus {scrape}), in the "
             "JSON record and drawn by `perfkit plot --report`; no value is a gap, never "
             "interpolated"]
    for at, routes in series.resets([r.route for r in report.routes]).items():
        notes.append(f"counter reset (a restart) seen at {at_clock(at)}: {', '.join(routes)}; "
                     "Prometheus counts across it")
    return notes


def at_clock(epoch_s: float) -> str:
    return f"{datetime.fromtimestamp(epoch_s, UTC):%H:%M:%S} UTC"


def warning_lines(report: Report, *, notes: bool = True) -> list[str]:
    """One line per route (or for the whole report), decisions first."""
    return [g.line for g in grouped(report.warnings, notes=notes)]


def report_document(report: Report, *, warnings: bool = False) -> Document:
    """The report; with `warnings` (markdown) they close it, else the CLI says them on stderr."""
    doc = Document().heading("perfkit report: before → after")
    doc.lines(*window_lines(report), bullets=True)
    if report.routes:
        doc.table(mean_table(report)).table(p99_table(report))
    if report.bench is not None and report.bench.rows:
        doc.table(client_table(report.bench))
    doc.lines(*method_notes(report), bullets=True)
    if warnings and warning_lines(report, notes=False):
        doc.heading("Warnings").lines(*warning_lines(report, notes=False), bullets=True)
    return doc
