"""Helpers for report tests: a paced traffic driver, the fault knob, a counting proxy.

Traffic goes only to the demo backend on 127.0.0.1; every loop is bounded in time and count.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import DemoStack

MAX_REQUESTS_PER_DRIVE = 6000


@dataclass(frozen=True)
class Sent:
    """One request the test made: when it ended (wall clock), where, how it went."""

    route: str
    ended_at: datetime
    status: int
    latency_ms: float


@dataclass
class Lab:
    backend_url: str
    prometheus_url: str
    token: str
    sent: list[Sent] = field(default_factory=list)

    def faults(self, latency_ms: dict[str, float] | None = None,
               error_ratio: dict[str, float] | None = None) -> None:
        body = json.dumps({"latency_ms": latency_ms or {}, "error_ratio": error_ratio or {}})
        request = urllib.request.Request(f"{self.backend_url}/_demo/faults", method="PUT",
                                         data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as resp:
            resp.read()

    def drive(self, routes: dict[str, tuple[str, int, float]], seconds: float) -> list[Sent]:
        """routes: template -> (concrete path, workers, pause between requests in s)."""
        deadline = time.monotonic() + seconds
        lock = threading.Lock()
        sent: list[Sent] = []

        def worker(template: str, path: str, pause_s: float) -> None:
            while time.monotonic() < deadline and len(sent) < MAX_REQUESTS_PER_DRIVE:
                request = urllib.request.Request(f"{self.backend_url}{path}", headers={
                    "Authorization": f"Bearer {self.token}"})
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(request, timeout=10) as resp:
                        resp.read()
                        status = resp.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 0  # refused while the backend restarts: the server never saw it
                latency_ms = (time.perf_counter() - started) * 1000
                with lock:
                    sent.append(Sent(template, datetime.now(UTC), status, latency_ms))
                if status == 0:
                    time.sleep(0.05)
                time.sleep(pause_s)

        threads = [threading.Thread(target=worker, args=(t, p, pause), daemon=True)
                   for t, (p, workers, pause) in routes.items() for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 15)
        self.sent.extend(sent)
        return sent

    def count(self, route: str, start: datetime, end: datetime) -> int:
        """Requests the server answered for `route` that ended inside [start, end]."""
        return sum(1 for s in self.sent
                   if s.route == route and s.status and start <= s.ended_at <= end)


def wait_until_scraping(prometheus_url: str, timeout_s: float = 20.0) -> None:
    """A fresh Prometheus applies new targets on a 5 s tick: its first scrape may come late,
    and a series first seen mid-window loses what it counted before (increase() starts at
    its first sample). Wait for a healthy scrape in the last two seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{prometheus_url}/api/v1/targets", timeout=5) as resp:
            targets = json.loads(resp.read())["data"]["activeTargets"]
        for target in targets:
            last = datetime.fromisoformat(target["lastScrape"].replace("Z", "+00:00"))
            if target["health"] == "up" and (datetime.now(UTC) - last).total_seconds() < 2:
                return
        time.sleep(0.25)
    raise AssertionError(f"Prometheus at {prometheus_url} is not scraping the demo backend")


@pytest.fixture(scope="session")
def lab(demo_stack: DemoStack) -> Lab:
    token = demo_stack.tokens()[0]
    wait_until_scraping(demo_stack.prometheus_url)
    return Lab(demo_stack.url, demo_stack.prometheus_url, token)


class CountingProxy:
    """A real HTTP reverse proxy in front of Prometheus that counts what perfkit asks."""

    def __init__(self, upstream: str) -> None:
        self.paths: list[str] = []
        self.inject: dict[str, Any] = {}  # merged into every JSON answer (Thanos-like warnings)
        self.authorizations: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.paths.append(self.path.split("?", 1)[0])
                proxy.authorizations.append(self.headers.get("Authorization"))
                try:
                    with urllib.request.urlopen(upstream + self.path, timeout=10) as resp:
                        status, body = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                if proxy.inject:
                    body = json.dumps({**json.loads(body), **proxy.inject}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def queries(self) -> int:
        return sum(1 for p in self.paths if p == "/api/v1/query")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def counting_proxy(lab: Lab) -> Iterator[CountingProxy]:
    proxy = CountingProxy(lab.prometheus_url)
    yield proxy
    proxy.close()
