"""The pages of `perfkit plot` in a real headless Chromium with the network off: every chart
drawn, no console error, nothing fetched, and the figures in the DOM equal to the records.

One browser session for the module; the pages are made once by the CLI. Skipped only when
Debian's chromium or chromium-driver is missing (scripts/bootstrap installs them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from perfkit.bench.compare import compare_runs
from perfkit.bench.record import Run
from tests.browser.support import (
    console_errors,
    find_chromium,
    open_page,
    read_charts,
    read_series,
    read_tables,
)
from tests.render.html_support import (
    check_compare,
    check_report,
    check_run,
    read,
    series_of,
    write_inputs,
)

pytestmark = [pytest.mark.integration,  # a real headless Chromium
              pytest.mark.skipif(
                  find_chromium() is None,
                  reason="chromium or chromedriver not found: apt-get install chromium "
                         "chromium-driver (scripts/bootstrap does)")]

PAGES = {"one-run": ("before",), "two-runs": ("before", "after"),
         "with-report": ("before", "after", "report")}
PHONE = (390, 844)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("browser-inputs"))


@pytest.fixture(scope="module")
def pages(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three pages, made by `perfkit plot` itself."""
    from perfkit.cli import main

    folder = tmp_path_factory.mktemp("pages")
    out = {}
    for name, parts in PAGES.items():
        args = [str(inputs[p]) for p in parts if p != "report"]
        if "report" in parts:
            args += ["--report", str(inputs["report"])]
        out[name] = folder / f"{name}.html"
        assert main(["plot", *args, "-o", str(out[name])]) == 0
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from tests.browser.support import chromium

    with chromium() as driver:
        yield driver


@dataclass(frozen=True)
class Shown:
    """A page as the browser showed it at 1280 px."""

    name: str
    errors: list[str]
    state: str
    fetched: list[str]
    charts: list[dict[str, Any]]
    tables: dict[str, list[dict[str, str]]]


@pytest.fixture(scope="module", params=list(PAGES))
def shown(request: pytest.FixtureRequest, browser: Any, pages: dict[str, Path]) -> Shown:
    """Each page loaded once; the tests below read what it showed."""
    name: str = request.param
    open_page(browser, pages[name])
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    return Shown(name, console_errors(browser),
                 browser.execute_script("return document.body.dataset.charts"), fetched,
                 read_charts(browser), read_tables(browser))


def test_every_chart_is_drawn_with_no_console_error_and_nothing_fetched(shown: Shown) -> None:
    assert shown.errors == []
    assert shown.state == "done"
    assert shown.fetched == []  # everything is inline: a CI artifact opens offline
    assert len(shown.charts) >= 7
    for chart in shown.charts:
        plot = chart["plot"]
        assert plot["rendered"] == "true", chart["id"]
        assert plot["width"] > 200 and plot["height"] > 150, (chart["id"], plot)
        assert plot["svgs"] >= 1 and plot["traces"] >= 1, (chart["id"], plot)
        assert chart["facts"] and chart["summary"].strip(), chart["id"]  # its text summary


def test_the_figures_in_the_dom_are_the_records(shown: Shown, inputs: dict[str, Path]) -> None:
    parts = PAGES[shown.name]
    for part in parts:
        if part != "report":
            check_run(shown.charts, shown.tables, f"{part}.json", read(inputs[part]))
    if "after" in parts:
        comparison = compare_runs(Run.load(inputs["before"]), Run.load(inputs["after"]))
        check_compare(shown.tables, comparison.to_json())
    if "report" in parts:
        check_report(shown.charts, shown.tables, read(inputs["report"]))


def _runs(values: list[float | None]) -> int:
    """Stretches of values between gaps: the line's segments when no gap is bridged."""
    return sum(1 for k, v in enumerate(values) if v is not None
               and (k == 0 or values[k - 1] is None))


def test_the_series_drawn_are_the_report_points_with_gaps_and_resets(
        browser: Any, pages: dict[str, Path], inputs: dict[str, Path]) -> None:
    from perfkit.render.html.figures import plot_time

    open_page(browser, pages["with-report"])
    assert console_errors(browser) == []
    drawn = {c["route"]: c for c in read_series(browser)}
    lines = series_of(read(inputs["report"]))
    assert set(drawn) == {route for route, _ in lines}
    for route, series in lines:
        chart, points = drawn[route], series["points"]
        times = [plot_time(t) for t, _, _ in points]
        for k, (trace, shown) in enumerate(zip(chart["traces"], chart["drawn"], strict=True)):
            values = [p[k + 1] for p in points]
            assert trace["name"] == ("mean", "P99")[k]
            assert trace["x"] == times and trace["y"] == values, (route, trace["name"])
            # a marker per value, a line segment per stretch between two gaps
            assert shown["markers"] == sum(v is not None for v in values), route
            assert shown["segments"] == _runs(values) > 1, route
        assert chart["dotted"] == [plot_time(t) for t in series["resets"]], route
    assert drawn["/auth/me"]["dotted"] and not drawn["/conversations"]["dotted"]


def test_a_phone_gets_every_chart_and_no_sideways_scroll(browser: Any,
                                                         pages: dict[str, Path]) -> None:
    width, height = PHONE
    open_page(browser, pages["with-report"], width, height)
    assert console_errors(browser) == []
    inner = browser.execute_script("return window.innerWidth")
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= inner, (scroll, inner)  # wide tables scroll in their own box
    for chart in read_charts(browser):
        plot = chart["plot"]
        assert plot["rendered"] == "true" and 0 < plot["width"] <= inner, (chart["id"], plot)
        assert plot["height"] >= 250, (chart["id"], plot)


def test_a_chart_that_cannot_be_drawn_says_so_on_the_page_and_the_console(
        browser: Any, pages: dict[str, Path], tmp_path: Path) -> None:
    # The same page with one chart's figure removed: the check above would catch it.
    page = pages["one-run"].read_text()
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace('data-plot="run0-rate"', 'data-plot="no-such-chart"', 1))
    open_page(browser, broken)
    errors = console_errors(browser)
    assert any("no-such-chart not drawn" in e for e in errors), errors
    failed = [c for c in read_charts(browser) if c["plot"]["rendered"] != "true"]
    assert [c["id"] for c in failed] == ["run0-rate"]
