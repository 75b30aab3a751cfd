"""How a run is spread over processes and machines: --workers, --segment, --start-at.

On Kubernetes an Indexed Job gives each pod JOB_COMPLETION_INDEX (0-based); with
`--segments n` that is the pod's segment. PERFKIT_SEGMENT=i/n works anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

from perfkit.bench.pacer import Segment
from perfkit.bench.workers import auto_workers
from perfkit.errors import UsageError


def parse_workers(text: str) -> int:
    """`--workers 4` or `--workers auto` (one per CPU)."""
    if text.strip().lower() == "auto":
        return auto_workers()
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--workers {text!r} is not a number or auto",
                         hint="e.g. --workers 4 or --workers auto") from None
    if value < 1:
        raise UsageError(f"--workers must be >= 1, not {value}", hint="e.g. --workers 2")
    return value


def resolve_segment(flag: str | None, segments: int | None,
                    environ: Mapping[str, str] | None = None) -> Segment:
    """--segment i/n > PERFKIT_SEGMENT > JOB_COMPLETION_INDEX with --segments n > the whole."""
    env = os.environ if environ is None else environ
    if flag:
        return Segment.parse(flag)
    if env.get("PERFKIT_SEGMENT"):
        return Segment.parse(env["PERFKIT_SEGMENT"], flag="PERFKIT_SEGMENT")
    if segments is not None:
        if segments < 1:
            raise UsageError(f"--segments must be >= 1, not {segments}")
        index = env.get("JOB_COMPLETION_INDEX")
        if index is None:
            raise UsageError("--segments needs JOB_COMPLETION_INDEX (set by a Kubernetes "
                             "Indexed Job) or --segment i/n")
        try:
            return Segment.parse(f"{int(index) + 1}/{segments}", flag="JOB_COMPLETION_INDEX")
        except ValueError:
            raise UsageError(f"JOB_COMPLETION_INDEX {index!r} is not a number") from None
    return Segment()


def parse_start_at(text: str) -> float:
    """--start-at as an ISO time (with a zone, or UTC) or unix seconds -> unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--start-at {text!r} is not a time",
                         hint="ISO 8601 (2026-11-29T14:05:00Z) or unix seconds") from None
    if when.tzinfo is None:
        raise UsageError(f"--start-at {text!r} has no time zone",
                         hint="add Z or +00:00: every machine must read the same instant")
    return when.timestamp()
