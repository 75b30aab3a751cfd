"""The series' grid (step from the windows and the scrape interval), its record (read back,
also from a report written before it existed) and what the text report says of it. Pure:
tests/prom/test_report_live.py checks the points against a real Prometheus."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from perfkit.prom.series import MAX_POINTS, RouteSeries, plan_series
from perfkit.prom.windows import Window, WindowPlan
from perfkit.render.report import series_notes
from tests.prom.support import SPLIT
from tests.render.html_support import RESET_AT_S, report


def _plan(window_s: float) -> WindowPlan:
    width = timedelta(seconds=window_s)
    return WindowPlan(Window(SPLIT - width, SPLIT), Window(SPLIT, SPLIT + width), SPLIT, "time")


@pytest.mark.parametrize(("window_s", "scrape_s", "step_s", "points"), [
    (1200, 15.0, 15, 160),  # the runbook's 20 minutes: every scrape
    (3600, 15.0, 30, 240),  # an hour each: every second scrape
    (3600, 1.0, 24, 300),  # the demo's 1 s scrapes: 24 s steps
    (10, 1.0, 1, 20),
])
def test_the_step_is_the_smallest_scrape_multiple_within_the_points(
        window_s: float, scrape_s: float, step_s: float, points: int) -> None:
    grid = plan_series(_plan(window_s), scrape_s)
    assert (grid.step_s, grid.count, grid.window_s) == (step_s, points, step_s + scrape_s)
    assert grid.start == SPLIT - timedelta(seconds=window_s - step_s)  # one step in
    assert grid.end <= SPLIT + timedelta(seconds=window_s)


@pytest.mark.parametrize("scrape_s", [0.5, 1.0, 5.0, 10.0, 15.0, 30.0, 60.0])
@pytest.mark.parametrize("window_s", [2, 59, 600, 1199, 7200, 86400])
def test_never_more_than_max_points_and_always_whole_scrapes(window_s: float,
                                                             scrape_s: float) -> None:
    if window_s < 2 * scrape_s:
        return  # refused by the window planning
    grid = plan_series(_plan(window_s), scrape_s)
    assert 1 <= grid.count <= MAX_POINTS
    assert math.isclose(grid.step_s / scrape_s, round(grid.step_s / scrape_s))
    # the smallest such step: one scrape less would give more than MAX_POINTS
    assert grid.step_s == scrape_s or 2 * window_s / (grid.step_s - scrape_s) > MAX_POINTS


def test_an_unknown_scrape_interval_is_assumed_and_said() -> None:
    grid = plan_series(_plan(1200), None)
    assert grid.scrape_assumed and grid.step_s == 15 and grid.window_s == 30


def test_the_record_reads_back_and_an_older_report_has_none() -> None:
    line = report().series
    assert line is not None
    auth = line.of("/auth/me")
    assert RouteSeries.from_json(auth.to_json()) == auth
    assert RouteSeries.from_json(None) is None and RouteSeries.from_json({}) is None
    # a route Prometheus had nothing for gets a line of gaps on the same grid
    empty = line.of("/never-seen")
    assert len(empty.points) == len(auth.points) and empty.gaps == len(auth.points)


def test_the_text_report_states_the_step_and_the_resets() -> None:
    notes = series_notes(report())
    assert notes[0].startswith("over time: mean and P99 per route every 1 s (140 points, each "
                               "over the 2 s before it: the step plus the 1 s scrape interval)")
    assert notes[1:] == ["counter reset (a restart) seen at 20:26:50 UTC: /auth/me; "
                         "Prometheus counts across it"]
    assert RESET_AT_S + 2 == 1_780_000_010.0  # 20:26:50 UTC
