"""A minimal backend under uvicorn, as most apps perfkit measures run: the fault tests kill it
(SIGKILL) and start it again on the same port in the middle of a bench.

Routes: /fast (answers at once), /sleep/{ms} (answers after ms), /_count (requests this
process answered, as text: the tests wait on it, never on a sleep).

Usage: python tests/bench/asgiapp.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

answered = 0


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    global answered
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path: str = scope["path"]
    status, body = 200, b"ok"
    if path == "/_count":
        body = str(answered).encode()
    elif path.startswith("/sleep/"):
        await asyncio.sleep(float(path.removeprefix("/sleep/")) / 1000)
    elif path != "/fast":
        status, body = 404, b"not found"
    answered += path != "/_count"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main(port: int) -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="on")


if __name__ == "__main__":
    main(int(sys.argv[1]))
