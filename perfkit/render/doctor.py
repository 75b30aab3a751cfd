"""doctor's checklist as a Document: one row per box, what it checked."""

from __future__ import annotations

from perfkit.doctor import DoctorResult, Status
from perfkit.render.model import Document, Table, name, text

MARK = {Status.PASS: "[x]", Status.FAIL: "[ ]", Status.SKIP: "[-]"}
COLUMNS = (name(""), text("check"), name("result"), text("detail"))


def headline(result: DoctorResult) -> str:
    """The verdict, and how many boxes were not judged (a skipped box is not a pass)."""
    if not result.checked:
        return "NOTHING CHECKED (nothing configured)"
    skipped = sum(1 for c in result.checks if c.status is Status.SKIP)
    unjudged = f", {skipped} not judged" if skipped else ""
    return ("all pass" if result.passed else "SOME FAIL") + unjudged


def doctor_document(result: DoctorResult) -> Document:
    rows = [[MARK[c.status], c.name, c.status.value.upper(), c.detail] for c in result.checks]
    return Document().table(Table.of(f"perfkit doctor: {headline(result)}", COLUMNS, rows))
