"""The lint Document from hand-built records: a row per finding, a table per finding, and
the notes that say what got no verdict and what was suppressed."""

from __future__ import annotations

from perfkit.db.lint.model import Finding, LintReport, StatsAge
from perfkit.render.lint import lint_document
from perfkit.render.model import Text


def report() -> LintReport:
    unproven = Finding("unindexed_foreign_key", "public.orders.orders_customer_id_fkey",
                       "public.orders", {
                           "columns": ["customer_id"], "references": "public.customers",
                           "referenced_columns": ["id"], "rows": 100000.0,
                           "parent_rows": 1000.0,
                           "lookup": {"query": "SELECT 1 FROM ONLY public.orders WHERE "
                                               "customer_id = $1", "proven": False,
                                      "cost_before": {"generic": 1986.0, "heaviest": None},
                                      "why": "HypoPG is not installed"},
                           "statements": {"available": False, "why": "not installed"}},
                       "CREATE INDEX CONCURRENTLY idx ON public.orders (customer_id);")
    policy = Finding("rls_per_row_call", "public.notes.own", "public.notes", {
        "calls": ["auth.uid()"], "using": "(user_id = auth.uid())", "with_check": None,
        "plans": {"as_role": {"role": None, "error": "cannot assume authenticated"},
                  "as_written": {"filter": "(user_id = auth.uid())", "initplan": [],
                                 "total_cost": 58.0},
                  "rewritten": {"filter": "(user_id = $0)",
                                "initplan": ["InitPlan 1 (returns $0)"], "total_cost": 38.1}}},
        "ALTER POLICY own ON public.notes USING (user_id = (SELECT auth.uid()));", "policies")
    quiet = Finding("unused_index", "public.idx_x", "public.orders", {}, "-- DROP ...")
    found = LintReport("127.0.0.1:5432/app", ["public"], [unproven, policy],
                       [(quiet, "yearly report")], StatsAge(600.0, "2026-01-01T00:00:00", True),
                       min_age_s=7 * 86400.0, unjudged_unused=["public.idx_y"])
    return found


def test_a_row_per_finding_then_a_table_per_finding_then_the_notes() -> None:
    doc = lint_document(report())
    summary, fk, rls = doc.tables()
    assert summary.column("rule") == ["unindexed_foreign_key", "rls_per_row_call"]
    assert summary.column("evidence")[0].startswith("100,000 in the table")
    assert dict(zip(fk.column("what"), fk.column("the database shows"), strict=True))[
        "plan"] == "cost 1,986 now; not proven: HypoPG is not installed"
    shown = dict(zip(rls.column("what"), rls.column("the database shows"), strict=True))
    assert shown["as the policy's role"] == "not shown: cannot assume authenticated"
    assert shown["rewritten"] == "InitPlan 1 (returns $0), then filter (user_id = $0), cost 38.1"
    notes = [line for block in doc.blocks if isinstance(block, Text) for line in block.lines]
    assert notes == [
        "unused_index: no verdict on 1 index(es) never scanned (public.idx_y): the statistics "
        "count for at least 10 min, less than --min-age 7.0 days",
        "suppressed by perfkit.yaml: unused_index public.idx_x (yearly report)"]


def test_a_clean_report_says_so() -> None:
    doc = lint_document(LintReport("db", ["public", "shop"]))
    assert doc.tables() == []
    assert doc.blocks[0] == Text(("perfkit lint: no finding in public, shop",))

