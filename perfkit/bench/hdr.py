"""HDR histograms as perfkit keeps them: µs from 1 µs to one hour, 3 significant digits.

One range for every histogram, so that any two add exactly (runs from many machines,
workers, repeats and time buckets merge by `add`).
"""

from __future__ import annotations

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def record_us(hist: HdrHistogram, value_us: float) -> None:
    """Record one latency, clamped into the histogram's range (never silently dropped)."""
    hist.record_value(min(HIGHEST_US, max(LOWEST_US, round(value_us))))


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")  # type: ignore[no-any-return]


def decode(text: str) -> HdrHistogram:
    """Decode into a histogram of perfkit's standard range (so any two can be added)."""
    hist = new_histogram()
    if text:
        hist.add(HdrHistogram.decode(text.encode("ascii")))
    return hist


def copy(hist: HdrHistogram) -> HdrHistogram:
    out = new_histogram()
    out.add(hist)
    return out
