"""`perfkit plot`'s page, read as HTML (no browser): self-contained, every chart with its
figures, and those figures equal to the records' (tests/browser/ opens the same pages in
Chromium)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from perfkit.bench.compare import compare_runs
from perfkit.bench.record import Phase, Run
from perfkit.render.html import ReportRecord, plot_page, story_page
from perfkit.render.html.figures import plot_time
from perfkit.render.html.spectrum import display_phases, spectrum_points
from perfkit.stats import summary_ms
from tests.render.html_support import (
    RESET_AT_S,
    ROUTES,
    PageReader,
    after_run,
    before_run,
    check_compare,
    check_report,
    check_run,
    check_series,
    read,
    write_inputs,
)
from tests.support import CliResult

Cli = Callable[..., CliResult]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("plot-inputs"))


def _page(*runs: Run, rep: ReportRecord | None = None) -> PageReader:
    labels = ("before.json", "after.json", "third.json")
    return PageReader(plot_page(list(zip(labels, runs, strict=False)), rep).html)


def test_the_page_fetches_nothing_and_inlines_plotly() -> None:
    page = plot_page([("before.json", before_run())]).html
    reader = PageReader(page)
    assert all(link.startswith("#") for link in reader.links), reader.links
    assert "<link" not in page and "@import" not in page
    assert "plotly.js v" in page  # the offline bundle, inlined
    assert page.count("<script") == 3  # figures (JSON), Plotly, the renderer


def test_one_run_has_its_rate_latency_and_spectrum_charts() -> None:
    reader = _page(before_run())
    kinds = [c["kind"] for c in reader.charts]
    assert kinds.count("rate") == 1
    assert kinds.count("latency") == len(ROUTES) and kinds.count("spectrum") == len(ROUTES)
    assert set(reader.figures) == {c["id"] for c in reader.charts}
    for chart in reader.charts:
        assert chart["facts"], chart  # a text summary for every chart
        assert reader.figures[chart["id"]]["data"], chart


def test_latency_summaries_quote_the_run_record(inputs: dict[str, Path], cli: Cli,
                                                tmp_path: Path) -> None:
    out = tmp_path / "one.html"
    assert cli("plot", str(inputs["before"]), "-o", str(out)).exit_code == 0
    reader = PageReader(out.read_text())
    check_run(reader.charts, reader.tables, "before.json", read(inputs["before"]))


def test_rate_chart_counts_equal_the_series(inputs: dict[str, Path]) -> None:
    run = Run.load(inputs["before"])
    reader = _page(run)
    (fact,) = reader.chart("rate", run="before.json")["facts"]
    series = read(inputs["before"])["series"]
    assert fact["sent"] == str(sum(series["sent"]))
    assert fact["intended"] == str(sum(series["intended"]))
    trace = reader.figures[reader.chart("rate")["id"]]["data"][-1]
    assert [round(v * series["width_s"]) for v in trace["y"]] == series["sent"]


def test_latency_chart_draws_the_series_per_bucket(inputs: dict[str, Path]) -> None:
    reader = _page(Run.load(inputs["before"]))
    series = read(inputs["before"])["series"]
    line = next(x for x in series["lines"] if (x["route"], x["phase"]) == (ROUTES[0], "warm"))
    chart = reader.chart("latency", route=ROUTES[0])
    traces = {t["name"]: t for t in reader.figures[chart["id"]]["data"]}
    assert traces["warm p99"]["y"] == line["latency_ms"]["p99"]
    assert traces["warm p50 (band: p50-p99)"]["y"] == line["latency_ms"]["p50"]
    assert traces["warm p99"]["customdata"] == line["count"]
    errors = [sum(x["errors"][k] for x in series["lines"] if x["route"] == ROUTES[0])
              for k in range(series["buckets"])]
    assert traces["errors per bucket"]["y"] == errors and sum(errors) > 0


def test_the_spectrum_runs_through_the_records_percentiles() -> None:
    run = before_run()
    for route in ROUTES:
        for phase in display_phases(run, route):
            hist = run.records[(route, phase)].corrected
            points = {p.percentile: p.value_ms for p in spectrum_points(hist)}
            s = summary_ms(hist)
            assert points[50.0] == s["p50"]
            if hist.get_total_count() > 100:  # p99 is a point once 1/(1-p) is in the range
                assert points[99.0] == s["p99"] and points[90.0] == s["p90"]
            assert spectrum_points(hist)[-1].value_ms == s["max"]
            xs = [p.x for p in spectrum_points(hist)]
            assert xs == sorted(xs) and xs[0] == 1.0


def test_two_runs_overlay_the_spectrum_and_show_compares_verdicts() -> None:
    before, after = before_run(), after_run()
    reader = _page(before, after)
    chart = reader.chart("spectrum", route=ROUTES[0])
    dashes = {t["name"]: t["line"]["dash"] for t in reader.figures[chart["id"]]["data"]}
    assert dashes["before.json warm"] == "dash" and dashes["after.json warm"] == "solid"
    facts = {(f["run"], f["phase"]): f for f in chart["facts"]}
    for label, run in (("before.json", before), ("after.json", after)):
        for phase in display_phases(run, ROUTES[0]):
            s = summary_ms(run.records[(ROUTES[0], phase)].corrected)
            assert facts[(label, phase.value)]["p99-ms"] == repr(s["p99"])
    check_compare(reader.tables, compare_runs(before, after).to_json())
    verdicts = {r["verdict"] for r in reader.tables["perfkit compare: before → after"]}
    assert "faster" in verdicts
    assert "perfkit compare" in reader.tables  # the full table follows the section


def test_a_report_shows_its_windows_the_change_and_its_verdicts(
        inputs: dict[str, Path]) -> None:
    data = read(inputs["report"])
    reader = _page(before_run(), after_run(), rep=ReportRecord.from_json(data))
    check_report(reader.charts, reader.tables, data)
    table = {r["route"]: r["verdict"] for r in reader.tables["perfkit report: verdicts"]}
    assert table["/auth/me"] == "faster" and table["/webhook/whatsapp"] == "not judged"


def test_story_page_takes_the_report_json(inputs: dict[str, Path]) -> None:
    page = story_page(before_run(), after_run(), read(inputs["report"]))
    reader = PageReader(page.html)
    assert "perfkit demo story" in page.html
    assert {c["kind"] for c in reader.charts} == {"timeline", "series", "bars", "spectrum",
                                                  "rate", "latency"}
    assert page.charts == tuple(c["id"] for c in reader.charts)


def test_names_are_escaped_in_the_markup_and_the_figures() -> None:
    evil = "GET /x</script><script>alert(1)</script>"
    run = before_run()
    run.records = {(evil if r == ROUTES[0] else r, p): rec
                   for (r, p), rec in run.records.items()}
    assert run.series is not None
    for line in run.series.lines:
        line.route = evil if line.route == ROUTES[0] else line.route
    page = plot_page([("<b>run</b>", run)]).html
    assert "<script>alert(1)" not in page and "<b>run</b>" not in page
    reader = PageReader(page)
    assert reader.chart("latency", route=evil)["route"] == evil
    json.dumps(reader.figures)  # the figures parsed as JSON, names intact


def test_runs_without_a_common_route_are_drawn_but_not_compared() -> None:
    other = before_run()
    other.records = {(r + "/other", p): rec for (r, p), rec in other.records.items()}
    page = plot_page([("a.json", before_run()), ("b.json", other)]).html
    assert "not compared: no route/phase in common" in page


def test_a_run_without_series_still_gets_its_spectrum_and_tables() -> None:
    run = before_run()
    run.series = None
    reader = _page(run)
    assert {c["kind"] for c in reader.charts} == {"spectrum"}
    assert reader.tables["before.json: per route (whole run)"]


def test_plot_json_summary_and_sizes(inputs: dict[str, Path], cli: Cli,
                                     tmp_path: Path) -> None:
    out = tmp_path / "sub" / "page.html"
    result = cli("plot", str(inputs["before"]), str(inputs["after"]), "--report",
                 str(inputs["report"]), "-o", str(out), "--title", "Before & after",
                 "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["schema"] == "perfkit.plot/1" and summary["bytes"] == out.stat().st_size
    assert summary["charts"] == len(PageReader(out.read_text()).charts)
    assert "<title>Before &amp; after</title>" in out.read_text()


@pytest.mark.parametrize("target", ["dir", "/proc/perfkit-plot/page.html"])
def test_an_unwritable_output_fails_before_any_work(cli: Cli, tmp_path: Path,
                                                    target: str) -> None:
    out = str(tmp_path) if target == "dir" else target
    result = cli("plot", str(tmp_path / "missing.json"), "-o", out)
    assert result.exit_code == 2 and "cannot write -o" in result.stderr
    assert "missing.json" not in result.stderr  # the output is checked before the inputs


@pytest.mark.parametrize(("content", "expected"), [
    ('{"schema": "perfkit.gate/1"}', "neither a bench run"),
    ("not json", "invalid JSON"),
])
def test_a_file_that_is_not_a_run_is_one_line_exit_2(cli: Cli, tmp_path: Path, content: str,
                                                     expected: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    result = cli("plot", str(path), "-o", str(tmp_path / "p.html"))
    assert result.exit_code == 2 and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "p.html").exists()


def test_a_report_in_place_of_a_run_is_sent_to_report(inputs: dict[str, Path], cli: Cli,
                                                      tmp_path: Path) -> None:
    result = cli("plot", str(inputs["report"]), "-o", str(tmp_path / "p.html"))
    assert result.exit_code == 2 and "--report" in result.stderr
    wrong = cli("plot", "--report", str(inputs["before"]), "-o", str(tmp_path / "p.html"))
    assert wrong.exit_code == 2 and "not a perfkit report" in wrong.stderr
    assert cli("plot", "-o", str(tmp_path / "p.html")).exit_code == 2


def test_only_a_report_is_a_page_too(inputs: dict[str, Path], cli: Cli,
                                     tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = cli("plot", "--report", str(inputs["report"]), "-o", str(out))
    assert result.exit_code == 0 and "wrote" in result.stdout
    kinds = {c["kind"] for c in PageReader(out.read_text()).charts}
    assert kinds == {"timeline", "series", "bars"}


def test_each_route_is_drawn_over_time_with_its_gaps_and_resets(
        inputs: dict[str, Path]) -> None:
    data = read(inputs["report"])
    reader = _page(rep=ReportRecord.from_json(data))
    check_series(reader.charts, reader.tables, data)
    auth = reader.chart("series", route="/auth/me")
    (reset,) = [f for f in auth["facts"] if "reset-at" in f]
    assert float(reset["reset-at"]) == RESET_AT_S + 2
    figure = reader.figures[auth["id"]]
    for line in figure["data"]:  # mean and P99: a gap is a break
        assert line["connectgaps"] is False and None in line["y"], line["name"]
    assert [s["x0"] for s in figure["layout"]["shapes"] if s["line"].get("dash") == "dot"] == [
        plot_time(RESET_AT_S + 2)]
    assert not [f for f in reader.chart("series", route="/conversations")["facts"]
                if "reset-at" in f]


def test_a_report_written_before_series_existed_still_draws(inputs: dict[str, Path]) -> None:
    data = read(inputs["report"])
    for route in (*data["routes"], data["global"]):
        del route["series"]
    reader = _page(rep=ReportRecord.from_json(data))
    assert {c["kind"] for c in reader.charts} == {"timeline", "bars"}
    check_report(reader.charts, reader.tables, data)


def test_phases_shown_follow_the_cache_verdict() -> None:
    run = before_run()
    for route in run.routes():
        phases = display_phases(run, route)
        assert phases == run.phases(route) or phases == [Phase.ALL]
