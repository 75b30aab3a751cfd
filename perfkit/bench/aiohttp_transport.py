"""aiohttp behind the engine's transport interface: the fallback for what h1 does not do
(basic auth in the base URL, redirects followed: `--engine aiohttp`)."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from perfkit.bench.options import Engine
from perfkit.bench.transport import Answer, TransportError

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy


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
