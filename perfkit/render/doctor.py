"""doctor's checklist as a Document: one row per box, what it checked."""

from __future__ import annotations

from perfkit.doctor import DoctorResult, Status
from perfkit.render.model import Document, Table, name, text

MARK = {Status.PASS: "[x]", Status.FAIL: "[ ]", Status.SKIP: "[-]"}
COLUMNS = (name(""), text("check"), name("result"), text("detail"))


def headline(result: DoctorResult) -> str:
    if result.passed:
        return "all pass"
    return "SOME FAIL" if result.checked else "NOTHING CHECKED (nothing configured)"


def doctor_document(result: DoctorResult) -> Document:
    rows = [[MARK[c.status], c.name, c.status.value.upper(), c.detail] for c in result.checks]
    return Document().table(Table.of(f"perfkit doctor: {headline(result)}", COLUMNS, rows))
