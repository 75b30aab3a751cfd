"""The lint record as a Document: one row per finding, then a table per finding with what
the database showed and the fix, then what was suppressed and what got no verdict."""

from __future__ import annotations

from typing import Any

from perfkit.db.lint.model import Finding, LintReport
from perfkit.render.model import Document, Table, name, number, text
from perfkit.units import MISSING, arrow, fmt_age, fmt_cost, fmt_pct, fmt_size

SUMMARY_COLUMNS = (number("#"), name("severity"), name("rule"), name("object"),
                   text("evidence", drop=1))
DETAIL_COLUMNS = (name("what"), text("the database shows"))
#: Statements quoted in a detail table are cut at this length (the JSON has them whole).
QUERY_CHARS = 90


def _rows(value: float | int | None) -> str:
    return MISSING if value is None else f"{value:,.0f}"


def _index_facts(facts: dict[str, Any]) -> str:
    return f"{fmt_size(facts.get('size_bytes'))}, {facts.get('idx_scan', 0)} scan(s)"


def _age(age: dict[str, Any]) -> str:
    return ("at least " if age.get("at_least") else "") + fmt_age(float(age["seconds"]))


def _cost_cut(lookup: dict[str, Any]) -> str:
    before = lookup.get("cost_before") or {}
    if not lookup.get("proven"):
        shown = f"cost {fmt_cost(before.get('generic'))} now; " if before else ""
        return f"{shown}not proven: {lookup.get('why', 'unknown')}"
    after = lookup.get("cost_after") or {}
    line = (f"cost {arrow(fmt_cost(before.get('generic')), fmt_cost(after.get('generic')))}"
            f" with the index ({fmt_pct(-100 * float(lookup.get('cut', 0.0)))})")
    if before.get("heaviest") is not None and after.get("heaviest") is not None:
        heaviest = arrow(fmt_cost(before["heaviest"]), fmt_cost(after["heaviest"]))
        line += f", heaviest value {heaviest}"
    return line


def _statements(found: dict[str, Any]) -> str:
    if not found.get("available"):
        return f"pg_stat_statements unavailable: {found.get('why', '')}"
    if not found.get("count"):
        return "no statement of pg_stat_statements filters or joins on it"
    return f"{found['count']} statement(s), {found['calls']:,} call(s) filter or join on it"


def _plan(plan: dict[str, Any] | None) -> str:
    if not plan:
        return MISSING
    if plan.get("error"):
        return f"not shown: {plan['error']}"
    initplans = ", ".join(plan.get("initplan") or [])
    how = f"{initplans}, then " if initplans else "no InitPlan: "
    return f"{how}filter {plan.get('filter') or '(none)'}, cost {fmt_cost(plan['total_cost'])}"


def _short(query: str) -> str:
    line = " ".join(query.split())
    return line if len(line) <= QUERY_CHARS else line[:QUERY_CHARS - 1] + "…"


def evidence_rows(finding: Finding) -> list[tuple[str, str]]:
    """What the database showed, one (label, sentence) per fact."""
    e = finding.evidence
    rule = finding.rule
    if rule in ("invalid_index", "duplicate_index", "redundant_index", "unused_index"):
        rows = [("index", f"{e['definition']} ({_index_facts(e)})"), ("why", str(e["why"]))]
        if "kept" in e:
            rows.append(("kept", f"{e['kept']['definition']} ({_index_facts(e['kept'])})"))
        if rule == "unused_index":
            rows.append(("statistics", f"counting for {_age(e['stats_age'])}; "
                                       f"{_rows(e.get('index_writes'))} row(s) written "
                                       "into the index meanwhile"))
        return rows
    if rule == "unindexed_foreign_key":
        lookup = e["lookup"]
        rows = [("key", f"({', '.join(e['columns'])}) -> {e['references']} "
                        f"({', '.join(e['referenced_columns'])})"),
                ("rows", f"{_rows(e['rows'])} in the table, {_rows(e['parent_rows'])} in "
                         f"{e['references']}"),
                ("per parent row deleted", _short(lookup["query"])),
                ("plan", _cost_cut(lookup)), ("statements", _statements(e["statements"]))]
        rows += [("", f"{s['calls']:,} call(s): {_short(s['query'])}")
                 for s in e["statements"].get("top", [])]
        return rows
    if rule == "rls_per_row_call":
        rows = [("per-row call", ", ".join(e["calls"])), ("using", str(e["using"]))]
        if e.get("with_check"):
            rows.append(("with check", str(e["with_check"])))
        plans = e.get("plans")
        if plans is None:
            return [*rows, ("plan", str(e.get("why", MISSING)))]
        role = plans["as_role"].get("role")
        return [*rows, (f"as {role}" if role else "as the policy's role", _plan(
            plans["as_role"])), ("as written", _plan(plans["as_written"])),
            ("rewritten", _plan(plans["rewritten"]))]
    if rule == "multiple_permissive_policies":
        return [(f"{o['role']} {o['action']}", ", ".join(o["policies"]) + " all run, ORed")
                for o in e["overlaps"]]
    return [("rows", f"{_rows(e['rows'])} ({e['rows_source']}), more than "
                     f"{_rows(e['min_rows'])}"), ("size", fmt_size(e["size_bytes"]))]


def summary(finding: Finding) -> str:
    """The finding's evidence in one line, for the overview table."""
    rows = evidence_rows(finding)
    wanted = {"unindexed_foreign_key": ("rows", "plan"), "unused_index": ("statistics",),
              "rls_per_row_call": ("per-row call",)}.get(finding.rule)
    chosen = [v for k, v in rows if k in wanted] if wanted else [rows[0][1]]
    if finding.rule in ("duplicate_index", "redundant_index", "invalid_index"):
        chosen = [next(v for k, v in rows if k == "why")]
    return "; ".join(chosen)


def _detail(number_: int, finding: Finding) -> Table:
    rows = [[label, value] for label, value in evidence_rows(finding)]
    rows.append(["fix", finding.fix_sql])
    return Table.of(f"#{number_} {finding.severity.label} {finding.rule}: {finding.object}",
                    DETAIL_COLUMNS, rows)


def _notes(report: LintReport) -> list[str]:
    notes = []
    if report.unjudged_unused and report.stats_age is not None:
        notes.append(f"unused_index: no verdict on {len(report.unjudged_unused)} index(es) "
                     f"never scanned ({', '.join(report.unjudged_unused)}): the statistics "
                     f"count for {_age(report.stats_age.to_json())}, less than --min-age "
                     f"{fmt_age(report.min_age_s)}")
    for finding, reason in report.suppressed:
        notes.append(f"suppressed by perfkit.yaml: {finding.rule} {finding.object}"
                     + (f" ({reason})" if reason else ""))
    return notes + report.notes


def lint_document(report: LintReport) -> Document:
    doc = Document()
    where = ", ".join(report.schemas) or "no schema"
    if report.findings:
        rows = [[str(n), f.severity.label, f.rule, f.object, summary(f)]
                for n, f in enumerate(report.findings, 1)]
        doc.table(Table.of(f"perfkit lint: {len(report.findings)} finding(s) in {where}",
                           SUMMARY_COLUMNS, rows))
        for n, finding in enumerate(report.findings, 1):
            doc.table(_detail(n, finding))
    else:
        doc.lines(f"perfkit lint: no finding in {where}")
    return doc.lines(*_notes(report))
