"""The library's limit: a bare aiohttp + uvloop request loop, nothing measured, nothing kept.

    .venv/bin/python benchmarks/bare_aiohttp.py URL SECONDS CONNECTIONS

Prints {"rps": ...} as JSON. client_overhead.py runs it pinned to the client core beside
perfkit: perfkit's own path should cost little on top of this.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import uvloop


async def loop(url: str, seconds: float, connections: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url) as resp:
                    await resp.read()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return done / (time.perf_counter() - started)


def main() -> None:
    url, seconds, connections = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    print(json.dumps({"rps": uvloop.run(loop(url, seconds, connections))}))


if __name__ == "__main__":
    main()
