"""The engine bake-off's candidates, each driven the way perfkit drives aiohttp (bench/engine.py).

    python benchmarks/engine_clients.py CANDIDATE MODE '{"url": ..., ...}'

Run by benchmarks/engines.py in the candidates' own venv, pinned to the client core; prints
one JSON line. Every candidate gets the same loop: keep-alive connections bounded by the
number of senders, a request prepared once per sender (the URL parsed, the request built,
where the library lets it be), each request timed with `time.perf_counter()` right around
it (send -> whole body read, status and Content-Encoding looked at, as perfkit's `_send`),
the latencies kept. Open loop is perfkit's pacer: intended starts from
`pacer.open_loop_schedule`, senders taking them in turn under a lock, waking up to 1 ms
early, latency from the intended start (or the actual send when it was earlier).

Modes: `closed` (N senders, as fast as they can), `open` (a rate), `mem` (RSS and sockets
before/after N requests in flight at once), `fit` (timeouts, bodies, keep-alive, closes),
`serve` (a chunked-body server for `fit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import ssl
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CANDIDATES = ("aiohttp", "pyreqwest", "rnet", "httpr", "curl-cffi", "pycurl", "aiosonic",
              "h1proto")
#: what the adapters below do, said once (the fit table's columns read from this)
NOTES = {
    "aiohttp": "ClientSession as perfkit's (limit=senders, no cookie jar, no decompression)",
    "pyreqwest": "ClientBuilder: max_connections=senders, single-threaded tokio runtime "
                 "(its default); request built once, copied per send",
    "rnet": "Client(pool_max_size=senders); rnet runs its own tokio runtime threads",
    "httpr": "AsyncClient: a blocking Rust call per request on a thread pool "
             "(max_concurrency=senders): threads, not native async I/O",
    "curl-cffi": "AsyncSession(max_clients=senders): libcurl multi on the event loop",
    "pycurl": "CurlMulti driven from the event loop (socket + timer callbacks, written "
              "here, as curl-cffi does); one easy handle per sender, URL set once",
    "aiosonic": "HTTPClient, pool size=senders",
    "h1proto": "benchmarks/h1proto.py: asyncio Protocol + httptools, request bytes built "
               "once",
}
PROXIES = {  # from each library's API: none of them was tested through a proxy here
    "aiohttp": "yes (HTTP; per request)", "pyreqwest": "yes (HTTP/HTTPS/SOCKS)",
    "rnet": "yes (HTTP/HTTPS/SOCKS)", "httpr": "yes (per client)",
    "curl-cffi": "yes (HTTP/HTTPS/SOCKS)", "pycurl": "yes (all of libcurl's)",
    "aiosonic": "yes (HTTP)", "h1proto": "no (would fall back to aiohttp)",
}
PER_REQUEST_TIMEOUT = {
    "aiohttp": "yes", "pyreqwest": "yes", "rnet": "whole seconds only (int)",
    "httpr": "yes", "curl-cffi": "yes", "pycurl": "yes (per handle, ms)", "aiosonic": "yes",
    "h1proto": "yes",
}


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return n


def cpu_s() -> float:
    """This process's CPU, all its threads (Rust runtimes, thread pools) included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- adapters: prepare(url) once per sender, fetch(prepared) -> (status, body bytes) ---------
class Adapter:
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        raise NotImplementedError

    def prepare(self, url: str) -> Any:
        return url

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        raise NotImplementedError

    async def close(self) -> None:
        pass


def ssl_context(ca: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca) if ca else None


class Aiohttp(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        import aiohttp

        self.aiohttp = aiohttp
        connector = aiohttp.TCPConnector(limit=senders, ttl_dns_cache=300,
                                         ssl=ssl_context(ca) or True)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            skip_auto_headers=("User-Agent",))

    def prepare(self, url: str) -> Any:
        from yarl import URL

        return URL(url)

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        kw = {"timeout": self.aiohttp.ClientTimeout(total=timeout_s)} if timeout_s else {}
        async with self.session.request("GET", prepared, **kw) as resp:
            data = await resp.read()
            resp.headers.get("Content-Encoding")
            return resp.status, len(data)

    async def close(self) -> None:
        await self.session.close()


class Pyreqwest(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        from pyreqwest.client import ClientBuilder

        builder = (ClientBuilder().max_connections(senders).timeout(timedelta(seconds=timeout_s))
                   .gzip(False).brotli(False).zstd(False).deflate(False)
                   .follow_redirects(False).error_for_status(False))
        if ca:
            builder = builder.add_root_certificate_pem(Path(ca).read_bytes())
        self.client = builder.build()

    def prepare(self, url: str) -> Any:
        return self.client.get(url).build()

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        if timeout_s:
            request = self.client.get(str(prepared.url)).timeout(
                timedelta(seconds=timeout_s)).build()
        else:
            request = prepared.copy()
        resp = await request.send()
        data = await resp.bytes()
        resp.get_header("Content-Encoding")
        return resp.status, len(data)

    async def close(self) -> None:
        await self.client.close()


class Rnet(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        import rnet

        self.client = rnet.Client(timeout=max(1, round(timeout_s)), pool_max_size=senders,
                                  pool_max_idle_per_host=senders, allow_redirects=False,
                                  cookie_store=False, gzip=False, brotli=False,
                                  deflate=False, zstd=False,
                                  verify=Path(ca) if ca else None)

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        kw = {"timeout": max(1, round(timeout_s))} if timeout_s else {}
        resp = await self.client.get(prepared, **kw)
        data = await resp.bytes()
        resp.headers.get("Content-Encoding")
        status = resp.status
        return int(status if isinstance(status, int) else status.as_int()), len(data)


class Httpr(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        import httpr

        self.client = httpr.AsyncClient(timeout=timeout_s, max_concurrency=senders,
                                        follow_redirects=False, cookie_store=False,
                                        ca_cert_file=ca)

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        kw = {"timeout": timeout_s} if timeout_s else {}
        resp = await self.client.get(prepared, **kw)
        data = resp.content
        resp.headers.get("Content-Encoding")
        return resp.status_code, len(data)

    async def close(self) -> None:
        await self.client.aclose()


class CurlCffi(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        from curl_cffi import CurlOpt
        from curl_cffi.requests import AsyncSession

        self.session = AsyncSession(max_clients=senders, timeout=timeout_s,
                                    allow_redirects=False, trust_env=False,
                                    default_headers=False,
                                    curl_options={CurlOpt.CAINFO: ca} if ca else None)

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        kw = {"timeout": timeout_s} if timeout_s else {}
        resp = await self.session.get(prepared, **kw)
        data = resp.content
        resp.headers.get("Content-Encoding")
        return resp.status_code, len(data)

    async def close(self) -> None:
        await self.session.close()


class CurlError(Exception):
    pass


class _Multi:
    """libcurl's multi interface on the running event loop: its sockets in add_reader /
    add_writer, its timer in call_later."""

    def __init__(self, senders: int) -> None:
        import pycurl

        self.pycurl, self.loop = pycurl, asyncio.get_running_loop()
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._timer)
        self.multi.setopt(pycurl.M_MAXCONNECTS, senders)
        self.timer: asyncio.TimerHandle | None = None
        self.waiting: dict[int, asyncio.Future[None]] = {}
        self.watched: set[int] = set()

    def _socket(self, what: int, fd: int, multi: Any, data: Any) -> None:
        p = self.pycurl
        if fd in self.watched:
            self.loop.remove_reader(fd)
            self.loop.remove_writer(fd)
            self.watched.discard(fd)
        if what == p.POLL_REMOVE:
            return
        if what in (p.POLL_IN, p.POLL_INOUT):
            self.loop.add_reader(fd, self._act, fd, p.CSELECT_IN)
        if what in (p.POLL_OUT, p.POLL_INOUT):
            self.loop.add_writer(fd, self._act, fd, p.CSELECT_OUT)
        self.watched.add(fd)

    def _timer(self, ms: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if ms >= 0:
            self.timer = self.loop.call_later(ms / 1000, self._act,
                                              self.pycurl.SOCKET_TIMEOUT, 0)

    def _act(self, fd: int, event: int) -> None:
        self.multi.socket_action(fd, event)
        while True:
            queued, ok, failed = self.multi.info_read()
            for easy in ok:
                self._finish(easy, None)
            for easy, _, message in failed:
                self._finish(easy, CurlError(message))
            if not queued:
                break

    def _finish(self, easy: Any, error: Exception | None) -> None:
        self.multi.remove_handle(easy)
        future = self.waiting.pop(id(easy), None)
        if future is not None and not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    async def perform(self, easy: Any) -> None:
        future = self.loop.create_future()
        self.waiting[id(easy)] = future
        self.multi.add_handle(easy)
        try:
            await future
        except asyncio.CancelledError:
            if self.waiting.pop(id(easy), None) is not None:
                self.multi.remove_handle(easy)
            raise


class Pycurl(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        import pycurl

        self.pycurl, self.multi = pycurl, _Multi(senders)
        self.timeout_ms, self.ca = int(timeout_s * 1000), ca

    def prepare(self, url: str) -> Any:
        p = self.pycurl
        easy = p.Curl()
        body: list[bytes] = []
        headers: list[bytes] = []
        easy.setopt(p.URL, url)
        easy.setopt(p.WRITEFUNCTION, body.append)
        easy.setopt(p.HEADERFUNCTION, headers.append)
        easy.setopt(p.NOSIGNAL, 1)
        easy.setopt(p.TIMEOUT_MS, self.timeout_ms)
        easy.setopt(p.HTTPHEADER, ["User-Agent:"])  # none, as perfkit's
        if self.ca:
            easy.setopt(p.CAINFO, self.ca)
        return easy, body, headers

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        easy, body, headers = prepared
        body.clear()
        headers.clear()
        if timeout_s:
            easy.setopt(self.pycurl.TIMEOUT_MS, int(timeout_s * 1000))
        await self.multi.perform(easy)
        if timeout_s:
            easy.setopt(self.pycurl.TIMEOUT_MS, self.timeout_ms)
        data = b"".join(body)
        any(h.lower().startswith(b"content-encoding:") for h in headers)
        return easy.getinfo(self.pycurl.RESPONSE_CODE), len(data)


class Aiosonic(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        import aiosonic
        from aiosonic.pools import PoolConfig
        from aiosonic.timeout import Timeouts

        self.aiosonic, self.ssl = aiosonic, ssl_context(ca)
        connector = aiosonic.TCPConnector(
            pool_configs={":default": PoolConfig(size=senders)},
            timeouts=Timeouts(request_timeout=timeout_s))
        self.client = aiosonic.HTTPClient(connector=connector)

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        from aiosonic.timeout import Timeouts

        kw: dict[str, Any] = {"ssl": self.ssl} if self.ssl else {}
        if timeout_s:
            kw["timeouts"] = Timeouts(request_timeout=timeout_s)
        resp = await self.client.get(prepared, **kw)
        data = await resp.content()
        resp.headers.get("Content-Encoding")
        return resp.status_code, len(data)

    async def close(self) -> None:
        await self.client.connector.cleanup()


class H1(Adapter):
    async def open(self, base: str, senders: int, timeout_s: float, ca: str | None) -> None:
        self.timeout_s, self.ssl = timeout_s, ssl_context(ca)
        self.clients: dict[str, Any] = {}  # one keep-alive pool per origin

    def prepare(self, url: str) -> Any:
        from urllib.parse import urlsplit

        from h1proto import H1Client

        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        client = self.clients.get(origin)
        if client is None:
            client = self.clients[origin] = H1Client(origin, timeout_s=self.timeout_s,
                                                     ssl=self.ssl)
        return client, client.prepare("GET", parts.path + (f"?{parts.query}" if parts.query
                                                           else ""))

    async def fetch(self, prepared: Any, timeout_s: float | None = None) -> tuple[int, int]:
        client, raw = prepared
        status, headers, body = await client.request(raw, timeout_s)
        next((v for k, v in headers if k.lower() == b"content-encoding"), None)
        return status, len(body)

    async def close(self) -> None:
        for client in self.clients.values():
            client.close()


ADAPTERS: dict[str, type[Adapter]] = {
    "aiohttp": Aiohttp, "pyreqwest": Pyreqwest, "rnet": Rnet, "httpr": Httpr,
    "curl-cffi": CurlCffi, "pycurl": Pycurl, "aiosonic": Aiosonic, "h1proto": H1}


# -- the loops -----------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def kind(exc: BaseException) -> str:
    return type(exc).__name__


async def opened(name: str, args: dict[str, Any], senders: int) -> Adapter:
    adapter = ADAPTERS[name]()
    base = args["url"].split("/", 3)
    await adapter.open("/".join(base[:3]), senders, float(args.get("timeout_s", 5.0)),
                       args.get("ca"))
    return adapter


async def closed(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """`conns` senders back to back for `seconds` (after `warmup_s` unmeasured)."""
    conns, seconds, url = int(args["conns"]), float(args["seconds"]), args["url"]
    adapter = await opened(name, args, conns)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    bytes_read = [0]
    measuring = [False]

    async def sender(deadline: float) -> None:
        prepared = adapter.prepare(url)
        while time.perf_counter() < deadline:
            t_send = time.perf_counter()
            try:
                status, size = await adapter.fetch(prepared)
            except Exception as exc:  # a candidate's own error classes
                errors[kind(exc)] = errors.get(kind(exc), 0) + 1
                continue
            t_end = time.perf_counter()
            if measuring[0]:
                latencies.append(t_end - t_send)
                bytes_read[0] += size
                if status != 200:
                    errors[str(status)] = errors.get(str(status), 0) + 1

    try:
        warm = time.perf_counter() + float(args.get("warmup_s", 0.5))
        await asyncio.gather(*(sender(warm) for _ in range(conns)))
        errors.clear()
        measuring[0] = True
        cpu0, t0 = cpu_s(), time.perf_counter()
        await asyncio.gather(*(sender(t0 + seconds) for _ in range(conns)))
        elapsed, cpu = time.perf_counter() - t0, cpu_s() - cpu0
    finally:
        await adapter.close()
    n = len(latencies)
    return {"rps": n / elapsed, "n": n, "errors": errors, "bytes": bytes_read[0],
            "cpu_us_per_req": cpu / n * 1e6 if n else None,
            "p50_ms": (pct(latencies, 0.5) or 0) * 1e3, "p99_ms": (pct(latencies, 0.99) or 0)
            * 1e3}


async def open_loop(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """perfkit's open loop: `rate` intended starts a second for `seconds`."""
    from perfkit.bench import pacer

    rate, seconds, url = float(args["rate"]), float(args["seconds"]), args["url"]
    senders = min(1024, max(16, int(rate * 2)))  # runner.DEFAULT_OPEN_LOOP_SENDERS
    adapter = await opened(name, args, senders)
    corrected: list[float] = []
    raw: list[float] = []
    errors: dict[str, int] = {}
    late = [0]
    warm = adapter.prepare(url)
    for _ in range(3):  # a warm connection, as perfkit's warm-up
        await adapter.fetch(warm)
    t0 = time.perf_counter() + 0.01
    schedule = pacer.open_loop_schedule(rate, start_s=t0, duration_s=seconds)
    turn = asyncio.Lock()

    async def sender() -> None:
        prepared = adapter.prepare(url)
        while True:
            async with turn:
                intended = next(schedule, None)
                if intended is None:
                    return
                delay = intended - 0.001 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t_send = time.perf_counter()
            if t_send - intended > pacer.late_threshold_s(rate):
                late[0] += 1
            try:
                status, _ = await adapter.fetch(prepared)
            except Exception as exc:
                errors[kind(exc)] = errors.get(kind(exc), 0) + 1
                continue
            t_end = time.perf_counter()
            if status != 200:
                errors[str(status)] = errors.get(str(status), 0) + 1
            corrected.append(t_end - min(intended, t_send))
            raw.append(t_end - t_send)

    try:
        tasks = [asyncio.create_task(sender()) for _ in range(senders)]
        await asyncio.wait(tasks, timeout=seconds + float(args.get("timeout_s", 5.0)) + 2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await adapter.close()
    return {"n": len(corrected), "errors": errors, "late": late[0], "senders": senders,
            "p50_ms": (pct(corrected, 0.5) or 0) * 1e3,
            "p99_ms": (pct(corrected, 0.99) or 0) * 1e3,
            "raw_p50_ms": (pct(raw, 0.5) or 0) * 1e3, "raw_p99_ms": (pct(raw, 0.99) or 0) * 1e3}


async def memory(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """RSS and open sockets before and after `n` requests in flight at once (a slow
    endpoint holds each on its own connection), the connections then kept alive."""
    n, url = int(args["n"]), args["url"]
    adapter = await opened(name, args, n)
    first = adapter.prepare(url)
    await adapter.fetch(first)  # the library's own first-use cost is not the connections'
    await asyncio.sleep(0.2)
    rss0, socks0 = rss_kb(), sockets()
    prepared = [adapter.prepare(url) for _ in range(n)]
    results = await asyncio.gather(*(adapter.fetch(p) for p in prepared),
                                   return_exceptions=True)
    await asyncio.sleep(0.5)
    rss1, socks1 = rss_kb(), sockets()
    failed = sum(isinstance(r, BaseException) for r in results)
    await adapter.close()
    return {"rss_kb_per_1000": (rss1 - rss0) * 1000 / n, "sockets_open": socks1 - socks0,
            "failed": failed, "n": n}


async def fit(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Timeout per request, bodies read whole, keep-alive, the server closing connections."""
    out: dict[str, Any] = {}
    adapter = await opened(name, {**args, "timeout_s": 30}, 16)
    try:
        slow = adapter.prepare(args["slow_url"])  # answers after 3 s
        started = time.perf_counter()
        try:
            await adapter.fetch(slow, timeout_s=0.5)
            out["timeout"] = "no timeout (answered)"
        except Exception as exc:
            out["timeout"] = f"{kind(exc)} after {time.perf_counter() - started:.2f} s"
        for label, key in (("body_length", "big_url"), ("body_chunked", "chunked_url")):
            try:
                status, size = await adapter.fetch(adapter.prepare(args[key]))
                out[label] = f"{size} of {args['expect'][label]} bytes ({status})"
                out[label + "_ok"] = size == args["expect"][label]
            except Exception as exc:
                out[label], out[label + "_ok"] = f"failed: {kind(exc)}: {exc}"[:120], False
        ka = adapter.prepare(args["ka_url"])
        for _ in range(50):  # sequential: the server's log counts the connections used
            await adapter.fetch(ka)
    finally:
        await adapter.close()
    for label, key in (("close10", "close10_url"), ("idle_close", "idle_url")):
        out[label] = await closing(name, args, label, args[key])
    return out


async def closing(name: str, args: dict[str, Any], label: str, url: str) -> dict[str, Any]:
    """16 senders against a server that closes connections: answers and errors."""
    adapter = await opened(name, {**args, "timeout_s": 5}, 16)
    errors: dict[str, int] = {}
    done = [0]

    async def burst(count: int) -> None:
        prepared = adapter.prepare(url)
        for _ in range(count):
            try:
                status, _ = await adapter.fetch(prepared)
                done[0] += status == 200
            except Exception as exc:
                errors[kind(exc)] = errors.get(kind(exc), 0) + 1

    try:
        if label == "close10":  # keepalive_requests 10: closes after every 10th answer
            await asyncio.gather(*(burst(100) for _ in range(16)))
        else:  # keepalive_timeout 1s: reuse connections the server closed while idle
            for _ in range(3):
                await asyncio.gather(*(burst(1) for _ in range(16)))
                await asyncio.sleep(1.5)
    finally:
        await adapter.close()
    return {"ok": done[0], "errors": errors}


def serve(port: int) -> None:
    """Bodies of known size: /chunked (64 chunks of 1,000 bytes)."""
    from aiohttp import web

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for _ in range(64):
            await resp.write(b"x" * 1000)
        await resp.write_eof()
        return resp

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    app = web.Application()
    app.add_routes([web.get("/chunked", chunked), web.get("/slow", slow)])

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())


def main() -> None:
    name, mode = sys.argv[1], sys.argv[2]
    if name == "-" and mode == "serve":
        serve(0)
        return
    args = json.loads(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    call = {"closed": closed, "open": open_loop, "mem": memory, "fit": fit}[mode]
    import uvloop

    started = time.perf_counter()
    try:
        result = uvloop.run(call(name, args))
    except Exception as exc:  # a candidate that cannot run at all: say why, in one line
        result = {"failed": f"{kind(exc)}: {exc}"[:300]}
    result["wall_s"] = time.perf_counter() - started
    print(json.dumps(result))


if __name__ == "__main__":
    main()
