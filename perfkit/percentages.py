"""One grammar for every percentage perfkit reads: `5%` or `5` (both five percent); for the
options that are ratios (an error budget), `1%` or the fraction `0.01`. Flags differ only in
their bounds, never in what they accept (the duration twin is perfkit/durations.py)."""

from __future__ import annotations

import math
import re

from perfkit.errors import UsageError

_NUMBER = re.compile(r"^\+?(\d+(?:\.\d*)?|\.\d+)(%?)$")
AUTO = "auto"


def _read(text: str | float) -> tuple[float, bool] | None:
    """(number, written with %) or None when `text` is not a non-negative number."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        return (float(text), False) if math.isfinite(text) and text >= 0 else None
    match = _NUMBER.match(str(text).strip().replace(" ", ""))
    if match is None:
        return None
    return float(match.group(1)), bool(match.group(2))


def parse_percent(text: str | float, *, flag: str, maximum: float | None = None) -> float:
    """A percentage (`5%` or `5` -> 5.0), >= 0 and at most `maximum`; a UsageError naming the
    flag otherwise."""
    read = _read(text)
    if read is None:
        raise UsageError(f"invalid {flag} {text!r}: not a percentage >= 0",
                         hint=f"e.g. {flag} 5% (or 5)")
    value = read[0]
    if maximum is not None and value > maximum:
        raise UsageError(f"invalid {flag} {text!r}: above the maximum of {maximum:g}%",
                         hint=f"e.g. {flag} 5% (or 5)")
    return value


def parse_percent_or_auto(text: str, *, flag: str) -> float | None:
    """`auto` (None: perfkit decides) or a percentage."""
    if str(text).strip().lower() == AUTO:
        return None
    return parse_percent(text, flag=flag)


def parse_ratio(text: str | float, *, flag: str) -> float:
    """A share between 0 and 1: `1%` or the fraction `0.01` (both 0.01)."""
    read = _read(text)
    hint = f"e.g. {flag} 1% (or 0.01)"
    if read is None:
        raise UsageError(f"invalid {flag} {text!r}: not a share", hint=hint)
    number, with_sign = read
    value = number / 100.0 if with_sign else number
    if value > 1:
        raise UsageError(f"invalid {flag} {text!r}: above 100%", hint=hint)
    return value
