"""`perfkit demo story` as a Document: the runbook's "Requests Average Duration" table from
Prometheus, the headline, the indexes built, the client-side comparison and the cache lookups.
(The doctor checklist after it is doctor's own rendering.)
"""

from __future__ import annotations

from dataclasses import replace

from perfkit.bench.cache import Speedup
from perfkit.bench.capacity import capacity_change
from perfkit.bench.compare import ComparedRow, Comparison
from perfkit.bench.record import Phase, Run
from perfkit.cachestats.logs import CacheStats
from perfkit.db.apply import ApplyResult
from perfkit.demo.story import PROMISED_CHANGE_PCT, StoryResult, overall_change
from perfkit.prom.record import Figures, ReportRecord
from perfkit.render.compare import compare_table
from perfkit.render.model import Document, Table, name, number, text
from perfkit.units import MISSING, arrow, bar, fmt_ms, fmt_pct, fmt_share

BAR_WIDTH = 12
PROMETHEUS_TITLE = "Requests Average Duration (Prometheus), before → after"
PROMETHEUS_COLUMNS = (name("route"), number("before ms"), text("before", drop=2),
                      number("after ms"), text("after", drop=1), number("change"))
CLIENT_TITLE = "Client side (perfkit bench), before → after"
INDEX_COLUMNS = (name("index"), name("table"), name("action"), number("build time"))
CACHE_COLUMNS = (name("family"), number("hits"), number("misses"), number("hit ratio"))
EFFECT_COLUMNS = (name("route"), text("cache before"), text("cache after"))


def _mean_ms(figures: Figures | None) -> float | None:
    return None if figures is None else figures.mean_ms


def prometheus_table(report: ReportRecord) -> Table:
    """Routes with traffic in both windows, slowest 'before' first, bars scaled to it."""
    routes = [r for r in report.routes if r.before and r.after]
    routes.sort(key=lambda r: -(_mean_ms(r.before) or 0.0))
    top = max([_mean_ms(r.before) or 0.0 for r in routes] or [0.0])
    rows = []
    for r in routes:
        before, after = _mean_ms(r.before), _mean_ms(r.after)
        change = fmt_pct(r.change_pct.get("mean"), digits=0)
        rows.append([r.route, fmt_ms(before), bar(before, top, BAR_WIDTH), fmt_ms(after),
                     bar(after, top, BAR_WIDTH), change])
    return Table.of(PROMETHEUS_TITLE, PROMETHEUS_COLUMNS, rows)


def headline_lines(report: ReportRecord) -> list[str]:
    """The mean and P99 over all requests, before → after."""
    overall = overall_change(report)
    lines = []
    if overall["before_mean_ms"] is not None and overall["after_mean_ms"] is not None:
        lines.append(f"Mean over all requests: {fmt_pct(overall['change_pct'], digits=0)} ("
                     + arrow(fmt_ms(overall["before_mean_ms"], unit=True),
                             fmt_ms(overall["after_mean_ms"], unit=True))
                     + f"; the runbook promises {fmt_pct(PROMISED_CHANGE_PCT, digits=0)})")
    p99 = [None if w is None else w.p99_ms for w in (report.overall.before, report.overall.after)]
    if p99[0] is not None and p99[1] is not None:
        lines.append("P99 over all requests: "
                     + arrow(fmt_ms(p99[0], unit=True), fmt_ms(p99[1], unit=True))
                     + " (histogram_quantile over each window)")
    return lines


def index_table(applied: ApplyResult) -> Table:
    """The change itself: the indexes the story built."""
    rows = [[s.name, s.table or MISSING, s.action.value,
             fmt_ms(None if s.duration_s is None else s.duration_s * 1000, unit=True)]
            for s in applied.changed]
    return Table.of("Indexes built CONCURRENTLY (the change)", INDEX_COLUMNS, rows)


def _shown(row: ComparedRow, rows: list[ComparedRow]) -> bool:
    """cold and warm rows where a route has them, its `all` row otherwise."""
    if row.before.latency_ms["mean"] is None or row.after.latency_ms["mean"] is None:
        return False
    if row.phase is not Phase.ALL:
        return True
    return not any(r.route == row.route and r.phase is not Phase.ALL for r in rows)


def client_table(comparison: Comparison) -> Table:
    rows = [r for r in comparison.rows if _shown(r, comparison.rows)]
    return replace(compare_table(replace(comparison, rows=rows)), title=CLIENT_TITLE)


def _effect(sp: Speedup | None) -> str:
    if sp is None:
        return MISSING
    ratio = "" if sp.ratio is None else f" ({sp.ratio:.2f}x)"
    return f"{sp.cache_effect.value}{ratio}"


def effect_table(before: Run, after: Run) -> Table:
    """The cache verdict per route, measured: cold vs warm in each run."""
    then = {sp.route: sp for sp in before.speedups()}
    now = {sp.route: sp for sp in after.speedups()}
    rows = [[route, _effect(then.get(route)), _effect(now.get(route))]
            for route in dict.fromkeys([*then, *now])]
    threshold = next(iter(now.values()), None)
    caption = None if threshold is None else (
        f"detected: cold slower than warm beyond {threshold.threshold_pct:g}%, significant; "
        f"none: within ±{threshold.threshold_pct:g}%")
    return Table.of("Cache effect per route (cold vs warm, time-matched)", EFFECT_COLUMNS,
                    rows, caption)


def advice_lines(story: StoryResult) -> list[str]:
    """What advise-indexes proposed from the 'before' traffic, against the runbook."""
    if story.advice is None or story.advice_match is None:
        return list(story.notes)
    match = story.advice_match
    names = ", ".join(match.found) or "none of them"
    head = (f"advise-indexes on the 'before' traffic proposed {len(story.advice.indexes)} "
            f"index(es), proven with HypoPG: the runbook's {names}")
    if match.exact:
        return [head + " — exactly the runbook's indexes, nothing else"]
    extra = "; ".join(i.create_sql for i in match.extra)
    return [head, *([f"not proposed: {', '.join(match.missing)}"] if match.missing else []),
            *([f"also proposed: {extra}"] if extra else [])]


def cache_table(cache: CacheStats) -> Table:
    rows = [[family, str(stats.hits), str(stats.misses), fmt_share(stats.hit_ratio, digits=0)]
            for family, stats in sorted(cache.families.items())]
    return Table.of("Cache lookups since the restart", CACHE_COLUMNS, rows)


def capacity_lines(story: StoryResult) -> list[str]:
    """The mix's capacity before -> after (demo story --capacity)."""
    if story.capacity is None:
        return []
    change, text = capacity_change(*story.capacity)
    return [f"{text} (the runbook's mix, iterations/s, within {story.capacity[0].slo}): "
            f"{change.value}"]


def story_document(story: StoryResult) -> Document:
    doc = Document().table(prometheus_table(story.record))
    doc.lines(*headline_lines(story.record), *capacity_lines(story))
    doc.lines(*advice_lines(story))
    doc.table(index_table(story.applied)).table(client_table(story.comparison))
    return doc.table(effect_table(*story.runs)).table(cache_table(story.cache))


def closing_document(story: StoryResult) -> Document:
    total_ms = story.timings_s.get("total_s", 0.0) * 1000
    return Document().lines(f"runs: {story.before_run} and {story.after_run} (perfkit compare "
                            f"/ gate them); total {fmt_ms(total_ms, unit=True)}")
