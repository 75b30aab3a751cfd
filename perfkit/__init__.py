"""perfkit: performance tuning for PostgreSQL-backed web backends that export Prometheus metrics.

The public API is the names in `__all__`. Everything but the errors loads on first use, so
that `import perfkit` (and so `perfkit --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from perfkit.errors import (
    CheckFailed,
    Inconclusive,
    Interrupted,
    PerfkitError,
    StackError,
    Unreachable,
    UsageError,
)

__version__ = "0.2.0"

_LAZY = {
    "Settings": "perfkit.config", "resolve_settings": "perfkit.config",
    "record_event": "perfkit.events", "list_events": "perfkit.events",
    "load_statements": "perfkit.db.migration_reader", "apply_indexes": "perfkit.db.apply",
    "ApplyOptions": "perfkit.db.apply", "verify_indexes": "perfkit.db.verify",
    "load_scenario": "perfkit.bench.scenario", "Scenario": "perfkit.bench.scenario",
    "BenchOptions": "perfkit.bench.options", "run_bench": "perfkit.bench.engine",
    "run_bench_sync": "perfkit.bench.scheduler", "Run": "perfkit.bench.record",
    "RouteRecord": "perfkit.bench.record", "compare_runs": "perfkit.bench.compare",
    "PromClient": "perfkit.prom.client", "ReportOptions": "perfkit.prom.report",
    "build_report": "perfkit.prom.report", "run_gate": "perfkit.gate",
    "load_thresholds": "perfkit.thresholds", "GateResult": "perfkit.gate",
    "count_cache_lines": "perfkit.cachestats.logs", "run_doctor": "perfkit.doctor",
    "DoctorTarget": "perfkit.doctor",
}

__all__ = [
    "CheckFailed",
    "Inconclusive",
    "Interrupted",
    "PerfkitError",
    "StackError",
    "Unreachable",
    "UsageError",
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'perfkit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
