"""A third small backend, shaped like the apps of issue 25: an N+1, a query builder, a login
read on every request.

aiohttp, psycopg 3 through a pool with `prepare_threshold=None` (server-side parameters,
no prepared statement kept), its own database and role (tests/thirdapp/support.py), the SQL
of tests/thirdapp/schema.py. Login: `Authorization: Bearer <token>` (tokens from `token()`);
any other scheme is refused with 403 and the app's reason in the body. Every request, matched
or not, goes to its access log (`METHOD PATH?QUERY STATUS` a line): what a bench sent.

Usage: python tests/thirdapp/app.py DATABASE_URL ACCESS_LOG   (prints its URL once listening)
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.thirdapp import schema

TOKEN_SECRET = "third-app-token-never-printed"


def token(user_id: int) -> str:
    """The bearer token of user `user_id` (1..schema.USERS)."""
    return f"u{user_id}.{TOKEN_SECRET}"


def _errors(status: int, reason: str) -> web.HTTPException:
    cls = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound}[status]
    return cls(text=f'{{"errors":["{reason}"]}}', content_type="application/json")


def _user_id(request: web.Request) -> int:
    header = request.headers.get("Authorization")
    if not header:
        raise _errors(401, "missing authorization")
    scheme, _, value = header.partition(" ")
    if scheme != "Bearer":
        raise _errors(403, "unsupported authorization type")
    user, _, secret = value.partition(".")
    if secret != TOKEN_SECRET or not user.startswith("u") or not user[1:].isdigit():
        raise _errors(401, "invalid token")
    return int(user[1:])


def _article(row: Any) -> dict[str, Any]:
    return {"slug": row[1], "title": row[2], "author": {"username": f"user{row[5]}"},
            "tagList": [row[6]]}


def make_app(dsn: str, access_log: Path) -> web.Application:
    pool = AsyncConnectionPool(dsn, min_size=1, max_size=4, open=False,
                               kwargs={"prepare_threshold": None, "autocommit": True})
    log = access_log.open("a", buffering=1)

    @web.middleware
    async def logged(request: web.Request, handler):  # type: ignore[no-untyped-def]
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            log.write(f"{request.method} {request.path_qs} {status}\n")

    async def login(conn: AsyncConnection[Any], request: web.Request) -> None:
        user_id = _user_id(request)
        found = await (await conn.execute(schema.USER_BY_ID, (user_id,))).fetchone()  # type: ignore[arg-type]
        if found is None:
            raise _errors(401, "no such user")

    async def list_by_tag(request: web.Request) -> web.Response:
        async with pool.connection() as conn:
            await login(conn, request)
            rows = await (await conn.execute(schema.LIST_BY_TAG,  # type: ignore[arg-type]
                                             (request.query.get("tag", "tag0"),))).fetchall()
            articles = []
            for row in rows:  # the N+1: one count per listed article
                count = await (await conn.execute(schema.FAVORITES_COUNT,  # type: ignore[arg-type]
                                                  (row[0],))).fetchone()
                articles.append({"slug": row[1], "title": row[2],
                                 "author": {"username": f"user{row[3]}"},
                                 "favoritesCount": count[0] if count else 0})
        return web.json_response({"articles": articles, "articlesCount": len(articles)})

    async def by_slug(request: web.Request) -> web.Response:
        async with pool.connection() as conn:
            await login(conn, request)
            rows = await (await conn.execute(schema.QB_BY_SLUG,  # type: ignore[arg-type]
                                             (request.match_info["slug"],))).fetchall()
        if not rows:
            raise _errors(404, "no such article")
        return web.json_response({"article": _article(rows[0])})

    async def by_author(request: web.Request) -> web.Response:
        name = request.match_info["username"]
        if not name.startswith("user") or not name[4:].isdigit():
            raise _errors(404, "no such profile")
        async with pool.connection() as conn:
            await login(conn, request)
            rows = await (await conn.execute(schema.QB_BY_AUTHOR,  # type: ignore[arg-type]
                                             (int(name[4:]),))).fetchall()
        return web.json_response({"articles": [_article(r) for r in rows]})

    async def since(request: web.Request) -> web.Response:
        minute = int(request.match_info["minute"])
        async with pool.connection() as conn:
            await login(conn, request)
            rows = await (await conn.execute(schema.QB_SINCE,  # type: ignore[arg-type]
                                             (schema.EPOCH + timedelta(minutes=minute),))
                          ).fetchall()
        return web.json_response({"articles": [_article(r) for r in rows]})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def on_startup(_: web.Application) -> None:
        await pool.open(wait=True, timeout=30)

    async def on_cleanup(_: web.Application) -> None:
        await pool.close()
        log.close()

    app = web.Application(middlewares=[logged])
    app.router.add_get(schema.ROUTE_LIST, list_by_tag)
    app.router.add_get(schema.ROUTE_BY_SLUG, by_slug)
    app.router.add_get(schema.ROUTE_BY_AUTHOR, by_author)
    app.router.add_get("/articles-since/{minute:\\d+}", since)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def serve(dsn: str, access_log: Path) -> None:
    runner = web.AppRunner(make_app(dsn, access_log), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    import contextlib

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sys.argv[1], Path(sys.argv[2])))
