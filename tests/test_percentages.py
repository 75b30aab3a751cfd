"""One percentage grammar for every flag: `5%` and `5` are the same; ratios take `1%` or 0.01."""

from __future__ import annotations

import pytest

from perfkit.errors import UsageError
from perfkit.percentages import parse_percent, parse_percent_or_auto, parse_ratio


def test_a_percentage_reads_with_or_without_its_sign() -> None:
    assert [parse_percent(t, flag="--x") for t in ("5%", "5", " 2.5 % ", "0", "0%", ".5",
                                                   "150%", 7)] == [
        5.0, 5.0, 2.5, 0.0, 0.0, 0.5, 150.0, 7.0]
    assert parse_percent_or_auto("auto", flag="--run-noise") is None
    assert parse_percent_or_auto("AUTO", flag="--run-noise") is None
    assert parse_percent_or_auto("2%", flag="--run-noise") == 2.0


@pytest.mark.parametrize("bad", ["-5", "-5%", "nan", "inf", "5%%", "%", "", "five", "5 percent",
                                 "1e3"])
def test_anything_else_is_a_usage_error_naming_the_flag(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_percent(bad, flag="--min-change")
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"invalid --min-change {bad!r}: not a percentage")
    assert "--min-change 5% (or 5)" in str(caught.value)


def test_a_bound_is_said() -> None:
    with pytest.raises(UsageError, match="above the maximum of 100%"):
        parse_percent("101", flag="--x", maximum=100)


def test_a_ratio_is_a_fraction_or_a_percentage() -> None:
    assert [parse_ratio(t, flag="--max-error-ratio") for t in ("1%", "0.01", "0", "100%", "1",
                                                                "0.5%")] == [
        0.01, 0.01, 0.0, 1.0, 1.0, 0.005]
    for bad in ("5", "101%", "-0.1", "x"):
        with pytest.raises(UsageError, match="--max-error-ratio"):
            parse_ratio(bad, flag="--max-error-ratio")
