"""Inputs for the HTML page: synthetic before/after runs (the engine's Tally over known
requests) and a report written by the real report serializer, on the runs' clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from perfkit.bench.record import Run
from perfkit.events import ChangeEvent
from perfkit.prom.caveats import ReportWarning, Severity
from perfkit.prom.figures import WindowPair
from perfkit.prom.judge import Rule, judge
from perfkit.prom.report import Report, RouteReport
from perfkit.prom.series import RouteSeries, SeriesSet, plan_series
from perfkit.prom.windows import Window, WindowPlan
from tests.bench.series_support import START_EPOCH_S, synthetic_run
from tests.prom.support import figures

ROUTES = ("GET /auth/me", "GET /conversations", "POST /webhook/whatsapp")
AFTER_START_S = START_EPOCH_S + 120.0
RUN_S = 20.0


def before_run() -> Run:
    """20 s at 60 req/s over three routes, 2% errors, twice as slow from second 12 on."""
    return synthetic_run(ROUTES, duration_s=RUN_S, rate_per_s=60, error_every=50,
                         slow_from_s=12, scenario="runbook")


def after_run() -> Run:
    """The same load two minutes later, twice as fast."""
    return synthetic_run(ROUTES, duration_s=RUN_S, rate_per_s=60, seed=2, median_ms=10,
                         start_s=AFTER_START_S, scenario="runbook")


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def report() -> Report:
    """The windows of the two runs, split by a mark between them; per-route figures of
    known latencies (Prometheus's default buckets), judged by the report's rule."""
    split = _at(START_EPOCH_S + 60)
    event = ChangeEvent("20260528T202740-ab12", split, "mark", "restart with the auth cache")
    plan = WindowPlan(Window(_at(START_EPOCH_S), _at(START_EPOCH_S + RUN_S)),
                      Window(_at(AFTER_START_S), _at(AFTER_START_S + RUN_S)), split, "event",
                      event)
    pairs = [WindowPair(figures([40.0 + k] * 400, window_s=RUN_S, p99_ms=49.5 + k),
                        figures([8.0 + k] * 400, window_s=RUN_S, p99_ms=9.9 + k))
             for k in range(2)]
    pairs.append(WindowPair(figures([30.0] * 400, window_s=RUN_S, p99_ms=49.0),
                            figures([30.0] * 12, window_s=RUN_S, p99_ms=49.0)))
    verdicts = judge([(pair, False) for pair in pairs], Rule())
    names = ("/auth/me", "/conversations", "/webhook/whatsapp")
    routes = tuple(RouteReport(name, pair, j)
                   for name, pair, j in zip(names, pairs, verdicts, strict=True))
    overall = WindowPair(figures([40.0] * 1200, window_s=RUN_S, p99_ms=49.6),
                         figures([9.0] * 812, window_s=RUN_S, p99_ms=9.95))
    warnings = (ReportWarning("few-samples", "12 requests in the after window",
                              Severity.CAVEAT, "/webhook/whatsapp"),)
    return Report("http://127.0.0.1:9090", "fastapi-observability", "auto", 1.0, plan, (),
                  routes, overall, warnings, 8, Rule(), series=series(plan, names))


#: /auth/me's process restarted 8 s into the before window: its counter reset there.
RESET_AT_S = START_EPOCH_S + 8.0


def series(plan: WindowPlan, routes: tuple[str, ...]) -> SeriesSet:
    """Each route's line at 1 s steps over both windows: values while its window's traffic
    flows (slow before, fast after), none between the windows (no request) nor at the
    restart (no scrape: a gap), a reset right after it on /auth/me."""
    grid = plan_series(plan, 1.0)
    lines: dict[str | None, RouteSeries] = {}
    for k, route in enumerate((None, *routes)):
        points = []
        for t_ms in grid.times_ms:
            t = t_ms / 1000
            base = (40.0 if t <= plan.split_at.timestamp() else 8.0) + k
            flowing = (plan.before.contains(_at(t)) or plan.after.contains(_at(t)))
            gap = RESET_AT_S <= t < RESET_AT_S + 2 or not flowing
            points.append((t, None if gap else base + (t % 3) / 4,
                           None if gap else round(1.25 * base + t % 5, 3)))
        resets = (RESET_AT_S + 2,) if route in (None, "/auth/me") else ()
        lines[route] = RouteSeries(grid.step_s, grid.window_s, tuple(points), resets)
    return SeriesSet(grid, lines)


def write_inputs(folder: Path) -> dict[str, Path]:
    """before.json, after.json and report.json in `folder`, as the commands write them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.json" for name in ("before", "after", "report")}
    before_run().save(paths["before"])
    after_run().save(paths["after"])
    paths["report"].write_text(json.dumps(report().to_json(), indent=2))
    return paths


def read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


class PageReader(HTMLParser):
    """What a test reads from a page without a browser: each chart's attributes and facts,
    each table's rows (cells by column), every src/href, and the chart figures' JSON."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.charts: list[dict[str, Any]] = []
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.links: list[str] = []
        self.figures: dict[str, Any] = {}
        self._table: str | None = None
        self._cell: tuple[dict[str, str], str] | None = None
        self._text: list[str] = []
        self._script_id: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attributes}
        self.links += [attrs[k] for k in ("src", "href") if k in attrs]
        data = {k.removeprefix("data-"): v for k, v in attrs.items() if k.startswith("data-")}
        if tag == "figure":
            self.charts.append({**data, "id": attrs.get("id", ""), "facts": []})
        elif tag == "li" and self.charts and data and self._table is None:
            self.charts[-1]["facts"].append(data)
        elif tag == "table":
            self._table = data.get("table", "")
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append({})
        elif tag == "td" and self._table is not None:
            self._cell, self._text = (self.tables[self._table][-1], data["col"]), []
        elif tag == "script":
            self._script_id, self._text = attrs.get("id"), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            row, col = self._cell
            row[col] = "".join(self._text)
            self._cell = None
        elif tag == "table" and self._table is not None:
            self.tables[self._table] = [row for row in self.tables[self._table] if row]
            self._table = None
        elif tag == "script" and self._script_id == "perfkit-charts":
            self.figures = json.loads("".join(self._text))
            self._script_id = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None or self._script_id == "perfkit-charts":
            self._text.append(data)

    def chart(self, kind: str, **attrs: str) -> dict[str, Any]:
        return chart_of(self.charts, kind, **attrs)


Charts = list[dict[str, Any]]  # per chart: its data-* attributes, id, and facts (data-*)
Tables = dict[str, list[dict[str, str]]]  # per table title: rows of cells by column


def chart_of(charts: Charts, kind: str, **attrs: str) -> dict[str, Any]:
    found = [c for c in charts if c.get("kind") == kind
             and all(c.get(k) == v for k, v in attrs.items())]
    assert len(found) == 1, (kind, attrs, [(c.get("kind"), c.get("route")) for c in charts])
    return found[0]


def expected_facts(run_json: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    """What a latency chart's summary must say per route and phase: the record's figures."""
    return {(r["route"], r["phase"]): {
        "count": str(r["count"]), "p50-ms": repr(r["latency_ms"]["p50"]),
        "p99-ms": repr(r["latency_ms"]["p99"]), "max-ms": repr(r["latency_ms"]["max"]),
        "errors": str(sum(r["errors"].values()))} for r in run_json["routes"]}


def check_run(charts: Charts, tables: Tables, label: str, run_json: dict[str, Any]) -> None:
    """Every route and phase of a run record, as its latency chart and its table say it."""
    from perfkit.units import fmt_ms

    expected = expected_facts(run_json)
    seen = {}
    for route in {r["route"] for r in run_json["routes"]}:
        for fact in chart_of(charts, "latency", route=route, run=label)["facts"]:
            seen[(route, fact["phase"])] = {k: fact[k] for k in expected[(route,
                                                                          fact["phase"])]}
    assert seen == expected
    rows = tables[f"{label}: per route (whole run)"]
    assert rows
    for row in rows:
        figures = next(r for r in run_json["routes"]
                       if (r["route"], r["phase"]) == (row["route"], row["phase"]))
        assert row["p50 ms"] == fmt_ms(figures["latency_ms"]["p50"])
        assert row["p99 ms"] == fmt_ms(figures["latency_ms"]["p99"])
        assert row["requests"] == str(figures["count"])
    (rate,) = chart_of(charts, "rate", run=label)["facts"]
    assert rate["sent"] == str(sum(run_json["series"]["sent"]))


def check_compare(tables: Tables, compare_json: dict[str, Any]) -> None:
    """compare's verdict per route and phase, as the table beside the spectra says it."""
    rows = {(r["route"], r["phase"]): r["verdict"]
            for r in tables["perfkit compare: before → after"]}
    assert rows == {(r["route"], r["phase"]): ("not judged (mixed)"
                                               if r["mixed_phases"] else r["verdict"])
                    for r in compare_json["routes"]}


def check_report(charts: Charts, tables: Tables, data: dict[str, Any]) -> None:
    """The report's windows, change, per-route figures and verdicts, as the page says them."""
    timeline = chart_of(charts, "timeline")
    assert timeline["split-at"] == data["split"]["at"]
    windows = {f.get("window"): f for f in timeline["facts"]}
    for side in ("before", "after"):
        assert windows[side]["mean-ms"] == repr(data["global"][side]["mean_ms"])
        assert windows[side]["count"] == str(data["global"][side]["count"])
        assert windows[side]["start"] == data[side]["start"]
    event = (data["split"].get("event") or {}).get("text") or ""
    assert any(f.get("event") == event for f in timeline["facts"] if "split-at" in f)
    for metric in ("mean", "p99"):
        bars = {f["route"]: f for f in chart_of(charts, "bars", metric=metric)["facts"]}
        for route in data["routes"]:
            fact = bars[route["route"]]
            assert fact["before-ms"] == repr(route["before"][f"{metric}_ms"])
            assert fact["after-ms"] == repr(route["after"][f"{metric}_ms"])
            assert fact["verdict"] == route["verdict"]
            assert fact["after-count"] == str(route["after"]["count"])
    verdicts = {r["route"]: r["verdict"] for r in tables["perfkit report: verdicts"]}
    for route in data["routes"]:
        assert verdicts[route["route"]] == route["verdict"].replace("not-judged", "not judged")
    check_series(charts, tables, data)


def series_of(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(route, its series) of a report record: all routes first; none in an older record."""
    lines = [("all routes", data["global"].get("series")),
             *((r["route"], r.get("series")) for r in data["routes"])]
    return [(route, series) for route, series in lines if series]


def check_series(charts: Charts, tables: Tables, data: dict[str, Any]) -> None:
    """Each route's series over time: its chart's summary, resets and table of points are
    the record's, gaps included (a "-" row, never a made-up value)."""
    from perfkit.render.html.figures import clock
    from perfkit.units import fmt_ms

    lines = series_of(data)
    assert len([c for c in charts if c.get("kind") == "series"]) == len(lines)
    for route, series in lines:
        chart = chart_of(charts, "series", route=route)
        (summary,) = [f for f in chart["facts"] if "points" in f]
        points = series["points"]
        assert summary["points"] == str(len(points))
        assert summary["step-s"] == repr(series["step_s"])
        assert summary["gaps"] == str(sum(1 for _, m, p in points if m is None and p is None))
        assert [f["reset-at"] for f in chart["facts"] if "reset-at" in f] == [
            repr(t) for t in series["resets"]]
        assert any(f.get("split-at") == data["split"]["at"] for f in chart["facts"])
        rows = tables[f"{route}: mean and P99 over time (Prometheus)"]
        time_col = f"time (UTC, every {series['step_s']:g} s)"
        assert [(r[time_col], r["mean ms"], r["P99 ms"]) for r in rows] == [
            (clock(t), fmt_ms(mean), fmt_ms(p99)) for t, mean, p99 in points]
