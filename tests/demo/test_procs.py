"""Process identity through `ps` (POSIX: the same on Linux and macOS) on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfkit.demo import procs
from perfkit.errors import StackError


def test_process_info_names_a_running_program() -> None:
    info = procs.process_info(os.getpid())
    assert info is not None and not info.zombie
    assert Path(sys.executable).name in info.command or "python" in info.command


def test_a_started_program_is_ours_until_stopped(tmp_path: Path) -> None:
    pid = procs.spawn(["sleep", "30"], tmp_path / "sleep.log")
    try:
        assert procs.is_our_process(pid, "sleep 30")
        assert not procs.is_our_process(pid, "perfkit.demo.app")  # a recycled pid is not ours
        started = time.monotonic()
        assert procs.stop_pid(pid, "sleep 30")
        assert time.monotonic() - started < 5
        assert not procs.pid_alive(pid)
        assert procs.process_info(pid) is None
    finally:
        procs.stop_pid(pid, "sleep 30")


def test_an_exited_child_not_yet_reaped_is_not_alive() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        info = procs.process_info(child.pid)
        if info is not None and info.zombie:
            break
        time.sleep(0.02)
    try:
        assert info is not None and info.zombie
        assert not procs.pid_alive(child.pid)
        assert not procs.is_our_process(child.pid, "true")
    finally:
        child.wait(timeout=5)


def test_no_pid_and_a_free_pid_are_not_alive() -> None:
    assert not procs.pid_alive(None)
    assert not procs.is_our_process(0, "anything")
    free = 4_194_304  # Linux's PID_MAX_LIMIT (no pid reaches it); macOS stops at 99,998
    assert procs.process_info(free) is None and not procs.pid_alive(free)


def test_without_ps_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="`ps` command is missing") as raised:
        procs.process_info(os.getpid())
    assert "procps" in str(raised.value.hint)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands files to `postgres`")
def test_as_root_files_are_handed_to_the_postgres_user(tmp_path: Path) -> None:
    target = tmp_path / "owned"
    target.write_text("")
    procs.hand_over(target)
    assert (target.stat().st_uid, target.stat().st_gid) == procs.unprivileged_ids()
