"""h1, the engine's HTTP/1.1 transport (perfkit/bench/h1.py), against real loopback servers:
uvicorn, aiohttp and raw asyncio servers that send exactly the bytes of each case."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from aiohttp import web
from yarl import URL

from perfkit.bench.engine import new_event_loop
from perfkit.bench.h1 import MAX_HEAD_BYTES, H1Transport
from perfkit.bench.transport import TransportError
from tests.bench.h1_support import RawServer, answers, read_request, self_signed, uvicorn_server

T = TypeVar("T")


def run(make: Callable[[], Awaitable[T]]) -> T:
    """On uvloop, as the engine runs."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(make())  # type: ignore[arg-type]


def ok(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    return (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n").encode() + body


async def get(h1: H1Transport, url: URL, method: str = "GET") -> tuple[int, bytes]:
    answer = await h1.request(method, url, {}, b"" if method == "POST" else None)
    return answer.status, answer.body


def test_uvicorn_content_length_chunked_keep_alive_and_slow_bodies() -> None:
    async def main() -> None:
        async with uvicorn_server() as url:
            h1 = H1Transport(connections=2, timeout_s=2.0)
            answer = await h1.request("GET", url / "cl", {}, None)
            assert (answer.status, len(answer.body)) == (200, 10_000)
            assert answer.header("X-CACHE") == "HIT" and answer.header("Content-Encoding") is None
            assert await get(h1, url / "chunked") == (200, b"a" * 3000 + b"b" * 3000 + b"c" * 3000)
            peers = {(await get(h1, url / "peer"))[1] for _ in range(5)}
            assert len(peers) == 1  # one keep-alive connection, one request at a time
            assert await get(h1, url / "slow") == (200, b"s" * 200)  # 0.4 s between parts
            h1.timeout_s = 0.2
            with pytest.raises(TimeoutError):
                await get(h1, url / "slow")
            h1.timeout_s = 2.0
            assert (await get(h1, url / "cl"))[0] == 200  # the timed-out one was not reused
            await h1.close()

    run(main)


def test_uvicorn_closing_idle_connections_costs_no_request() -> None:
    async def main() -> None:
        async with uvicorn_server(keep_alive_s=0.1) as url:
            h1 = H1Transport(connections=1, timeout_s=2.0)
            peers = set()
            for _ in range(3):
                peers.add((await get(h1, url / "peer"))[1])
                await asyncio.sleep(0.3)  # uvicorn closes the idle connection meanwhile
            assert len(peers) == 3
            await h1.close()

    run(main)


async def _aiohttp_app() -> web.Application:
    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for part in (b"one,", b"two,", b"three"):
            await resp.write(part)
        await resp.write_eof()
        return resp

    async def plain(request: web.Request) -> web.Response:
        return web.Response(body=b'{"id": 7}', headers={"Content-Encoding": "identity"})

    app = web.Application()
    app.router.add_get("/chunked", chunked)
    app.router.add_route("*", "/plain", plain)
    return app


def test_aiohttp_server_chunked_head_and_bodies_sent() -> None:
    async def main() -> None:
        runner = web.AppRunner(await _aiohttp_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        url = URL(f"http://127.0.0.1:{port}")
        h1 = H1Transport(connections=4, timeout_s=2.0)
        try:
            assert await get(h1, url / "chunked") == (200, b"one,two,three")
            answer = await h1.request("POST", url / "plain", {"Content-Type": "application/json"},
                                      b'{"a": 1}')
            assert (answer.status, answer.body) == (200, b'{"id": 7}')
            assert answer.header("content-encoding") == "identity"
            head = await h1.request("HEAD", url / "plain", {}, None)  # a length, no body
            assert (head.status, head.body) == (200, b"")
            assert await get(h1, url / "chunked") == (200, b"one,two,three")
        finally:
            await h1.close()
            await runner.cleanup()

    run(main)


def test_close_delimited_bodies_and_1xx_before_the_answer() -> None:
    close_delimited = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"z" * 5000
    http10 = b"HTTP/1.0 200 OK\r\n\r\nold"
    early = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
             + ok(b"after hints"))

    async def main() -> None:
        h1 = H1Transport(connections=1, timeout_s=2.0)
        async with RawServer(answers(close_delimited, then_close=True)).running() as s:
            assert await get(h1, s.url) == (200, b"z" * 5000)
            assert await get(h1, s.url) == (200, b"z" * 5000)
            assert s.connections == 2  # the close ended the body, and the connection
        async with RawServer(answers(http10, then_close=True)).running() as s:
            assert await get(h1, s.url) == (200, b"old")
        async with RawServer(answers(early)).running() as s:
            for _ in range(3):
                assert await get(h1, s.url) == (200, b"after hints")
            assert s.connections == 1
        await h1.close()

    run(main)


def _closes_on_second_request() -> Callable[..., Awaitable[None]]:
    """Each connection answers its first request (keep-alive) and closes on the second
    without answering: the race of a server closing an idle connection as a request goes."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      _: int) -> None:
        await read_request(reader)
        writer.write(ok(b"first"))
        await writer.drain()
        await read_request(reader)
    return handler


def test_a_reused_connection_the_server_closed_is_retried_once_when_idempotent() -> None:
    async def main() -> None:
        h1 = H1Transport(connections=1, timeout_s=2.0)
        async with RawServer(_closes_on_second_request()).running() as s:
            assert await get(h1, s.url) == (200, b"first")
            assert await get(h1, s.url) == (200, b"first")  # sent again on a new connection
            assert s.connections == 2
            with pytest.raises(TransportError) as failed:  # a POST is never sent twice
                await get(h1, s.url, "POST")
            assert failed.value.kind == "disconnected"
            assert s.connections == 2
        await h1.close()

    run(main)


def test_connections_are_bounded_and_a_cancelled_request_takes_its_connection() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while request := await read_request(reader):
            if b"/hang" in request:  # never answers: waits for the client to close
                await reader.read(1)
                return
            body = request.split(b" ")[1]
            writer.write(ok(body))
            await writer.drain()

    async def main() -> None:
        h1 = H1Transport(connections=3, timeout_s=2.0)
        async with RawServer(echo).running() as s:
            answers = await asyncio.gather(*(get(h1, s.url / f"n{i}") for i in range(12)))
            assert [body for _, body in answers] == [f"/n{i}".encode() for i in range(12)]
            assert s.most_open <= 3
            task = asyncio.create_task(get(h1, s.url / "hang"))
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for _ in range(3):
                assert await get(h1, s.url / "next") == (200, b"/next")
            for _ in range(100):  # the cancelled request's connection is closed, not left
                if s.open == 2:
                    break
                await asyncio.sleep(0.02)
            assert (s.connections, s.open) == (3, 2)
        await h1.close()

    run(main)


def test_bytes_after_an_answer_close_its_connection() -> None:
    stale = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nst"  # unasked, and cut

    async def extra(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    number: int) -> None:
        while await read_request(reader):
            writer.write(ok(f"answer {number}".encode()))
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(stale)

    async def main() -> None:
        h1 = H1Transport(connections=1, timeout_s=2.0)
        async with RawServer(extra).running() as s:
            assert await get(h1, s.url) == (200, b"answer 1")
            await asyncio.sleep(0.2)
            assert await get(h1, s.url) == (200, b"answer 2")  # a new connection
        await h1.close()

    run(main)


def test_tls_with_a_self_signed_certificate(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def main() -> tuple[str, int, bytes]:
        runner = web.AppRunner(await _aiohttp_app())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
        await site.start()
        url = URL(f"https://127.0.0.1:{runner.addresses[0][1]}")
        try:
            untrusted = H1Transport(connections=1, timeout_s=2.0)
            with pytest.raises(TransportError) as refused:
                await get(untrusted, url / "chunked")
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the default context trusts it
            trusted = H1Transport(connections=1, timeout_s=2.0)
            status, body = await get(trusted, url / "chunked")
            await trusted.close()
            return refused.value.kind, status, body
        finally:
            await runner.cleanup()

    kind, status, body = run(main)
    assert kind == "connect"  # as aiohttp counts a refused certificate
    assert (status, body) == (200, b"one,two,three")


def test_the_request_on_the_wire() -> None:
    seen: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     _: int) -> None:
        while request := await read_request(reader):
            seen.append(request)
            writer.write(ok(b""))

    async def main() -> None:
        h1 = H1Transport(connections=1, timeout_s=2.0)
        async with RawServer(record).running() as s:
            await h1.request("GET", s.url.with_path("/a b").with_query(q="x y"),
                             {"Authorization": "Bearer t", "accept": "application/json"}, None)
            await h1.request("POST", s.url / "p", {}, None)
            with pytest.raises(TransportError) as bad:
                await h1.request("GET", s.url, {"X-Evil": "a\r\nInjected: 1"}, None)
            assert bad.value.kind == "header"
        await h1.close()

    run(main)
    first = seen[0].decode()
    assert first.startswith("GET /a%20b?q=x+y HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "Authorization: Bearer t\r\n" in first and "accept: application/json" in first
    assert "Accept: */*" not in first and "Accept-Encoding: gzip, deflate" in first
    assert "Content-Length: 0\r\n" in seen[1].decode()


def test_head_overflow_is_malformed() -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 1000 + b"\r\n"

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        for i in range(2 * MAX_HEAD_BYTES // len(endless) + 2):  # headers that never end
            writer.write(endless[17:] if i else endless)
            await writer.drain()
        await asyncio.sleep(5)

    async def main() -> str:
        h1 = H1Transport(connections=1, timeout_s=3.0)
        async with RawServer(flood).running() as s:
            started = time.perf_counter()
            with pytest.raises(TransportError) as failed:
                await get(h1, s.url)
            assert time.perf_counter() - started < 2.0  # not the timeout: the limit
        return failed.value.kind

    assert run(main) == "malformed"
