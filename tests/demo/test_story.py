"""`perfkit demo story` end to end on a stack of its own (small scale), its three renderings,
then `perfkit doctor` on the system it leaves, and on the same system without indexes or
caches."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfkit.cli import console
from perfkit.cli.console import OutputFormat
from perfkit.cli.demo import show_story
from perfkit.db.migration_reader import SHIPPED_INDEXES, expected_indexes, load_statements
from perfkit.demo import stack
from perfkit.demo.story import StoryOptions, StoryResult, run_story
from perfkit.render.story import prometheus_table
from tests.demo.support import Cli

RUNBOOK_INDEXES = {s.index_name for s in expected_indexes(load_statements([SHIPPED_INDEXES]))
                   if s.index_name}


pytestmark = pytest.mark.integration  # starts demo stacks of its own

@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoryResult, Path]]:
    """One story run shared by the module's tests (it takes ~30 s), on its own state dir."""
    state = tmp_path_factory.mktemp("story-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PERFKIT_STATE_DIR", str(state))
        try:
            yield run_story(StoryOptions(
                scale=0.05, duration_s=5.0, capacity_slo="p90<500ms,errors<1%",
                capacity_step_s=1.0, capacity_rates=(16.0, 32.0),
                # 8 users, not the 20 of the default: in 5 s of the slow 'before' each
                # comes back 2-3 times, so /auth/me has 16-20 warm samples (20 users left
                # 4-6: fewer than the 5 a cache verdict needs, inconclusive one story in 2)
                users=8), lambda _: None), state
        finally:
            stack.down(purge=True)


def _route(data: dict[str, object], route: str) -> dict[str, object]:
    routes = data["report"]["routes"]  # type: ignore[index]
    return next(r for r in routes if r["route"] == route)


def test_story_shows_the_cache_and_index_effects(story: tuple[StoryResult, Path]) -> None:
    result, _ = story
    data = result.to_json()
    assert result.doctor.passed, data["doctor"]
    assert data["schema"] == "perfkit.story/1"
    messages = _route(data, "/messages/{conversation_id}")
    assert messages["change_pct"]["mean"] < -50  # type: ignore[index]
    auth = _route(data, "/auth/me")
    assert auth["after"]["mean_ms"] < auth["before"]["mean_ms"] / 2  # type: ignore[index]
    assert data["overall"]["change_pct"] < -50
    assert {s.name for s in result.applied.changed} == RUNBOOK_INDEXES  # exactly the change
    auth_user = result.cache.families["auth_user"]
    assert auth_user.hits > auth_user.misses
    assert result.before_run.is_file() and result.after_run.is_file()
    assert data["compare"]["schema"] == "perfkit.compare/1"


def test_with_capacity_the_mix_is_searched_before_and_after(
        story: tuple[StoryResult, Path], capsys: pytest.CaptureFixture[str]) -> None:
    result, _ = story
    assert result.capacity is not None
    for side in result.to_json()["capacity"].values():
        assert side["slo"] == "p90<500ms,errors<1%"
        assert [s["rate"] for s in side["steps"]][:1] == [16.0] and side["steps"]
    assert "capacity_before_s" in result.timings_s and "capacity_after_s" in result.timings_s
    out = _shown(result, OutputFormat.table, capsys)
    assert "(the runbook's mix, iterations/s, within p90<500ms,errors<1%)" in " ".join(
        out.split())


def test_the_advice_from_the_before_traffic_is_the_runbook_s_three_indexes(
        story: tuple[StoryResult, Path]) -> None:
    result, _ = story
    assert result.advice is not None and result.advice_match is not None, result.notes
    assert set(result.advice_match.found) == RUNBOOK_INDEXES
    assert result.advice_match.exact, result.advice_match.to_json()
    assert result.runs[0].db is not None  # the 'before' run recorded its SQL


def test_verdicts_of_the_story_are_measured_not_inferred(
        story: tuple[StoryResult, Path]) -> None:
    result, _ = story
    rows = {(r.route, r.phase.value): r for r in result.comparison.rows}
    cold = rows[("GET /auth/me", "cold")]
    assert cold.verdict.value == "no-change", cold  # the miss path did not change
    after = {sp.route: sp.cache_effect.value for sp in result.runs[1].speedups()}
    before = {sp.route: sp.cache_effect.value for sp in result.runs[0].speedups()}
    assert after["GET /auth/me"] == "detected" and before["GET /auth/me"] == "none"


def _shown(result: StoryResult, output: OutputFormat, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    console.reset()
    show_story(result, output)
    console.reset()
    return capsys.readouterr().out


def test_story_table_speaks_english_and_keeps_names_whole_at_100_columns(
        story: tuple[StoryResult, Path], capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    out = _shown(story[0], OutputFormat.table, capsys)
    assert "Requests Average Duration (Prometheus), before → after" in out
    assert re.search(r"Mean over all requests: -\d+% \([\d.]+ ms → [\d.]+ ms; the runbook "
                     r"promises -70%\)", out)
    for route in ("/messages/{conversation_id}", "/conversations", "/auth/me", "/accounts",
                  "/webhooks/whatsapp", *RUNBOOK_INDEXES):
        assert route in out, route
    for title in ("Indexes built CONCURRENTLY (the change)",
                  "Client side (perfkit bench), before → after",
                  "Cache effect per route (cold vs warm, time-matched)",
                  "Cache lookups since the restart", "perfkit doctor: all pass"):
        assert title in out
    for foreign in ("avant", "après", "gain moyen", "seed"):
        assert foreign not in out.lower()


def test_story_markdown(story: tuple[StoryResult, Path],
                        capsys: pytest.CaptureFixture[str]) -> None:
    out = _shown(story[0], OutputFormat.markdown, capsys)
    lines = out.splitlines()
    assert "**Requests Average Duration (Prometheus), before → after**" in lines
    assert "| route | before ms | before | after ms | after | change |" in lines
    assert any(re.fullmatch(r"\| `/messages/\{conversation_id\}` \| [\d.]+ \| █+ +\| [\d.]+ "
                            r"\| █+ +\| -\d+% \|", line) for line in lines)
    assert any(line.startswith("| `idx_messages_conversation_timestamp` | `messages` | "
                               "`create` |") for line in lines)
    assert "**perfkit doctor: all pass**" in lines
    assert any(line.startswith("| `[x]` | backend answers | `PASS` |") for line in lines)
    assert "avant" not in out and "Gain moyen" not in out


def test_story_json_is_the_record(story: tuple[StoryResult, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert json.loads(_shown(story[0], OutputFormat.json, capsys)) == json.loads(
        json.dumps(story[0].to_json(), default=str))


def test_prometheus_table_lists_the_slowest_route_first(story: tuple[StoryResult, Path]) -> None:
    report = story[0].to_json()["report"]
    both = [r for r in report["routes"] if r["before"] and r["after"]]
    expected = [r["route"] for r in sorted(both, key=lambda r: -r["before"]["mean_ms"])]
    assert prometheus_table(story[0].record).column("route") == expected


def test_doctor_passes_on_the_story_system_and_fails_without_indexes_or_caches(
        story: tuple[StoryResult, Path], cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    result, state_dir = story
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(state_dir))
    before_end = json.loads(result.before_run.read_text())["ended_at"]
    after_end = json.loads(result.after_run.read_text())["ended_at"]
    indexes = str(Path(__file__).resolve().parents[2] / "indexes")
    window = ["--since", "5s", "--split", before_end, "--until", after_end]
    ok = cli("doctor", indexes, *window, "--format", "json")
    assert ok.exit_code == 0, ok.stdout
    assert all(c["status"] == "pass" for c in json.loads(ok.stdout)["checks"])

    # The same system back to the runbook's 'before' (`perfkit demo reset`): the right boxes
    # fail.
    reset = cli("demo", "reset")
    assert reset.exit_code == 0, reset.stderr
    assert "caches off, indexes dropped: idx_conversations_account_updated" in " ".join(
        reset.stderr.split())
    state = stack.read_state(stack.StackPaths.default())
    assert state.backend is not None and state.backend.cache is False
    assert state.log_file is not None
    Path(state.log_file).write_text("")
    bad = cli("doctor", indexes, *window, "--format", "json")
    assert bad.exit_code == 1
    status = {c["check"]: c["status"] for c in json.loads(bad.stdout)["checks"]}
    assert status["backend answers"] == "pass"
    assert status["indexes present and valid"] == "fail"
    assert status["indexes used by their queries"] == "fail"
    assert status["cache serves hits (backend log)"] == "skip"  # no cache lines: no cache
    assert status["Prometheus has request metrics"] == "pass"


def test_the_story_page_is_one_self_contained_file(story: tuple[StoryResult, Path]) -> None:
    from perfkit.render.html import story_page

    result, _ = story
    page = story_page(*result.runs, result.report, comparison=result.comparison).html
    assert "/messages/{conversation_id}" in page and "<script src=" not in page
    assert "Requests Average Duration" in page or "before" in page


def test_story_html_to_an_unwritable_path_fails_before_the_story(cli: Cli,
                                                                  tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = cli("demo", "story", "--html", str(blocker / "story.html"))
    assert result.exit_code == 2 and "cannot write --html" in result.stderr
