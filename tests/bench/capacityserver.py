"""A server of known capacity, for `bench --find-max`: `/pool` serves each request in
--service-ms behind --workers slots (capacity workers / service time), `/limit` answers at
most --limit requests a second (each waits for the next free slot). Prints its URL first."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

from aiohttp import web


def make_app(workers: int, service_s: float, limit_per_s: float) -> web.Application:
    slots = asyncio.Semaphore(workers)
    next_free = [0.0]

    async def pool(_: web.Request) -> web.Response:
        async with slots:
            await asyncio.sleep(service_s)
        return web.Response(text="ok")

    async def limit(_: web.Request) -> web.Response:
        now = time.monotonic()
        slot = max(now, next_free[0])
        next_free[0] = slot + 1.0 / limit_per_s
        if slot > now:
            await asyncio.sleep(slot - now)
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/pool", pool), web.get("/limit", limit)])
    return app


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(make_app(args.workers, args.service_ms / 1000.0, args.limit),
                           access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sys.stdout.write(f"http://127.0.0.1:{runner.addresses[0][1]}\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--service-ms", type=float, default=20.0)
    parser.add_argument("--limit", type=float, default=100.0)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
