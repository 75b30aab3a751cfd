"""apply-indexes and verify-indexes results as Documents: the plan or what was done, each
expected index's state, and the plans of the declared queries before -> after."""

from __future__ import annotations

from perfkit.db.apply import Action, ApplyResult, Step
from perfkit.db.explain import PlanSummary
from perfkit.db.verify import IndexCheck, VerifyReport
from perfkit.render.model import Document, Table, name, number, text
from perfkit.units import MISSING, fmt_ms, fmt_size

VERIFY_COLUMNS = (name("index"), name("table", drop=3), name("state"),
                  number("idx_scan", drop=1), number("size", drop=2))
EXPLAIN_COLUMNS = (*VERIFY_COLUMNS, name("used by its query"), number("query ms"))
APPLY_COLUMNS = (name("statement"), name("table", drop=2), text("action"),
                 number("time", drop=3), name("source", drop=1))
_USED = {True: "yes", False: "NO", None: MISSING}
#: Actions that are complete when planned: nothing was skipped when they did not run.
_NOTHING_TO_DO = (Action.UNCHANGED, Action.ABSENT, Action.CONFLICT)


def _plan(plan: PlanSummary) -> str:
    ms = f"{fmt_ms(plan.actual_ms, unit=True)}, " if plan.actual_ms is not None else ""
    return f"{plan.describe()} ({ms}cost {plan.total_cost:.0f})"


def plan_line(check: IndexCheck) -> str | None:
    """`name: before: <plan> -> <plan>` (or just the plan when there was no build)."""
    if check.plan is None:
        return None
    line = _plan(check.plan)
    if check.plan_before is not None:
        line = f"before: {_plan(check.plan_before)} -> {line}"
    return f"  {check.name}: {line}"


def verify_table(report: VerifyReport, explain: bool) -> Table:
    rows = []
    for check in report.indexes:
        row = [check.name, check.table, check.state.value,
               MISSING if check.idx_scan is None else str(check.idx_scan),
               fmt_size(check.size_bytes)]
        if explain:
            ms = check.plan.actual_ms if check.plan else None
            row += [_USED[check.used_by_query], fmt_ms(ms)]
        rows.append(row)
    return Table.of("indexes: expected vs database", EXPLAIN_COLUMNS if explain
                    else VERIFY_COLUMNS, rows)


def verify_document(report: VerifyReport, explain: bool) -> Document:
    doc = Document()
    if not report.indexes:
        return doc.lines("no CREATE INDEX left to verify in these files")
    doc.table(verify_table(report, explain))
    plans = [line for line in map(plan_line, report.indexes) if line is not None]
    if plans:
        doc.lines("plans of the declared queries:", *plans)
    return doc


def _action(step: Step, dry_run: bool) -> str:
    if dry_run and step.action is Action.ANALYZE:
        return "analyze (if anything changes)"
    if step.done or dry_run or step.action in _NOTHING_TO_DO:
        return step.action.value
    return f"{step.action.value} (skipped)"


def apply_table(result: ApplyResult) -> Table:
    rows = [[step.name, step.table or MISSING, _action(step, result.dry_run),
             MISSING if step.duration_s is None else f"{step.duration_s:.1f} s",
             str(step.statement.source)] for step in result.steps]
    title = ("apply-indexes: plan (dry run, nothing changed)" if result.dry_run
             else "apply-indexes")
    return Table.of(title, APPLY_COLUMNS, rows)


def apply_document(result: ApplyResult, explain: bool) -> Document:
    doc = Document().table(apply_table(result))
    if result.dry_run:
        doc.lines(*[f"  {statement};" for step in result.steps for statement in step.sql])
    if result.verify is not None:
        doc.extend(verify_document(result.verify, explain))
    return doc
