"""The short tables beside the charts: each verdict and the figures it rests on, narrow
enough to sit next to a chart at 1280 px. The full tables (`perfkit bench`, `compare`,
`report` as the terminal prints them) follow each section; both use the same cells.
"""

from __future__ import annotations

from perfkit.bench.compare import Comparison
from perfkit.bench.record import Run
from perfkit.prom.record import ReportRecord
from perfkit.render.compare import verdict_cell
from perfkit.render.html.spectrum import cache_effects, display_phases
from perfkit.render.model import Table, name, number, text
from perfkit.stats import summary_ms
from perfkit.units import arrow, fmt_ms, fmt_pct


def run_verdicts(run: Run, label: str) -> Table:
    """Per route and phase: requests, p50, p99, errors, and the route's cache verdict."""
    rows, effects = [], cache_effects(run)
    for route in run.routes():
        effect = effects.get(route)
        for phase in display_phases(run, route, effects):
            rec = run.records[(route, phase)]
            s = summary_ms(rec.corrected)
            rows.append([route, phase.value, str(rec.count), fmt_ms(s["p50"]), fmt_ms(s["p99"]),
                         str(rec.error_count), "-" if effect is None else effect.value])
    return Table.of(f"{label}: per route (whole run)",
                    (name("route"), name("phase"), number("requests"), number("p50 ms"),
                     number("p99 ms"), number("errors"), name("cache")), rows)


def compare_verdicts(result: Comparison) -> Table:
    """compare's verdict per route and phase, with the change of the mean (its interval is
    in the full table under the charts)."""
    ordered = sorted(result.rows, key=lambda r: (r.route, r.phase.order))
    rows = [[r.route, r.phase.value, fmt_pct(r.change_pct["mean"]), verdict_cell(r)]
            for r in ordered]
    return Table.of("perfkit compare: before → after",
                    (name("route"), name("phase"), number("mean change"), text("verdict")),
                    rows)


def report_verdicts(report: ReportRecord) -> Table:
    """The report's verdict per route, with its mean before → after."""
    rows = []
    for r in (*report.routes, report.overall):
        before = None if r.before is None else r.before.mean_ms
        after = None if r.after is None else r.after.mean_ms
        verdict = r.verdict.value if r.verdict is not None else "not judged"
        rows.append([r.route, arrow(fmt_ms(before), fmt_ms(after)),
                     fmt_pct(r.change_pct.get("mean")), verdict])
    return Table.of("perfkit report: verdicts", (name("route"), number("mean ms"),
                                                   number("change"), text("verdict")), rows)
