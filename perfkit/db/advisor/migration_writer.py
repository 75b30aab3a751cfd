"""Advice as an index migration: what `perfkit apply-indexes` builds and `verify-indexes
--explain` proves.

Each index comes with the statement it serves as `-- perfkit:query` and the heaviest values
it was proven with as `-- perfkit:params`, so the proof can be rerun on the real index.
Values of secret-looking columns are never written, and statements that write rows are
not declared (EXPLAIN ANALYZE would run them).
"""

from __future__ import annotations

from perfkit.db.advisor.candidates import one_line
from perfkit.db.advisor.record import Advice, IndexAdvice, StatementAdvice
from perfkit.db.vocabulary import quote_ident
from perfkit.units import fmt_cost

#: `-- perfkit:query` lines are wrapped at about this width.
LINE_WIDTH = 96
_QUERY = "-- perfkit:query "


def _wrap(words: list[str], prefix: str) -> list[str]:
    """Words on lines of about LINE_WIDTH, each starting with `prefix` (joined back with
    single spaces, they are the same statement)."""
    lines: list[str] = []
    current: list[str] = []
    for word in words:
        if current and len(prefix) + len(" ".join([*current, word])) > LINE_WIDTH:
            lines.append(prefix + " ".join(current))
            current = []
        current.append(word)
    if current:
        lines.append(prefix + " ".join(current))
    return lines


def _served_line(stmt: StatementAdvice) -> str:
    text = " ".join(one_line(stmt.stats.query))
    short = text if len(text) <= 60 else text[:57] + "..."
    before, after = stmt.before, stmt.after
    costs = ""
    if before is not None and after is not None:
        costs = f": cost {fmt_cost(before.generic)} -> {fmt_cost(after.generic)}"
        if before.heaviest is not None and after.heaviest is not None:
            costs += (f" (heaviest value {fmt_cost(before.heaviest)} -> "
                      f"{fmt_cost(after.heaviest)})")
    return f"--   {short} ({stmt.stats.calls} calls){costs}"


def _declared(index: IndexAdvice) -> list[str]:
    """The -- perfkit:query/params lines for the costliest SELECT the index serves."""
    selects = [s for s in index.statements if s.is_select]
    usable = [s for s in selects if s.params is not None and not s.secret_params]
    if not usable:
        why = ("its statements only write rows (EXPLAIN ANALYZE would run them)" if not selects
               else "their parameters are values of a secret-looking column" if any(
                   s.secret_params for s in selects)
               else "no statistics gave values to prove it with")
        return [f"-- (no perfkit:query: {why})"]
    stmt = usable[0]
    lines = _wrap(one_line(stmt.stats.query), _QUERY)
    if stmt.params:  # one line: perfkit:params lines are joined with commas
        lines.append("-- perfkit:params " + ", ".join(stmt.params))
    return lines


def _index_block(number: int, index: IndexAdvice) -> list[str]:
    lines = [f"-- {number}. {index.candidate}: serves {len(index.statements)} statement(s)"]
    lines += [_served_line(s) for s in index.statements]
    if index.makes_redundant:
        lines.append(f"--   makes {', '.join(index.makes_redundant)} redundant (drop it once "
                     "this one is built and verified)")
    lines += _declared(index)
    lines.append(index.candidate.definition(index.name, concurrently=True,
                                            if_not_exists=True) + ";")
    return lines


def migration_text(advice: Advice, *, written_at: str) -> str | None:
    """The proven indexes as SQL, or None when there is none to build."""
    indexes = [i for i in advice.indexes if i.proven]
    if not indexes:
        return None
    lines = [
        f"-- Indexes advised by `perfkit advise-indexes` on {written_at},",
        f"-- from {advice.source.describe()}.",
        f"-- Each cut the plan cost of the statements listed above it by "
        f"{advice.min_cut:.0%} or more",
        "-- (HypoPG: generic plan or heaviest value). `perfkit apply-indexes FILE` builds them",
        "-- CONCURRENTLY (no write blocked) and ANALYZEs; `perfkit verify-indexes FILE "
        "--explain`",
        "-- proves each plan uses its index.",
    ]
    for number, index in enumerate(indexes, 1):
        lines += ["", *_index_block(number, index)]
    tables = sorted({i.candidate.table for i in indexes})
    lines += ["", "-- Fresh statistics so the planner sees the new indexes"]
    lines += [f"ANALYZE {quote_ident(t.schema)}.{quote_ident(t.name)};" for t in tables]
    return "\n".join(lines) + "\n"
