"""Helpers for the tests of events per target (a plain module: tests never import a conftest)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from perfkit.events import list_events


def quiet_since(seconds: float) -> datetime:
    """Now, once no event of the journal (e.g. the demo stack's own start) is newer than
    `seconds` ago: marks the test then records `seconds` back are the latest ones."""
    latest = max((e.at for e in list_events()), default=None)
    if latest is not None:
        time.sleep(max(0.0, min(seconds, (latest + timedelta(seconds=seconds + 0.1)
                                          - datetime.now(UTC)).total_seconds())))
    return datetime.now(UTC)
