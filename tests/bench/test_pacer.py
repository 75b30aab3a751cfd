"""Pure schedules: intended start times, closed-loop splits, durations, the stall arithmetic."""

from __future__ import annotations

import pytest

from perfkit.bench import pacer
from perfkit.errors import UsageError


def test_open_loop_times_are_fixed_whatever_happens() -> None:
    times = list(pacer.open_loop_schedule(100.0, start_s=5.0, limit=4))
    assert times == pytest.approx([5.0, 5.01, 5.02, 5.03])


def test_open_loop_is_bounded_by_duration_and_count() -> None:
    assert len(list(pacer.open_loop_schedule(100.0, duration_s=2.0))) == 200
    assert len(list(pacer.open_loop_schedule(100.0, duration_s=2.0, limit=50))) == 50
    assert pacer.planned_requests(100.0, 2.0) == 200
    with pytest.raises(UsageError):
        list(pacer.open_loop_schedule(100.0))
    with pytest.raises(UsageError):
        list(pacer.open_loop_schedule(0.0, limit=3))


def test_closed_loop_split_spreads_the_remainder() -> None:
    assert pacer.split_closed_loop(10, 3) == [4, 3, 3]
    assert sum(pacer.split_closed_loop(1001, 16)) == 1001
    with pytest.raises(UsageError):
        pacer.split_closed_loop(10, 0)


def test_stall_arithmetic() -> None:
    # 10 s at a fixed rate, 1 s freeze: 10% of requests delayed, uniformly over (0, 1 s]:
    # the p99 lies 0.1 s below the stall's end.
    assert pacer.stall_corrected_p99_ms(duration_s=10, stall_s=1) == pytest.approx(900.0)
    assert pacer.stall_corrected_p99_ms(duration_s=10, stall_s=1, base_ms=5) == pytest.approx(
        905.0)
    assert pacer.stall_corrected_p99_ms(duration_s=200, stall_s=1) == 0.0


def test_lag_flags_a_generator_that_fell_behind() -> None:
    assert not pacer.Lag(sent=1000, late=10, max_lag_ms=30).fell_behind
    assert pacer.Lag(sent=1000, late=11, max_lag_ms=30).fell_behind
    assert pacer.late_threshold_s(1000) == 0.010
    assert pacer.late_threshold_s(10) == pytest.approx(0.1)
