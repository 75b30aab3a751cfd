"""The change-event journal as a Document: what changed, when, and for which target."""

from __future__ import annotations

from collections.abc import Sequence

from perfkit.config import Target
from perfkit.events import ChangeEvent
from perfkit.render.fmt import fmt_time
from perfkit.render.model import Document, Table, name, text

COLUMNS = (name("id"), name("time", drop=2), name("kind"), text("what"),
           text("target", drop=1))
ANY_TARGET = "any (recorded without a target)"


def target_cell(event: ChangeEvent) -> str:
    return event.target.describe() if event.target is not None else ANY_TARGET


def events_document(events: Sequence[ChangeEvent], target: Target | None) -> Document:
    """`target` None: every event of the journal; else the events that split its windows."""
    title = ("change events, every target" if target is None
             else f"change events for {target.describe()}")
    rows = [[e.id, fmt_time(e.at.isoformat()), e.kind, e.text, target_cell(e)]
            for e in events]
    doc = Document().table(Table.of(title, COLUMNS, rows))
    if not events:
        doc.lines("no change events yet: `perfkit mark 'what changed'` records one")
    return doc
