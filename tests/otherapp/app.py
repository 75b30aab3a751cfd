"""A second small backend, not shaped like the demo: perfkit must work on it as on any app.

A notes service on aiohttp (not FastAPI), its own PostgreSQL database and role, metrics named
as starlette-exporter names them (`starlette_requests_total`, `starlette_request_duration_
seconds`, labels method/path/status_code), an API-key header instead of a bearer token, a
cache whose log lines have a format of their own (`cache lookup hit key=note:42`), no
/auth/me, no /openapi.json. Its one slow query has no index: `notes` by owner, newest first.

Usage: python tests/otherapp/app.py DATABASE_URL LOG_FILE   (prints its URL once listening)
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

API_KEY = "notes-api-key-never-printed"
FAST_BUCKETS_S = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                  2.5, 5.0, 10.0)
NOTES = 40_000
OWNERS = 400
BY_OWNER_SQL = ("SELECT id, title, created_at FROM notes WHERE owner_id = %s "
                "ORDER BY created_at DESC LIMIT 20")
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS notes (
  id bigserial PRIMARY KEY, owner_id int NOT NULL, created_at timestamptz NOT NULL,
  title text NOT NULL, body text NOT NULL);
INSERT INTO notes (owner_id, created_at, title, body)
SELECT 1 + (i * 7919) % {OWNERS}, now() - (i || ' seconds')::interval, 'note ' || i,
       repeat('x', 200)
FROM generate_series(1, {NOTES}) AS i
WHERE NOT EXISTS (SELECT 1 FROM notes LIMIT 1);
ANALYZE notes;
"""


class Metrics:
    """What starlette-exporter exports, with its names and labels."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["method", "path", "status_code", "app_name"]
        self.requests = Counter("starlette_requests", "requests", labels,
                                registry=self.registry)
        # Buckets from 1 ms, as a team sets them for a fast service (starlette-exporter takes
        # `buckets=`): the default's first bound is 5 ms.
        self.duration = Histogram("starlette_request_duration_seconds", "duration", labels,
                                  registry=self.registry, buckets=FAST_BUCKETS_S)

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        values = (method, path, str(status), "notes")
        self.requests.labels(*values).inc()
        self.duration.labels(*values).observe(seconds)


def make_app(dsn: str, log_file: Path) -> web.Application:
    metrics, cache = Metrics(), dict[int, dict[str, object]]()
    spread = itertools.count()
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False,
                               kwargs={"row_factory": dict_row})
    log = log_file.open("a", buffering=1)

    @web.middleware
    async def measured(request: web.Request, handler):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        route = request.match_info.route.resource
        path = route.canonical if route is not None else request.path
        try:
            response = await handler(request)
            status = response.status
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            if path not in ("/metrics", "/healthz"):
                metrics.observe(request.method, path, status, time.perf_counter() - started)
        return response

    def authorized(request: web.Request) -> None:
        if request.headers.get("X-API-Key") != API_KEY:
            raise web.HTTPUnauthorized(text="missing or wrong X-API-Key")

    async def by_owner(request: web.Request) -> web.Response:
        authorized(request)
        # A known spread of 2-7 ms (the rendering a real list does): the query alone takes
        # under 1 ms on loopback, every request in one bucket, and no verdict to give.
        await asyncio.sleep((2 + next(spread) % 6) / 1000)
        async with pool.connection() as conn:
            rows = await (await conn.execute(BY_OWNER_SQL, (int(request.query["owner"]),))
                          ).fetchall()
        return web.json_response([{"id": r["id"], "title": r["title"]} for r in rows])

    async def one(request: web.Request) -> web.Response:
        authorized(request)
        note_id = int(request.match_info["note_id"])
        found = cache.get(note_id)
        log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} INFO cache lookup "
                  f"{'hit' if found else 'miss'} key=note:{note_id}\n")
        if found is None:
            await asyncio.sleep(0.02)  # the slow store behind the cache
            async with pool.connection() as conn:
                found = await (await conn.execute(
                    "SELECT id, title FROM notes WHERE id = %s", (note_id,))).fetchone()
            if found is None:
                raise web.HTTPNotFound(text="no such note")
            cache[note_id] = found
        return web.json_response({"id": found["id"], "title": found["title"]})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics_page(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry),
                            content_type="text/plain")

    async def on_startup(_: web.Application) -> None:
        await pool.open(wait=True, timeout=30)
        async with pool.connection() as conn:
            await conn.execute(SCHEMA)  # type: ignore[arg-type]

    async def on_cleanup(_: web.Application) -> None:
        await pool.close()
        log.close()

    app = web.Application(middlewares=[measured])
    app.router.add_get("/notes", by_owner)
    app.router.add_get("/notes/{note_id}", one)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def serve(dsn: str, log_file: Path) -> None:
    runner = web.AppRunner(make_app(dsn, log_file), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sys.argv[1], Path(sys.argv[2])))
