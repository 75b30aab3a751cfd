"""The demo backend: the seed's FastAPI routes over PostgreSQL, with its TTL caches and metrics.

`get_current_user` calls a simulated remote auth provider (the seed's Supabase call, ~150 ms)
unless the auth cache has the user; `--no-cache` is the seed's "before". A fault knob
(`/_demo/faults`) adds latency or 5xx per route at run time, for tests.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import random
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.types import ASGIApp, Receive, Scope, Send

from perfkit.demo.cache import TTLCache
from perfkit.demo.metrics import install_metrics, route_template

log = logging.getLogger("app")

MESSAGES_SQL = """SELECT id, conversation_id, "timestamp", direction, body, status
FROM messages WHERE conversation_id = %s ORDER BY "timestamp" DESC LIMIT 50"""
CONVERSATIONS_SQL = """SELECT id, account_id, contact_wa_id, contact_name, status, updated_at
FROM conversations WHERE account_id = %s ORDER BY updated_at DESC LIMIT 50"""
User = dict[str, Any]

ACCOUNT_BY_PHONE_SQL = """SELECT id, user_id, phone_number_id, display_name
FROM whatsapp_accounts WHERE phone_number_id = %s"""


@dataclass
class DemoConfig:
    dsn: str
    cache: bool = True
    metrics_profile: str = "fastapi-observability"
    auth_latency_ms: float = 145.0
    app_name: str = "perfkit-demo"
    pool_size: int = 10


@dataclass
class Faults:
    """Injected per-route latency and 5xx ratio; route templates or "*" for every route."""

    latency_ms: dict[str, float] = field(default_factory=dict)
    error_ratio: dict[str, float] = field(default_factory=dict)

    def for_route(self, route: str) -> tuple[float, float]:
        return (self.latency_ms.get(route, self.latency_ms.get("*", 0.0)),
                self.error_ratio.get(route, self.error_ratio.get("*", 0.0)))


class FaultMiddleware:
    """Inside the metrics middleware, so injected latency and errors are what Prometheus sees."""

    def __init__(self, app: ASGIApp, *, starlette_app: FastAPI, faults: Faults) -> None:
        self.app = app
        self.starlette_app = starlette_app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (self.faults.latency_ms or self.faults.error_ratio):
            route = route_template(self.starlette_app, scope)
            if route is not None and not route.startswith(("/_demo", "/metrics")):
                delay_ms, ratio = self.faults.for_route(route)
                if delay_ms > 0:
                    await asyncio.sleep(delay_ms / 1000)
                if ratio > 0 and random.random() < ratio:
                    response = JSONResponse({"detail": "injected fault"}, status_code=500)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_app(config: DemoConfig) -> FastAPI:
    pool = AsyncConnectionPool(config.dsn, min_size=2, max_size=config.pool_size, open=False,
                               kwargs={"row_factory": dict_row, "autocommit": True})
    auth_cache: TTLCache[dict[str, Any]] = TTLCache(120, enabled=config.cache)
    conversation_cache: TTLCache[dict[str, Any]] = TTLCache(60, enabled=config.cache)
    bot_cache: TTLCache[dict[str, Any]] = TTLCache(300, enabled=config.cache)
    faults = Faults()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        await pool.open(wait=True, timeout=30)
        log.info("demo backend ready (cache %s, metrics %s)",
                 "on" if config.cache else "off", config.metrics_profile)
        yield
        await pool.close()

    app = FastAPI(title="perfkit demo backend", lifespan=lifespan)

    async def fetch_all(sql: str, *params: Any) -> list[dict[str, Any]]:
        async with pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()  # type: ignore[return-value]

    async def fetch_one(sql: str, *params: Any) -> dict[str, Any] | None:
        rows = await fetch_all(sql, *params)
        return rows[0] if rows else None

    async def remote_auth_provider(token: str) -> dict[str, Any] | None:
        """The seed's Supabase `auth.get_user(token)`: a network round trip, then the row."""
        await asyncio.sleep(config.auth_latency_ms / 1000)
        return await fetch_one("SELECT id, email, full_name FROM users WHERE token = %s", token)

    async def get_current_user(authorization: str | None = Header(default=None)) -> dict[str, Any]:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise HTTPException(401, "missing bearer token")
        token = authorization.split(" ", 1)[1].strip()
        digest = token_digest(token)
        key = f"auth_user:{digest}"
        user = auth_cache.get(key, shown=f"auth_user:{digest[:12]}...")
        if user is None:
            user = await remote_auth_provider(token)
            if user is None:
                raise HTTPException(401, "invalid token")
            auth_cache.put(key, user)
        return user

    async def get_conversation_by_id(conversation_id: UUID) -> dict[str, Any]:
        key = f"conversation:{conversation_id}"
        conversation = conversation_cache.get(key)
        if conversation is None:
            conversation = await fetch_one(
                "SELECT id, account_id, contact_wa_id, contact_name, status, updated_at "
                "FROM conversations WHERE id = %s", conversation_id)
            if conversation is None:
                raise HTTPException(404, "conversation not found")
            conversation_cache.put(key, conversation)
        return conversation

    async def get_bot_profile(account_id: int) -> dict[str, Any] | None:
        key = f"bot_profile:account_{account_id}"
        profile = bot_cache.get(key)
        if profile is None:
            profile = await fetch_one("SELECT account_id, name, enabled FROM bot_profiles "
                                      "WHERE account_id = %s", account_id)
            if profile is not None:
                bot_cache.put(key, profile)
        return profile

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/auth/me")
    async def auth_me(user: User = Depends(get_current_user)) -> User:
        return user

    @app.get("/accounts")
    async def accounts(user: User = Depends(get_current_user)) -> list[dict[str, Any]]:
        return await fetch_all("SELECT id, phone_number_id, display_name FROM whatsapp_accounts "
                               "WHERE user_id = %s ORDER BY id", user["id"])

    @app.get("/conversations")
    async def conversations(account_id: int,
                            user: User = Depends(get_current_user)) -> list[dict[str, Any]]:
        return await fetch_all(CONVERSATIONS_SQL, account_id)

    @app.get("/conversations/{conversation_id}")
    async def conversation(conversation_id: UUID,
                           user: User = Depends(get_current_user)) -> dict[str, Any]:
        return await get_conversation_by_id(conversation_id)

    @app.get("/messages/{conversation_id}")
    async def messages(conversation_id: UUID,
                       user: User = Depends(get_current_user)) -> list[dict[str, Any]]:
        await get_conversation_by_id(conversation_id)
        return await fetch_all(MESSAGES_SQL, conversation_id)

    @app.post("/webhooks/whatsapp")
    async def whatsapp_webhook(request: Request) -> dict[str, Any]:
        payload = await request.json()
        phone_number_id, sender, text = parse_webhook(payload)
        account = await fetch_one(ACCOUNT_BY_PHONE_SQL, phone_number_id)
        if account is None:
            raise HTTPException(404, "unknown phone_number_id")
        await get_bot_profile(account["id"])
        async with pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT id FROM conversations WHERE account_id = %s AND contact_wa_id = %s "
                "ORDER BY updated_at DESC LIMIT 1", (account["id"], sender))
            row = await cur.fetchone()
            if row is None:
                cur = await conn.execute(
                    "INSERT INTO conversations (id, account_id, contact_wa_id, contact_name, "
                    "created_at, updated_at) VALUES (gen_random_uuid(), %s, %s, %s, now(), now()) "
                    "RETURNING id", (account["id"], sender, sender))
                row = await cur.fetchone()
            else:
                await conn.execute("UPDATE conversations SET updated_at = now() WHERE id = %s",
                                   (row["id"],))  # type: ignore[call-overload]
            assert row is not None
            await conn.execute(
                'INSERT INTO messages (conversation_id, "timestamp", direction, body) '
                "VALUES (%s, now(), 'inbound', %s)", (row["id"], text))  # type: ignore[call-overload]
        return {"status": "ok", "conversation_id": str(row["id"])}  # type: ignore[call-overload]

    @app.get("/_demo/faults", include_in_schema=False)
    async def get_faults() -> dict[str, Any]:
        return {"latency_ms": faults.latency_ms, "error_ratio": faults.error_ratio,
                "cache": config.cache, "metrics_profile": config.metrics_profile}

    @app.put("/_demo/faults", include_in_schema=False)
    async def put_faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        faults.latency_ms = {str(k): float(v) for k, v in (body.get("latency_ms") or {}).items()}
        faults.error_ratio = {str(k): float(v) for k, v in (body.get("error_ratio") or {}).items()}
        return await get_faults()

    @app.post("/_demo/cache/clear", include_in_schema=False)
    async def clear_caches() -> dict[str, str]:
        for cache in (auth_cache, conversation_cache, bot_cache):
            cache.clear()
        return {"status": "cleared"}

    app.add_middleware(FaultMiddleware, starlette_app=app, faults=faults)
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
    parser.add_argument("--no-cache", action="store_true", help="the seed's 'before': no caches")
    parser.add_argument("--metrics-profile", default="fastapi-observability",
                        choices=["fastapi-observability", "instrumentator"])
    parser.add_argument("--auth-latency-ms", type=float, default=145.0)
    args = parser.parse_args(argv)
    dsn = os.environ.get("PERFKIT_DEMO_DSN")
    if not dsn:
        parser.error("PERFKIT_DEMO_DSN is not set")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = DemoConfig(dsn=dsn, cache=not args.no_cache, metrics_profile=args.metrics_profile,
                        auth_latency_ms=args.auth_latency_ms)
    import uvicorn

    uvicorn.run(create_app(config), host=args.host, port=args.port, access_log=False,
                log_level="warning", loop="auto", http="auto")


if __name__ == "__main__":
    main()
