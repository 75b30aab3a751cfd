"""A reference HTTP server with known latencies (run as a separate process by the tests).

Routes: /fast (answers at once), /sleep/{ms} (answers after ms), /pool/{ms}?workers=K (a
fixed pool: at most K requests served at a time, each for ms, the others queue for a worker:
its capacity is K x 1000/ms requests a second), /status/{code},
/stall?after=N&ms=M (answers at once, except that request N freezes the whole server for M
ms: every request arriving during the freeze waits for its end, like a GC pause),
/items (a JSON list with ids), /items/{id}, /echo (POST: returns the JSON body), /cached
(X-Cache: MISS and 30 ms the first time an Authorization value is seen, HIT after;
?cycle_ms=N adds 0, 1, ..., N-1 ms to its answers in turn: a known spread; ?hit_ms=H and
?miss_ms=M set both latencies),
POST /_reset (forget counters and seen tokens), GET /_counts (requests by route since).
Prints its URL on stdout once listening.

Logins (users `user{i}@test.local`, password `pw-{i}-S3cret`): POST
/auth/v1/token?grant_type=password, shaped like Supabase Auth (JSON {email, password}, an
`apikey: anon-key` header else 401, bad credentials 400 invalid_grant) and POST /token, like
FastAPI's OAuth2 password flow (form username/password, else 401); both issue a distinct token
that lives ?ttl_ms=N (default a minute) in `access_token` (?field=NAME puts it elsewhere),
gzipped when the client accepts it.
GET /me answers 401 to an unknown or expired token; GET /refused answers 401 to any token.
GET /_auth_log: every login (email, token, kind) and every request to /me (token, status).

Usage: python tests/bench/refserver.py [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class State:
    counts: dict[str, int] = field(default_factory=dict)
    frozen_until: float = 0.0
    seen_tokens: set[str] = field(default_factory=set)
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)  # token: email, expiry
    auth_log: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"logins": [], "requests": []})
    serial: itertools.count[int] = field(default_factory=itertools.count)
    pools: dict[int, asyncio.Semaphore] = field(default_factory=dict)  # by worker count


def valid_user(email: str, password: str) -> bool:
    name, _, domain = email.partition("@")
    number = name.removeprefix("user")
    return domain == "test.local" and number.isdigit() and password == f"pw-{number}-S3cret"


def make_auth_routes(state: State) -> list[web.RouteDef]:
    """The login endpoints, the protected routes and the log of who carried which token."""
    def issue(request: web.Request, email: str, kind: str) -> web.Response:
        token = f"tok{next(state.serial)}-{secrets.token_hex(8)}"
        ttl_s = float(request.query.get("ttl_ms", "60000")) / 1000
        state.issued[token] = (email, time.monotonic() + ttl_s)
        state.auth_log["logins"].append({"email": email, "token": token, "kind": kind,
                                         "at": time.monotonic()})
        response = web.json_response({request.query.get("field", "access_token"): token,
                                      "token_type": "bearer", "expires_in": ttl_s})
        response.enable_compression()  # gzip to a client that accepts it, as CDNs do
        return response

    async def supabase_token(request: web.Request) -> web.Response:
        if request.headers.get("apikey") != "anon-key":
            return web.json_response({"message": "No API key found in request"}, status=401)
        if request.query.get("grant_type") != "password":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        body = await request.json()
        if not valid_user(str(body.get("email")), str(body.get("password"))):
            return web.json_response({"error": "invalid_grant", "error_description":
                                      "Invalid login credentials"}, status=400)
        return issue(request, str(body["email"]), "json")

    async def oauth2_token(request: web.Request) -> web.Response:
        form = await request.post()
        if not valid_user(str(form.get("username")), str(form.get("password"))):
            return web.json_response({"detail": "Incorrect username or password"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        return issue(request, str(form["username"]), "form")

    async def me(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        email, expiry = state.issued.get(token, ("", 0.0))
        status = 200 if email and time.monotonic() < expiry else 401
        state.auth_log["requests"].append({"token": token, "status": status})
        if status == 401:
            return web.json_response({"detail": "Could not validate credentials"}, status=401)
        return web.json_response({"email": email})

    async def refused(_: web.Request) -> web.Response:
        return web.json_response({"detail": "Not allowed"}, status=401)

    async def auth_log(_: web.Request) -> web.Response:
        return web.json_response(state.auth_log)

    return [web.post("/auth/v1/token", supabase_token), web.post("/token", oauth2_token),
            web.get("/me", me), web.get("/refused", refused), web.get("/_auth_log", auth_log)]


def make_app(state: State) -> web.Application:
    async def frozen() -> None:
        wait = state.frozen_until - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def fast(_: web.Request) -> web.Response:
        await frozen()
        state.counts["fast"] = state.counts.get("fast", 0) + 1
        return web.Response(text="ok")

    async def exactly(ms: float) -> None:
        # Timers are ms-grained: sleep short, then yield until the exact time has passed, so
        # that the endpoint takes its nominal latency and the client's excess is what shows.
        loop = asyncio.get_running_loop()
        until = loop.time() + ms / 1000
        await asyncio.sleep(max(0.0, until - loop.time() - 0.0015))
        while loop.time() < until:
            await asyncio.sleep(0)

    async def sleep(request: web.Request) -> web.Response:
        await exactly(int(request.match_info["ms"]))
        return web.Response(text="ok")

    async def pool(request: web.Request) -> web.Response:
        workers = max(1, int(request.query.get("workers", "4")))
        busy = state.pools.setdefault(workers, asyncio.Semaphore(workers))
        async with busy:
            await exactly(int(request.match_info["ms"]))
        return web.Response(text="ok")

    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    async def stall(request: web.Request) -> web.Response:
        n = state.counts["stall"] = state.counts.get("stall", 0) + 1
        if n == int(request.query.get("after", "100")):
            loop = asyncio.get_running_loop()
            state.frozen_until = loop.time() + int(request.query.get("ms", "1000")) / 1000
        await frozen()
        return web.Response(text="ok")

    async def items(_: web.Request) -> web.Response:
        return web.json_response([{"id": 41}, {"id": 42}])

    async def item(request: web.Request) -> web.Response:
        return web.json_response({"id": int(request.match_info["id"]),
                                  "auth": request.headers.get("Authorization", "")})

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    async def cached(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")
        hit = token in state.seen_tokens
        state.seen_tokens.add(token)
        n = state.counts["cached"] = state.counts.get("cached", 0) + 1
        extra_s = (n - 1) % int(request.query.get("cycle_ms", "1")) / 1000
        hit_s = float(request.query.get("hit_ms", "0")) / 1000
        miss_s = float(request.query.get("miss_ms", "30")) / 1000
        await asyncio.sleep((hit_s if hit else miss_s) + extra_s)
        return web.Response(text="ok", headers={"X-Cache": "HIT" if hit else "MISS"})

    async def counts(_: web.Request) -> web.Response:
        return web.json_response(state.counts)

    async def reset(_: web.Request) -> web.Response:
        state.counts.clear()
        state.frozen_until = 0.0
        state.pools.clear()
        state.seen_tokens.clear()
        state.issued.clear()
        state.auth_log = {"logins": [], "requests": []}
        return web.Response(text="reset")

    app = web.Application()
    app.add_routes([web.get("/", fast), web.get("/fast", fast), web.get("/sleep/{ms}", sleep),
                    web.get("/pool/{ms}", pool), web.get("/status/{code}", status),
                    web.get("/stall", stall), web.get("/items", items),
                    web.get("/items/{id}", item),
                    web.post("/echo", echo), web.get("/cached", cached),
                    web.get("/_counts", counts), web.post("/_reset", reset),
                    *make_auth_routes(state)])
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(make_app(State()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    sys.stdout.write(f"http://127.0.0.1:{runner.addresses[0][1]}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
