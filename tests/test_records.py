"""perfkit.records: a record file is read typed, told apart by its schema; anything else is
one UsageError (exit 2) naming the file, through the API and through gate, plot and compare."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from perfkit.bench.record import Run
from perfkit.db.advisor.candidates import Candidate
from perfkit.db.advisor.hypothetical import Costs
from perfkit.db.advisor.record import (
    Advice,
    IndexAdvice,
    Source,
    SourceKind,
    StatementAdvice,
    StatementStatus,
)
from perfkit.db.vocabulary import IndexColumn, TableName
from perfkit.db.workload import StatementStats
from perfkit.errors import UsageError
from perfkit.prom.record import ReportRecord
from perfkit.records import load_record, load_report, load_run, load_run_or_report
from tests.render.html_support import before_run, report
from tests.support import CliResult

Cli = Callable[..., CliResult]


def _advice() -> Advice:
    """An advice as advise-indexes builds it: one proven index serving one of two statements."""
    served = StatementAdvice(
        StatementStats(11, "SELECT * FROM messages WHERE conversation_id = $1", 400, None,
                       800.0, 2.0, 0, 0, 0),
        StatementStatus.SERVED, "", Costs(1200.0, 1500.0), Costs(8.5, None), ["idx_a"])
    skipped = StatementAdvice(StatementStats(12, "SELECT pg_sleep($1)", 3, None, 9.0, 3.0, 0,
                                             0, 0), StatementStatus.SKIPPED, "names no table")
    index = IndexAdvice("idx_a", Candidate(TableName("app", "messages"),
                                           (IndexColumn("conversation_id"),
                                            IndexColumn("sent_at", descending=True))),
                        [served], True, size_bytes=8192, writes_per_s=1.5, saved_ms=790.0)
    return Advice(Source(SourceKind.CUMULATIVE, "pg_stat_statements",
                         datetime(2026, 12, 5, 10, tzinfo=UTC)), True, [index],
                  [served, skipped], notes=["one note"], elapsed_s=0.4)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """One file of each kind, written as the commands write them."""
    paths = {name: tmp_path / f"{name}.json" for name in ("run", "report", "advice")}
    before_run().save(paths["run"])
    paths["report"].write_text(json.dumps(report().to_json()))
    paths["advice"].write_text(json.dumps(_advice().to_json()))
    return paths


def test_each_kind_is_read_typed_by_its_schema(files: dict[str, Path]) -> None:
    run = load_record(files["run"])
    assert isinstance(run, Run) and run.to_json() == before_run().to_json()
    rep = load_record(files["report"])
    assert isinstance(rep, ReportRecord)
    assert [r.route for r in rep.routes] == ["/auth/me", "/conversations", "/webhook/whatsapp"]
    advice = load_record(files["advice"])
    assert isinstance(advice, Advice)
    assert advice.to_json() == _advice().to_json()  # everything the record holds, read back
    assert advice.indexes[0].statements[0] is advice.statements[0]  # linked by queryid
    assert load_run(files["run"]).to_json() == run.to_json()
    assert isinstance(load_report(files["report"]), ReportRecord)
    assert isinstance(load_run_or_report(files["report"]), ReportRecord)


@pytest.mark.parametrize(("content", "expected"), [
    ('{"schema": "perfkit.gate/1"}', "x.json: neither a bench run (perfkit.run/2), a report "
                                     "(perfkit.report/1) nor an index advice (perfkit.advice/1)"),
    ('{"no": "schema"}', "neither a bench run"),
    ("not json", "x.json: invalid JSON"),
    ("[1, 2]", "not a perfkit record (expected a JSON object)"),
    ('{"schema": "perfkit.advice/1", "statements": []}', "malformed advice record: no 'source'"),
])
def test_anything_else_is_one_usage_error_naming_the_file(tmp_path: Path, content: str,
                                                          expected: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=r"x\.json") as raised:
        load_record(path)
    assert expected in raised.value.message and raised.value.exit_code == 2


def test_a_missing_file_is_a_usage_error_naming_it_and_its_flag(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        load_report(tmp_path / "gone.json", label="--report")
    assert raised.value.message.startswith(f"cannot read --report {tmp_path / 'gone.json'}: ")
    assert raised.value.exit_code == 2


def test_a_record_of_another_kind_says_what_it_is(files: dict[str, Path]) -> None:
    with pytest.raises(UsageError) as raised:
        load_run(files["report"])
    assert raised.value.message == (f"{files['report']}: not a perfkit bench run (expected "
                                    "schema perfkit.run/2); it is a report (perfkit.report/1)")
    with pytest.raises(UsageError, match=r"--report .*run.json: not a perfkit report \(expected "
                                         r"schema perfkit.report/1\); it is a bench run"):
        load_report(files["run"], label="--report")
    with pytest.raises(UsageError, match=r"nor a report .*; it is an index advice"):
        load_run_or_report(files["advice"])


def test_gate_plot_compare_merge_and_report_refuse_another_kind_in_one_line(
        cli: Cli, files: dict[str, Path], tmp_path: Path) -> None:
    gated = cli("gate", str(files["advice"]))
    assert gated.exit_code == 2 and "it is an index advice (perfkit.advice/1)" in gated.stderr
    compared = cli("compare", str(files["run"]), str(files["report"]))
    assert compared.exit_code == 2 and "it is a report (perfkit.report/1)" in compared.stderr
    plotted = cli("plot", str(files["advice"]), "-o", str(tmp_path / "p.html"))
    assert plotted.exit_code == 2 and "neither a bench run" in plotted.stderr
    merged = cli("merge", str(files["run"]), str(files["advice"]), "-o", str(tmp_path / "m.json"))
    assert merged.exit_code == 2 and "it is an index advice (perfkit.advice/1)" in merged.stderr
    assert not (tmp_path / "m.json").exists()
    # read before Prometheus is asked: port 9 (discard) on loopback is never reached
    reported = cli("report", "--prometheus", "http://127.0.0.1:9", "--since", "5m",
                   "--bench", str(files["report"]))
    assert reported.exit_code == 2 and reported.stderr.startswith(
        f"error: --bench {files['report']}: not a perfkit bench run"), reported.stderr
    assert "it is a report (perfkit.report/1)" in reported.stderr
    for result in (gated, compared, plotted, merged, reported):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
