"""Units, written one way: durations, changes, shares, sizes, costs, p-values, times. The
ground floor: the core's sentences (caveats, gate details, migration comments) and every
renderer use these, and nothing here imports perfkit."""

from __future__ import annotations

import math
from datetime import datetime

MISSING = "-"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def ms_from_s(value_s: float | None) -> float | None:
    """Seconds (Prometheus's unit) as milliseconds to the µs; None for no value or NaN/Inf."""
    return round(value_s * 1000, 3) if value_s is not None and _finite(value_s) else None


def fmt_age(seconds: float) -> str:
    """A span of time for a sentence: `45 s`, `12 min`, `5.0 h`, `9.5 days`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def fmt_ms(value_ms: float | None, *, unit: bool = False) -> str:
    """Milliseconds with 3 significant figures or so (`0.67`, `15.2`, `152`); with `unit`,
    `152 ms`, and seconds from 1000 ms on (`1.82 s`)."""
    if value_ms is None or not _finite(value_ms):
        return MISSING
    if unit and abs(value_ms) >= 1000:
        return f"{value_ms / 1000:.2f} s"
    magnitude = abs(value_ms)
    digits = 3 if 0 < magnitude < 0.01 else 2 if magnitude < 10 else 1 if magnitude < 100 else 0
    number = f"{value_ms:.{digits}f}"
    return f"{number} ms" if unit else number


def fmt_cost(cost: float | None) -> str:
    """A planner cost (PostgreSQL's arbitrary units): 3 significant figures, thousands
    separated (`55.2`, `4,904`, `1.2e+06` past a million)."""
    if cost is None or not _finite(cost):
        return MISSING
    if cost >= 1e6:
        return f"{cost:.2g}"
    return f"{cost:,.0f}" if cost >= 100 else f"{cost:.3g}"


def fmt_pct(value_pct: float | None, *, digits: int = 1) -> str:
    """A signed change in percent: `+4.2%`, `-99.1%`."""
    if value_pct is None or not _finite(value_pct):
        return MISSING
    return f"{value_pct:+.{digits}f}%"


def fmt_interval_pct(interval: tuple[float, float] | list[float] | None, *,
                     digits: int = 1) -> str:
    """A confidence interval of a change, in one cell: `[-1.0%, +2.3%]`."""
    if not interval:
        return MISSING
    low, high = interval
    return f"[{fmt_pct(low, digits=digits)}, {fmt_pct(high, digits=digits)}]"


def fmt_share(ratio: float | None, *, digits: int = 1, unit: bool = True) -> str:
    """A ratio 0..1 as a percentage: `0.35%`, `100%` (no sign)."""
    if ratio is None or not _finite(ratio):
        return MISSING
    return f"{ratio * 100:.{digits}f}{'%' if unit else ''}"


def fmt_size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return MISSING
    value = float(size_bytes)
    for suffix in ("B", "kB", "MB", "GB"):
        if value < 1024 or suffix == "GB":
            return f"{value:.0f} {suffix}" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    return MISSING  # pragma: no cover - the loop always returns


def fmt_rate(per_s: float | None) -> str:
    if per_s is None or not _finite(per_s):
        return MISSING
    return f"{per_s:.0f}" if per_s >= 100 else f"{per_s:.1f}"


def fmt_p_equals(p_value: float | None) -> str:
    """`p=0.794`, `p<0.001` (never `p=0`: a p-value is never zero, only too small to print)."""
    if p_value is None:
        return "p n/a"
    return f"p={p_value:.3g}" if p_value >= 0.001 else "p<0.001"


def fmt_value(value: float | None, unit: str) -> str:
    """A checked figure in its unit: `12.3ms`, `0.50%` (a ratio), `51` (a plain number)."""
    if value is None:
        return MISSING
    if unit == "ms":
        return f"{value:.1f}ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    return f"{value:g}"


def fmt_bound_ms(value_ms: float) -> str:
    """A bucket bound (`le`, as configured: exact) in ms: `5 ms`, `250 ms`, `1 s`."""
    return f"{value_ms / 1000:g} s" if abs(value_ms) >= 1000 else f"{value_ms:g} ms"


def fmt_p(p_value: float | None) -> str:
    if p_value is None:
        return MISSING
    return f"{p_value:.3g}" if p_value >= 0.001 else "<0.001"


def fmt_time(iso: str) -> str:
    """An ISO timestamp as `2026-11-29 14:05:00 UTC`."""
    return fmt_at(datetime.fromisoformat(iso))


def fmt_at(at: datetime) -> str:
    """An instant as `2026-11-29 14:05:00 UTC`."""
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def arrow(before: str, after: str) -> str:
    """Before and after in one cell."""
    return f"{before} → {after}"


def bar(value: float | None, maximum: float, width: int = 20) -> str:
    """A text bar scaled like the seed's Grafana sketch (full width = the largest value)."""
    if value is None or maximum <= 0 or not _finite(value):
        return ""
    filled = max(1, round(width * min(value, maximum) / maximum)) if value > 0 else 0
    return "█" * filled + " " * (width - filled)
