"""`perfkit cache-stats` black-box, on the real demo backend's log and on piped input."""

from __future__ import annotations

import io
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import CliResult

Cli = Callable[..., CliResult]


def test_counts_the_real_demo_backend_log(cli: Cli, demo_stack: dict[str, Any]) -> None:
    token = Path(demo_stack["tokens_file"]).read_text().split()[200]
    request = urllib.request.Request(demo_stack["backend"]["url"] + "/auth/me",
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
