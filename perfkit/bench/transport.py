"""The engine's transport: how one request goes out and its whole answer comes back.

Two of them behind one narrow interface, so that the engine (bench/engine.py) and the logins
(bench/login.py) do not know which: h1 (bench/h1.py, our HTTP/1.1 client on httptools, the
default: 4.5-4.8x less CPU per request than aiohttp in benchmarks/engines.md) and aiohttp
(bench/aiohttp_transport.py), the fallback for what h1 does not do. bench/engine_choice.py
says which one a run uses and why; the record's `generator.engine` keeps it.

A request either answers (status, body read whole, headers on demand) or raises
TimeoutError or TransportError, whose `kind` is the error kind of the record (refused,
connect, disconnected, reset, malformed): the same kinds whichever transport sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from yarl import URL


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
