"""Index advice as a Document: the proposed indexes, then each statement's cost before and
after (generic plan and heaviest value), then why statements were left out."""

from __future__ import annotations

from perfkit.db.advisor.candidates import one_line
from perfkit.db.advisor.hypothetical import Costs
from perfkit.db.advisor.record import Advice, IndexAdvice, StatementAdvice, StatementStatus
from perfkit.render.model import Document, Table, name, number, text
from perfkit.units import MISSING, arrow, fmt_cost, fmt_ms, fmt_pct, fmt_rate, fmt_size

#: A statement is shown by its first characters (the JSON has it whole).
QUERY_CHARS = 72

INDEX_COLUMNS = (name("index"), name("table", drop=3), text("columns"), text("serves"),
                 number("size", drop=2), number("writes/s", drop=1))
STATEMENT_COLUMNS = (number("#"), text("statement"), number("calls", drop=2),
                     number("total ms", drop=3), number("cost (generic)"),
                     number("cost (heaviest)"), number("cut"), name("index", drop=1))
_STATUS = {StatementStatus.COVERED: "(none better)", StatementStatus.NO_GAIN: "(no gain)",
           StatementStatus.NO_CANDIDATE: "(no candidate)",
           StatementStatus.UNPROVEN: "(unproven)", StatementStatus.SKIPPED: "(skipped)"}


#: Keywords that end a SELECT's column list or its FROM clause (at the top level).
_CLAUSES = frozenset({"WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "FOR",
                      "WINDOW", "UNION", "RETURNING"})


def short_id(queryid: int) -> str:
    """Six hex digits of pg_stat_statements' queryid: enough to tell a table's rows apart
    and to find the statement in the JSON."""
    return f"{queryid % 2 ** 64:016x}"[-6:]


def _top_level(words: list[str]) -> list[int]:
    """The nesting depth before each word (parentheses), so a subquery's FROM is not ours."""
    depth, depths = 0, []
    for word in words:
        depths.append(depth)
        depth += word.count("(") - word.count(")")
    return depths


def _shape(words: list[str]) -> str:
    """A SELECT by what tells it from its neighbours: its columns elided, FROM onwards kept
    (query builders repeat one long column list across statements)."""
    depths = _top_level(words)
    upper = [w.upper() for w in words]
    start = next((i for i, w in enumerate(upper) if w == "FROM" and depths[i] == 0), None)
    if not upper or upper[0] != "SELECT" or start is None or len(" ".join(words[:start])) < 28:
        return " ".join(words)
    end = next((i for i in range(start + 1, len(words)) if upper[i] in _CLAUSES
                and depths[i] == 0), len(words))
    source = words[start:end]
    if len(source) > 4:  # joins: the first table tells enough, the conditions tell the rest
        source = [*source[:2], "…"]
    return " ".join(["SELECT …", *source, *words[end:]])


def short_query(query: str, queryid: int | None = None) -> str:
    """A statement on one line, at most QUERY_CHARS, with its short id when given."""
    words = one_line(query) or query.split()
    line = _shape(words)
    tag = f" [{short_id(queryid)}]" if queryid is not None else ""
    room = QUERY_CHARS - len(tag)
    return (line if len(line) <= room else line[:room - 1] + "…") + tag


def _costs(before: Costs | None, after: Costs | None, heaviest: bool) -> str:
    if before is None:
        return MISSING
    first = before.heaviest if heaviest else before.generic
    if first is None:
        return MISSING
    if after is None or after == before:
        return fmt_cost(first)
    second = after.heaviest if heaviest else after.generic
    return arrow(fmt_cost(first), fmt_cost(second))


def _cut(stmt: StatementAdvice) -> str:
    cut = stmt.cut
    if cut is None or stmt.status is not StatementStatus.SERVED:
        return MISSING
    return fmt_pct(-cut * 100)


def index_table(advice: Advice) -> Table:
    """One row per index; `serves` names the statements by their # in the next table."""
    title = "proposed indexes" if advice.hypopg else "candidate indexes (unproven: no HypoPG)"
    rank = {id(stmt): n for n, stmt in enumerate(advice.statements, 1)}
    rows = [[i.name, str(i.candidate.table), ", ".join(str(c) for c in i.candidate.columns),
             ", ".join(f"#{rank[id(s)]}" for s in i.statements if id(s) in rank),
             fmt_size(i.size_bytes), fmt_rate(i.writes_per_s)] for i in advice.indexes]
    return Table.of(title, INDEX_COLUMNS, rows)


def statement_table(advice: Advice) -> Table:
    rows = []
    for rank, stmt in enumerate(advice.statements, 1):
        where = ", ".join(stmt.indexes) or _STATUS.get(stmt.status, MISSING)
        rows.append([str(rank), short_query(stmt.stats.query, stmt.stats.queryid),
                     str(stmt.stats.calls),
                     fmt_ms(stmt.stats.total_ms), _costs(stmt.before, stmt.after, False),
                     _costs(stmt.before, stmt.after, True), _cut(stmt), where])
    return Table.of("statements, costliest first: plan cost before → after", STATEMENT_COLUMNS,
                    rows)


CHOICE_COLUMNS = (text("candidate"), text("kept"), number("saved ms"), text("why"))


def choice_table(advice: Advice) -> Table:
    """Every candidate the statements gave, kept or dropped, and why (--explain-choice)."""
    rows = [[str(c.candidate), "yes" if c.kept else "no",
             MISSING if c.saved_ms is None else fmt_ms(c.saved_ms), c.reason]
            for c in sorted(advice.choices, key=lambda c: (not c.kept, -(c.saved_ms or 0.0)))]
    return Table.of("the choice: every candidate, kept or dropped", CHOICE_COLUMNS, rows)


def _index_lines(index: IndexAdvice) -> list[str]:
    lines = [index.create_sql + ";"]
    if index.makes_redundant:
        lines.append(f"  makes {', '.join(index.makes_redundant)} redundant: drop it once "
                     "this one is built and verified")
    return lines


def _statement_notes(advice: Advice) -> list[str]:
    notes = []
    for rank, stmt in enumerate(advice.statements, 1):
        if stmt.reason:
            notes.append(f"#{rank}: {stmt.reason}")
    return notes


def advice_document(advice: Advice) -> Document:
    doc = Document()
    if advice.indexes:
        doc.table(index_table(advice))
    else:
        doc.lines("nothing to propose: no candidate index cuts a statement's plan cost by "
                  f"{advice.min_cut:.0%} or more over the existing indexes and saves "
                  f"{advice.min_saved_share:.2%} of the source's database time")
    if advice.statements:
        doc.table(statement_table(advice))
    else:
        doc.lines("no statement reads table rows in this source")
    doc.lines(*[line for index in advice.indexes for line in _index_lines(index)])
    doc.lines(*_statement_notes(advice), *advice.notes, bullets=True)
    return doc
