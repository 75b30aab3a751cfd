"""Real loopback servers for the h1 transport's tests: raw asyncio servers that answer exactly
the bytes a test gives (framings, 1xx, closes, malformed answers), uvicorn and aiohttp
servers in the test's own event loop, a self-signed certificate."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from yarl import URL

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head (and its Content-Length body); b"" when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return b""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


class RawServer:
    """An asyncio server on 127.0.0.1 whose `handler(reader, writer, connection_number)` is
    the whole protocol; counts connections, and the most open at once."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = self.most_open = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> URL:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return URL(f"http://127.0.0.1:{port}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        self.writers.add(writer)
        try:
            await self.handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            self.writers.discard(writer)
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[RawServer]:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        try:
            yield self
        finally:
            for writer in list(self.writers):
                writer.transport.abort()
            self.server.close()
            await self.server.wait_closed()


def answers(*payloads: bytes, then_close: bool = False) -> Handler:
    """A handler that answers each request of a connection with the next payload (the last
    one over and over), closing after the last when `then_close`."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      _: int) -> None:
        sent = 0
        while await read_request(reader):
            writer.write(payloads[min(sent, len(payloads) - 1)])
            await writer.drain()
            sent += 1
            if then_close and sent >= len(payloads):
                return
    return handler


async def asgi_app(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                   send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """/cl: 10 kB with a Content-Length; /chunked: three parts, no length (uvicorn chunks
    them); /slow: a part, 0.4 s, the rest; /peer: the client's port (its connection)."""
    path = scope["path"]
    parts = [b"x" * 10_000]
    headers = [(b"content-length", b"10000"), (b"x-cache", b"HIT")]
    if path == "/chunked":
        parts, headers = [b"a" * 3000, b"b" * 3000, b"c" * 3000], []
    elif path == "/slow":
        parts, headers = [b"s" * 100, b"s" * 100], []
    elif path == "/peer":
        body = str(scope["client"][1]).encode()
        parts, headers = [body], [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i, part in enumerate(parts):
        if path == "/slow" and i:
            await asyncio.sleep(0.4)
        await send({"type": "http.response.body", "body": part,
                    "more_body": i < len(parts) - 1})


@asynccontextmanager
async def uvicorn_server(keep_alive_s: float = 5.0) -> AsyncIterator[URL]:
    """tests' asgi_app under uvicorn (httptools), in this event loop."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(asgi_app, log_level="warning", lifespan="off", access_log=False,
                            timeout_keep_alive=int(keep_alive_s) or 1)
    config.timeout_keep_alive = keep_alive_s  # type: ignore[assignment]  # below a second
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield URL(f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        server.should_exit = True
        await task


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (openssl), valid a day."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key
