"""Change events (a restart with the cache, an index build, a deploy) in a small local journal.

`perfkit report` splits its before/after windows on them, so each event is a timestamp
plus what changed. The journal is one JSON object per line, append-only.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from perfkit.config import state_dir


@dataclass(frozen=True)
class ChangeEvent:
    id: str
    at: datetime
    kind: str
    text: str

    def to_json(self) -> dict[str, str]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def journal_path() -> Path:
    return state_dir() / "events.jsonl"


def record_event(kind: str, text: str, *, at: datetime | None = None,
                 journal: Path | None = None) -> ChangeEvent:
    """Append an event; ids are short and sortable by time."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    event = ChangeEvent(
        id=f"{when:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}", at=when, kind=kind, text=text
    )
    path = journal or journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(event.to_json()) + "\n")
    return event


def list_events(*, since: datetime | None = None, until: datetime | None = None,
                journal: Path | None = None) -> list[ChangeEvent]:
    """Events in time order; unreadable lines are skipped (a torn write must not break reports)."""
    path = journal or journal_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    events: list[ChangeEvent] = []
    for line in lines:
        try:
            raw = json.loads(line)
            event = ChangeEvent(
                id=str(raw["id"]), at=datetime.fromisoformat(raw["at"]).astimezone(UTC),
                kind=str(raw["kind"]), text=str(raw["text"]),
            )
        except (ValueError, KeyError, TypeError):
            continue
        if since is not None and event.at < since:
            continue
        if until is not None and event.at > until:
            continue
        events.append(event)
    events.sort(key=lambda e: e.at)
    return events


def find_event(event_id: str, *, journal: Path | None = None) -> ChangeEvent | None:
    for event in list_events(journal=journal):
        if event.id == event_id:
            return event
    return None
