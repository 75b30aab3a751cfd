"""`perfkit cache-stats` black-box, on the real demo backend's log and on piped input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import CliResult, DemoStack
from tests.support.redis import RedisServer, running_redis

Cli = Callable[..., CliResult]


def test_counts_the_real_demo_backend_log(cli: Cli, demo_stack: DemoStack) -> None:
    token = demo_stack.tokens()[200]
    request = urllib.request.Request(demo_stack.url + "/auth/me",
                                     headers={"Authorization": f"Bearer {token}"})
    for _ in range(3):
        urllib.request.urlopen(request, timeout=10).close()
    result = cli("cache-stats", "--format", "json")  # default source: the demo log
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    auth = next(f for f in data["families"] if f["family"] == "auth_user")
    assert auth["misses"] >= 1 and auth["hits"] >= 2
    assert token not in result.stdout


def test_reads_stdin_and_renders_a_table(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(
        "backend-1  | Cache HIT: conversation:1\nbackend-1  | Cache MISS: conversation:2\n"))
    result = cli("cache-stats", "-")
    assert result.exit_code == 0
    assert "conversation" in result.stdout and "50.0%" in result.stdout


def test_no_cache_lines_warns(cli: Cli, tmp_path: Path) -> None:
    log = tmp_path / "quiet.log"
    log.write_text("INFO started\n")
    result = cli("cache-stats", str(log))
    assert result.exit_code == 0
    assert "no `Cache HIT:`/`Cache MISS:` lines found" in result.stderr


def test_missing_file_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    result = cli("cache-stats", str(tmp_path / "nope.log"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_follow_takes_a_duration(cli: Cli, tmp_path: Path) -> None:
    log = tmp_path / "live.log"
    log.write_text("Cache HIT: old:1\n")
    result = cli("cache-stats", str(log), "--follow", "--for", "300ms", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total"]["lookups"] == 0  # only lines appended count
    assert cli("cache-stats", str(log), "--follow", "--for", "soon").exit_code == 2


# -- other caches: --pattern, presets of perfkit.yaml, JSON fields -------------------------------
APP_LOG = """\
api-1  | 2026-11-25 10:00:00 DEBUG cache lookup hit key=org:1
api-1  | 2026-11-25 10:00:01 DEBUG cache lookup miss key=org:2
api-1  | 2026-11-25 10:00:02 DEBUG cache lookup hit key=plan:basic
api-1  | {"level": "debug", "cache": "HIT", "cache_key": "org:3"}
api-1  | {"level": "debug", "cache": "MISS", "cache_key": "plan:pro"}
"""


def test_a_custom_pattern_from_the_command_line(cli: Cli, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(APP_LOG)
    result = cli("cache-stats", str(log), "--pattern",
                 r"cache lookup (?P<result>\w+) key=(?P<key>\S+)", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["source"] == "log" and data["pattern"] == "custom"
    assert {f["family"]: (f["hits"], f["misses"]) for f in data["families"]} == {
        "org": (1, 1), "plan": (1, 0)}
    fields = cli("cache-stats", str(log), "--json-result", "cache", "--json-key", "cache_key",
                 "--format", "json")
    assert json.loads(fields.stdout)["total"] == {"hits": 1, "misses": 1, "lookups": 2,
                                                  "hit_ratio": 0.5}
    bad = cli("cache-stats", str(log), "--pattern", "cache (hit|miss)")
    assert bad.exit_code == 2 and "no group named `result`" in bad.stderr


def test_a_preset_from_perfkit_yaml_is_the_default(cli: Cli, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "app.log"
    log.write_text(APP_LOG)
    (tmp_path / "perfkit.yaml").write_text(
        "cache:\n"
        "  preset: lines\n"
        "  presets:\n"
        "    lines:\n"
        r"      pattern: 'cache lookup (?P<result>\w+) key=(?P<key>\S+)'" "\n"
        "    structured: {json_result: cache, json_key: cache_key}\n")
    monkeypatch.chdir(tmp_path)
    table = cli("cache-stats", str(log))
    assert table.exit_code == 0, table.stderr
    assert "pattern lines" in table.stdout and "66.7%" in table.stdout  # 2 hits of 3
    structured = cli("cache-stats", str(log), "--preset", "structured", "--format", "json")
    assert json.loads(structured.stdout)["total"]["lookups"] == 2
    unknown = cli("cache-stats", str(log), "--preset", "nope")
    assert unknown.exit_code == 2 and "known: demo, lines, structured" in unknown.stderr


@pytest.mark.parametrize("columns", ["80", "160"])
def test_a_title_keeps_what_it_names_whatever_the_path_and_the_width(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    """A title wider than its table (a deep tmp or CI folder) is printed whole on a line of
    its own: not folded to the table's width, which split `pattern lines` or cut the path."""
    folder = tmp_path / ("a-folder-with-a-rather-long-name-" * 5) / "logs"
    folder.mkdir(parents=True)
    log = folder / "app.log"
    log.write_text(APP_LOG)
    (tmp_path / "perfkit.yaml").write_text(
        "cache:\n  preset: lines\n  presets:\n    lines:\n"
        r"      pattern: 'cache lookup (?P<result>\w+) key=(?P<key>\S+)'" "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", columns)
    table = cli("cache-stats", str(log))
    assert table.exit_code == 0, table.stderr
    title = f"cache lookups in {log} (5 lines, pattern lines)"
    assert title in table.stdout.splitlines()
    assert all(len(line) <= int(columns) for line in table.stdout.splitlines()
               if "│" in line or "┃" in line)


# -- Redis -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis"), password="pw-never-shown") as server:
        yield server


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`perfkit cache-stats ...` in its own process, once its window has started."""
    proc = subprocess.Popen([sys.executable, "-m", "perfkit", "cache-stats", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stderr is not None
    line = proc.stderr.readline()  # bounded: the process ends within its --for
    assert "window started" in line, line + proc.stderr.read()
    return proc


def _lookups(server: RedisServer, hits: int, misses: int) -> None:
    with server.client() as client:
        client.set("auth_user:1", "x")
        for _ in range(hits):
            client.get("auth_user:1")
        for i in range(misses):
            client.get(f"auth_user:missing:{i}")


@pytest.mark.integration  # a real redis-server
def test_redis_window_reports_exactly_the_hits_and_misses(redis_server: RedisServer) -> None:
    _lookups(redis_server, 5, 5)  # before the window
    proc = _start(redis_server.url, "--for", "1.5s", "--format", "json")
    _lookups(redis_server, 23, 7)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    data = json.loads(out)
    assert data["source"] == "redis" and data["schema"] == "perfkit.cache-stats/1"
    assert (data["total"]["hits"], data["total"]["misses"]) == (23, 7)
    assert data["window"]["seconds"] >= 1.5 and data["window"]["ended_by"] == "time"
    assert "pw-never-shown" not in out + err
    assert data["redis"] == f"redis://127.0.0.1:{redis_server.port}/0"


@pytest.mark.integration  # a real redis-server
def test_redis_window_until_a_mark_of_this_target(redis_server: RedisServer, cli: Cli,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from perfkit.config import Target
    from perfkit.events import record_event

    here = {"PERFKIT_BASE_URL": "http://127.0.0.1:18001"}
    proc = _start(redis_server.url, "--until-mark", "--for", "20s", env=here)
    _lookups(redis_server, 3, 2)
    record_event("mark", "staging done", target=Target.of(base_url="http://staging:8000"))
    time.sleep(0.6)  # the other target's mark must not end the window
    assert proc.poll() is None
    monkeypatch.setenv("PERFKIT_BASE_URL", here["PERFKIT_BASE_URL"])
    mark = cli("mark", "traffic done", "--format", "json")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"ended by event {json.loads(mark.stdout)['id']}" in out
    assert "pw-never-shown" not in out + err


def test_redis_unreachable_is_exit_3_in_one_line(cli: Cli) -> None:
    result = cli("cache-stats", "redis://:pw-never-shown@127.0.0.1:1/0", "--for", "1s")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "unreachable" in result.stderr
    assert "pw-never-shown" not in result.output
