from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from perfkit.config import Target
from perfkit.events import find_event, list_events, record_event, wait_for_event
from perfkit.prom.windows import plan_windows
from tests.support import DemoStack
from tests.support.events import quiet_since


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


STAGING = Target.of(base_url="http://staging.internal:8000/",
                    dsn="postgresql://app:pw@db.staging:5432/app",
                    prometheus_url="http://prom.staging:9090")
PROD = Target.of(base_url="https://api.example.com", dsn="host=db.prod dbname=app password=x",
                 prometheus_url="http://prom.prod:9090")


def test_targets_are_identities_without_credentials() -> None:
    assert STAGING.to_json() == {"base_url": "http://staging.internal:8000",
                                 "database": "db.staging:5432/app",
                                 "prometheus_url": "http://prom.staging:9090"}
    assert "pw" not in str(STAGING) and "password" not in str(PROD)
    assert PROD.database == "db.prod:5432/app"
    assert Target.of(base_url="HTTP://API.example.com:80/v1/") == Target.of(
        base_url="http://api.example.com/v1")
    assert Target.of(base_url="not a url", dsn="not a dsn") == Target()


def test_events_are_kept_with_their_target_and_split_only_theirs(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    at = datetime.now(UTC) - timedelta(minutes=3)
    ours = record_event("mark", "prod deploy", target=PROD, at=at, journal=journal)
    theirs = record_event("mark", "staging deploy", target=STAGING,
                          at=at + timedelta(minutes=1), journal=journal)
    index_build = record_event("apply-indexes", "3 indexes", journal=journal,
                               target=Target.of(dsn="postgresql://u@db.prod/app"),
                               at=at + timedelta(seconds=30))
    assert list_events(target=PROD, journal=journal) == [ours, index_build]
    assert list_events(target=STAGING, journal=journal) == [theirs]
    assert list_events(journal=journal) == [ours, index_build, theirs]
    # a target that knows only its Prometheus cannot tell the index build apart: it counts
    only_prom = Target.of(prometheus_url="http://prom.prod:9090")
    assert list_events(target=only_prom, journal=journal) == [ours, index_build]
    assert find_event(theirs.id, journal=journal) == theirs  # by id: whatever its target


def test_old_journal_lines_still_read_and_count_for_every_target(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    journal.write_text('{"id": "20260131T140000-ab12", "at": "2026-01-31T14:00:00+00:00", '
                       '"kind": "mark", "text": "before targets existed"}\n')
    (old,) = list_events(journal=journal)
    assert old.target is None and old.text == "before targets existed"
    assert list_events(target=PROD, journal=journal) == [old]
    assert "target" not in old.to_json()


def test_windows_split_only_on_events_of_their_target(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    now = datetime(2026, 1, 31, 15, 0, tzinfo=UTC)
    ours = record_event("mark", "prod: cache on", target=PROD, journal=journal,
                        at=now - timedelta(minutes=30))
    record_event("mark", "staging: cache on", target=STAGING, journal=journal,
                 at=now - timedelta(minutes=25))
    assert plan_windows(1200, now=now, target=PROD, journal=journal).event == ours
    assert plan_windows(1200, now=now, journal=journal).event != ours  # no target: any event
    lone = plan_windows(1200, now=now, journal=journal,
                        target=Target.of(base_url="http://third:1"))
    assert lone.split_source == "none"
    named = plan_windows(1200, now=now, target=STAGING, split=ours.id, journal=journal)
    assert named.event == ours and "recorded for another target" in named.notes[0]


def test_wait_for_event_ends_at_a_mark_of_its_target_only(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    start = datetime.now(UTC)
    record_event("mark", "other", target=STAGING, journal=journal)
    assert wait_for_event(start, 0.2, target=PROD, journal=journal, poll_s=0.05) is None
    ours = record_event("mark", "done", target=PROD, journal=journal)
    assert wait_for_event(start, 5, target=PROD, journal=journal) == ours


def test_a_mark_for_another_target_does_not_split_doctor_on_the_demo(
        demo_stack: DemoStack) -> None:
    from perfkit.doctor import DoctorTarget, run_doctor

    demo = Target.of(base_url=demo_stack.url, dsn=demo_stack.dsn,
                     prometheus_url=demo_stack.prometheus_url)
    # a second demo-like target: another backend and Prometheus, marked just now
    other = Target.of(base_url="http://127.0.0.1:18080", prometheus_url="http://127.0.0.1:19090")
    now = quiet_since(8)
    ours = record_event("mark", "demo: cache on", target=demo, at=now - timedelta(seconds=8))
    theirs = record_event("mark", "other: cache on", target=other, at=now - timedelta(seconds=4))

    def split_event() -> str | None:
        target = DoctorTarget(base_url=demo_stack.url,
                              dsn=demo_stack.dsn,
                              prometheus_url=demo_stack.prometheus_url, since_s=10)
        run_doctor(target)
        assert target.report is not None
        event = target.report.plan.event
        return None if event is None else event.id

    assert split_event() == ours.id  # not the later mark of the other target
    assert theirs.id in {e.id for e in list_events()}
