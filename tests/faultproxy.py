"""A real loopback HTTP proxy that fails on cue: it forwards the first N requests to the real
service behind it, then answers 503, closes the connection unanswered, or goes away (its port
then refuses connections), for a number of requests or for good.

A real service cannot fail on demand in the middle of a command (a Prometheus does not answer
503 when asked to); this proxy makes the fault land between two of the command's requests,
with the real service answering every other one.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("503", "close", "gone")


class FaultProxy:
    """`forward` requests go through; then `times` requests meet `fault` (None: all of
    them); after those, requests go through again (except after "gone": nothing listens)."""

    def __init__(self, upstream: str, *, forward: int, fault: str,
                 times: int | None = None) -> None:
        assert fault in FAULTS, fault
        self.upstream, self.forward, self.fault, self.times = upstream, forward, fault, times
        self.paths: list[str] = []  # every request, in order (the faulty ones too)
        self.faulted = 0
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        self._closed = False

    def _fails(self, request: BaseHTTPRequestHandler) -> bool:
        with self._lock:
            self.paths.append(request.path.split("?", 1)[0])
            self.authorizations.append(request.headers.get("Authorization"))
            number = len(self.paths)
            fails = number > self.forward and (self.times is None or self.faulted < self.times)
            self.faulted += fails
            return fails

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        fails = self._fails(request)
        if fails and self.fault == "503":
            self._answer(request, 503, b"upstream unavailable", "text/plain")
        elif fails:  # close, or go away: the connection ends with no answer
            request.close_connection = True
            if self.fault == "gone":  # no listener before this connection ends
                self.close()
        else:
            try:
                with urllib.request.urlopen(self.upstream + request.path, timeout=15) as resp:
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            self._answer(request, status, body, "application/json")

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, body: bytes,
                content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def close(self) -> None:
        """Stop listening (the port refuses connections from here on)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.server.shutdown()
        self.server.server_close()
