"""The reference server (tests/bench/refserver.py) in its own process: start, reset, stop."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REFSERVER = Path(__file__).with_name("refserver.py")


@dataclass
class RefServer:
    url: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/_reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()

    def counts(self) -> dict[str, int]:
        """Requests answered by route name since the last reset (/fast, /stall, /cached)."""
        with urllib.request.urlopen(f"{self.url}/_counts", timeout=5) as resp:
            data: dict[str, int] = json.loads(resp.read())
            return data

    def auth_log(self) -> dict[str, list[dict[str, Any]]]:
        """Every login the server answered (email, token, kind) and every request to /me
        (the token it carried, the status)."""
        with urllib.request.urlopen(f"{self.url}/_auth_log", timeout=5) as resp:
            data: dict[str, list[dict[str, Any]]] = json.loads(resp.read())
            return data


def users_csv(path: Path, count: int, *, first: int = 0) -> Path:
    """A users file of the reference server's users (`user{i}@test.local`, `pw-{i}-S3cret`)."""
    path.write_text("email,password\n" + "".join(
        f"user{i}@test.local,pw-{i}-S3cret\n" for i in range(first, first + count)))
    return path


def password(i: int) -> str:
    return f"pw-{i}-S3cret"


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


