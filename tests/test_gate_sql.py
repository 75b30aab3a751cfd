"""The gate on a route's SQL per request (runs with --dsn): `db.calls`, `db.ms`, `db.share`
thresholds and the N+1 check against a baseline: exact counts, no statistics."""

from __future__ import annotations

import pytest

from perfkit.bench.record import Run
from perfkit.bench.routesql import Attribution, RouteSql, RoutesSql, StatementCalls
from perfkit.db.workload import DbStats
from perfkit.errors import UsageError
from perfkit.gate import Status, calls_checks, run_gate
from perfkit.thresholds import load_thresholds
from tests.support import make_run

LIST = "GET /conversations"
LIST_SQL = "SELECT id FROM conversations WHERE account_id = $1 LIMIT $2"
PER_ROW = "SELECT id, name FROM accounts WHERE id = $1"


def with_sql(calls: dict[str, float], ms: float = 1.0, share: float | None = 0.5) -> Run:
    """A run of LIST whose one request ran `calls` (statement -> calls per request)."""
    run = make_run({(LIST, "all"): [5.0] * 40})
    run.db = DbStats(())
    statements = tuple(StatementCalls(i, q, n) for i, (q, n) in enumerate(calls.items()))
    run.route_sql = RoutesSql((RouteSql(LIST, 40, sum(calls.values()), ms, share,
                                        statements),), Attribution.ONE_ROUTE, "one route")
    return run


def rules(spec: dict[str, str]) -> list:  # type: ignore[type-arg]
    return load_thresholds({"thresholds": {LIST: spec}}, "perfkit.yaml")


def test_db_thresholds_pass_and_fail_and_name_the_statement_that_runs_most() -> None:
    n_plus_one = with_sql({LIST_SQL: 1, PER_ROW: 50}, ms=4.0, share=0.8)
    result = run_gate(n_plus_one, thresholds=rules(
        {"db.calls": "<= 3", "db.ms": "< 10ms", "db.share": "< 50%"}))
    by = {c.check: c for c in result.checks}
    assert by["db.calls <= 3"].status is Status.FAIL and by["db.calls <= 3"].value == 51
    assert "51 breaks <= 3 per request; most: 50 x " + PER_ROW in by["db.calls <= 3"].detail
    assert by["db.ms < 10ms"].status is Status.PASS
    assert by["db.share < 50%"].status is Status.FAIL
    assert run_gate(with_sql({LIST_SQL: 1}), thresholds=rules({"db.calls": "<= 3"})).passed


def test_db_thresholds_without_sql_figures_are_errors_never_passes() -> None:
    no_dsn = make_run({(LIST, "all"): [5.0] * 40})
    (check,) = run_gate(no_dsn, thresholds=rules({"db.calls": "<= 3"})).checks
    assert check.status is Status.ERROR and "bench with --dsn" in check.detail
    together = with_sql({LIST_SQL: 1})
    together.route_sql = RoutesSql((), Attribution.NONE, "not per route: 2 routes")
    (check,) = run_gate(together, thresholds=rules({"db.calls": "<= 3"})).checks
    assert check.status is Status.ERROR and "not per route: 2 routes" in check.detail


def test_db_conditions_take_their_units_and_refuse_others() -> None:
    (ms,) = rules({"db.ms": "< 1s"})
    (share,) = rules({"db.share": "< 40%"})
    assert (ms.condition.limit, share.condition.limit) == (1000.0, 0.4)
    with pytest.raises(UsageError, match=r"db\.calls is a plain number"):
        rules({"db.calls": "< 3ms"})
    with pytest.raises(UsageError, match=r"unknown check .warm\.db\.calls."):
        rules({"warm.db.calls": "< 3"})


def test_an_n_plus_one_against_the_baseline_fails_naming_the_added_statement() -> None:
    (check,) = calls_checks(with_sql({LIST_SQL: 1, PER_ROW: 50}), with_sql({LIST_SQL: 1}))
    assert check.status is Status.FAIL and check.route == LIST
    assert check.detail.startswith("statements per request 1 -> 51 (+50)")
    assert f"most added: {PER_ROW} 0 -> 50 per request" in check.detail


def test_the_same_calls_or_a_cache_moving_them_by_fractions_pass() -> None:
    base = with_sql({LIST_SQL: 1, PER_ROW: 0.25})
    assert [c.status for c in calls_checks(with_sql({LIST_SQL: 1, PER_ROW: 0.25}), base)] == [
        Status.PASS]
    assert [c.status for c in calls_checks(with_sql({LIST_SQL: 1, PER_ROW: 0.7}), base)] == [
        Status.PASS]
    one_more = calls_checks(with_sql({LIST_SQL: 2, PER_ROW: 0.25}), base)
    assert [c.status for c in one_more] == [Status.FAIL]  # one more query a request
    assert [c.status for c in calls_checks(with_sql({LIST_SQL: 2, PER_ROW: 0.25}), base,
                                           max_rise=1.5)] == [Status.PASS]


def test_a_run_without_sql_figures_is_inconclusive_against_a_baseline_with_them() -> None:
    no_dsn = make_run({(LIST, "all"): [5.0] * 40})
    (check,) = calls_checks(no_dsn, with_sql({LIST_SQL: 1}))
    assert check.status is Status.INCONCLUSIVE and "bench with --dsn" in check.detail


def test_the_gate_with_a_baseline_runs_the_calls_check() -> None:
    result = run_gate(with_sql({LIST_SQL: 1, PER_ROW: 50}), thresholds=[],
                      baseline=with_sql({LIST_SQL: 1}))
    assert [c.check for c in result.failed] == ["db.calls vs baseline"]
