"""The gate's decisions on hand-built runs: thresholds, baseline statistics, no silent pass."""

from __future__ import annotations

import pytest

from perfkit.bench.record import Phase, Run
from perfkit.errors import UsageError
from perfkit.gate import Status, check_thresholds_on_report, compare_with_baseline, run_gate
from perfkit.prom.record import ReportRecord
from perfkit.thresholds import load_thresholds
from tests.support import lognormal_ms, make_run


def thresholds(spec: dict[str, dict[str, str]]) -> list:  # type: ignore[type-arg]
    return load_thresholds({"thresholds": spec}, "perfkit.yaml")


def test_thresholds_pass_and_fail_per_route_and_phase() -> None:
    run = make_run({("GET /auth/me", "cold"): [150.0] * 30,
                    ("GET /auth/me", "warm"): [1.0] * 90})
    result = run_gate(run, thresholds=thresholds({
        "GET /auth/me": {"warm.p99": "< 200ms", "cold.mean": "< 100ms"},
        "/auth/me": {"error_ratio": "< 1%"}}))
    by_check = {c.check: c for c in result.checks}
    assert by_check["warm.p99 < 200ms"].status == "pass"
    assert by_check["cold.mean < 100ms"].status == "fail"
    assert by_check["cold.mean < 100ms"].value == pytest.approx(150, rel=0.01)
    assert by_check["all.error_ratio < 1%"].status == "pass"  # "/auth/me" matches any method
    assert not result.passed


def test_nothing_passes_silently() -> None:
    run = make_run({("GET /auth/me", "all"): [1.0] * 10})
    empty = Run(base_url="x")
    empty.record("GET /accounts", Phase.ALL)
    result = run_gate(run.merge(empty), thresholds=thresholds({
        "GET /nope": {"p99": "< 1s"}, "GET /accounts": {"p99": "< 1s"},
        "GET /auth/me": {"warm.p99": "< 1s"}}))
    assert [c.status for c in result.checks] == ["error", "error", "error"]
    assert "not in the run" in result.checks[0].detail
    assert "no successful samples" in result.checks[1].detail
    assert "no warm phase" in result.checks[2].detail
    assert not result.passed
    with pytest.raises(UsageError, match="nothing to check"):
        run_gate(run, thresholds=[])


def test_a_a_passes_and_a_15pct_regression_fails() -> None:
    routes = ["GET /auth/me", "GET /accounts", "GET /conversations"]
    base = make_run({(r, "all"): lognormal_ms(20, 400, seed=i) for i, r in enumerate(routes)})
    same = make_run({(r, "all"): lognormal_ms(20, 400, seed=i + 10) for i, r in
                     enumerate(routes)})
    slower = make_run({(r, "all"): lognormal_ms(20 * (1.15 if r == "GET /accounts" else 1), 400,
                                                seed=i + 20) for i, r in enumerate(routes)})
    aa = compare_with_baseline(same, base, max_regression_pct=5)
    assert all(c.status == "pass" for c in aa), [c.detail for c in aa]
    ab = {c.route: c for c in compare_with_baseline(slower, base, max_regression_pct=5)
          if c.check == "all.mean vs baseline"}
    assert ab["GET /accounts"].status == "fail"
    assert ab["GET /accounts"].ci_pct is not None and ab["GET /accounts"].ci_pct[0] > 5
    assert ab["GET /auth/me"].status == "pass"


def test_regression_within_margin_passes_and_small_samples_are_inconclusive() -> None:
    base = make_run({("GET /a", "all"): lognormal_ms(20, 2000, seed=1)})
    slower = make_run({("GET /a", "all"): lognormal_ms(21, 2000, seed=2)})  # +5%
    check = compare_with_baseline(slower, base, max_regression_pct=10)[0]
    assert check.check == "all.mean vs baseline"
    assert check.status == "pass" and "not surely beyond" in check.detail
    tiny = make_run({("GET /a", "all"): [30.0] * 5})
    unjudged = compare_with_baseline(tiny, base, max_regression_pct=10)[0]
    assert unjudged.status == "inconclusive"
    assert unjudged.detail == "not judged (too few samples: 2000 before, 5 after)"


def test_baseline_routes_that_vanish_or_only_fail_are_errors() -> None:
    base = make_run({("GET /a", "all"): lognormal_ms(20, 200, seed=1),
                     ("GET /b", "all"): lognormal_ms(20, 200, seed=2)})
    failing = make_run({("GET /a", "all"): []}, errors=50)
    checks = {(c.route, c.check): c for c in compare_with_baseline(failing, base,
                                                                   max_regression_pct=10)}
    assert checks[("GET /b", "all.mean vs baseline")].status == "error"  # vanished
    only_errors = checks[("GET /a", "all.mean vs baseline")]
    assert only_errors.status == "error" and "baseline had 200" in only_errors.detail
    assert checks[("GET /a", "all.error_ratio vs baseline")].status == "fail"


def test_error_ratio_rise_fails_only_when_significant_and_material() -> None:
    base = make_run({("GET /a", "all"): lognormal_ms(20, 500, seed=1)}, errors=5)  # 1%
    same = make_run({("GET /a", "all"): lognormal_ms(20, 500, seed=2)}, errors=6)
    worse = make_run({("GET /a", "all"): lognormal_ms(20, 500, seed=3)}, errors=40)  # 7.4%

    def ratio_check(run: Run) -> str:
        return next(c.status for c in compare_with_baseline(run, base, max_regression_pct=10)
                    if c.check == "all.error_ratio vs baseline")

    assert ratio_check(same) == "pass"
    assert ratio_check(worse) == "fail"


@pytest.mark.parametrize("margin", [float("nan"), -5.0, float("inf")])
def test_a_margin_that_cannot_fail_is_refused(margin: float) -> None:
    run = make_run({("GET /a", "all"): [20.0] * 30})
    with pytest.raises(UsageError):
        compare_with_baseline(run, run, max_regression_pct=margin)


def test_run_noise_widens_the_interval_so_a_borderline_change_passes() -> None:
    from perfkit.stats import widen_for_run_noise

    assert widen_for_run_noise((8.0, 6.0, 10.0), 0.0) == (8.0, 6.0, 10.0)
    change, low, high = widen_for_run_noise((8.0, 6.0, 10.0), 2.0)
    assert change == 8.0 and low < 6.0 and high > 10.0
    base = make_run({("GET /a", "all"): lognormal_ms(20, 3000, seed=1)})
    slower = make_run({("GET /a", "all"): lognormal_ms(20 * 1.08, 3000, seed=2)})
    strict = compare_with_baseline(slower, base, max_regression_pct=5)[0]
    noisy = compare_with_baseline(slower, base, max_regression_pct=5, run_noise_pct=2)[0]
    assert strict.status == "fail" and noisy.status == "pass"


def test_inconclusive_comparisons_do_not_dilute_holm() -> None:
    tiny = {(f"GET /tiny{i}", "all"): lognormal_ms(20, 5, seed=100 + i) for i in range(30)}
    base_a = lognormal_ms(20, 60, seed=1)
    slow_a = lognormal_ms(20 * 1.1, 60, seed=2)
    alone = compare_with_baseline(make_run({("GET /a", "all"): slow_a}),
                                  make_run({("GET /a", "all"): base_a}), max_regression_pct=5)
    crowded = compare_with_baseline(make_run({("GET /a", "all"): slow_a, **tiny}),
                                    make_run({("GET /a", "all"): base_a, **tiny}),
                                    max_regression_pct=5)
    main = next(c for c in crowded if c.route == "GET /a" and c.check == "all.mean vs baseline")
    assert main.detail == alone[0].detail  # same adjusted p: the 30 tiny ones are not tests
    assert sum(c.status == "inconclusive" for c in crowded) == 30


def test_a_latency_threshold_on_a_handful_of_samples_is_inconclusive() -> None:
    run = make_run({("GET /auth/me", "cold"): [150.0] * 3, ("GET /auth/me", "warm"): [1.0] * 60})
    result = run_gate(run, thresholds=thresholds({"GET /auth/me": {"cold.p99": "< 500ms",
                                                                   "warm.p99": "< 5ms"}}))
    status = {c.check: c.status for c in result.checks}
    assert status == {"cold.p99 < 500ms": "inconclusive", "warm.p99 < 5ms": "pass"}
    assert result.passed and result.inconclusive


def report_of(*routes: dict[str, object]) -> ReportRecord:
    """A report record with these routes (windows of one minute, split between them)."""
    span = {"start": "2026-12-05T10:00:00+00:00", "end": "2026-12-05T10:01:00+00:00"}
    return ReportRecord.from_json({
        "schema": "perfkit.report/1", "before": span, "after": span,
        "split": {"at": "2026-12-05T10:01:00+00:00", "source": "time"},
        "routes": list(routes)})


def test_one_file_holds_thresholds_for_runs_and_reports() -> None:
    rules = thresholds({"GET /auth/me": {"warm.p99": "< 200ms", "after.mean": "< 200ms",
                                         "p99": "< 1s"}})
    run = make_run({("GET /auth/me", "warm"): [1.0] * 40})
    on_run = run_gate(run, thresholds=rules)
    assert [c.check for c in on_run.checks] == ["warm.p99 < 200ms", "all.p99 < 1s"]
    assert on_run.skipped == ["GET /auth/me after.mean < 200ms: applies to reports, not to a "
                              "bench run"]
    report = report_of({"route": "GET /auth/me",
                        "after": {"mean_ms": 2.0, "p99_ms": 9.0, "count": 40}})
    on_report = check_thresholds_on_report(report, rules)
    assert [c.check for c in on_report.checks] == ["after.mean < 200ms", "after.p99 < 1s"]
    assert all(c.status is Status.PASS for c in on_report.checks)
    assert len(on_report.skipped) == 1 and "warm.p99" in on_report.skipped[0]


def test_a_bench_route_with_its_method_is_skipped_on_a_report_whose_routes_are_paths() -> None:
    rules = thresholds({"GET /auth/me": {"p99": "< 50ms", "error_ratio": "< 1%"},
                        "/auth/me": {"mean": "< 200ms"}})
    report = report_of({"route": "/auth/me",
                        "after": {"mean_ms": 2.0, "p99_ms": 9.0, "count": 40}})
    result = check_thresholds_on_report(report, rules)
    assert [(c.route, c.check, c.status) for c in result.checks] == [
        ("/auth/me", "after.mean < 200ms", Status.PASS)]
    assert result.skipped == [
        "GET /auth/me after.p99 < 50ms: a route with its method is a bench run's; a report's "
        "routes are paths (write '/auth/me')",
        "GET /auth/me after.error_ratio < 1%: a route with its method is a bench run's; a "
        "report's routes are paths (write '/auth/me')"]
    # a path that is in no report is still an error, never a pass
    missing = check_thresholds_on_report(report, thresholds({"/nowhere": {"mean": "< 1s"}}))
    assert [c.status for c in missing.checks] == [Status.ERROR]


def test_strict_headline_and_exit_code_say_inconclusive() -> None:
    run = make_run({("GET /auth/me", "cold"): [150.0] * 3})
    result = run_gate(run, thresholds=thresholds({"GET /auth/me": {"cold.p99": "< 500ms"}}))
    assert result.passed and result.exit_code() == 0 and result.headline() == "PASSED"
    assert result.exit_code(strict=True) == 4
    assert result.headline(strict=True).startswith("INCONCLUSIVE")


def test_with_repeats_the_gate_judges_runs_and_says_so() -> None:
    def repeated(median_ms: float, seed: int) -> Run:
        return Run.of_repeats([make_run({("GET /a", "all"): lognormal_ms(median_ms, 200,
                                                                          seed=seed + k)})
                               for k in range(5)])

    base, same, slow = repeated(20, 1), repeated(20, 100), repeated(20 * 1.15, 200)
    aa = run_gate(same, thresholds=[], baseline=base)
    assert aa.passed and aa.method == "runs"
    assert aa.notes and aa.notes[0].startswith("runs as samples (5 before, 5 after)")
    ab = run_gate(slow, thresholds=[], baseline=base)
    (check,) = [c for c in ab.checks if c.check == "all.mean vs baseline"]
    assert check.status is Status.FAIL and not ab.passed
    single = run_gate(make_run({("GET /a", "all"): lognormal_ms(20, 300, seed=3)}),
                      thresholds=[], baseline=make_run({("GET /a", "all"): lognormal_ms(
                          20, 300, seed=4)}))
    assert single.method == "requests" and "run-to-run noise cannot be measured" in (
        single.notes[0])
