"""Markdown of any Document: tables escape what would break them, names stay verbatim."""

from __future__ import annotations

from perfkit.render.markdown import document, table
from perfkit.render.model import Document, Table, name, number, text


def test_table_escapes_pipes_and_keeps_names_verbatim() -> None:
    tbl = Table.of("t", [name("route"), number("n"), text("why")],
                   [["GET /a|b_*c*", "1", "x|y"]])
    assert table(tbl) == ("**t**\n\n| route | n | why |\n|---|---:|---|\n"
                          "| `GET /a\\|b_*c*` | 1 | x\\|y |")


def test_a_document_is_headings_tables_and_bullets_in_order() -> None:
    doc = Document().heading("perfkit x").table(
        Table.of(None, [name("a")], [["1"]])).lines("one", "two", bullets=True).lines("plain")
    assert document(doc) == ("### perfkit x\n\n| a |\n|---|\n| `1` |\n\n- one\n- two\n\n"
                             "plain\n")


def test_a_row_of_the_wrong_width_is_a_programming_error() -> None:
    import pytest

    with pytest.raises(ValueError):
        Table.of(None, [name("a"), number("b")], [["1"]])
