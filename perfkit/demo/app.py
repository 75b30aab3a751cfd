"""The demo backend: the seed's FastAPI routes over PostgreSQL, with its TTL caches and metrics.

`Backend.current_user` calls a simulated remote auth provider (the seed's Supabase call,
~150 ms) unless the auth cache has the user; `--no-cache` is the seed's "before". A fault knob
(`/_demo/faults`) adds latency or 5xx per route at run time, for tests, or turns a list route
into N+1 (one more statement per row). The `/_demo/*` control routes, `/healthz` and the API
schema are perfkit's own traffic: never in the metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Receive, Scope, Send

from perfkit.demo import auth
from perfkit.demo.cache import TTLCache
from perfkit.demo.control import CACHE_CLEAR_PATH, FAULTS_PATH, ROUTES_PATH, Faults, FaultState
from perfkit.demo.metrics import (
    DEFAULT_PROFILE,
    METRICS_PATH,
    MetricsProfile,
    install_metrics,
    is_control_path,
    route_template,
)

log = logging.getLogger("app")

Row = dict[str, Any]
#: The seed's other cache TTLs: conversation 1 min, bot profile 5 min (auth: see auth.py).
CONVERSATION_TTL_S, BOT_PROFILE_TTL_S = 60.0, 300.0

ACCOUNTS_OF_USER_SQL = """SELECT id, phone_number_id, display_name FROM whatsapp_accounts
WHERE user_id = %s ORDER BY id"""
CONVERSATION_BY_ID_SQL = """SELECT id, account_id, contact_wa_id, contact_name, status, updated_at
FROM conversations WHERE id = %s"""
CONVERSATIONS_SQL = """SELECT id, account_id, contact_wa_id, contact_name, status, updated_at
FROM conversations WHERE account_id = %s ORDER BY updated_at DESC LIMIT 50"""
MESSAGES_SQL = """SELECT id, conversation_id, "timestamp", direction, body, status
FROM messages WHERE conversation_id = %s ORDER BY "timestamp" DESC LIMIT 50"""
ACCOUNT_BY_PHONE_SQL = """SELECT id, user_id, phone_number_id, display_name
FROM whatsapp_accounts WHERE phone_number_id = %s"""
BOT_PROFILE_SQL = "SELECT account_id, name, enabled FROM bot_profiles WHERE account_id = %s"
CONTACT_CONVERSATION_SQL = """SELECT id FROM conversations
WHERE account_id = %s AND contact_wa_id = %s ORDER BY updated_at DESC LIMIT 1"""
# Two first messages of one contact at once: the unique (account_id, contact_wa_id) keeps one
# conversation, and the second insert becomes an update instead of a 500.
NEW_CONVERSATION_SQL = """INSERT INTO conversations
(id, account_id, contact_wa_id, contact_name, created_at, updated_at)
VALUES (gen_random_uuid(), %s, %s, %s, now(), now())
ON CONFLICT (account_id, contact_wa_id) DO UPDATE SET updated_at = excluded.updated_at
RETURNING id"""
TOUCH_CONVERSATION_SQL = "UPDATE conversations SET updated_at = now() WHERE id = %s"
INBOUND_MESSAGE_SQL = """INSERT INTO messages (conversation_id, "timestamp", direction, body)
VALUES (%s, now(), 'inbound', %s)"""
# The N+1 fault's per-row lookups, by primary key as an ORM's lazy load runs them (Django's
# `conversation.account` without select_related). Texts no other route runs, so that
# pg_stat_statements counts them apart: a gate names the statement and its calls per request.
ACCOUNT_BY_ID_SQL = """SELECT id, user_id, phone_number_id, display_name, created_at
FROM whatsapp_accounts WHERE id = %s"""
BOT_PROFILE_BY_ACCOUNT_SQL = """SELECT account_id, name, prompt, enabled
FROM bot_profiles WHERE account_id = %s"""


@dataclass(frozen=True)
class PerRowLookup:
    """What the N+1 fault runs for each row of a list route: `sql` with the row's `key`."""

    sql: str
    key: str


#: Keyed by control.LIST_ROUTES (the client checks a route against those, without FastAPI).
PER_ROW_LOOKUPS = {"/conversations": PerRowLookup(ACCOUNT_BY_ID_SQL, "account_id"),
                   "/accounts": PerRowLookup(BOT_PROFILE_BY_ACCOUNT_SQL, "id")}


@dataclass
class DemoConfig:
    dsn: str
    cache: bool = True
    metrics_profile: MetricsProfile = DEFAULT_PROFILE
    auth_latency_ms: float = auth.DEFAULT_AUTH_LATENCY_MS
    app_name: str = "perfkit-demo"
    pool_size: int = 10


class FaultMiddleware:
    """Inside the metrics middleware, so injected latency and errors are what Prometheus sees."""

    def __init__(self, app: ASGIApp, *, starlette_app: FastAPI, faults: Faults) -> None:
        self.app = app
        self.starlette_app = starlette_app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (self.faults.latency_ms or self.faults.error_ratio):
            route = route_template(self.starlette_app, scope)
            if route is not None and route != METRICS_PATH and not is_control_path(route):
                delay_ms, ratio = self.faults.for_route(route)
                if delay_ms > 0:
                    await asyncio.sleep(delay_ms / 1000)
                if ratio > 0 and random.random() < ratio:
                    response = JSONResponse({"detail": "injected fault"}, status_code=500)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


@dataclass
class Caches:
    """The seed's three TTL caches; disabled, they are its "before" (no lookups, no logs)."""

    auth_user: TTLCache[Row]
    conversation: TTLCache[Row]
    bot_profile: TTLCache[Row]

    @classmethod
    def of(cls, enabled: bool) -> Caches:
        return cls(TTLCache(auth.AUTH_TTL_S, enabled=enabled),
                   TTLCache(CONVERSATION_TTL_S, enabled=enabled),
                   TTLCache(BOT_PROFILE_TTL_S, enabled=enabled))

    def clear(self) -> None:
        for cache in (self.auth_user, self.conversation, self.bot_profile):
            cache.clear()


class Backend:
    """The seed's service layer: the pool, the auth dependency, the cached lookups, the write."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.pool = AsyncConnectionPool(
            config.dsn, connection_class=AsyncConnection[DictRow], min_size=2,
            max_size=config.pool_size, open=False,
            kwargs={"row_factory": dict_row, "autocommit": True})
        self.caches = Caches.of(config.cache)
        self.faults = Faults()

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        await self.pool.open(wait=True, timeout=30)
        log.info("demo backend ready (cache %s, metrics %s)",
                 "on" if self.config.cache else "off", self.config.metrics_profile)
        yield
        await self.pool.close()

    async def fetch_all(self, sql: str, *params: Any) -> list[Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def fetch_list(self, route: str, sql: str, *params: Any) -> list[Row]:
        """A list route's rows; under the N+1 fault, then one lookup per row on the same
        connection (its answer unused: the response keeps its shape)."""
        lookup = PER_ROW_LOOKUPS[route] if route in self.faults.n_plus_one else None
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(sql, params)).fetchall()
            if lookup is not None:
                for row in rows:
                    await (await conn.execute(lookup.sql, (row[lookup.key],))).fetchall()
        return rows

    async def fetch_one(self, sql: str, *params: Any) -> Row | None:
        rows = await self.fetch_all(sql, *params)
        return rows[0] if rows else None

    async def remote_auth_provider(self, token: str) -> Row | None:
        """The seed's Supabase `auth.get_user(token)`: a network round trip, then the row."""
        await asyncio.sleep(self.config.auth_latency_ms / 1000)
        return await self.fetch_one(auth.USER_BY_TOKEN_SQL, token)

    async def current_user(self, authorization: str | None = Header(default=None)) -> Row:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise HTTPException(401, "missing bearer token")
        token = authorization.split(" ", 1)[1].strip()
        key, shown = auth.cache_key(token)
        user = self.caches.auth_user.get(key, shown=shown)
        if user is None:
            user = await self.remote_auth_provider(token)
            if user is None:
                raise HTTPException(401, "invalid token")
            self.caches.auth_user.put(key, user)
        return user

    async def conversation_by_id(self, conversation_id: UUID) -> Row:
        key = f"conversation:{conversation_id}"
        conversation = self.caches.conversation.get(key)
        if conversation is None:
            conversation = await self.fetch_one(CONVERSATION_BY_ID_SQL, conversation_id)
            if conversation is None:
                raise HTTPException(404, "conversation not found")
            self.caches.conversation.put(key, conversation)
        return conversation

    async def bot_profile(self, account_id: int) -> Row | None:
        key = f"bot_profile:account_{account_id}"
        profile = self.caches.bot_profile.get(key)
        if profile is None:
            profile = await self.fetch_one(BOT_PROFILE_SQL, account_id)
            if profile is not None:
                self.caches.bot_profile.put(key, profile)
        return profile

    async def receive_message(self, account_id: int, sender: str, text: str) -> Any:
        """The webhook's write: find or open the contact's conversation, add the message."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(CONTACT_CONVERSATION_SQL, (account_id, sender))
            row = await cur.fetchone()
            if row is None:
                cur = await conn.execute(NEW_CONVERSATION_SQL, (account_id, sender, sender))
                row = await cur.fetchone()
            else:
                await conn.execute(TOUCH_CONVERSATION_SQL, (row["id"],))
            if row is None:
                raise HTTPException(500, "the conversation insert returned no row")
            await conn.execute(INBOUND_MESSAGE_SQL, (row["id"], text))
        return row["id"]


def add_api_routes(app: FastAPI, backend: Backend) -> None:
    """The seed's read routes, each behind the auth dependency."""
    user_dep = Depends(backend.current_user)

    @app.get("/auth/me")
    async def auth_me(user: Row = user_dep) -> Row:
        return user

    @app.get("/accounts")
    async def accounts(user: Row = user_dep) -> list[Row]:
        return await backend.fetch_list("/accounts", ACCOUNTS_OF_USER_SQL, user["id"])

    @app.get("/conversations")
    async def conversations(account_id: int, user: Row = user_dep) -> list[Row]:
        return await backend.fetch_list("/conversations", CONVERSATIONS_SQL, account_id)

    @app.get("/conversations/{conversation_id}")
    async def conversation(conversation_id: UUID, user: Row = user_dep) -> Row:
        return await backend.conversation_by_id(conversation_id)

    @app.get("/messages/{conversation_id}")
    async def messages(conversation_id: UUID, user: Row = user_dep) -> list[Row]:
        await backend.conversation_by_id(conversation_id)
        return await backend.fetch_all(MESSAGES_SQL, conversation_id)


def add_webhook_route(app: FastAPI, backend: Backend) -> None:
    @app.post("/webhooks/whatsapp")
    async def whatsapp_webhook(request: Request) -> Row:
        phone_number_id, sender, text = parse_webhook(await request.json())
        account = await backend.fetch_one(ACCOUNT_BY_PHONE_SQL, phone_number_id)
        if account is None:
            raise HTTPException(404, "unknown phone_number_id")
        await backend.bot_profile(account["id"])
        conversation_id = await backend.receive_message(account["id"], sender, text)
        return {"status": "ok", "conversation_id": str(conversation_id)}


def api_routes(app: FastAPI) -> list[str]:
    """The route templates of the API (what a fault can target), without the control routes."""
    return sorted({r.path for r in app.routes
                   if isinstance(r, APIRoute) and r.include_in_schema})


def add_control_routes(app: FastAPI, backend: Backend) -> None:
    """perfkit's own routes: health, the fault knob, the cache reset and the route list."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(FAULTS_PATH, include_in_schema=False)
    async def get_faults() -> Row:
        return FaultState(backend.faults, backend.config.cache,
                          backend.config.metrics_profile.value).to_json()

    @app.put(FAULTS_PATH, include_in_schema=False)
    async def put_faults(request: Request) -> Row:
        backend.faults.set_from(Faults.from_json(await request.json()))
        return await get_faults()

    @app.post(CACHE_CLEAR_PATH, include_in_schema=False)
    async def clear_caches() -> dict[str, str]:
        backend.caches.clear()
        return {"status": "cleared"}

    @app.get(ROUTES_PATH, include_in_schema=False)
    async def routes() -> list[str]:
        return api_routes(app)


def create_app(config: DemoConfig) -> FastAPI:
    backend = Backend(config)
    app = FastAPI(title="perfkit demo backend", lifespan=backend.lifespan)
    add_api_routes(app, backend)
    add_webhook_route(app, backend)
    add_control_routes(app, backend)
    app.add_middleware(FaultMiddleware, starlette_app=app, faults=backend.faults)
    install_metrics(app, config.metrics_profile, config.app_name)
    return app


def parse_webhook(payload: Any) -> tuple[str, str, str]:
    """(phone_number_id, sender, text) from a WhatsApp Cloud API payload or a flat one."""
    try:
        if "entry" in payload:
            value = payload["entry"][0]["changes"][0]["value"]
            message = value["messages"][0]
            return (str(value["metadata"]["phone_number_id"]), str(message["from"]),
                    str(message.get("text", {}).get("body", "")))
        return str(payload["phone_number_id"]), str(payload["from"]), str(payload.get("text", ""))
    except (KeyError, IndexError, TypeError) as exc:
        raise HTTPException(422, f"malformed webhook payload: missing {exc}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m perfkit.demo.app",
                                     description="perfkit's demo backend (reads the DSN from "
                                                 "PERFKIT_DEMO_DSN)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-cache", action="store_true", help="the 'before': no caches")
    parser.add_argument("--metrics-profile", type=MetricsProfile, default=DEFAULT_PROFILE,
                        choices=list(MetricsProfile))
    parser.add_argument("--auth-latency-ms", type=float, default=auth.DEFAULT_AUTH_LATENCY_MS)
    args = parser.parse_args(argv)
    dsn = os.environ.get("PERFKIT_DEMO_DSN")
    if not dsn:
        parser.error("PERFKIT_DEMO_DSN is not set")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = DemoConfig(dsn=dsn, cache=not args.no_cache, metrics_profile=args.metrics_profile,
                        auth_latency_ms=args.auth_latency_ms)
    import uvicorn  # local: the `demo` extra

    uvicorn.run(create_app(config), host=args.host, port=args.port, access_log=False,
                log_level="warning", loop="auto", http="auto")


if __name__ == "__main__":
    main()
