"""Candidate btree indexes from a statement's parse tree (pglast), before any proof.

For each table a query block reads: equality columns first, then the ORDER BY columns with
their direction when a LIMIT makes the order matter, or the first range column; each join
key on its own and after the equality columns (sqlreader.py reads the tree).
Which candidate is worth building is for HypoPG to say (orchestrate.py).
The roles of the parameters ($1: an equality on messages.conversation_id, $2: the LIMIT)
tell the prover which values to plan with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pglast import ast, parse_sql
from pglast.parser import ParseError, scan

from perfkit.db.advisor.sqlreader import Wants, collect, params_in
from perfkit.db.vocabulary import (
    IndexColumn,
    Param,
    Resolver,
    TableName,
    quote_ident,
)

#: An index wider than this serves few statements better than a narrower one.
MAX_COLUMNS = 5


class Unadvisable(Exception):
    """A statement perfkit cannot advise on; `quiet` when it simply reads no table rows."""

    def __init__(self, reason: str, *, quiet: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.quiet = quiet


@dataclass(frozen=True, order=True)
class Candidate:
    """A btree index: a table and its columns in order, each with its direction."""

    table: TableName
    columns: tuple[IndexColumn, ...]

    def flipped(self) -> tuple[IndexColumn, ...]:
        """The same index read backwards: a btree scans both ways."""
        return tuple(IndexColumn(c.name, not c.descending) for c in self.columns)

    def is_prefix_of(self, columns: tuple[IndexColumn, ...]) -> bool:
        """True when an index on `columns` serves whatever this one serves."""
        n = len(self.columns)
        return n <= len(columns) and columns[:n] in (self.columns, self.flipped())

    def definition(self, name: str | None = None, *, concurrently: bool = False,
                   if_not_exists: bool = False) -> str:
        """CREATE INDEX as HypoPG (no name) and migrations take it."""
        words = ["CREATE INDEX"] + (["CONCURRENTLY"] if concurrently else []) + (
            ["IF NOT EXISTS"] if if_not_exists else []) + ([quote_ident(name)] if name else [])
        table = f"{quote_ident(self.table.schema)}.{quote_ident(self.table.name)}"
        return f"{' '.join(words)} ON {table} ({', '.join(c.sql() for c in self.columns)})"

    def __str__(self) -> str:
        return f"{self.table} ({', '.join(str(c) for c in self.columns)})"


@dataclass(frozen=True)
class Analysis:
    """What a statement asks of its tables."""

    tables: tuple[TableName, ...]
    candidates: tuple[Candidate, ...]
    params: tuple[Param, ...]
    param_count: int
    in_conditions: frozenset[int]  # $n used in WHERE/JOIN/HAVING: need a value to plan with
    is_select: bool = True  # EXPLAIN ANALYZE may run it (an UPDATE it would execute)

    def param(self, number: int) -> Param | None:
        return next((p for p in self.params if p.number == number), None)


# --- candidates ---------------------------------------------------------------------------


def _candidates(table: TableName, wants: Wants) -> list[Candidate]:
    equality = [IndexColumn(c) for c in wants.equality]
    shapes: list[list[IndexColumn]] = [equality] if equality else []
    for order in wants.orders:
        tail = list(order)
        while tail and tail[0].name in wants.equality:
            tail.pop(0)  # an equality fixes that column: its order no longer matters
        if tail:
            shapes.append(equality + tail)
    ranges = [c for c in wants.ranges if c not in wants.equality]
    if ranges:
        shapes.append([*equality, IndexColumn(ranges[0])])
    for join in (c for c in wants.joins if c not in wants.equality):
        shapes.append([IndexColumn(join)])
        if equality:
            shapes.append([*equality, IndexColumn(join)])
    found: list[Candidate] = []
    for shape in shapes:
        candidate = Candidate(table, tuple(shape[:MAX_COLUMNS]))
        if candidate.columns and candidate not in found:
            found.append(candidate)
    return found


def _parse(text: str) -> Any:
    try:
        parsed = parse_sql(text)
    except ParseError as exc:
        raise Unadvisable(f"does not parse: {exc.args[0]}") from None
    if len(parsed) != 1:
        raise Unadvisable(f"holds {len(parsed)} statements, not one", quiet=not parsed)
    return parsed[0].stmt


def analyze(text: str, resolve: Resolver) -> Analysis:
    """What a statement reads and which indexes could serve it; Unadvisable when it is not
    a query perfkit can advise on (the reason says why)."""

    node = _parse(text)
    if not isinstance(node, (ast.SelectStmt, ast.UpdateStmt, ast.DeleteStmt, ast.InsertStmt)):
        raise Unadvisable(f"{type(node).__name__} reads no table rows", quiet=True)
    out = collect(node, resolve)
    if out.missing:
        names = ", ".join(sorted(set(out.missing)))
        raise Unadvisable(f"names table {names}, which does not exist (dropped or renamed?)")
    tables = tuple(sorted(t for t, info in out.infos.items() if info.indexable))
    if not tables:
        others = sorted(str(t) for t, info in out.infos.items() if not info.catalog)
        if others:
            raise Unadvisable(f"reads no table, only {', '.join(others)} (views are not "
                              "advised on: their tables' statements are)")
        raise Unadvisable("reads no table", quiet=True)
    candidates = [c for table in tables if table in out.wants
                  for c in _candidates(table, out.wants[table])]
    count = max(params_in(node), default=0)
    return Analysis(tables=tables, candidates=tuple(candidates),
                    params=tuple(sorted(out.params.values(), key=lambda p: p.number)),
                    param_count=count, in_conditions=frozenset(out.in_conditions),
                    is_select=isinstance(node, ast.SelectStmt))


def one_line(text: str) -> list[str]:
    """A statement as words on one line, comments dropped, string literals untouched:
    joined by single spaces it is the same statement (for `-- perfkit:query` lines)."""
    words: list[str] = []
    end = -1
    for token in scan(text):
        if token.name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        piece = text[token.start:token.end + 1]
        if words and token.start == end + 1:
            words[-1] += piece
        else:
            words.append(piece)
        end = token.end
    return words
