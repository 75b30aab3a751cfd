"""h1: the least HTTP/1.1 client the engine needs, on an asyncio Protocol and httptools.

Why our own: with llhttp (httptools, the parser uvicorn uses) and no layers above it, it
spends 4.5-4.8x less CPU per request than aiohttp (benchmarks/engines.md), and a load
generator's CPU is the ceiling of what it can measure. It does keep-alive connections (at
most `connections` open at once), Content-Length, chunked and close-delimited bodies, skips
1xx answers, TLS through asyncio (the default context: the system's CAs, SSL_CERT_FILE),
one deadline per request, and sends an idempotent request once more when the reused
connection it went out on had been closed by the server meanwhile. Nothing else: no
redirects, cookies, proxies, decompression (bench/transport.py falls back to aiohttp).

Every failure is a TransportError of its kind (or TimeoutError) for that request alone, and
its connection is dropped: a malformed answer never hangs a request past its deadline.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Mapping
from typing import cast

import httptools
from yarl import URL

from perfkit.bench.transport import TransportError

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
MAX_HEAD_BYTES = 64 * 1024  # status line and headers of one answer: more is malformed
_NEEDS_LENGTH = frozenset({"POST", "PUT", "PATCH"})
_DEFAULTS = (("accept", "Accept: */*\r\n"), ("accept-encoding",
                                             "Accept-Encoding: gzip, deflate\r\n"))

Origin = tuple[str, str, int]  # scheme, host, port


class H1Answer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status, self.body, self.headers = status, body, headers

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None


class _Conn(asyncio.Protocol):
    """One connection; one request at a time on it. The parser's callbacks fill the
    answer; the first of answer, failure, close or deadline settles the request."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[H1Answer] | None = None
        self.closed = False
        self.got = 0  # bytes of the current answer so far
        self.head_bytes = 0
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.in_body = False  # the current answer's headers are complete
        self.reusable = False
        self.head_only = False  # a HEAD: its answer ends with its headers

    # -- asyncio ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # bytes nobody asked for
            self._fail(TransportError("malformed", "bytes after the answer"))
            return
        self.got += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(TransportError("malformed", "an upgrade nobody asked for"))
        except httptools.HttpParserError as exc:
            self._fail(TransportError("malformed", str(exc) or type(exc).__name__))

    def eof_received(self) -> bool:
        return False  # close: a close-delimited body ends here (connection_lost)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is None or self.waiter.done():
            return
        if self.in_body and self.status >= 200 and not self._framed():
            self._settle()  # a body delimited by the close
        elif isinstance(exc, ConnectionResetError):
            self._fail(TransportError("reset", "connection reset by the server"))
        else:
            self._fail(TransportError("disconnected", "the server closed the connection "
                                                      "before the whole answer"))

    # -- httptools callbacks ---------------------------------------------------------------
    def on_status(self, status: bytes) -> None:
        self._count_head(len(status))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.in_body = True
        if self.head_only and self.status >= 200:  # llhttp would wait for the body its
            self._settle()  # Content-Length announces: answered now, and not reused

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:  # 1xx: the answer follows
            self.status, self.headers, self.body, self.in_body = 0, [], [], False
            return
        self.reusable = self.parser.should_keep_alive()
        self._settle()

    def _count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD_BYTES:
            raise httptools.HttpParserError(f"headers over {MAX_HEAD_BYTES} bytes")

    def _framed(self) -> bool:
        """The answer says where its body ends (else the close ends it)."""
        return any(n.lower() in (b"content-length", b"transfer-encoding")
                   for n, _ in self.headers)

    # -- a request -------------------------------------------------------------------------
    def _settle(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.reusable = False  # a second answer to one request
            return
        if self.head_only:
            self.reusable = False
        waiter.set_result(H1Answer(self.status, b"".join(self.body), self.headers))

    def _fail(self, exc: BaseException) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _timed_out(self) -> None:
        self._fail(TimeoutError("no whole answer within the timeout"))

    async def send(self, raw: bytes, deadline: float, *, head_only: bool = False
                   ) -> H1Answer:
        """Write the request, wait for its whole answer until `deadline` (loop time)."""
        loop = asyncio.get_running_loop()
        self.head_only = head_only
        waiter: asyncio.Future[H1Answer] = loop.create_future()
        self.waiter = waiter
        self.got = self.head_bytes = self.status = 0
        self.headers, self.body, self.in_body, self.reusable = [], [], False, False
        timer = loop.call_at(deadline, self._timed_out)
        assert self.transport is not None
        try:
            self.transport.write(raw)
            return await waiter
        finally:
            timer.cancel()
            self.waiter = None


class H1Transport:
    """Keep-alive connections per origin, at most `connections` open at once."""

    name = "h1"

    def __init__(self, *, connections: int, timeout_s: float,
                 ssl: ssl_module.SSLContext | None = None) -> None:
        self.timeout_s = timeout_s
        self.gate = asyncio.Semaphore(max(1, connections))
        self.idle: dict[Origin, list[_Conn]] = {}
        self.busy: set[_Conn] = set()
        self._ssl = ssl

    def _context(self) -> ssl_module.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_module.create_default_context()
        return self._ssl

    async def request(self, method: str, url: URL, headers: Mapping[str, str],
                      body: bytes | None) -> H1Answer:
        raw = head(method, url, headers, body)
        origin: Origin = (url.scheme, url.raw_host or "", url.port or 80)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        async with self.gate:
            conn = self._idle(origin)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(origin, deadline)
            try:
                answer = await self._send(conn, raw, deadline)
            except TransportError:
                if not (reused and conn.got == 0 and method in IDEMPOTENT):
                    raise
                conn = await self._connect(origin, deadline)  # it was closed while idle
                answer = await self._send(conn, raw, deadline)
            if conn.reusable and not conn.closed:
                self.idle.setdefault(origin, []).append(conn)
            else:
                conn.abort()
            return answer

    def _idle(self, origin: Origin) -> _Conn | None:
        idle = self.idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.transport is not None and (
                    not conn.transport.is_closing()):
                return conn
        return None

    async def _send(self, conn: _Conn, raw: bytes, deadline: float) -> H1Answer:
        """The request on `conn`; a request that did not end with its answer (failed,
        cancelled) takes its connection with it."""
        self.busy.add(conn)
        try:
            return await conn.send(raw, deadline, head_only=raw.startswith(b"HEAD "))
        except BaseException:
            conn.abort()
            raise
        finally:
            self.busy.discard(conn)

    async def _connect(self, origin: Origin, deadline: float) -> _Conn:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        ssl = self._context() if scheme == "https" else None
        try:
            async with asyncio.timeout_at(deadline):
                _, conn = await loop.create_connection(
                    _Conn, host.strip("[]"), port, ssl=ssl,
                    server_hostname=host.strip("[]") if ssl else None)
        except ConnectionRefusedError as exc:
            raise TransportError("refused", str(exc)) from None
        except OSError as exc:  # TLS refused (SSLError) included, as aiohttp counts it
            raise TransportError("connect", str(exc)) from None
        return conn

    async def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.abort()
        for conn in list(self.busy):
            conn.abort()
        self.idle.clear()


def head(method: str, url: URL, headers: Mapping[str, str], body: bytes | None) -> bytes:
    """The request's bytes: its line, Host, the caller's headers, Accept and
    Accept-Encoding as aiohttp sends them unless given, Content-Length for a body."""
    authority = url.raw_host or ""
    if ":" in authority:
        authority = f"[{authority}]"
    if url.explicit_port is not None and not url.is_default_port():
        authority = f"{authority}:{url.explicit_port}"
    given = {k.lower() for k in headers}
    parts = [f"{method} {url.raw_path_qs} HTTP/1.1\r\n"]
    if "host" not in given:
        parts.append(f"Host: {authority}\r\n")
    for key, value in headers.items():
        if "\r" in key or "\n" in key or "\r" in value or "\n" in value or ":" in key:
            raise TransportError("header", f"header {key!r} has a line break or a colon")
        parts.append(f"{key}: {value}\r\n")
    parts.extend(line for name, line in _DEFAULTS if name not in given)
    if body is not None or method in _NEEDS_LENGTH:
        parts.append(f"Content-Length: {len(body or b'')}\r\n")
    parts.append("\r\n")
    raw = "".join(parts).encode()
    return raw + body if body else raw
