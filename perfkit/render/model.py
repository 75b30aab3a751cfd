"""The one table model every command renders through: a Document of Tables and Text blocks.

Renderers build Documents from finished records (no statistics, no terminal); the terminal
(cli/console.py) and markdown (render/markdown.py) each draw any Document. A column says what
it holds, so a narrow terminal knows what it may wrap (text), what it must keep whole (names,
numbers) and which columns it may drop first (`drop` 1 goes before 2; None never goes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    NAME = "name"      # a route, index or family name: never broken
    NUMBER = "number"  # figures: right-aligned, never broken
    TEXT = "text"      # sentences: wrapped at spaces when the terminal is narrow


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = Kind.NUMBER
    drop: int | None = None  # narrow layouts drop columns with the lowest number first

    @property
    def right(self) -> bool:
        return self.kind is Kind.NUMBER


def name(header: str, drop: int | None = None) -> Column:
    return Column(header, Kind.NAME, drop)


def number(header: str, drop: int | None = None) -> Column:
    return Column(header, Kind.NUMBER, drop)


def text(header: str, drop: int | None = None) -> Column:
    return Column(header, Kind.TEXT, drop)


@dataclass(frozen=True)
class Table:
    title: str | None
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str | None = None

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"row {row!r} has {len(row)} cells for "
                                 f"{len(self.columns)} columns")

    @classmethod
    def of(cls, title: str | None, columns: list[Column] | tuple[Column, ...],
           rows: list[list[str]] | list[tuple[str, ...]], caption: str | None = None) -> Table:
        return cls(title, tuple(columns), tuple(tuple(str(c) for c in r) for r in rows), caption)

    def column(self, header: str) -> list[str]:
        """The cells of one column (tests read tables by header)."""
        index = [c.header for c in self.columns].index(header)
        return [row[index] for row in self.rows]


@dataclass(frozen=True)
class Text:
    """Lines of prose; `bullets` renders them as a markdown list."""

    lines: tuple[str, ...]
    bullets: bool = False
    heading: bool = False


@dataclass
class Document:
    """What a command prints on stdout, in order."""

    blocks: list[Table | Text] = field(default_factory=list)

    def table(self, table: Table) -> Document:
        self.blocks.append(table)
        return self

    def lines(self, *lines: str, bullets: bool = False) -> Document:
        if lines:
            self.blocks.append(Text(tuple(lines), bullets=bullets))
        return self

    def heading(self, line: str) -> Document:
        self.blocks.append(Text((line,), heading=True))
        return self

    def extend(self, other: Document) -> Document:
        self.blocks.extend(other.blocks)
        return self

    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]
