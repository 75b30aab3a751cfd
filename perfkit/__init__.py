"""perfkit: performance tuning for PostgreSQL-backed web backends that export Prometheus metrics."""

from __future__ import annotations

from perfkit.errors import (
    CheckFailed,
    Inconclusive,
    PerfkitError,
    StackError,
    Unreachable,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "CheckFailed",
    "Inconclusive",
    "PerfkitError",
    "StackError",
    "Unreachable",
    "UsageError",
    "__version__",
]
