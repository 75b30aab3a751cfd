"""The change-event journal as a Document: what changed, when, and for which target."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from perfkit.config import Target
from perfkit.events import ChangeEvent
from perfkit.render.model import Document, Table, name
from perfkit.units import fmt_time

ANY_TARGET = "any (recorded without a target)"
WHAT_WIDTH = 48  # an event's text goes on rows of this many characters, its words whole


def target_cell(event: ChangeEvent, *, labels_only: bool = False) -> str:
    """The event's target; for the current target's list (its addresses are in the title),
    only which parts it was recorded for: `backend, database`."""
    if event.target is None:
        return ANY_TARGET
    return event.target.labels() if labels_only else event.target.describe()


def what_lines(text_: str) -> list[str]:
    """An event's text in lines of WHAT_WIDTH at most, broken between words only."""
    return textwrap.wrap(text_, WHAT_WIDTH, break_long_words=False,
                         break_on_hyphens=False) or [""]


def events_document(events: Sequence[ChangeEvent], target: Target | None) -> Document:
    """`target` None: every event of the journal; else the events that split its windows."""
    title = ("change events, every target" if target is None
             else f"change events for {target.describe()}")
    # The text on rows of its own, broken at spaces only: index names stay whole (a name
    # column is never broken, and the narrow layout drops the others first).
    columns = (name("id"), name("time", drop=2), name("kind"), name("what"),
               name("target" if target is None else "recorded for", drop=1))
    rows: list[list[str]] = []
    for e in events:
        first, *more = what_lines(e.text)
        rows.append([e.id, fmt_time(e.at.isoformat()), e.kind, first,
                     target_cell(e, labels_only=target is not None)])
        rows += [["", "", "", line, ""] for line in more]
    doc = Document().table(Table.of(title, columns, rows))
    if not events:
        doc.lines("no change events yet: `perfkit mark 'what changed'` records one")
    return doc
