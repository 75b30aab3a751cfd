"""Change events (a restart with the cache, an index build, a deploy) in a small local journal.

`perfkit report` and `doctor` split their before/after windows on them, so each event is a
timestamp, what changed, and the target it changed (backend, database, Prometheus; no
credentials): a mark made for staging never splits a report on production. The journal is
one JSON object per line, append-only; lines written before events had a target still read,
as events of no known target (they count for every target).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from perfkit.config import Target, state_dir

SCHEMA = "perfkit.events/1"
EVENT_SCHEMA = "perfkit.event/1"


@dataclass(frozen=True)
class ChangeEvent:
    id: str
    at: datetime
    kind: str
    text: str
    target: Target | None = None  # None: recorded before events had targets, or for none

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"id": self.id, "at": self.at.isoformat(), "kind": self.kind,
                                   "text": self.text}
        if self.target is not None and self.target.known:
            data["target"] = self.target.to_json()
        return data

    @classmethod
    def from_json(cls, raw: object) -> ChangeEvent:
        """One journal line; KeyError/TypeError/ValueError when it is not an event."""
        if not isinstance(raw, dict):
            raise TypeError("not an object")
        return cls(id=str(raw["id"]), at=datetime.fromisoformat(raw["at"]).astimezone(UTC),
                   kind=str(raw["kind"]), text=str(raw["text"]),
                   target=Target.from_json(raw.get("target")))

    def concerns(self, target: Target | None) -> bool:
        """Whether this event splits windows of `target` (None: any target's events do)."""
        if target is None or self.target is None:
            return True
        return target.same_system(self.target)


def journal_path() -> Path:
    return state_dir() / "events.jsonl"


def record_event(kind: str, text: str, *, target: Target | None = None,
                 at: datetime | None = None, journal: Path | None = None) -> ChangeEvent:
    """Append an event for `target`; ids are short and sortable by time."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    event = ChangeEvent(id=f"{when:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}", at=when, kind=kind,
                        text=text, target=target if target is not None and target.known
                        else None)
    path = journal or journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(event.to_json()) + "\n")
    return event


def list_events(*, since: datetime | None = None, until: datetime | None = None,
                target: Target | None = None, journal: Path | None = None
                ) -> list[ChangeEvent]:
    """Events of `target` (None: all) in time order; unreadable lines are skipped (a torn
    write must not break reports)."""
    path = journal or journal_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    events: list[ChangeEvent] = []
    for line in lines:
        try:
            event = ChangeEvent.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue
        if since is not None and event.at < since:
            continue
        if until is not None and event.at > until:
            continue
        if event.concerns(target):
            events.append(event)
    events.sort(key=lambda e: e.at)
    return events


def find_event(event_id: str, *, journal: Path | None = None) -> ChangeEvent | None:
    for event in list_events(journal=journal):
        if event.id == event_id:
            return event
    return None


def wait_for_event(after: datetime, timeout_s: float, *, target: Target | None = None,
                   journal: Path | None = None, poll_s: float = 0.25,
                   clock: Callable[[], float] = time.monotonic) -> ChangeEvent | None:
    """The first event of `target` recorded after `after` (e.g. `perfkit mark` in another
    shell), waiting at most timeout_s; None when none came."""
    deadline = clock() + timeout_s
    while True:
        found = list_events(since=after, target=target, journal=journal)
        if found:
            return found[0]
        if clock() >= deadline:
            return None
        time.sleep(min(poll_s, max(0.0, deadline - clock())))
