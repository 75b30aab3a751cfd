"""Before/after windows: the same length, split at the change being judged.

The after window is the last W; the before window is W long and ends at the split: an
explicit `--split` (event id or time), else the latest change event of this target in the
lookback (`perfkit mark`, apply-indexes, demo restarts; an event of another backend, database
or Prometheus never splits), else right before the after window. When
the change is more recent than W, the after window starts at the change so it never mixes
"before" traffic in, and the report says it was shortened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from perfkit import durations
from perfkit.config import Target
from perfkit.errors import UsageError
from perfkit.events import ChangeEvent, find_event, list_events

#: Change events are looked for this many window lengths back from now.
LOOKBACK_WINDOWS = 3
SINCE_EXAMPLE = "e.g. --since 20m, 90s, 1h or 1h30m"


def parse_duration_s(text: str, *, flag: str = "--since") -> float:
    """`20m` -> 1200.0 (perfkit.durations' grammar); a window is at least one second."""
    return durations.parse_duration_s(text, flag=flag, minimum_s=1.0, hint=SINCE_EXAMPLE)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def contains(self, at: datetime) -> bool:
        return self.start <= at <= self.end

    def to_json(self) -> dict[str, object]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class WindowPlan:
    before: Window
    after: Window
    split_at: datetime
    split_source: str  # "event" | "time" | "none"
    event: ChangeEvent | None = None
    notes: list[str] = field(default_factory=list)

    def split_json(self) -> dict[str, object]:
        data: dict[str, object] = {"at": self.split_at.isoformat(), "source": self.split_source}
        if self.event is not None:
            data["event"] = self.event.to_json()
        return data


def parse_split_time(text: str, now: datetime) -> datetime | None:
    """An ISO 8601 time (naive = local), unix seconds, or `-5m` (that long ago)."""
    value = text.strip()
    if value.startswith("-"):
        try:
            return now - timedelta(seconds=parse_duration_s(value[1:], flag="--split"))
        except UsageError:
            return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.astimezone()).astimezone(UTC)


def _resolve_split(split: str | None, now: datetime, since_s: float, journal: Path | None,
                   target: Target | None) -> tuple[datetime | None, str, ChangeEvent | None]:
    if split:
        event = find_event(split, journal=journal)
        if event is not None:  # named by its id: used even when of another target
            return event.at, "event", event
        at = parse_split_time(split, now)
        if at is None:
            raise UsageError(f"--split {split!r} is neither a change event id nor a time",
                             hint="use an id from `perfkit mark`, an ISO time like "
                                  "2026-01-31T14:05:00Z, unix seconds, or -10m")
        return at, "time", None
    event = latest_event(since_s, now, target=target, journal=journal)
    if event is not None:
        return event.at, "event", event
    return None, "none", None


def latest_event(since_s: float, now: datetime, *, target: Target | None = None,
                 journal: Path | None = None) -> ChangeEvent | None:
    """The change the windows split on by default: the latest event of `target` (None: of
    any target) in the last LOOKBACK_WINDOWS window lengths."""
    lookback = now - timedelta(seconds=LOOKBACK_WINDOWS * since_s)
    events = list_events(since=lookback, until=now, target=target, journal=journal)
    return events[-1] if events else None


def _split_name(at: datetime, event: ChangeEvent | None) -> str:
    if event is not None:
        return f"the change event {event.id} ({event.kind}: {event.text})"
    return f"the split at {at:%H:%M:%S} UTC"


def _check_lengths(plan: WindowPlan, since_s: float, scrape_interval_s: float,
                   now: datetime) -> None:
    """increase() needs two samples per series in a window: refuse a window shorter than two
    scrape intervals, saying why this one is short and what would make it long enough."""
    minimum = 2 * scrape_interval_s
    need = (f"shorter than two scrape intervals (2 x {scrape_interval_s:g} s): increase() "
            "needs at least two samples per series to see any change")
    after = plan.after
    if after.seconds < minimum and after.seconds < since_s:
        ago = (now - plan.split_at).total_seconds()
        raise UsageError(
            f"the after window starts at {_split_name(plan.split_at, plan.event)}, "
            f"{ago:.3g} s ago: it holds {after.seconds:.3g} s, {need}",
            hint=f"send traffic after the change for at least {minimum:g} s, then run the "
                 "report; or --split an earlier event or time")
    for name, window in (("after", after), ("before", plan.before)):
        if window.seconds < minimum:
            raise UsageError(f"the {name} window is {window.seconds:g} s long, {need}",
                             hint=f"use a longer --since (at least {minimum:g}s)")


def _other_target_note(event: ChangeEvent | None, target: Target | None) -> list[str]:
    if event is None or event.concerns(target) or event.target is None:
        return []
    return [f"the split event {event.id} was recorded for another target "
            f"({event.target.describe()})"]


def plan_windows(since_s: float, *, now: datetime | None = None, split: str | None = None,
                 scrape_interval_s: float | None = None, journal: Path | None = None,
                 target: Target | None = None) -> WindowPlan:
    """Both windows, split on an event of `target` (None: of any target), refusing any
    shorter than two scrape intervals (increase() needs two samples in the range)."""
    now = now.astimezone(UTC) if now else datetime.now(UTC)
    width = timedelta(seconds=since_s)
    split_at, source, event = _resolve_split(split, now, since_s, journal, target)
    notes = _other_target_note(event, target)
    if split_at is None:
        after = Window(now - width, now)
        split_at = after.start
    else:
        if split_at >= now:
            raise UsageError(f"the split {split_at.isoformat()} is not in the past",
                             hint="pick an earlier event or time")
        after = Window(max(now - width, split_at), now)
        if after.start > now - width:
            notes.append(f"the after window starts at the split ({split_at:%H:%M:%S} UTC), "
                         f"so it is {after.seconds:.0f} s long, not {since_s:.0f} s: "
                         "wait for a full window for steadier figures")
    plan = WindowPlan(Window(split_at - width, split_at), after, split_at, source, event, notes)
    if scrape_interval_s:
        _check_lengths(plan, since_s, scrape_interval_s, now)
    return plan
