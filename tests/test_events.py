from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from perfkit.events import find_event, list_events, record_event


def test_events_round_trip_in_time_order_and_filter(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    now = datetime.now(UTC)
    late = record_event("mark", "deploy", at=now, journal=journal)
    early = record_event("apply-indexes", "3 indexes", at=now - timedelta(minutes=5),
                         journal=journal)
    with journal.open("a") as out:
        out.write("{torn line\n")
    events = list_events(journal=journal)
    assert [e.id for e in events] == [early.id, late.id]
    assert list_events(since=now - timedelta(minutes=1), journal=journal) == [late]
    assert find_event(early.id, journal=journal) == early
