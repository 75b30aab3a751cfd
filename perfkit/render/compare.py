"""A Comparison as a Document: a route's cold, warm and all rows side by side."""

from __future__ import annotations

from perfkit.bench.compare import MIN_RUNS, Basis, ComparedRow, Comparison, SqlRow
from perfkit.render.model import Document, Table, name, number, text
from perfkit.units import arrow, fmt_interval_pct, fmt_ms, fmt_p, fmt_pct

COMPARE_COLUMNS = (name("route"), name("phase"), number("n before/after", drop=3),
                   number("mean ms"), number("p50 ms", drop=1), number("p99 ms", drop=2),
                   number("change"), number("95% CI"), number("p (Holm)", drop=4),
                   text("verdict"))


def verdict_cell(row: ComparedRow) -> str:
    if row.mixed_phases:
        return "not judged (mixed)"
    if row.inconclusive:
        return "not judged (too few samples)"
    return row.verdict.value


def _cells(row: ComparedRow) -> list[str]:
    b, a = row.before.latency_ms, row.after.latency_ms
    return [row.route, row.phase.value, f"{row.before.count}/{row.after.count}",
            arrow(fmt_ms(b["mean"]), fmt_ms(a["mean"])),
            arrow(fmt_ms(b["p50"]), fmt_ms(a["p50"])),
            arrow(fmt_ms(b["p99"]), fmt_ms(a["p99"])),
            fmt_pct(row.change_pct["mean"]), fmt_interval_pct(row.ci_pct), fmt_p(row.p_value),
            verdict_cell(row)]


def compare_table(result: Comparison) -> Table:
    ordered = sorted(result.rows, key=lambda r: (r.route, r.phase.order))
    return Table.of("perfkit compare", COMPARE_COLUMNS, [_cells(r) for r in ordered])


SQL_COLUMNS = (name("route"), number("statements/request"), number("db ms/request"))


def _sql_cells(row: SqlRow) -> list[str]:
    b, a = row.before, row.after
    return [row.route, arrow(f"{b.calls_per_request:g}", f"{a.calls_per_request:g}"),
            arrow(fmt_ms(b.ms_per_request), fmt_ms(a.ms_per_request))]


def sql_table(result: Comparison) -> Table:
    """Statements and database time per request, before -> after (exact counts)."""
    return Table.of("SQL per request", SQL_COLUMNS,
                    [_sql_cells(r) for r in sorted(result.sql, key=lambda r: r.route)])


def compare_notes(result: Comparison) -> list[str]:
    family = sum(1 for r in result.rows if r.judged)
    m = result.method
    runs = result.basis is Basis.RUNS
    samples, least = ("runs", MIN_RUNS) if runs else ("samples", m.min_samples)
    test = (f"Mann-Whitney U, Holm-corrected over {family} comparisons, alpha {m.alpha:g}"
            if family > 1 else f"Mann-Whitney U over 1 comparison, alpha {m.alpha:g}"
            if family == 1 else "no row had enough samples for a test")
    capacity = ([f"{result.capacity[1]}: {result.capacity[0]}; the rows are steps at "
                 "different rates"] if result.capacity else [])
    notes = [*capacity, f"{test}; CI of the mean's change at {m.confidence:.0%}; faster/slower "
             "only when the whole "
             f"interval is beyond ±{m.min_change_pct:g}% (--min-change); fewer than "
             f"{least} {samples} a side: not judged",
             *result.notes]
    if any(r.mixed_phases for r in result.rows):
        notes.append("rows marked 'mixed' pool cache misses and hits (cold+warm): their mean "
                     "moves with the share of misses, not with the code, so they are shown but "
                     "not judged (outside Holm's family); read their cold and warm "
                     "rows")
    notes += [f"only in {u.only_in}: {u.route} ({u.phase.value})" for u in result.unmatched]
    return notes


def compare_document(result: Comparison) -> Document:
    doc = Document().table(compare_table(result))
    if result.sql:
        doc.table(sql_table(result))
    return doc.lines(*compare_notes(result), bullets=True)
