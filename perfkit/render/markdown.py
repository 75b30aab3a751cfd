"""Any Document as GitHub-flavoured Markdown (PR comments, $GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

from perfkit.render.model import Document, Kind, Table, Text


def escape(text: str) -> str:
    """A cell's text with the characters that would break a Markdown table escaped."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cell(text: str, kind: Kind) -> str:
    if kind is Kind.NAME and text and "`" not in text:
        # Names verbatim (a route's * or _ is not emphasis); GFM still splits a code span
        # on an unescaped pipe.
        return "`" + str(text).replace("|", "\\|").replace("\n", " ") + "`"
    return escape(text)


def table(tbl: Table) -> str:
    head = "| " + " | ".join(escape(c.header) for c in tbl.columns) + " |"
    aligns = "|" + "|".join("---:" if c.right else "---" for c in tbl.columns) + "|"
    rows = ["| " + " | ".join(_cell(cell, col.kind) for cell, col in zip(row, tbl.columns,
                                                                           strict=True)) + " |"
            for row in tbl.rows]
    lines = [f"**{escape(tbl.title)}**", ""] if tbl.title else []
    lines += [head, aligns, *rows]
    if tbl.caption:
        lines += ["", f"_{escape(tbl.caption)}_"]
    return "\n".join(lines)


def _text(block: Text) -> str:
    if block.heading:
        return "### " + " ".join(block.lines)
    if block.bullets:
        return "\n".join(f"- {line}" for line in block.lines)
    return "\n".join(block.lines)


def document(doc: Document) -> str:
    parts = [table(b) if isinstance(b, Table) else _text(b) for b in doc.blocks]
    return "\n\n".join(p for p in parts if p).rstrip() + "\n"
