"""Segments, workers and the user plan: pure schedules that add up to the whole run."""

from __future__ import annotations

import time

import pytest

from perfkit.bench import pacer
from perfkit.bench.options import BenchOptions
from perfkit.bench.pacer import Segment, UserPlan
from perfkit.bench.segments import parse_start_at, parse_workers, resolve_segment
from perfkit.errors import UsageError


def test_segments_are_disjoint_and_complete() -> None:
    whole = list(pacer.segment_schedule(100.0, Segment(), duration_s=3.0))
    for n in (1, 2, 3, 7):
        parts = [list(pacer.segment_schedule(100.0, Segment(k, n), duration_s=3.0))
                 for k in range(n)]
        dealt = sorted(item for part in parts for item in part)
        assert dealt == whole  # every intended start exactly once
    # a segment split again over workers is still disjoint and complete
    split = Segment(1, 3).split(2)
    assert [s.label for s in split] == ["2/6", "5/6"]
    owned = sorted(i for s in split for i, _ in pacer.segment_schedule(
        10.0, s, duration_s=10.0))
    assert owned == [i for i, _ in pacer.segment_schedule(10.0, Segment(1, 3), duration_s=10.0)]


def test_users_are_partitioned_and_shared_only_when_too_few() -> None:
    assert [Segment(k, 3).users(10) for k in range(3)] == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    assert Segment(2, 4).users(2) == [0]  # fewer users than segments: shared


def test_first_visits_are_spread_over_the_run() -> None:
    plan = UserPlan(list(range(20)), seed=3)
    firsts = []
    for i in range(1000):
        _, first = plan.pick(i / 1000, i)
        if first:
            firsts.append(i / 1000)
    assert len(firsts) == 20 and firsts[0] == 0.0
    # stratified: one first visit in each twentieth of the first 95% of the run
    assert [int(f / pacer.COVERAGE * 20) for f in firsts] == list(range(20))
    a, b, c = (UserPlan(list(range(20)), seed=s) for s in (3, 3, 4))
    picks = [[plan.pick(i / 200, i) for i in range(200)] for plan in (a, b, c)]
    assert picks[0] == picks[1] and picks[0] != picks[2]  # seeded: the same plan again


@pytest.mark.parametrize("text", ["3/2", "0/0", "0/3", "a/b", "1/", "-1/2"])
def test_bad_segments_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="i/n"):
        Segment.parse(text)


def test_segment_from_the_environment_and_from_an_indexed_job() -> None:
    assert resolve_segment(None, None, {}) == Segment()
    assert resolve_segment(None, None, {"PERFKIT_SEGMENT": "2/4"}) == Segment(1, 4)
    assert resolve_segment(None, 4, {"JOB_COMPLETION_INDEX": "3"}) == Segment(3, 4)
    assert resolve_segment("1/2", 4, {"JOB_COMPLETION_INDEX": "3"}) == Segment(0, 2)
    with pytest.raises(UsageError, match="JOB_COMPLETION_INDEX"):
        resolve_segment(None, 4, {})
    with pytest.raises(UsageError):
        resolve_segment(None, 4, {"JOB_COMPLETION_INDEX": "4"})


def test_workers_and_start_times() -> None:
    assert parse_workers("3") == 3 and parse_workers("auto") >= 1
    for bad in ("0", "-2", "many"):
        with pytest.raises(UsageError, match="--workers"):
            parse_workers(bad)
    assert parse_start_at("2026-11-29T14:05:00Z") == parse_start_at("1795961100")
    with pytest.raises(UsageError, match="time zone"):
        parse_start_at("2026-11-29T14:05:00")
    past = BenchOptions(base_url="http://127.0.0.1:1", requests=1,
                        start_at_epoch_s=time.time() - 120)
    with pytest.raises(UsageError, match="more than a minute in the past"):
        past.validate()
    for bad in ({"repeat": 0}, {"workers": 0}, {"cache_threshold_pct": -1.0},
                {"cache_threshold_pct": float("nan")}):
        with pytest.raises(UsageError):
            BenchOptions(base_url="http://127.0.0.1:1", requests=1, **bad).validate()  # type: ignore[arg-type]


def test_a_container_s_cpu_quota_bounds_auto_workers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from perfkit.bench.workers import cgroup_cpus

    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")  # 1.5 CPUs
    assert cgroup_cpus(quota) == 2
    quota.write_text("max 100000\n")
    assert cgroup_cpus(quota) is None
    assert cgroup_cpus(tmp_path / "absent") is None


def test_merged_segments_state_their_start_offsets() -> None:
    from datetime import UTC, datetime, timedelta

    from perfkit.bench.provenance import RunSettings
    from perfkit.bench.record import Run
    from perfkit.render.run import run_notes

    shared = datetime(2026, 11, 29, 14, 5, tzinfo=UTC)
    parts = []
    for k, delay_ms in enumerate((2, 35)):
        run = Run(base_url="http://x", settings=RunSettings(start_at=shared.isoformat()),
                  started_at=(shared + timedelta(milliseconds=delay_ms)).isoformat(),
                  segment=Segment(k, 2))
        parts.append(run)
    merged = parts[0].merge(parts[1])
    assert merged.start_offsets() == [("1/2", 0.002), ("2/2", 0.035)]
    assert any("start offsets from the shared --start-at: 1/2 +0.002 s, 2/2 +0.035 s" in n
               for n in run_notes(merged))
