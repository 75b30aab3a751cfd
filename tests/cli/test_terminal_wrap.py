"""On a terminal, notes wrap at its width on word boundaries; in a pipe each stays one line.

perfkit runs in a real pseudo-terminal (pty) 80 columns wide, as a user's shell runs it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support import lognormal_ms, make_run

WIDTH = 80


def runs(tmp_path: Path) -> tuple[Path, Path]:
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    make_run({("GET /items", "all"): lognormal_ms(20.0, 400, 1)}).save(before)
    make_run({("GET /items", "all"): lognormal_ms(14.0, 400, 2)}).save(after)
    return before, after


def in_a_terminal(args: list[str], columns: int) -> str:
    """What a terminal `columns` wide shows of `perfkit ARGS` (stdout and stderr)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "NO_COLOR": "1",
           "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "perfkit", *args], stdin=follower,
                            stdout=follower, stderr=follower, env=env, close_fds=True)
    os.close(follower)
    shown, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    proc.wait(timeout=10)
    os.close(leader)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace")).replace(
        "\r", "")


def test_notes_wrap_at_the_terminal_width_on_word_boundaries(tmp_path: Path) -> None:
    before, after = runs(tmp_path)
    shown = in_a_terminal(["compare", str(before), str(after)], WIDTH)
    lines = shown.splitlines()
    assert "GET /items" in shown, shown
    assert max(len(line) for line in lines) <= WIDTH, shown
    piped = subprocess.run([sys.executable, "-m", "perfkit", "compare", str(before), str(after)],
                           capture_output=True, text=True, check=False,
                           env={**os.environ, "COLUMNS": str(WIDTH)})
    long_notes = [line for line in piped.stdout.splitlines() if len(line) > WIDTH]
    assert long_notes, "no note longer than the terminal to wrap"
    words = {w for line in long_notes for w in line.split()}
    on_screen = {w for line in lines for w in line.split()}
    assert words <= on_screen, words - on_screen  # no word was cut in two
