"""Figures as people read them: a few significant digits, never a misleading zero."""

from __future__ import annotations

from perfkit.units import fmt_age, fmt_cost, fmt_ms, ms_from_s


def test_milliseconds_keep_three_figures_and_a_tiny_value_is_not_zero() -> None:
    assert [fmt_ms(v) for v in (152.4, 15.24, 0.674, 0.0039, 0.0)] == [
        "152", "15.2", "0.67", "0.004", "0.00"]
    assert fmt_ms(1820.0, unit=True) == "1.82 s" and fmt_ms(None) == "-"


def test_plan_costs_are_grouped_by_thousands() -> None:
    assert [fmt_cost(v) for v in (55.2, 4904.0, 1.2e6)] == ["55.2", "4,904", "1.2e+06"]


def test_ages_read_in_their_unit() -> None:
    assert [fmt_age(s) for s in (45, 720, 18000, 9.5 * 86400)] == [
        "45 s", "12 min", "5.0 h", "9.5 days"]


def test_seconds_read_as_milliseconds_and_no_value_stays_none() -> None:
    assert ms_from_s(0.0123456) == 12.346
    assert [ms_from_s(v) for v in (None, float("nan"), float("inf"))] == [None, None, None]
