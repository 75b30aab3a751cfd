"""`perfkit demo story` end to end on a stack of its own (small scale), then `perfkit doctor`
on the system it leaves, and on the same system without indexes or caches."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from perfkit.demo import stack
from tests.conftest import CliResult

Cli = Callable[..., CliResult]


pytestmark = pytest.mark.integration  # starts demo stacks of its own

@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One story run shared by the module's tests (it takes ~20 s)."""
    import os

    from perfkit.cli import console, main

    state = tmp_path_factory.mktemp("story-state")
    previous = os.environ["PERFKIT_STATE_DIR"]
    os.environ["PERFKIT_STATE_DIR"] = str(state)
    out = state / "story.json"
    try:
        console.reset()
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(["demo", "story", "--scale", "0.01", "--duration", "5s",
                         "--format", "json"])
        console.reset()
        out.write_text(buffer.getvalue())
        yield {"exit_code": code, "data": json.loads(buffer.getvalue()), "state": state}
    finally:
        stack.down(purge=True)
        os.environ["PERFKIT_STATE_DIR"] = previous


def _route(data: dict[str, Any], route: str) -> dict[str, Any]:
    return next(r for r in data["report"]["routes"] if r["route"] == route)


def test_story_shows_the_cache_and_index_effects(story: dict[str, Any]) -> None:
    assert story["exit_code"] == 0, story["data"]["doctor"]
    data = story["data"]
    assert data["schema"] == "perfkit.story/1"
    messages = _route(data, "/messages/{conversation_id}")
    assert messages["change_pct"]["mean"] < -50  # index + conversation cache + auth cache
    auth = _route(data, "/auth/me")
    assert auth["after"]["mean_ms"] < auth["before"]["mean_ms"] / 2  # the auth cache
    assert data["overall"]["change_pct"] < -50
    built = [s["name"] for s in data["apply"]["steps"] if s["action"] == "create"]
    assert "idx_messages_conversation_timestamp" in built
    auth_family = next(f for f in data["cache_stats"]["families"] if f["family"] == "auth_user")
    assert auth_family["hits"] > auth_family["misses"]
    assert data["doctor"]["passed"]
    assert Path(data["before_run"]).is_file() and Path(data["after_run"]).is_file()


def test_story_table_renders(story: dict[str, Any], cli: Cli, monkeypatch: pytest.MonkeyPatch
                             ) -> None:
    from perfkit.cli.console import OutputFormat
    from perfkit.cli.demo import _render_story

    _render_story(story["data"], OutputFormat.table)
    import sys

    sys.stdout.flush()


def test_doctor_passes_on_the_story_system_and_fails_without_indexes_or_caches(
        story: dict[str, Any], cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(story["state"]))
    data = story["data"]
    before_end = json.loads(Path(data["before_run"]).read_text())["ended_at"]
    after_end = json.loads(Path(data["after_run"]).read_text())["ended_at"]
    indexes = str(Path(__file__).resolve().parents[2] / "indexes")
    window = ["--since", "5s", "--split", before_end, "--until", after_end]
    ok = cli("doctor", indexes, *window, "--format", "json")
    assert ok.exit_code == 0, ok.stdout
    assert all(c["status"] == "pass" for c in json.loads(ok.stdout)["checks"])

    # The same system without its indexes and caches: the right boxes fail.
    state = stack.read_state(stack.StackPaths.default())
    from perfkit.demo.story import _reset_indexes

    _reset_indexes(state["postgres"]["dsn"], (Path(indexes),))
    Path(state["log_file"]).write_text("")
    stack.restart_backend(cache=False)
    bad = cli("doctor", indexes, *window, "--format", "json")
    assert bad.exit_code == 1
    status = {c["check"]: c["status"] for c in json.loads(bad.stdout)["checks"]}
    assert status["backend answers"] == "pass"
    assert status["indexes present and valid"] == "fail"
    assert status["indexes used by their queries"] == "fail"
    assert status["logs show Cache HIT / MISS"] == "fail"
    assert status["Prometheus has request metrics"] == "pass"
