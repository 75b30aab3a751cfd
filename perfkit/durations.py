"""One grammar for every duration perfkit reads: `500ms`, `10s`, `2m`, `1h30m`, `1d`, or a
bare number of seconds. Flags differ only in their bounds, never in what they accept."""

from __future__ import annotations

import math
import re

from perfkit.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)")
_BARE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)$")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
HINT = "e.g. 500ms, 10s, 2m, 1h30m, or a bare number of seconds"


def duration_s(text: str) -> float | None:
    """Seconds, or None when `text` is not a duration (for callers that tolerate that)."""
    cleaned = str(text).strip().lower().replace(" ", "")
    if _BARE.match(cleaned):
        return float(cleaned)
    parts = _PART.findall(cleaned)
    if not parts or "".join(n + u for n, u in parts) != cleaned:
        return None
    return sum(float(n) * UNIT_S[u] for n, u in parts)


def parse_duration_s(text: str | float | int, *, flag: str | None = None,
                     minimum_s: float = 0.0, maximum_s: float | None = None,
                     hint: str = HINT) -> float:
    """Seconds within [minimum_s, maximum_s]; a UsageError naming the flag otherwise."""
    what = f"{flag} {text!r}" if flag else f"duration {text!r}"
    if isinstance(text, int | float) and not isinstance(text, bool):
        value: float | None = float(text)
    else:
        value = duration_s(str(text))
    if value is None or not math.isfinite(value) or value < 0:
        raise UsageError(f"invalid {what}: not a duration", hint=hint)
    if value < minimum_s:
        raise UsageError(f"invalid {what}: below the minimum of {minimum_s:g} s", hint=hint)
    if maximum_s is not None and value > maximum_s:
        raise UsageError(f"invalid {what}: above the maximum of {maximum_s:g} s", hint=hint)
    return value
