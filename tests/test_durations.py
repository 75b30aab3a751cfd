"""One duration grammar for every flag: bench, report, doctor, apply-indexes agree."""

from __future__ import annotations

import pytest

from perfkit.cli.indexes import parse_duration_s as lock_timeout
from perfkit.durations import duration_s, parse_duration_s
from perfkit.errors import UsageError
from perfkit.prom.windows import parse_duration_s as since


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("10s", 10), ("2m", 120),
                                               ("1h30m", 5400), ("1d", 86400), ("90", 90),
                                               (" 3 S ", 3), ("1.5h", 5400)])
def test_every_flag_reads_the_same_grammar(text: str, seconds: float) -> None:
    assert duration_s(text) == pytest.approx(seconds)
    assert lock_timeout(text) == pytest.approx(seconds)
    if seconds >= 1:
        assert since(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "-1s", "1m-5s", "inf", "nan"])
def test_not_durations(text: str) -> None:
    assert duration_s(text) is None
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration_s(text, flag="--since")


def test_bounds_name_the_flag() -> None:
    with pytest.raises(UsageError, match=r"--since '500ms': below the minimum of 1 s"):
        since("500ms")
    with pytest.raises(UsageError, match="--lock-timeout"):
        lock_timeout("0")
    with pytest.raises(UsageError, match="above the maximum"):
        lock_timeout("30d")


def test_numbers_from_yaml_are_seconds() -> None:
    assert parse_duration_s(1.5) == 1.5
    with pytest.raises(UsageError):
        parse_duration_s("5 parsecs")
