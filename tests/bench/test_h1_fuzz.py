"""Malformed answers to h1 (perfkit/bench/h1.py) from a raw loopback server: each is an error
of that request within its timeout, never a hang, never an exception of another kind; and
the engine records them as errors of their route, on both transports alike."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from perfkit.bench.engine_choice import open_transport
from perfkit.bench.h1 import H1Transport
from perfkit.bench.options import BenchOptions, Engine
from perfkit.bench.record import Phase, Run
from perfkit.bench.scenario import Scenario
from perfkit.bench.scheduler import run_bench_sync
from perfkit.bench.transport import TransportError
from perfkit.render.run import run_warnings
from tests.bench.h1_support import RawServer, read_request
from tests.bench.test_h1 import ok, run

TIMEOUT_S = 0.5
VALID = ok(b'{"ok": true}', "X-Cache: MISS")

# Named cases: (answer, whether the server then holds the connection open, kinds allowed).
NAMED: list[tuple[bytes, bool, set[str]]] = [
    (b"HTTQ/1.1 200 OK\r\n\r\n", False, {"malformed"}),
    (b"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", False, {"malformed"}),
    (b"garbage\r\n\r\n", True, {"malformed"}),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", True,
     {"malformed"}),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", False, {"disconnected"}),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", True, {"timeout"}),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", False, {"disconnected"}),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", True, {"timeout"}),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", True, {"malformed"}),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", True,
     {"malformed"}),
    (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", True, {"malformed"}),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n", True,
     {"malformed"}),
    (b"HTTP/1.1 200 OK\r\nContent-Le", False, {"disconnected"}),
    (b"HTTP/1.1 200 OK\r\nContent-Le", True, {"timeout"}),
    (b"", False, {"disconnected"}),
    (b"", True, {"timeout"}),
    (b"HTTP/1.1 100 Continue\r\n\r\n", False, {"disconnected"}),
]
RANDOM_CASES = 150


def _random_cases(seed: int) -> list[bytes]:
    """Random bytes, and valid answers with bytes flipped, cut or repeated."""
    rng = random.Random(seed)
    cases = []
    for i in range(RANDOM_CASES):
        if i % 3 == 0:
            cases.append(rng.randbytes(rng.randrange(1, 400)))
            continue
        data = bytearray(VALID)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(data))
            data[at] = rng.randrange(256)
        cut = rng.randrange(len(data) + 1) if i % 3 == 1 else len(data)
        cases.append(bytes(data[:cut]) * (1 + (i % 5 == 0)))
    return cases


def _server(cases: list[tuple[bytes, bool]]) -> RawServer:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      _: int) -> None:
        request = await read_request(reader)
        if not request:  # the engine's preflight: a connect, no request
            return
        index = int(request.split(b" ")[1].strip(b"/"))
        answer, hold = cases[index]
        writer.write(answer)
        await writer.drain()
        if hold:
            await asyncio.sleep(10)  # until the client gives up (the server's exit aborts it)
    return RawServer(handler)


async def _one(h1: H1Transport, server: RawServer, index: int) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        answer = await h1.request("GET", server.url / str(index), {}, None)
        outcome = f"answer {answer.status}"
    except TransportError as exc:
        outcome = exc.kind
    except TimeoutError:
        outcome = "timeout"
    return outcome, time.perf_counter() - started


def test_named_malformed_answers_are_errors_of_their_kind() -> None:
    async def main() -> list[tuple[str, float]]:
        h1 = H1Transport(connections=len(NAMED), timeout_s=TIMEOUT_S)
        async with _server([(a, hold) for a, hold, _ in NAMED]).running() as server:
            results = await asyncio.gather(*(_one(h1, server, i) for i in range(len(NAMED))))
        await h1.close()
        return results

    for (answer, hold, kinds), (outcome, took) in zip(NAMED, run(main), strict=True):
        assert outcome in kinds, (answer, hold, outcome)
        assert took < TIMEOUT_S + 0.5, (answer, took)


@pytest.mark.parametrize("hold", [False, True], ids=["then-close", "then-hold"])
def test_random_answers_never_hang(hold: bool) -> None:
    cases = [(c, hold) for c in _random_cases(seed=24 + hold)]

    async def main() -> list[tuple[str, float]]:
        h1 = H1Transport(connections=50, timeout_s=TIMEOUT_S)
        async with _server(cases).running() as server:
            results = await asyncio.gather(*(_one(h1, server, i) for i in range(len(cases))))
        await h1.close()
        return results

    started = time.perf_counter()
    results = run(main)
    assert time.perf_counter() - started < 10 * TIMEOUT_S + 5  # 150 cases, 50 at a time
    allowed = {"malformed", "disconnected", "reset", "timeout"}
    for (case, _), (outcome, took) in zip(cases, results, strict=True):
        assert outcome in allowed or outcome.startswith("answer "), (case, outcome)
        assert took < TIMEOUT_S + 0.5, (case, took)
    kinds = {outcome.split()[0] for outcome, _ in results}
    assert "malformed" in kinds  # the fuzz reached the parser's errors, not only timeouts


def test_both_transports_name_faults_alike(engine: Engine) -> None:
    faults = [(b"garbage\r\n\r\n", False), (b"", False), (b"HTTP/1.1 200 OK\r\n", True),
              (VALID, False)]

    async def main() -> list[str]:
        async with _server(faults).running() as server:
            transport = open_transport(BenchOptions(str(server.url), engine=engine,
                                                    timeout_s=TIMEOUT_S), 4)
            outcomes = []
            for i in range(len(faults)):
                try:
                    answer = await transport.request("GET", server.url / str(i), {}, None)
                    outcomes.append(f"{answer.status} {answer.header('x-cache')}")
                except TransportError as exc:
                    outcomes.append(exc.kind)
                except TimeoutError:
                    outcomes.append("timeout")
            closed = server.url
        try:  # the server is gone: its port refuses
            await transport.request("GET", closed, {}, None)
        except TransportError as exc:
            outcomes.append(exc.kind)
        await transport.close()
        return outcomes

    assert run(main) == ["malformed", "disconnected", "timeout", "200 MISS", "refused"]


def test_the_engine_records_malformed_answers_as_errors_and_says_its_engine(
        engine: Engine) -> None:
    async def serve() -> None:
        async with _server([(b"garbage\r\n\r\n", False)] * 100).running() as server:
            options = BenchOptions(str(server.url), requests=12, concurrency=3,
                                   timeout_s=TIMEOUT_S, engine=engine)
            loop = asyncio.get_running_loop()
            result.append(await loop.run_in_executor(None, run_bench_sync,
                                                     Scenario.for_path("/0"), options))

    result: list[Run] = []
    run(serve)
    assert result[0].records[("GET /0", Phase.ALL)].errors == {"malformed": 12}
    assert result[0].generator.engine == engine.value


def test_redirects_are_said_under_h1_and_followed_by_aiohttp(engine: Engine) -> None:
    moved = (b"HTTP/1.1 302 Found\r\nLocation: /1\r\nContent-Length: 0\r\n"
             b"Connection: close\r\n\r\n")
    there = ok(b"here", "Connection: close")

    async def serve() -> Run:
        async with _server([(moved, False), (there, False)]).running() as server:
            options = BenchOptions(str(server.url), requests=4, concurrency=1, engine=engine)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, run_bench_sync, Scenario.for_path("/0"),
                                              options)

    record = run(serve)
    warnings = [w for w in run_warnings(record) if "redirect" in w]
    if engine is Engine.H1:
        assert record.records[("GET /0", Phase.ALL)].errors == {"302": 4}
        assert warnings == ["GET /0 answered 4 redirect(s) (302), counted as errors: the h1 "
                            "engine does not follow redirects; bench the URL they lead to, or "
                            "use --engine aiohttp, which follows them (each timed with its "
                            "redirects)"]
    else:
        assert record.total_count == 4 and record.total_errors == 0 and not warnings
