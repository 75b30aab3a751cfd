"""Any Document as HTML: the same Tables the terminal and Markdown draw, every cell escaped.

Each cell carries its column's header in `data-col`, so a reader (a test, a script) finds a
figure by route and column without parsing the layout.
"""

from __future__ import annotations

from html import escape

from perfkit.render.model import Document, Kind, Table, Text


def attrs(values: dict[str, str], prefix: str = "data-") -> str:
    """` data-a="1" data-b="x"`: escaped, in order."""
    return "".join(f' {prefix}{key}="{escape(value)}"' for key, value in values.items())


def _cell(value: str, kind: Kind, header: str) -> str:
    return f'<td class="{kind.value}" data-col="{escape(header)}">{escape(value)}</td>'


def table(tbl: Table, *, label: str | None = None) -> str:
    """A table, its title as caption; wrapped in a scrolling box for narrow screens."""
    title = tbl.title or label
    caption = f"<caption>{escape(title)}</caption>" if title else ""
    head = "".join(f'<th scope="col" class="{c.kind.value}">{escape(c.header)}</th>'
                   for c in tbl.columns)
    body = "".join("<tr>" + "".join(_cell(v, c.kind, c.header)
                                    for v, c in zip(row, tbl.columns, strict=True)) + "</tr>"
                   for row in tbl.rows)
    note = f"<p class=\"caption\">{escape(tbl.caption)}</p>" if tbl.caption else ""
    name = attrs({"table": title}) if title else ""
    return (f'<div class="scroll" tabindex="0"><table{name}>{caption}<thead><tr>{head}</tr>'
            f"</thead><tbody>{body}</tbody></table></div>{note}")


def text(block: Text) -> str:
    if block.heading:
        return f"<h3>{escape(' '.join(block.lines))}</h3>"
    if block.bullets:
        return "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in block.lines) + "</ul>"
    return "".join(f"<p>{escape(line)}</p>" for line in block.lines)


def document(doc: Document) -> str:
    return "\n".join(table(b) if isinstance(b, Table) else text(b) for b in doc.blocks)
