"""The capacity search's judgement and search, on hand-built steps: bounds of a percentile,
a step held, broken or in doubt, a rate broken twice, the bracket and its notes."""

from __future__ import annotations

import pytest

from perfkit.bench.capacity import (
    Capacity,
    Change,
    Slo,
    Step,
    Stopped,
    capacity_change,
    judge,
    quantile_bounds,
    search,
)
from perfkit.bench.record import Phase
from perfkit.errors import UsageError
from tests.support import lognormal_ms, make_run

SLO = Slo.parse("p99<200ms,errors<1%")


def records(samples: list[float], errors: int = 0) -> list:  # type: ignore[type-arg]
    run = make_run({("GET /x", "all"): samples}, errors=errors)
    return [r for r in run.records.values() if r.phase is Phase.ALL]


def test_an_slo_reads_its_parts_and_refuses_what_it_cannot_judge() -> None:
    assert [(lim.metric, lim.op, lim.value) for lim in SLO.limits] == [
        ("p99", "<", 200.0), ("errors", "<", 0.01)]
    assert Slo.parse("p90 <= 1s").limits[0].value == 1000.0
    assert SLO.text == "p99<200ms,errors<1%"
    for bad in ("p99>200ms", "rps<5", "", "p99<fast"):
        with pytest.raises(UsageError, match="--slo"):
            Slo.parse(bad)


def test_the_p99_needs_about_400_samples_before_its_upper_bound_exists() -> None:
    assert 450 < SLO.samples_needed < 550
    samples = records(lognormal_ms(20, 1000, seed=1))[0]
    low, high = quantile_bounds(samples.corrected, 0.99, samples.count)
    assert low is not None and high is not None and low < 35 < high * 1.5
    few = records(lognormal_ms(20, 100, seed=1))[0]
    assert quantile_bounds(few.corrected, 0.99, few.count)[1] is None


def test_a_step_holds_breaks_or_is_in_doubt() -> None:
    fast = records(lognormal_ms(20, 1000, seed=2))
    assert judge(100, fast, 10.0, SLO).held is True
    slow = judge(100, records(lognormal_ms(400, 1000, seed=3)), 10.0, SLO)
    assert slow.held is False and "GET /x p99" in slow.why and "breaks p99<200ms" in slow.why
    behind = judge(100, fast, 20.0, SLO)  # 1000 requests in 20 s: 50/s of 100/s offered
    assert behind.held is False and "achieved 50/s of 100/s offered" in behind.why
    few = judge(10, records(lognormal_ms(20, 100, seed=4)), 10.0, SLO)
    assert few.held is None and "too few samples" in few.why
    assert judge(10, records(lognormal_ms(20, 100, seed=4)), 10.0, SLO,
                 on_estimate=True).held is True
    failing = judge(100, records(lognormal_ms(20, 900, seed=5), errors=100), 10.0, SLO)
    assert failing.held is False and "errors 10.00%" in failing.why


def scripted(capacity: float, flaky: set[float] = frozenset()):  # type: ignore[assignment,no-untyped-def]
    """A measuring function of a target that holds any rate up to `capacity`; a rate in
    `flaky` breaks on its first try only."""
    tried: list[float] = []

    def measure(rate: float) -> Step:
        first = rate not in tried
        tried.append(rate)
        held = rate <= capacity and not (first and round(rate, 3) in flaky)
        return Step(rate, rate, 100, 0, {"p99": 1.0}, held, "" if held else "broke", 1.0)

    measure.tried = tried  # type: ignore[attr-defined]
    return measure


def test_the_search_doubles_then_bisects_to_a_ten_percent_bracket() -> None:
    measure = scripted(300)
    found = search(measure, SLO, start=10, max_rate=10_000)
    assert found.max_rate_per_s is not None and found.broke_at_per_s is not None
    assert found.max_rate_per_s <= 300 < found.broke_at_per_s <= found.max_rate_per_s * 1.1
    assert measure.tried[:6] == [10, 20, 40, 80, 160, 320]  # type: ignore[attr-defined]
    assert measure.tried.count(320) == 2  # a rate breaks only twice  # type: ignore[attr-defined]


def test_a_rate_that_breaks_once_is_not_the_limit() -> None:
    found = search(scripted(300, flaky={40.0}), SLO, start=10, max_rate=10_000)
    assert found.max_rate_per_s is not None and found.max_rate_per_s > 200


def test_the_cap_the_first_rate_and_a_stop_are_said() -> None:
    capped = search(scripted(1e9), SLO, start=10, max_rate=100)
    assert (capped.max_rate_per_s, capped.broke_at_per_s) == (100, None)
    assert "held up to --max-rate 100/s" in capped.notes[0]
    nothing = search(scripted(1), SLO, start=10, max_rate=100)
    assert nothing.max_rate_per_s is None and "start lower with --rate" in nothing.notes[0]

    def stop_at_40(rate: float) -> Step:
        if rate >= 40:
            raise Stopped
        return scripted(1e9)(rate)

    stopped = search(stop_at_40, SLO, start=10, max_rate=1000)
    assert stopped.max_rate_per_s == 20 and "interrupted after 2 step(s)" in stopped.notes[0]
    assert stopped.interrupted and not capped.interrupted


def test_capacity_changes_only_when_the_brackets_part() -> None:
    base = Capacity(SLO.text, 100, 110)
    assert capacity_change(base, Capacity(SLO.text, 400, 440))[0] is Change.MORE
    assert capacity_change(base, Capacity(SLO.text, 80, 88))[0] is Change.LESS
    assert capacity_change(base, Capacity(SLO.text, 105, 115))[0] is Change.SAME
    assert capacity_change(base, Capacity("p90<1ms", 400, 440))[0] is Change.UNKNOWN
    nothing = Capacity(SLO.text, None, 4)  # the demo before its fix: [0, 4]
    change, text = capacity_change(nothing, Capacity(SLO.text, 234.8, 256))
    assert change is Change.MORE and text.endswith("(x59 at least)")
    assert capacity_change(Capacity(SLO.text, 234.8, 256), nothing)[0] is Change.LESS
    assert capacity_change(nothing, Capacity(SLO.text, None, 8))[0] is Change.UNKNOWN
    assert Capacity.from_json(Capacity(SLO.text, 100, 110, (
        Step(100, 99, 10, 0, {"p99": 1.0}, True, "", 1.0),)).to_json()).steps[0].held is True
