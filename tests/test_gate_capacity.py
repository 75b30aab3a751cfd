"""The gate on two `--find-max` runs: judged by capacity, failing only when the run's bracket
lies below the baseline's held rate less the margin; their latencies are not compared."""

from __future__ import annotations

from perfkit.bench.capacity import Capacity
from perfkit.bench.record import Run
from perfkit.gate import Status, run_gate
from tests.support import make_run

SLO = "p99<200ms,errors<1%"


def searched(held: float | None, broke: float | None, latency_ms: float = 5.0) -> Run:
    run = make_run({("GET /x", "all"): [latency_ms] * 100})
    run.capacity = Capacity(SLO, held, broke)
    return run


def test_a_capacity_drop_beyond_the_margin_fails_and_an_overlap_passes() -> None:
    base = searched(200, 220)
    (drop,) = run_gate(searched(100, 110), thresholds=[], baseline=base).checks
    assert drop.status is Status.FAIL and drop.check == "capacity vs baseline"
    assert "held 200/s, broke at 220/s -> held 100/s, broke at 110/s" in drop.detail
    (same,) = run_gate(searched(190, 209), thresholds=[], baseline=base).checks
    assert same.status is Status.PASS and "the brackets overlap" in same.detail


def test_their_latencies_at_different_rates_are_not_compared() -> None:
    result = run_gate(searched(400, 440, latency_ms=50.0), thresholds=[],
                      baseline=searched(200, 220, latency_ms=5.0))
    assert [c.check for c in result.checks] == ["capacity vs baseline"]
    assert result.passed and "judged by capacity" in result.notes[0]


def test_a_side_without_a_bracket_is_not_a_pass() -> None:
    (check,) = run_gate(searched(None, 10), thresholds=[], baseline=searched(200, 220)).checks
    assert check.status is Status.FAIL  # nothing held, it broke at 10/s: [0, 10] < 200
    (check,) = run_gate(searched(None, 10), thresholds=[], baseline=searched(None, 20)).checks
    assert check.status is Status.INCONCLUSIVE
    plain = make_run({("GET /x", "all"): [5.0] * 100})
    checks = run_gate(plain, thresholds=[], baseline=searched(200, 220)).checks
    assert [c.status for c in checks if c.check == "capacity vs baseline"] == [Status.ERROR]
