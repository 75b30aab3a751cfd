"""Window planning: lengths, the split, refusals. Pure: a fixed clock and a temp journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from perfkit.errors import UsageError
from perfkit.events import record_event
from perfkit.prom.windows import parse_duration_s, plan_windows

NOW = datetime(2026, 1, 31, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(("text", "seconds"), [("20m", 1200), ("90s", 90), ("1h30m", 5400),
                                               ("10s", 10), ("1.5m", 90), ("20", 20)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["twenty minutes", "5x", "", "500ms", "-5m"])
def test_bad_durations_are_usage_errors_with_an_example(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_duration_s(text)
    assert "--since 20m" in str(err.value)


def test_without_events_before_is_right_before_after(tmp_path: Path) -> None:
    plan = plan_windows(1200, now=NOW, journal=tmp_path / "events.jsonl")
    assert (plan.after.start, plan.after.end) == (NOW - timedelta(minutes=20), NOW)
    assert (plan.before.start, plan.before.end) == (NOW - timedelta(minutes=40),
                                                    NOW - timedelta(minutes=20))
    assert plan.split_source == "none"


def test_latest_event_in_the_lookback_is_the_split(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    record_event("mark", "too old", at=NOW - timedelta(hours=2), journal=journal)
    record_event("apply-indexes", "3 indexes", at=NOW - timedelta(minutes=30), journal=journal)
    latest = record_event("mark", "restart with cache", at=NOW - timedelta(minutes=25),
                          journal=journal)
    plan = plan_windows(1200, now=NOW, journal=journal)
    assert plan.event == latest
    assert plan.before.end == latest.at and plan.before.seconds == 1200
    assert plan.after.start == NOW - timedelta(minutes=20)  # after never reaches before
    assert not plan.notes


def test_a_recent_change_shortens_the_after_window_and_says_so(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    event = record_event("mark", "deploy", at=NOW - timedelta(minutes=5), journal=journal)
    plan = plan_windows(1200, now=NOW, journal=journal)
    assert plan.after.start == event.at and plan.after.seconds == 300
    assert plan.before.seconds == 1200
    assert plan.notes and "300 s long, not 1200 s" in plan.notes[0]


def test_split_by_time_and_by_id(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    event = record_event("mark", "x", at=NOW - timedelta(hours=3), journal=journal)
    by_id = plan_windows(600, now=NOW, split=event.id, journal=journal)
    assert by_id.before.end == event.at and by_id.split_source == "event"
    by_time = plan_windows(600, now=NOW, split="2026-01-31T14:00:00Z", journal=journal)
    assert by_time.before.end == NOW - timedelta(minutes=30) and by_time.split_source == "time"
    relative = plan_windows(600, now=NOW, split="-45m", journal=journal)
    assert relative.before.end == NOW - timedelta(minutes=45)


def test_windows_shorter_than_two_scrapes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as err:
        plan_windows(20, now=NOW, scrape_interval_s=15, journal=tmp_path / "e.jsonl")
    assert "shorter than two scrape intervals (2 x 15 s)" in str(err.value)
    plan_windows(30, now=NOW, scrape_interval_s=15, journal=tmp_path / "e.jsonl")


def test_split_in_the_future_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        plan_windows(60, now=NOW, split="2026-02-01T00:00:00Z", journal=tmp_path / "e.jsonl")


def test_a_split_just_made_says_to_send_traffic_not_to_lengthen_since(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    event = record_event("mark", "auth provider latency fixed",
                         at=NOW - timedelta(seconds=0.05), journal=journal)
    with pytest.raises(UsageError) as err:
        plan_windows(20, now=NOW, scrape_interval_s=1, journal=journal)
    said = str(err.value)
    assert f"starts at the change event {event.id}" in said and "holds 0.05 s" in said
    assert "send traffic after the change" in said and "--split an earlier" in said
    assert "longer --since" not in said
    # with traffic after the mark, the same report works: the after window has grown
    plan = plan_windows(20, now=NOW + timedelta(seconds=5), scrape_interval_s=1,
                        journal=journal)
    assert plan.event == event and plan.after.seconds == pytest.approx(5.05)
