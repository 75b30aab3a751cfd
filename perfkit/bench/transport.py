"""The engine's transport: how one request goes out and its whole answer comes back.

Two of them behind one narrow interface, so that the engine (bench/engine.py) and the logins
(bench/login.py) do not know which: h1 (bench/h1.py, our HTTP/1.1 client on httptools, the
default: 4.5-4.8x less CPU per request than aiohttp in benchmarks/engines.md) and aiohttp,
the fallback for what h1 does not do. `choose_engine` says which one a run uses and why;
the record's `generator.engine` keeps it.

A request either answers (status, body read whole, headers on demand) or raises
TimeoutError or TransportError, whose `kind` is the error kind of the record (refused,
connect, disconnected, reset, malformed): the same kinds whichever transport sent it.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

import aiohttp
from yarl import URL

from perfkit.bench.options import Engine

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

    from perfkit.bench.options import BenchOptions


class TransportError(Exception):
    """A request that got no whole answer; `kind` names why, for the record's errors."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class Answer(Protocol):
    """What the engine reads from an answer: its status, its whole body, two or three of
    its headers (Content-Encoding, the cache header)."""

    status: int
    body: bytes

    def header(self, name: str) -> str | None: ...


class Transport(Protocol):
    """Sends requests on keep-alive connections, at most `connections` at once."""

    name: str

    async def request(self, method: str, url: URL, headers: Mapping[str, str],
                      body: bytes | None) -> Answer: ...

    async def close(self) -> None: ...


DEFAULT_ENGINE = Engine.H1  # what auto takes when the run needs nothing of aiohttp's


def choose_engine(options: BenchOptions) -> tuple[Engine, str]:
    """The engine a run uses, and why when it is not the asked one. h1 does HTTP/1.1 to an
    http(s) base URL and nothing else: a base URL carrying user:password (basic auth, which
    aiohttp sends) falls back to aiohttp."""
    if options.engine is not Engine.AUTO:
        return options.engine, "asked with --engine"
    if "@" in URL(options.base_url).raw_authority:
        return Engine.AIOHTTP, "the base URL carries credentials (basic auth)"
    return DEFAULT_ENGINE, "the default"


def open_transport(options: BenchOptions, connections: int) -> Transport:
    """The transport of one run (call it on the run's event loop)."""
    engine, _ = choose_engine(options)
    if engine is Engine.H1:
        from perfkit.bench.h1 import H1Transport

        return H1Transport(connections=connections, timeout_s=options.timeout_s)
    return AiohttpTransport(connections=connections, timeout_s=options.timeout_s)


class _AiohttpAnswer:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: CIMultiDictProxy[str]) -> None:
        self.status, self.body, self.headers = status, body, headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


class AiohttpTransport:
    """aiohttp as perfkit always drove it: no cookie jar (virtual users must not share
    cookies), bodies as sent (no decompression), no User-Agent, redirects followed."""

    name = Engine.AIOHTTP.value

    def __init__(self, *, connections: int, timeout_s: float) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            skip_auto_headers=("User-Agent",))

    async def request(self, method: str, url: URL, headers: Mapping[str, str],
                      body: bytes | None) -> Answer:
        try:
            async with self.session.request(method, url, headers=headers, data=body) as resp:
                return _AiohttpAnswer(resp.status, await resp.read(), resp.headers)
        except aiohttp.ClientError as exc:
            raise TransportError(aiohttp_kind(exc), str(exc)) from exc

    async def close(self) -> None:
        await self.session.close()


def aiohttp_kind(exc: aiohttp.ClientError) -> str:
    """An aiohttp failure's kind: refused, connect (another reason it could not connect),
    disconnected or reset (the backend closed the connection without a whole answer),
    malformed (an answer that is not HTTP)."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "refused" if exc.errno == errno.ECONNREFUSED else "connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "disconnected"  # closed before the answer, or in the middle of its body
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return "reset"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "malformed"  # raise_for_status is off: only a bad answer raises this
    return type(exc).__name__
