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
def served_url(argv: list[str]) -> Iterator[str]:
    """A server in a process of its own that prints its URL on its first line: yields that URL,
    stops the process at the end (terminate, then kill), whatever happened."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip()
            if not url.startswith(("http://127.0.0.1:", "http://[::1]:")):
                raise RuntimeError(f"{argv[-1]}: the server did not start")
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running_refserver() -> Iterator[RefServer]:
    """Start the reference server on a free port; stop it (by its pid) at the end."""
    with served_url([sys.executable, str(REFSERVER)]) as url:
        yield RefServer(url)


