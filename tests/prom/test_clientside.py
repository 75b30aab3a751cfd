"""A bench run set beside the window it mostly overlaps, and said by how much they differ."""

from __future__ import annotations

from datetime import datetime, timedelta

from perfkit.bench.record import Phase, Run
from perfkit.prom.clientside import client_server_rows, compare_bench, match_run
from perfkit.prom.report import _bench_warnings
from tests.prom.support import figures, plan


def _run(start: datetime, end: datetime | None) -> Run:
    run = Run(base_url="http://127.0.0.1:8000", started_at=start.isoformat(),
              ended_at=None if end is None else end.isoformat())
    for ms in (10.0, 12.0, 14.0):
        run.record("GET /conversations/42?limit=5", Phase.ALL).add_latency(ms * 1000, ms * 1000)
    return run


def test_a_run_started_just_before_the_after_window_is_matched_to_it() -> None:
    windows = plan(seconds=20)
    after = windows.after
    run = _run(after.start - timedelta(seconds=0.4), after.end - timedelta(seconds=0.4))
    match = match_run(run, windows, "run.json")
    assert match.window_name == "after"
    assert match.run_share == match.window_share == 19.6 / 20
    text = match.describe()
    assert text.startswith("the run covers 98% of the after window (98% of the run lies")
    assert "started 0.4 s before it" in text and "ended 0.4 s before its end" in text


def test_a_run_inside_the_before_window_is_matched_to_it() -> None:
    windows = plan(seconds=60)
    run = _run(windows.before.start + timedelta(seconds=5),
               windows.before.end - timedelta(seconds=5))
    match = match_run(run, windows, "run.json")
    assert match.window_name == "before" and match.run_share == 1.0
    assert "started 5.0 s after it" in match.describe()


def test_a_run_mostly_outside_both_windows_is_not_compared_and_says_why() -> None:
    windows = plan(seconds=20, gap_s=600)
    start = windows.after.start - timedelta(seconds=100)
    bench = compare_bench(_run(start, start + timedelta(seconds=90)), "run.json", windows,
                          {}, {}, [])
    assert not bench.matched and bench.rows == ()
    (warning,) = _bench_warnings(bench)
    assert "too little of the run lies in a window" in warning.text
    assert "(0% of the run lies inside it)" in warning.text


def test_bench_routes_match_server_templates() -> None:
    server = {"/conversations/{conversation_id}": figures([4.0] * 40)}
    rows = client_server_rows(_run(datetime.now(), None), "after", dict(server.items()),
                              list(server))
    (row,) = rows
    assert row.server_route == "/conversations/{conversation_id}"
    assert row.phase is Phase.ALL and row.client_count == 3
    assert row.gap_ms == round(row.client_mean_ms - 4.0, 3) and row.gap_ms > 5
    assert row.reading == "client slower"
    assert row.to_json()["diff_ms"]["mean"] == row.gap_ms
    assert row.to_json()["note"] == "network, queueing before the app, or the client itself"
