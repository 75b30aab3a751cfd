"""The report as a Document (table and markdown), over a hand-built Report.

Regenerate the golden file after an intended change:
PERFKIT_UPDATE_GOLDEN=1 pytest tests/render/test_report.py
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from perfkit.bench.record import Phase, Run
from perfkit.prom.caveats import ReportWarning, Severity
from perfkit.prom.clientside import BenchComparison, ClientServerRow, match_run
from perfkit.prom.figures import WindowPair
from perfkit.prom.judge import Judgement, Rule, judge
from perfkit.prom.report import Report, RouteReport
from perfkit.render.markdown import document
from perfkit.render.model import Kind
from perfkit.render.report import mean_table, p99_table, report_document
from tests.prom.support import COARSE_BUCKETS_S, figures, p99_figures, plan

GOLDEN = Path(__file__).parent / "golden" / "report.md"


def _report() -> Report:
    windows = plan()
    accounts = WindowPair(figures([1120.0] * 3840, buckets_s=COARSE_BUCKETS_S, p99_ms=1000.0),
                          figures([450.0] * 3720, buckets_s=COARSE_BUCKETS_S, p99_ms=496.0))
    auth = WindowPair(figures([1010.0] * 11400, buckets_s=COARSE_BUCKETS_S, p99_ms=1000.0),
                      figures([60.0] * 11880, buckets_s=COARSE_BUCKETS_S, p99_ms=98.0))
    unmatched = WindowPair(figures([3.0] * 4), figures([3.0] * 5))
    verdicts = judge([(accounts, False), (auth, False), (unmatched, True)], Rule())
    routes = tuple(RouteReport(name, pair, j, name == "none") for name, pair, j in zip(
        ("/accounts", "/auth/me", "none"), (accounts, auth, unmatched), verdicts, strict=True))
    overall = WindowPair(p99_figures(1000.0, (1000, None), 15240),
                         p99_figures(890.0, (500, 1000), 15600))
    run = Run(base_url="http://127.0.0.1:8000",
              started_at=(windows.after.start - timedelta(seconds=0.4)).isoformat(),
              ended_at=windows.after.end.isoformat())
    row = ClientServerRow("GET /auth/me", Phase.WARM, "after", "/auth/me", 104.2, 131.0, 11000,
                          p99_figures(98.0, (0, 100)))
    bench = BenchComparison("run.json", match_run(run, windows, "run.json"), (row,))
    warnings = (ReportWarning("clamped-p99", "P99 >= 1 s in the before window, clamped at the "
                              "last bucket", Severity.DECISION, "/auth/me"),
                ReportWarning("window", "a note", Severity.NOTE))
    return Report("http://prometheus:9090", "instrumentator", "auto", 15.0, windows, (),
                  routes, overall, warnings, 10, Rule(), bench)


def test_markdown_matches_golden() -> None:
    text = document(report_document(_report(), warnings=True))
    if os.environ.get("PERFKIT_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_routes_are_names_and_optional_columns_can_go() -> None:
    report = _report()
    for table in (mean_table(report), p99_table(report)):
        assert table.columns[0].kind is Kind.NAME and table.columns[0].drop is None
        assert any(c.drop is not None for c in table.columns)
        assert table.column("route")[-1] == "all routes"
    mean = mean_table(report)
    assert mean.column("route") == ["/accounts", "/auth/me", "none (unmatched)", "all routes"]
    assert mean.column("verdict") == ["faster", "faster", "not judged", "-"]
    p99 = p99_table(report)
    assert p99.column("P99 ms")[0] == ">=1000 → 496"  # clamped: a lower bound only
    assert p99.column("P99 bucket ms")[0] == "(1000,+Inf) → (100,500]"
    assert p99.column("P99 ms")[1] == ">=1000 → <=100"  # in the first bucket: an upper bound


def test_a_p99_change_inside_one_bucket_is_not_shown_as_a_number() -> None:
    same = WindowPair(p99_figures(9.9, (5, 10)), p99_figures(8.77, (5, 10)))
    moved = WindowPair(p99_figures(22.6, (10, 25)), p99_figures(9.97, (5, 10)))
    report = replace(_report(), routes=(RouteReport("/same", same, Judgement(None)),
                                        RouteReport("/moved", moved, Judgement(None))))
    assert p99_table(report).column("Δ P99")[:2] == ["same bucket", "-55.9%"]
    clamped = WindowPair(p99_figures(1000.0, (1000, None)), p99_figures(1000.0, (1000, None)))
    report = replace(report, routes=(RouteReport("/slow", clamped, Judgement(None)),))
    assert p99_table(report).column("Δ P99")[0] == "unknown"


def test_the_notes_state_the_method_and_the_threshold() -> None:
    text = document(report_document(replace(_report(), rule=Rule(min_change_pct=10))))
    assert "beyond ±10% (--min-change)" in text and "Holm over the 2 judged route(s)" in text
    assert "midpoint" in text and "+Inf bucket at its lower bound" in text
    assert "(unmatched): requests the server matched to no route" in text


def test_without_routes_the_windows_and_the_warnings_still_show() -> None:
    empty = replace(_report(), routes=(), overall=WindowPair(None, None), bench=None,
                    warnings=(ReportWarning("no-data", "no data: …", Severity.DECISION),))
    text = document(report_document(empty, warnings=True))
    assert "before: 2026-01-31 13:40:00 UTC" in text and "- no data: …" in text
    assert "all routes" not in text and "Mean duration" not in text


def test_notes_stay_out_of_the_warnings_section() -> None:
    text = document(report_document(_report(), warnings=True))
    warnings = text[text.index("### Warnings"):]
    assert "/auth/me: P99 >= 1 s" in warnings and "a note" not in warnings


def test_a_judgement_without_a_verdict_prints_not_judged() -> None:
    assert Judgement(None, "why").label == "not judged"
