"""`perfkit lint` on a real PostgreSQL with HypoPG and pg_stat_statements: a schema with one
of each fault gives exactly those findings, each with the database's evidence; the fixes
written by --out go through apply-indexes and the index findings are gone (constraint
indexes never dropped); the demo after the runbook's indexes gives none; bad input is one
line and its exit code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest

from tests.db import lint_support as faults
from tests.db.support import SEED_DIR, Server, run_sql
from tests.support import CliResult

pytestmark = pytest.mark.integration
Cli = Callable[..., CliResult]
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "lint.schema.json"


def schema_problems(record: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(record)]


@pytest.fixture
def faulty(advice_server: Server) -> Iterator[str]:
    """A database holding one of each fault (tests/db/lint_support.py)."""
    dsn = advice_server.create()
    try:
        faults.build_faults(dsn)
        yield dsn
    finally:
        advice_server.drop(dsn)


@pytest.fixture
def empty_db(advice_server: Server) -> Iterator[str]:
    """A database with nothing in it (bad input needs no faults)."""
    dsn = advice_server.create()
    try:
        yield dsn
    finally:
        advice_server.drop(dsn)


def lint_json(cli: Cli, *args: str, code: int = 1) -> dict[str, Any]:
    result = cli("lint", *args, "--format", "json")
    assert result.exit_code == code, result.output
    record: dict[str, Any] = json.loads(result.stdout)
    assert record["schema"] == "perfkit.lint/1"
    return record


def found(record: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["rule"], f["object"]) for f in record["findings"]}


def by_rule(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["rule"]: f for f in record["findings"]}


def test_one_of_each_fault_is_reported_with_its_evidence_and_nothing_else(
        faulty: str, cli: Cli) -> None:
    record = lint_json(cli, "--dsn", faulty, "--min-age", "0s")
    assert found(record) == faults.EXPECTED
    assert record["hypopg"] is True
    assert schema_problems(record) == []
    assert len(schema_problems({**record, "findings": [{**record["findings"][0],
                                                          "rule": "no_such_rule"}]})) == 1
    rules = by_rule(record)

    key = rules["unindexed_foreign_key"]["evidence"]
    assert key["rows"] == pytest.approx(100_000, rel=0.05)
    assert key["lookup"]["proven"] and key["lookup"]["cut"] > 0.5, key["lookup"]
    assert key["statements"]["calls"] >= faults.FK_LOOKUPS, key["statements"]
    assert rules["unindexed_foreign_key"]["fix_sql"] == (
        "CREATE INDEX CONCURRENTLY idx_orders_customer_id ON public.orders (customer_id);")

    twin = rules["duplicate_index"]
    assert twin["evidence"]["kept"]["name"] == "public.customers_email_key"
    assert twin["fix_sql"] == "DROP INDEX CONCURRENTLY public.idx_customers_email;"
    assert rules["redundant_index"]["evidence"]["kept"]["name"] == "public.idx_orders_created_id"
    assert rules["invalid_index"]["fix_sql"].splitlines() == [
        "DROP INDEX CONCURRENTLY public.idx_tags_label;",
        "CREATE UNIQUE INDEX CONCURRENTLY idx_tags_label ON public.tags (label);"]
    unused = rules["unused_index"]
    assert unused["severity"] == "info" and unused["fix_sql"].startswith("-- DROP INDEX")
    assert unused["evidence"]["index_writes"] >= 100_000

    policy = rules["rls_per_row_call"]
    plans = policy["evidence"]["plans"]
    assert plans["as_role"]["role"] == "authenticated" and plans["as_role"]["initplan"] == []
    assert "current_setting" in plans["as_role"]["filter"]  # auth.uid() inlined, per row
    assert plans["rewritten"]["initplan"] and plans["rewritten"]["filter"] == "(user_id = $0)"
    assert policy["fix_sql"] == ("ALTER POLICY own_notes ON public.notes "
                                 "USING (user_id = (SELECT auth.uid()));")
    assert rules["multiple_permissive_policies"]["evidence"]["overlaps"] == [
        {"role": "authenticated", "action": "SELECT", "policies": ["posts_own", "posts_public"]}]
    assert rules["table_without_primary_key"]["evidence"]["rows"] == pytest.approx(20_000)


def test_statistics_younger_than_min_age_give_no_verdict_and_say_so(
        faulty: str, cli: Cli) -> None:
    record = lint_json(cli, "--dsn", faulty)  # the default --min-age is 7 days
    assert found(record) == faults.EXPECTED - {("unused_index", "public.idx_orders_total")}
    assert record["statistics"]["unused_without_verdict"] == ["public.idx_orders_total"]
    assert record["statistics"]["age"]["seconds"] < 7 * 86400
    table = cli("lint", "--dsn", faulty)
    assert table.exit_code == 1
    assert ("unused_index: no verdict on 1 index(es) never scanned (public.idx_orders_total): "
            "the statistics count for at least") in table.stdout
    assert "less than --min-age 7.0 days" in table.stdout
    assert "#3 warn unindexed_foreign_key: public.orders.orders_customer_id_fkey" in (
        table.stdout)
    assert table.stderr.strip().splitlines()[-1].startswith(
        "error: lint: 7 finding(s) at warn or above: invalid_index public.idx_tags_label")


def test_the_fixes_apply_and_the_index_findings_are_gone_constraints_kept(
        faulty: str, cli: Cli, tmp_path: Path) -> None:
    fix = tmp_path / "fix.sql"
    first = cli("lint", "--dsn", faulty, "--min-age", "0s", "--out", str(fix))
    assert first.exit_code == 1, first.output
    policies = tmp_path / "fix.policies.sql"
    assert policies.exists() and "ALTER POLICY own_notes" in policies.read_text()
    assert not any(name in line for line in fix.read_text().splitlines()
                   if line.startswith("DROP") for name in faults.CONSTRAINT_INDEXES)

    applied = cli("apply-indexes", str(fix), "--dsn", faulty)
    assert applied.exit_code == 0, applied.output
    indexes = faults.index_definitions(faulty)
    assert all(indexes.get(name) for name in faults.CONSTRAINT_INDEXES), indexes
    assert indexes["idx_tags_label"] and indexes["idx_orders_customer_id"]
    assert "idx_customers_email" not in indexes and "idx_orders_created" not in indexes

    after = lint_json(cli, "--dsn", faulty, "--min-age", "0s")
    assert found(after) == {f for f in faults.EXPECTED if f[0] not in faults.INDEX_RULES}
    run_sql(faulty, policies.read_text())
    again = lint_json(cli, "--dsn", faulty, "--min-age", "0s", "--fail-on", "error", code=0)
    assert {rule for rule, _ in found(again)} == {
        "multiple_permissive_policies", "table_without_primary_key", "unused_index"}


def test_the_demo_after_the_runbooks_indexes_has_no_finding(
        advice_db: Callable[[], str], cli: Cli) -> None:
    dsn = advice_db()
    assert cli("apply-indexes", str(SEED_DIR), "--dsn", dsn).exit_code == 0
    record = lint_json(cli, "--dsn", dsn, code=0)
    assert record["findings"] == [] and record["schemas"] == ["public"]
    # with statistics called old enough, the only findings are indexes no query has used
    # yet in this fresh copy: unused, for a human to judge, never a failure
    young = lint_json(cli, "--dsn", dsn, "--min-age", "0s", code=0)
    assert {f["rule"] for f in young["findings"]} <= {"unused_index"}
    assert all(f["severity"] == "info" for f in young["findings"])


def test_suppressed_findings_keep_their_reason(faulty: str, cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "perfkit.yaml"
    config.write_text("lint:\n  pk_min_rows: 50000\n  ignore:\n"
                      "    - {rule: unused_index, index: idx_orders_total, "
                      "reason: read by the yearly report}\n"
                      "    - {rule: rls_per_row_call, table: notes, reason: tiny table}\n")
    result = cli("--config", str(config), "lint", "--dsn", faulty, "--min-age", "0s",
                 "--format", "json")
    assert result.exit_code == 1, result.output
    record = json.loads(result.stdout)
    assert found(record) == faults.EXPECTED - {
        ("unused_index", "public.idx_orders_total"), ("rls_per_row_call", "public.notes.own_notes"),
        ("table_without_primary_key", "public.events")}
    assert schema_problems(record) == []
    assert {(s["rule"], s["reason"]) for s in record["suppressed"]} == {
        ("unused_index", "read by the yearly report"), ("rls_per_row_call", "tiny table")}


def test_without_hypopg_the_foreign_key_still_reports_unproven(
        faulty: str, cli: Cli) -> None:
    run_sql(faulty, "DROP EXTENSION hypopg")
    result = cli("lint", "--dsn", faulty, "--format", "json", "--schema", "public")
    assert result.exit_code == 1
    lookup = by_rule(json.loads(result.stdout))["unindexed_foreign_key"]["evidence"]["lookup"]
    assert lookup["proven"] is False and lookup["cost_before"]["generic"] > 0
    assert lookup["why"].startswith("HypoPG is not installed: the cut cannot be proven")
    assert "warning: HypoPG is not installed" in result.stderr


@pytest.mark.parametrize(("setup", "args", "message"), [
    ("lint:\n  ignore:\n    - {rule: unused_indexes, index: x}\n", (),
     "lint.ignore[0]: unknown rule 'unused_indexes'"),
    ("lint:\n  ignore:\n    - {rule: unused_index, policy: x}\n", (),
     "lint.ignore[0]: rule unused_index names an index, not a policy"),
    ("", ("--schema", "nosuch"), "--schema nosuch: no such schema in database"),
    ("", ("--fail-on", "info"), "--fail-on 'info': not a level"),
    ("", ("--min-age", "soon"), "invalid --min-age 'soon': not a duration"),
])
def test_bad_input_is_one_line_and_exit_2(empty_db: str, cli: Cli, tmp_path: Path, setup: str,
                                          args: tuple[str, ...], message: str) -> None:
    config = tmp_path / "perfkit.yaml"
    config.write_text(setup or "{}\n")
    result = cli("--config", str(config), "lint", "--dsn", empty_db, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr


def test_an_unreachable_database_is_exit_3_without_its_password(cli: Cli) -> None:
    from perfkit.demo import procs

    dsn = f"postgresql://perfkit:perfkit-demo@127.0.0.1:{procs.free_port()}/nothing"
    result = cli("lint", "--dsn", dsn)
    assert result.exit_code == 3
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot connect" in errors[0], result.stderr
    assert "perfkit-demo" not in result.output


def test_lint_changes_nothing_in_the_database(faulty: str, cli: Cli) -> None:
    before = _catalog(faulty)
    cli("lint", "--dsn", faulty, "--min-age", "0s")
    assert _catalog(faulty) == before


def _catalog(dsn: str) -> tuple[object, ...]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return tuple(conn.execute(
            "SELECT (SELECT array_agg(relname ORDER BY relname) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace), "
            "(SELECT array_agg(polname || ':' || pg_get_expr(polqual, polrelid) "
            "ORDER BY polname) FROM pg_policy)").fetchone() or ())
