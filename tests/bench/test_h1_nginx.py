"""h1 against nginx, the server most backends sit behind: Content-Length and sendfile
bodies, gzip's chunked bodies, and keep-alive connections nginx closes after
`keepalive_requests` (each next request goes out on a new connection, never an error)."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from yarl import URL

from perfkit.bench.engine import new_event_loop
from perfkit.bench.h1 import H1Transport

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("nginx") is None and not Path(
                  "/usr/sbin/nginx").exists(), reason="nginx not installed (scripts/bootstrap)")]

BIG = bytes(range(256)) * 4096  # 1 MiB, sent with sendfile
TEXT = b"perfkit " * 4000  # gzip's dynamic compression answers it chunked


@contextmanager
def nginx(tmp: Path) -> Iterator[URL]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp / "www").mkdir()
    (tmp / "www" / "big.bin").write_bytes(BIG)
    (tmp / "www" / "text.txt").write_bytes(TEXT)
    conf = tmp / "nginx.conf"
    user = "user root;" if os.geteuid() == 0 else ""  # its worker reads the test's folder
    conf.write_text(f"""
{user} worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};
  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  types {{ text/plain txt; }} default_type application/octet-stream;
  sendfile on; keepalive_requests 3;
  gzip on; gzip_types text/plain; gzip_min_length 1;
  server {{ listen 127.0.0.1:{port}; root {tmp}/www;
    location = /ok {{ return 200 "ok"; }} }} }}
""")
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([exe, "-c", str(conf), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "error.log").read_text()) from None
                time.sleep(0.05)
        yield URL(f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_h1_against_nginx(tmp_path: Path) -> None:
    async def main(url: URL) -> None:
        h1 = H1Transport(connections=2, timeout_s=5.0)
        try:
            big = await h1.request("GET", url / "big.bin", {}, None)
            assert (big.status, big.body) == (200, BIG)
            packed = await h1.request("GET", url / "text.txt", {"Accept-Encoding": "gzip"}, None)
            assert packed.header("Content-Encoding") == "gzip"
            assert gzip.decompress(packed.body) == TEXT
            # nginx closes each connection after 3 requests: 30 requests, 2 at a time
            answers = await asyncio.gather(*(h1.request("GET", url / "ok", {}, None)
                                             for _ in range(30)))
            assert [(a.status, a.body) for a in answers] == [(200, b"ok")] * 30
            # a POST is never sent twice: h1 must read nginx's `Connection: close` itself
            posts = [await h1.request("POST", url / "ok", {}, b"{}") for _ in range(9)]
            assert [a.status for a in posts] == [200] * 9
        finally:
            await h1.close()

    with nginx(tmp_path) as url, asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main(url))
