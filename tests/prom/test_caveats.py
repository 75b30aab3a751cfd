"""Warnings say the consequence, one line per route, the ones that change a decision first."""

from __future__ import annotations

from perfkit.prom.caveats import (
    GLOBAL_SCOPE,
    ReportWarning,
    Severity,
    grouped,
    load_warnings,
    one_bucket,
    p99_warnings,
    sample_warnings,
)
from tests.prom.support import figures, p99_figures, pair


def _only(warnings: list[ReportWarning], kind: str) -> ReportWarning:
    found = [w for w in warnings if w.kind == kind]
    assert len(found) == 1, warnings
    return found[0]


def test_a_p99_improvement_within_coarse_buckets_is_certain_not_its_size() -> None:
    # the case: -137 ms read from (100,250] -> (5,10]: between -245 and -90 ms
    found = p99_warnings("/accounts", pair(p99_figures(145.0, (100, 250)),
                                           p99_figures(7.8, (5, 10))))
    w = _only(found, "coarse-buckets")
    assert w.severity is Severity.CAVEAT
    assert w.text.startswith("P99 improvement certain, size uncertain")
    assert "between -245 ms and -90 ms" in w.text and w.route == "/accounts"


def test_a_p99_regression_within_coarse_buckets_is_certain_not_its_size() -> None:
    found = p99_warnings("/a", pair(p99_figures(7.8, (5, 10)), p99_figures(145.0, (100, 250))))
    w = _only(found, "coarse-buckets")
    assert w.text.startswith("P99 regression certain") and w.severity is Severity.CAVEAT


def test_adjacent_buckets_give_a_sure_sign() -> None:
    # (10,25] -> (5,10]: after <= 10 < before, so the P99 surely fell, by 0 to 20 ms
    found = p99_warnings("/w", pair(p99_figures(22.6, (10, 25)), p99_figures(9.97, (5, 10))))
    w = _only(found, "coarse-buckets")
    assert w.text.startswith("P99 improvement certain") and "between -20 ms and 0 ms" in w.text


def test_a_p99_change_inside_one_bucket_is_a_note_the_table_shows() -> None:
    found = p99_warnings("/a", pair(p99_figures(150.0, (100, 250)),
                                    p99_figures(200.0, (100, 250))))
    w = _only(found, "coarse-buckets")
    assert w.severity is Severity.NOTE and "same bucket in both windows" in w.text
    assert "between -150 ms and +150 ms" in w.text


def test_overlapping_buckets_of_two_layouts_are_not_measurable_and_come_first() -> None:
    # a redeploy changed the buckets: (100,250] before, (0,500] after
    found = p99_warnings("/a", pair(p99_figures(150.0, (100, 250)),
                                    p99_figures(200.0, (0, 500))))
    w = _only(found, "coarse-buckets")
    assert w.severity is Severity.DECISION and "not measurable" in w.text


def test_a_change_bigger_than_its_buckets_needs_no_warning() -> None:
    found = p99_warnings("/a", pair(p99_figures(240.0, (100, 250)), p99_figures(4.0, (0, 5))))
    assert [w.kind for w in found] == ["first-bucket"]
    assert found[0].severity is Severity.NOTE and "read it as <= 5 ms" in found[0].text


def test_a_p99_clamped_in_both_windows_is_one_warning() -> None:
    found = p99_warnings("/auth/me", pair(p99_figures(1000.0, (1000, None)),
                                          p99_figures(1000.0, (1000, None))))
    w = _only(found, "clamped-p99")
    assert "P99 >= 1 s in both windows" in w.text and "change is unknown" in w.text
    assert w.severity is Severity.DECISION


def test_a_p99_clamped_in_one_window_still_has_a_sign() -> None:
    found = p99_warnings("/a", pair(p99_figures(1000.0, (1000, None)),
                                    p99_figures(496.0, (100, 500))))
    w = _only(found, "clamped-p99")
    assert w.severity is Severity.CAVEAT
    assert "in the before window" in w.text and "the P99 fell" in w.text


def test_few_requests_say_the_counts_and_the_consequence() -> None:
    (w,) = sample_warnings("/a", pair(figures([5.0] * 7), figures([5.0] * 12)), 20,
                           judged_route=True)
    assert w.kind == "low-samples"
    assert w.text == ("only 7 requests before and 12 after (fewer than 20): not judged, and "
                      "its mean and P99 are rough")
    (one,) = sample_warnings("/b", pair(None, figures([5.0] * 3)), 20, judged_route=True)
    assert one.kind == "one-window" and "only in the after window (3 requests" in one.text
    assert sample_warnings(GLOBAL_SCOPE, pair(None, figures([5.0] * 30)), 20,
                           judged_route=False) == []


def test_warnings_are_grouped_per_route_decisions_first() -> None:
    warnings = [
        ReportWarning("window", "the after window is shortened", Severity.NOTE),
        ReportWarning("low-samples", "only 7 requests", Severity.CAVEAT, "/a"),
        ReportWarning("first-bucket", "P99 in the first bucket", Severity.NOTE, "/a"),
        ReportWarning("coarse-buckets", "P99 change not measurable", Severity.DECISION, "/b"),
        ReportWarning("one-window", "only in the after window", Severity.CAVEAT, "/a"),
        ReportWarning("prometheus", "Prometheus: partial response", Severity.DECISION),
    ]
    lines = [g.line for g in grouped(warnings)]
    assert lines == ["Prometheus: partial response", "/b: P99 change not measurable",
                     "/a: only 7 requests; only in the after window; P99 in the first bucket",
                     "the after window is shortened"]
    quiet = [g.line for g in grouped(warnings, notes=False)]
    assert quiet == [*lines[:2], "/a: only 7 requests; only in the after window"]
    assert warnings[1].to_json() == {"kind": "low-samples", "route": "/a", "severity": "caveat",
                                     "message": "/a: only 7 requests"}
    assert ReportWarning("x", "y", scope=GLOBAL_SCOPE).to_json()["route"] is None


def test_every_request_in_the_first_bucket_says_what_the_means_moved_and_what_to_do() -> None:
    # the demo's routes of a millisecond or so, all under the default 5 ms first bucket
    both = pair(figures([1.6] * 90, window_s=10.0), figures([0.6] * 1500, window_s=10.0))
    w = one_bucket("/accounts", both, (-69.7, -52.6))
    assert w is not None and w.severity is Severity.DECISION and w.route == "/accounts"
    assert w.text == ("every request in (0, 5 ms] in both windows: not judged (the buckets "
                      "cannot rank them); the means moved -62.5% [-69.7%, -52.6%]: buckets "
                      "finer than that would give a verdict")
    spread = pair(figures([1.6] * 90, window_s=10.0), figures([7.0] * 90, window_s=10.0))
    assert one_bucket("/accounts", spread, None) is None


def test_windows_at_other_request_rates_are_said_to_differ_in_load() -> None:
    quiet, busy = figures([2.0] * 89, window_s=10.0), figures([1.0] * 7710, window_s=10.0)
    (w,) = load_warnings(pair(quiet, busy))
    assert w.scope == GLOBAL_SCOPE and w.text.startswith(
        "the windows' request rates differ (8.9 → 771 req/s): every route was measured under "
        "another load")
    assert load_warnings(pair(quiet, figures([1.0] * 120, window_s=10.0))) == []
