"""A prototype: the least HTTP/1.1 client an engine needs, on an asyncio Protocol + httptools.

Written for the engine bake-off (benchmarks/engines.py), not used by perfkit. It does
keep-alive connections (a pool of idle ones), a prepared request (the request's bytes, built
once), Content-Length, chunked and close-delimited bodies (llhttp, as uvicorn parses
requests), 1xx answers skipped, a timeout per request (one timer, no wait_for), TLS through
asyncio, and one retry of an idempotent request whose reused connection the server had
closed. Nothing else: no redirects, cookies, proxies, decompression, HTTP/2.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import time
from urllib.parse import urlsplit

import httptools

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS"})


class H1Error(Exception):
    """A request failed: connection lost, malformed answer."""


class _Conn(asyncio.Protocol):
    """One connection; one request at a time on it."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.got = 0  # bytes of the current answer
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.keep_alive = True

    # -- asyncio ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(H1Error(f"malformed answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close the transport: the answer (if close-delimited) ends here

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done() and self.status >= 200 \
                and self.got and not self.framed():
            self.on_message_complete()  # a body delimited by the close
        self._fail(H1Error("connection closed by the server"))

    # -- httptools callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # 1xx: the real answer follows
            self.status, self.headers, self.body = 0, [], []
            return
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.status, self.headers, b"".join(self.body)))

    def framed(self) -> bool:
        """The answer says where its body ends (else the close ends it)."""
        return any(n.lower() == b"content-length" or n.lower() == b"transfer-encoding"
                   for n, _ in self.headers)

    # -- a request -------------------------------------------------------------------------
    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _timed_out(self) -> None:
        self._fail(TimeoutError("request timed out"))

    async def send(self, raw: bytes, deadline: float
                   ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.got, self.status, self.headers, self.body = 0, 0, [], []
        self.timer = loop.call_at(deadline, self._timed_out)
        assert self.transport is not None
        self.transport.write(raw)
        try:
            return await self.waiter
        finally:
            self.timer.cancel()
            self.waiter = None


class H1Client:
    """Keep-alive connections to one origin; callers bound the concurrency."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0,
                 ssl: ssl_module.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.authority = parts.netloc.encode()
        self.ssl = (ssl or ssl_module.create_default_context()) if self.https else None
        self.timeout_s = timeout_s
        self.idle: list[_Conn] = []

    def prepare(self, method: str, target: str, headers: dict[str, str] | None = None,
                body: bytes = b"") -> bytes:
        """The request's bytes, built once and written as they are on every send."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.authority.decode()}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _connect(self, deadline: float) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(
                _Conn, self.host, self.port, ssl=self.ssl), max(0.0, deadline - loop.time()))
        except OSError as exc:
            raise H1Error(f"cannot connect: {exc}") from None
        return conn

    async def request(self, raw: bytes, timeout_s: float | None = None
                      ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """(status, headers, body) of one request; TimeoutError or H1Error else."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout_s or self.timeout_s)
        conn = None
        while self.idle and conn is None:
            conn = self.idle.pop()
            conn = None if conn.closed else conn
        reused = conn is not None
        if conn is None:
            conn = await self._connect(deadline)
        try:
            answer = await conn.send(raw, deadline)
        except H1Error:
            if not (reused and conn.got == 0 and raw.split(b" ", 1)[0] in IDEMPOTENT):
                raise
            conn = await self._connect(deadline)  # the server had closed it while idle
            answer = await conn.send(raw, deadline)
        if conn.keep_alive and not conn.closed:
            self.idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()
        return answer

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


def _demo(url: str) -> None:  # pragma: no cover - a manual check
    async def main() -> None:
        client = H1Client(url)
        raw = client.prepare("GET", urlsplit(url).path or "/")
        started = time.perf_counter()
        status, _, body = await client.request(raw)
        print(status, len(body), f"{(time.perf_counter() - started) * 1e3:.2f} ms")
        client.close()

    asyncio.run(main())


if __name__ == "__main__":
    import sys

    _demo(sys.argv[1])
