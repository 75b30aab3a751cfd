"""A real redis-server for tests: on loopback, a free port, no persistence, stopped by pid."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RedisServer:
    port: int
    password: str | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_redis(workdir: Path, password: str | None = None) -> Iterator[RedisServer]:
    """`redis-server --port P --bind 127.0.0.1 --save ""` (skips when it is not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/bootstrap installs it)")
    server = RedisServer(_free_port(), password)
    args = [binary, "--port", str(server.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir)]
    if password:
        args += ["--requirepass", password]
    with subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            _wait_ready(server, proc)
            yield server
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _wait_ready(server: RedisServer, proc: subprocess.Popen[bytes]) -> None:
    import redis

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with server.client() as client:
                client.ping()
            return
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {server.port}") from None
            time.sleep(0.05)
