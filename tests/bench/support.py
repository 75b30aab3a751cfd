"""The reference server (tests/bench/refserver.py) in its own process: start, reset, stop."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REFSERVER = Path(__file__).with_name("refserver.py")


@dataclass
class RefServer:
    url: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()


@contextmanager
def running_refserver() -> Iterator[RefServer]:
    """Start the reference server on a free port; stop it (by its pid) at the end."""
    with subprocess.Popen([sys.executable, str(REFSERVER)], stdout=subprocess.PIPE,
                          text=True) as proc:  # closes the pipe when done
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:"), "reference server did not start"
            yield RefServer(url)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


