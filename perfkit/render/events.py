"""The change-event journal as a Document: what changed, when, and for which target."""

from __future__ import annotations

from collections.abc import Sequence

from perfkit.config import Target
from perfkit.events import ChangeEvent
from perfkit.render.fmt import fmt_time
from perfkit.render.model import Document, Table, name, text

ANY_TARGET = "any (recorded without a target)"


def target_cell(event: ChangeEvent, *, labels_only: bool = False) -> str:
    """The event's target; for the current target's list (its addresses are in the title),
    only which parts it was recorded for: `backend, database`."""
    if event.target is None:
        return ANY_TARGET
    return event.target.labels() if labels_only else event.target.describe()


def events_document(events: Sequence[ChangeEvent], target: Target | None) -> Document:
    """`target` None: every event of the journal; else the events that split its windows."""
    title = ("change events, every target" if target is None
             else f"change events for {target.describe()}")
    columns = (name("id"), name("time", drop=2), name("kind"), text("what"),
               text("target" if target is None else "recorded for", drop=1))
    rows = [[e.id, fmt_time(e.at.isoformat()), e.kind, e.text,
             target_cell(e, labels_only=target is not None)] for e in events]
    doc = Document().table(Table.of(title, columns, rows))
    if not events:
        doc.lines("no change events yet: `perfkit mark 'what changed'` records one")
    return doc
