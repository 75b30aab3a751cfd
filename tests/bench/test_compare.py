"""compare_runs: what is compared, what is judged, and what cannot be compared at all."""

from __future__ import annotations

import random

import pytest

from perfkit.bench.compare import compare_runs
from perfkit.bench.record import Run
from perfkit.errors import UsageError
from perfkit.render import compare_notes, compare_table


def _run(route: str, cold: int, warm: int, *, cold_ms: float = 150.0, warm_ms: float = 1.0,
         seed: int = 1) -> Run:
    """`cold` misses around cold_ms and `warm` hits around warm_ms, each also in `all`."""
    rng = random.Random(seed)
    run = Run(base_url="http://127.0.0.1:8000")
    for phase, n, ms in (("cold", cold, cold_ms), ("warm", warm, warm_ms)):
        for _ in range(n):
            us = rng.gauss(ms * 1000, ms * 50)
            run.record(route, phase).add_latency(us, us)
            run.record(route, "all").add_latency(us, us)
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
    result = compare_runs(before, after)
    rows = {r["phase"]: r for r in result["routes"]}
    assert rows["all"]["change_pct"]["mean"] < -70
    assert rows["all"]["mixed_phases"] is True and rows["all"]["verdict"] == "no-change"
    assert rows["all"]["p_value"] is None  # outside Holm's family
    assert rows["all"]["p_value_raw"] is not None  # ... but still shown
    assert rows["cold"]["verdict"] == rows["warm"]["verdict"] == "no-change"
    assert not rows["cold"]["mixed_phases"]
    notes = compare_notes(result)
    assert "Holm-corrected over 2 comparison(s)" in notes[0]
    assert any("mixed cold+warm" in n and "not judged" in n for n in notes)
    _, table = compare_table(result)
    assert any(row[1] == "all" and "mixed cold+warm" in row[-1] for row in table)


def test_a_real_change_still_shows_in_the_phase_rows() -> None:
    before = _run("GET /auth/me", 30, 70, cold_ms=150.0, seed=3)
    after = _run("GET /auth/me", 30, 70, cold_ms=50.0, seed=4)
    rows = {r["phase"]: r for r in compare_runs(before, after)["routes"]}
    assert rows["cold"]["verdict"] == "faster"
    assert rows["warm"]["verdict"] == "no-change"
    assert rows["all"]["verdict"] == "no-change" and rows["all"]["mixed_phases"]


def test_a_route_without_phases_is_judged_on_all() -> None:
    before, after = Run(base_url="http://x"), Run(base_url="http://x")
    for i in range(50):
        before.record("GET /accounts", "all").add_latency(20_000 + 10 * i, 20_000 + 10 * i)
        after.record("GET /accounts", "all").add_latency(10_000 + 10 * i, 10_000 + 10 * i)
    (row,) = compare_runs(before, after)["routes"]
    assert row["verdict"] == "faster" and row["mixed_phases"] is False
    # a route warm-only on both sides: `all` equals `warm`, nothing is mixed
    warm_only = compare_runs(_run("GET /m", 0, 30, seed=5), _run("GET /m", 0, 30, seed=6))
    assert not any(r["mixed_phases"] for r in warm_only["routes"])
    assert "only in before" not in " ".join(compare_notes(warm_only))
