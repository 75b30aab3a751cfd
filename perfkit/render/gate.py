"""A gate result as a Document: the headline, one row per check, the skipped thresholds."""

from __future__ import annotations

from perfkit.gate import GateResult
from perfkit.render.model import Document, Table, name, number, text

GATE_COLUMNS = (name("route"), name("check"), number("limit", drop=2), number("value", drop=1),
                name("result"), text("why"))


def gate_table(result: GateResult, *, strict: bool = False) -> Table:
    rows = [[c.route, c.check, c.limit, "-" if c.value is None else f"{c.value:g}",
             c.status.value.upper(), c.detail] for c in result.checks]
    return Table.of(f"perfkit gate: {result.headline(strict=strict)}", GATE_COLUMNS, rows)


def gate_document(result: GateResult, *, strict: bool = False) -> Document:
    doc = Document().table(gate_table(result, strict=strict))
    return doc.lines(*[f"baseline: {note}" for note in result.notes],
                     *[f"skipped: {note}" for note in result.skipped], bullets=True)
