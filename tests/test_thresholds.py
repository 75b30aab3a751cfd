"""perfkit.yaml's thresholds: conditions read with their units, bad ones refused in place."""

from __future__ import annotations

import pytest

from perfkit.errors import UsageError
from perfkit.thresholds import RecordKind, load_thresholds, parse_condition


def thresholds(spec: dict[str, dict[str, str]]) -> list:  # type: ignore[type-arg]
    return load_thresholds({"thresholds": spec}, "perfkit.yaml")


def test_conditions_normalise_units() -> None:
    assert parse_condition("< 1.5s", "p99", "x").limit == 1500
    assert parse_condition("<= 200ms", "mean", "x").limit == 200
    assert parse_condition("< 1%", "error_ratio", "x").limit == pytest.approx(0.01)
    with pytest.raises(UsageError, match=r"thresholds\['GET /a'\]\['warm.p99'\]"):
        thresholds({"GET /a": {"warm.p99": "fast please"}})
    with pytest.raises(UsageError, match="unknown check"):
        thresholds({"GET /a": {"p42": "< 1ms"}})
    with pytest.raises(UsageError, match="latency"):
        parse_condition("< 5%", "p99", "x")


def test_each_threshold_says_which_records_it_applies_to() -> None:
    warm, after, both = thresholds({"GET /a": {"warm.p99": "< 200ms", "after.p99": "< 1s",
                                               "mean": "< 50ms"}})
    assert warm.applies_to(RecordKind.RUN) and not warm.applies_to(RecordKind.REPORT)
    assert after.applies_to(RecordKind.REPORT) and not after.applies_to(RecordKind.RUN)
    assert both.applies_to(RecordKind.RUN) and both.applies_to(RecordKind.REPORT)
    assert both.name_for(RecordKind.RUN) == "all.mean < 50ms"
    assert both.name_for(RecordKind.REPORT) == "after.mean < 50ms"
    with pytest.raises(UsageError, match="cannot be checked in the after window"):
        thresholds({"GET /a": {"after.p50": "< 1ms"}})
    with pytest.raises(UsageError, match="must map routes to checks"):
        load_thresholds({"thresholds": ["p99 < 1ms"]}, "perfkit.yaml")


def test_the_phases_a_threshold_names_are_the_records() -> None:
    from perfkit.bench.phase import Phase
    from perfkit.thresholds import RUN_PHASES

    assert set(RUN_PHASES) == {p.value for p in Phase} - {Phase.LOGIN.value}
    assert RUN_PHASES[0] == Phase.ALL.value  # the default phase of a run's threshold
