"""compare_runs: what is compared, what is judged, and what cannot be compared at all."""

from __future__ import annotations

import random

import pytest

from perfkit.bench.compare import Method, compare_runs
from perfkit.bench.record import Phase, Run
from perfkit.errors import UsageError
from perfkit.render.compare import compare_notes, compare_table
from perfkit.stats import Verdict
from tests.support import make_run


def _run(route: str, cold: int, warm: int, *, cold_ms: float = 150.0, warm_ms: float = 1.0,
         seed: int = 1) -> Run:
    """`cold` misses around cold_ms and `warm` hits around warm_ms, each also in `all`."""
    rng = random.Random(seed)
    run = Run(base_url="http://127.0.0.1:8000")
    for phase, n, ms in ((Phase.COLD, cold, cold_ms), (Phase.WARM, warm, warm_ms)):
        for _ in range(n):
            us = rng.gauss(ms * 1000, ms * 50)
            run.record(route, phase).add_latency(us, us)
            run.record(route, Phase.ALL).add_latency(us, us)
    return run


def test_nothing_in_common_is_a_usage_error_that_lists_both_sides() -> None:
    before, after = _run("GET /a", 5, 20), _run("GET /b", 5, 20)
    with pytest.raises(UsageError, match="no route/phase in common") as info:
        compare_runs(before, after)
    message = str(info.value)
    assert "before has GET /a (cold, warm, all)" in message
    assert "after has GET /b (cold, warm, all)" in message


def test_a_change_of_the_cold_share_is_not_a_faster_all_row() -> None:
    # Same code, same latencies per phase; only the share of cache misses changed (40 of 100
    # -> 5 of 100). The pooled `all` mean drops ~85%: not a verdict, a mix.
    before = _run("GET /auth/me", 40, 60, seed=1)
    after = _run("GET /auth/me", 5, 95, seed=2)
    result = compare_runs(before, after, Method(min_samples=5))
    rows = {r.phase: r for r in result.rows}
    assert rows[Phase.ALL].change_pct["mean"] is not None
    assert rows[Phase.ALL].change_pct["mean"] < -70
    assert rows[Phase.ALL].mixed_phases and rows[Phase.ALL].verdict is Verdict.NO_CHANGE
    assert rows[Phase.ALL].p_value is None  # outside Holm's family
    assert rows[Phase.ALL].p_value_raw is not None  # ... but still shown
    assert rows[Phase.COLD].verdict is rows[Phase.WARM].verdict is Verdict.NO_CHANGE
    assert not rows[Phase.COLD].mixed_phases
    notes = compare_notes(result)
    assert "Holm-corrected over 2 comparisons" in notes[0]
    assert any("marked 'mixed'" in n and "not judged" in n for n in notes)
    table = compare_table(result)
    assert any(row[1] == "all" and "(mixed)" in row[-1] for row in table.rows)


def test_a_real_change_still_shows_in_the_phase_rows() -> None:
    before = _run("GET /auth/me", 30, 70, cold_ms=150.0, seed=3)
    after = _run("GET /auth/me", 30, 70, cold_ms=50.0, seed=4)
    rows = {r.phase: r for r in compare_runs(before, after).rows}
    assert rows[Phase.COLD].verdict is Verdict.FASTER
    assert rows[Phase.WARM].verdict is Verdict.NO_CHANGE
    assert rows[Phase.ALL].verdict is Verdict.NO_CHANGE and rows[Phase.ALL].mixed_phases


def test_a_route_without_phases_is_judged_on_all() -> None:
    before, after = Run(base_url="http://x"), Run(base_url="http://x")
    for i in range(50):
        before.record("GET /accounts", Phase.ALL).add_latency(20_000 + 10 * i, 20_000 + 10 * i)
        after.record("GET /accounts", Phase.ALL).add_latency(10_000 + 10 * i, 10_000 + 10 * i)
    (row,) = compare_runs(before, after).rows
    assert row.verdict is Verdict.FASTER and not row.mixed_phases
    # a route warm-only on both sides: `all` equals `warm`, nothing is mixed
    warm_only = compare_runs(_run("GET /m", 0, 30, seed=5), _run("GET /m", 0, 30, seed=6))
    assert not any(r.mixed_phases for r in warm_only.rows)
    assert "only in before" not in " ".join(compare_notes(warm_only))


def test_a_change_inside_the_threshold_is_no_change_and_the_threshold_is_stated() -> None:
    # A clear, significant +3% on 2000 samples a side: below the 5% default, not "slower".
    before, after = Run(base_url="http://x"), Run(base_url="http://x")
    rng = random.Random(9)
    for _ in range(2000):
        for run, factor in ((before, 1.0), (after, 1.03)):
            us = 20_000 * factor * rng.lognormvariate(0, 0.05)
            run.record("GET /a", Phase.ALL).add_latency(us, us)
    (row,) = compare_runs(before, after).rows
    assert row.ci_pct is not None and row.ci_pct[0] > 0  # significant...
    assert row.verdict is Verdict.NO_CHANGE  # ...but not beyond 5%
    precise = Method(min_change_pct=1.0, run_noise_pct=0.0)  # no assumed run-to-run noise
    assert compare_runs(before, after, precise).rows[0].verdict is Verdict.SLOWER
    # the assumed one-run noise (1% + 60 µs of 20 ms: ~1.1%) widens it back to no-change
    assert compare_runs(before, after, Method(min_change_pct=1.0)).rows[0].verdict is (
        Verdict.NO_CHANGE)
    assert "beyond ±5%" in compare_notes(compare_runs(before, after))[0]


def test_too_few_samples_are_shown_but_not_judged() -> None:
    before = _run("GET /a", 3, 40, cold_ms=150.0, seed=1)
    after = _run("GET /a", 3, 40, cold_ms=50.0, seed=2)
    rows = {r.phase: r for r in compare_runs(before, after).rows}
    assert rows[Phase.COLD].inconclusive and rows[Phase.COLD].p_value is None
    assert rows[Phase.COLD].verdict is Verdict.NO_CHANGE
    assert rows[Phase.COLD].change_pct["mean"] is not None  # the figures are still there


def test_closed_loop_runs_at_other_request_rates_are_said_to_differ_in_load() -> None:
    from dataclasses import replace

    from perfkit.bench.provenance import Generator, LoopMode, RunSettings

    def paced(run: Run, requests: int, mode: LoopMode) -> Run:
        return replace(run, settings=RunSettings(mode=mode),
                       generator=Generator(mode=mode, requests=requests, elapsed_s=5.0))

    before, after = _run("GET /a", 5, 40), _run("GET /a", 5, 40, seed=2)
    busy, idle = paced(before, 3432, LoopMode.CLOSED), paced(after, 817, LoopMode.CLOSED)
    note = ("the runs sent 686 and 163 req/s in a closed loop: every route was measured under "
            "another load")
    assert any(n.startswith(note) for n in compare_runs(busy, idle).notes)
    same_load = paced(after, 3000, LoopMode.CLOSED)
    assert not any("closed loop" in n for n in compare_runs(busy, same_load).notes)
    open_loop = (paced(before, 3432, LoopMode.OPEN), paced(after, 817, LoopMode.OPEN))
    assert not any("closed loop" in n for n in compare_runs(*open_loop).notes)


def _block(median_ms: float, seed: int, sigma: float = 0.02) -> Run:
    """Five runs of one route, each 400 requests tightly around `median_ms`."""
    runs = []
    for k in range(5):
        rng = random.Random(seed + k)
        runs.append(make_run({("GET /a", "all"): [median_ms * rng.lognormvariate(0, sigma)
                                                  for _ in range(400)]}))
    return Run.of_repeats(runs)


def test_with_repeats_a_shift_between_blocks_within_the_floor_is_no_change() -> None:
    # Runs of one block agree closely; the after block is 7% slower on a 2 ms route: what a
    # machine that changed between the two blocks does (the client's ~60 µs alone is 3%).
    before, after = _block(2.0, 1), _block(2.0 * 1.07, 100)
    (row,) = compare_runs(before, after).rows
    assert row.verdict is Verdict.NO_CHANGE and row.ci_pct is not None and row.ci_pct[0] < 5
    (bare,) = compare_runs(before, after, Method(run_noise_pct=0)).rows
    assert bare.verdict is Verdict.SLOWER  # the run means alone would call it slower
    notes = compare_runs(before, after).notes
    assert any("shift between the before and the after runs" in n for n in notes)


def test_with_repeats_a_real_change_beyond_the_floor_is_still_found() -> None:
    before, after = _block(20.0, 1), _block(20.0 * 1.15, 100)
    (row,) = compare_runs(before, after).rows
    assert row.verdict is Verdict.SLOWER and row.ci_pct is not None and row.ci_pct[0] > 5


def test_the_shown_change_is_the_centre_of_its_interval_even_when_tight() -> None:
    # A 0.2 ms route, 20k requests a side, no run-noise floor: the interval is ~0.2 points
    # wide, narrower than the microsecond rounding of the summaries' means (0.5% here).
    # The change shown is the interval's centre, never a figure outside it.
    rng = random.Random(194)
    runs = []
    for us in (200.0, 202.3):
        run = Run(base_url="http://127.0.0.1:8000")
        for _ in range(20_000):
            value = max(1.0, rng.gauss(us, 10.0))
            run.record("GET /a", Phase.ALL).add_latency(value, value)
        runs.append(run)
    (row,) = compare_runs(runs[0], runs[1], Method(run_noise_pct=0.0)).rows
    assert row.ci_pct is not None and row.ci_pct[1] - row.ci_pct[0] < 0.5
    change = row.change_pct["mean"]
    assert change is not None and row.ci_pct[0] <= change <= row.ci_pct[1]
    assert change == pytest.approx(1.15, abs=0.3)
