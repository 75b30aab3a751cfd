"""The engine bake-off: Python HTTP clients side by side, driven as perfkit drives aiohttp.

    .venv/bin/python benchmarks/engines.py                    # installs the candidates
    .venv/bin/python benchmarks/engines.py --quick            # shorter runs
    .venv/bin/python benchmarks/engines.py --only aiohttp,h1proto --json out.json

The harness is client_overhead.py's (one client core by taskset, the servers on the other,
nginx with 1 worker, tests/bench/refserver.py); each candidate runs in a process of its own
(benchmarks/engine_clients.py, the same loop for all: keep-alive connections per sender, a
request prepared once, `perf_counter()` around each request, perfkit's pacer for the open
loop). Measured per candidate:

(a) max throughput and client CPU per request (the child's own CPU in the measured window,
    all its threads) against static nginx, 16 connections, best of 3 x N s;
(b) p50/p99 at 40 req/s (open loop) against /sleep/20 (exactly 20 ms): the excess over 20;
(c) a 1 s stall at 100 req/s for 10 s: the p99 from the intended start (analytic ~900 ms);
(d) the same as (a) over TLS (nginx, a self-signed certificate made by openssl in a temp
    dir, verified through it as a CA);
(e) RSS and open sockets after 1,000 requests in flight at once (refserver /sleep/2000),
    per 1,000 connections;
and a fit table: HTTPS, per-request timeout (measured), bodies read whole (Content-Length
1 MiB, chunked 64,000 bytes), keep-alive (connections nginx saw for 50 sequential
requests), proxies (from the API: not tested), the server closing connections (nginx
keepalive_requests 10; keepalive_timeout 1s with reuse after 1.5 s idle).

The candidates go into their own venv (benchmarks/out/engines-venv, or
$PERFKIT_ENGINES_VENV) so that perfkit's .venv stays clean; one that does not install (no
wheel for this platform: --only-binary) is listed as such. Traffic: loopback only; every
step bounded by a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import client_overhead as harness
from client_overhead import (
    CLIENT_CPU,
    PY,
    ROOT,
    SERVER_CPU,
    fmt,
    free_port,
    pinned,
    ref_server,
    reset,
    run_bare,
    sh,
    with_cpu,
)
from engine_clients import CANDIDATES, NOTES, PER_REQUEST_TIMEOUT, PROXIES

from perfkit.bench.pacer import stall_corrected_p99_ms
from tests.bench.support import served_url

VENV = Path(os.environ.get("PERFKIT_ENGINES_VENV", ROOT / "benchmarks/out/engines-venv"))
VPY = VENV / "bin" / "python"
CHILD = ROOT / "benchmarks" / "engine_clients.py"
PACKAGES = {"aiohttp": ["aiohttp", "uvloop"], "pyreqwest": ["pyreqwest"], "rnet": ["rnet"],
            "httpr": ["httpr"], "curl-cffi": ["curl-cffi"], "pycurl": ["pycurl"],
            "aiosonic": ["aiosonic"], "h1proto": ["httptools"]}
BIG = 1 << 20
CHUNKED = 64_000
ROUNDS = 3  # best of 3 for (a) and (d), candidates alternating: the machine is shared


# -- install -------------------------------------------------------------------------------
def install(skip: bool) -> dict[str, str]:
    """Each candidate's version, or why it is not there."""
    if not VPY.exists() and not skip:
        sh([sys.executable, "-m", "venv", str(VENV)], 120)
        sh([str(VENV / "bin/pip"), "install", "-q", "--upgrade", "pip"], 300)
    status: dict[str, str] = {}
    for name, pkgs in PACKAGES.items():
        if VPY.exists() and not skip:
            out = sh([str(VENV / "bin/pip"), "install", "-q", "--only-binary=:all:",
                      "aiohttp", "uvloop", *pkgs], 600)
            if out.returncode != 0:
                status[name] = "did not install: " + (out.stderr.strip().splitlines()
                                                      or ["?"])[-1][:160]
                continue
        if not VPY.exists():
            status[name] = "not installed (no venv)"
            continue
        dist = pkgs[0]
        out = sh([str(VPY), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                 60)
        status[name] = (f"{dist} {out.stdout.strip()}" if out.returncode == 0 else
                        f"not installed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
    return status


# -- servers -------------------------------------------------------------------------------
def certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a certificate for 127.0.0.1 it signed (rustls-based clients
    refuse a self-signed certificate used directly as its own CA)."""
    ca_key, ca, key, csr, cert = (tmp / n for n in ("ca.key", "ca.pem", "key.pem",
                                                     "req.pem", "cert.pem"))
    ext = tmp / "ext.cnf"
    ext.write_text("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                   "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    for args in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key),
                  "-out", str(ca), "-days", "2", "-subj", "/CN=perfkit bench CA",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                 ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                  str(csr), "-subj", "/CN=127.0.0.1"],
                 ["x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                  "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext)]):
        out = sh(["openssl", *args], 60)
        if out.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {out.stderr.strip()[-200:]}")
    return key, cert, ca


@contextmanager
def nginx_servers(tmp: Path) -> Iterator[dict[str, Any]]:
    """One nginx (1 worker, server core): plain, TLS, keepalive_requests 10,
    keepalive_timeout 1s, and a logged server (bodies, connection counts)."""
    key, cert, ca = certificates(tmp)
    (tmp / "www").mkdir()
    (tmp / "www" / "big").write_bytes(b"b" * BIG)
    ports = {k: free_port() for k in ("plain", "tls", "close10", "idle", "logged")}
    common = 'location / { return 200 "ok"; }'
    conf = tmp / "nginx.conf"
    conf.write_text(f"""
worker_processes 1; worker_rlimit_nofile 16384; daemon off; pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err warn;
events {{ worker_connections 8192; }}
http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp};
  fastcgi_temp_path {tmp}; uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  log_format conn '$connection $uri';
  server {{ listen 127.0.0.1:{ports['plain']}; {common} }}
  server {{ listen 127.0.0.1:{ports['tls']} ssl; ssl_certificate {cert};
           ssl_certificate_key {key}; {common} }}
  server {{ listen 127.0.0.1:{ports['close10']}; keepalive_requests 10; {common} }}
  server {{ listen 127.0.0.1:{ports['idle']}; keepalive_timeout 1s; {common} }}
  server {{ listen 127.0.0.1:{ports['logged']}; access_log {tmp}/conn.log conn;
           location /big {{ root {tmp}/www; }} {common} }}
}}
""")
    proc = subprocess.Popen(pinned(SERVER_CPU, ["nginx", "-c", str(conf), "-p", str(tmp)]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError(f"nginx did not start: {(tmp / 'nginx.err').read_text()[-300:]}")
        yield {"urls": {k: f"{'https' if k == 'tls' else 'http'}://127.0.0.1:{p}"
                        for k, p in ports.items()}, "ca": str(ca), "log": tmp / "conn.log"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def body_server() -> Iterator[str]:
    """engine_clients.py's chunked/slow server, in perfkit's venv, on the server core."""
    with served_url(pinned(SERVER_CPU, [str(PY), str(CHILD), "-", "serve"])) as url:
        yield url


# -- one candidate, one measurement ---------------------------------------------------------
def child(name: str, mode: str, args: dict[str, Any], budget_s: float) -> dict[str, Any]:
    try:
        out = sh(pinned(CLIENT_CPU, [str(VPY), str(CHILD), name, mode, json.dumps(args)]),
                 budget_s)
    except subprocess.TimeoutExpired:
        return {"failed": f"no answer within {budget_s:.0f} s"}
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return {"failed": (out.stderr.strip().splitlines() or ["exit " + str(out.returncode)]
                           )[-1][:200]}
    result: dict[str, Any] = json.loads(lines[-1])
    result["process_cpu_s"] = harness.LAST_CPU_S[0]
    return result


def connections_seen(log: Path, name: str) -> int | None:
    if not log.exists():
        return None
    return len({line.split()[0] for line in log.read_text().splitlines()
                if line.endswith(f"/ka/{name}")})


def measure(names: list[str], servers: dict[str, Any], ref_url: str, body_url: str,
            secs: float, fixed_secs: float) -> dict[str, Any]:
    urls, ca = servers["urls"], servers["ca"]
    res: dict[str, dict[str, Any]] = {n: {} for n in names}
    budget = secs + 60
    print(f"(a) max throughput, 1 client core, 16 connections, {ROUNDS} x {secs:.0f} s, "
          f"{urls['plain']}/", flush=True)
    for round_ in range(ROUNDS):  # alternate candidates: the machine is shared
        for n in names:
            r = child(n, "closed", {"url": urls["plain"] + "/", "seconds": secs, "conns": 16},
                      budget)
            res[n].setdefault("throughput_runs", []).append(r)
            print(f"  {round_ + 1} {n:10} {fmt(r.get('rps')):>8} req/s "
                  f"{fmt(r.get('cpu_us_per_req')):>7} µs/req {r.get('failed', '')}", flush=True)
    bare = [with_cpu(run_bare(urls["plain"] + "/", seconds=secs, conns=16), secs)
            for _ in range(2)]
    print(f"  bare_aiohttp.py (perfkit's venv): {[fmt(b.get('rps')) for b in bare]} req/s")
    print(f"(b) 40 req/s for {fixed_secs:.0f} s against {ref_url}/sleep/20", flush=True)
    for n in names:
        r = child(n, "open", {"url": ref_url + "/sleep/20", "seconds": fixed_secs,
                              "rate": 40}, fixed_secs + 60)
        res[n]["fixed"] = r
        print(f"  {n:10} p50 {fmt(r.get('p50_ms'))} p99 {fmt(r.get('p99_ms'))} ms "
              f"{r.get('failed', '')}", flush=True)
    truth = stall_corrected_p99_ms(duration_s=10, stall_s=1)
    print(f"(c) 1 s stall at 100 req/s for 10 s (analytic p99 ~{truth:.0f} ms)", flush=True)
    for n in names:
        reset(ref_url)
        r = child(n, "open", {"url": ref_url + "/stall?after=300&ms=1000", "seconds": 10,
                              "rate": 100}, 80)
        res[n]["stall"] = r
        print(f"  {n:10} p99 {fmt(r.get('p99_ms'))} ms {r.get('failed', '')}", flush=True)
    print(f"(d) TLS, 16 connections, {ROUNDS} x {secs:.0f} s, {urls['tls']}/", flush=True)
    for round_ in range(ROUNDS):
        for n in names:
            r = child(n, "closed", {"url": urls["tls"] + "/", "seconds": secs, "conns": 16,
                                    "ca": ca}, budget)
            res[n].setdefault("tls_runs", []).append(r)
            print(f"  {round_ + 1} {n:10} {fmt(r.get('rps')):>8} req/s "
                  f"{r.get('failed', '')} {r.get('errors') or ''}", flush=True)
    print("(e) memory: 1,000 requests in flight at once (refserver /sleep/2000)", flush=True)
    for n in names:
        r = child(n, "mem", {"url": ref_url + "/sleep/2000", "n": 1000, "timeout_s": 10}, 90)
        res[n]["memory"] = r
        print(f"  {n:10} {fmt(r.get('rss_kb_per_1000'))} kB RSS, sockets "
              f"{r.get('sockets_open')} {r.get('failed', '')}", flush=True)
    print("fit", flush=True)
    for n in names:
        r = child(n, "fit", {"url": urls["logged"] + "/", "slow_url": body_url + "/slow",
                             "big_url": urls["logged"] + "/big",
                             "chunked_url": body_url + "/chunked",
                             "ka_url": f"{urls['logged']}/ka/{n}",
                             "close10_url": urls["close10"] + "/",
                             "idle_url": urls["idle"] + "/",
                             "expect": {"body_length": BIG, "body_chunked": CHUNKED}}, 120)
        r["ka_connections"] = connections_seen(servers["log"], n)
        res[n]["fit"] = r
        print(f"  {n:10} {json.dumps({k: v for k, v in r.items() if k != 'wall_s'})}",
              flush=True)
    return {"candidates": res, "bare_aiohttp": bare, "stall_truth_ms": truth}


# -- tables --------------------------------------------------------------------------------
def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return max(runs, key=lambda r: r.get("rps") or 0) if runs else {}


def median_cpu(runs: list[dict[str, Any]]) -> float | None:
    """CPU per request, the median of the rounds: steadier than req/s on a shared machine."""
    values = [r["cpu_us_per_req"] for r in runs if r.get("cpu_us_per_req")]
    return statistics.median(values) if values else None


def summary(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per candidate, the figures the tables show."""
    rows = {}
    for n, r in results["candidates"].items():
        thr, tls = best(r.get("throughput_runs", [])), best(r.get("tls_runs", []))
        fixed, stall, mem = r.get("fixed", {}), r.get("stall", {}), r.get("memory", {})
        rows[n] = {
            "rps": thr.get("rps"),
            "rps_runs": [x.get("rps") for x in r.get("throughput_runs", [])],
            "cpu_us": median_cpu(r.get("throughput_runs", [])),
            "excess_p50_ms": fixed["p50_ms"] - 20 if fixed.get("p50_ms") else None,
            "excess_p99_ms": fixed["p99_ms"] - 20 if fixed.get("p99_ms") else None,
            "stall_p99_ms": stall.get("p99_ms"),
            "tls_rps": tls.get("rps"),
            "tls_cpu_us": median_cpu(r.get("tls_runs", [])),
            "tls_errors": sum((tls.get("errors") or {}).values()) if tls else None,
            "mem_mb": mem["rss_kb_per_1000"] / 1024 if mem.get("rss_kb_per_1000") is not None
            else None,
            "sockets": mem.get("sockets_open"),
            "failed": "; ".join(sorted({x["failed"] for x in (thr, tls, fixed, stall, mem)
                                        if x.get("failed")})),
        }
    return rows


def figures_table(results: dict[str, Any]) -> str:
    rows = summary(results)
    base = rows.get("aiohttp", {})
    out = ["| candidate | version | req/s 1 core, best (all 3) | x aiohttp "
           "| client CPU µs/req (median) | aiohttp CPU / its | excess p50 / p99 ms @40/s "
           "| stall p99 ms | TLS req/s (µs/req) "
           "| MB RSS / 1,000 conns (sockets) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, s in rows.items():
        every = " / ".join(fmt(x) for x in s["rps_runs"])
        ratio = f"{s['rps'] / base['rps']:.2f}" if s["rps"] and base.get("rps") else "-"
        cpu = f"{base['cpu_us'] / s['cpu_us']:.2f}" if s["cpu_us"] and base.get("cpu_us") \
            else "-"
        out.append(
            f"| {n} | {results['versions'].get(n, '?')} | {fmt(s['rps'])} ({every}) | {ratio} "
            f"| {fmt(s['cpu_us'])} | {cpu} "
            f"| {fmt(s['excess_p50_ms'])} / {fmt(s['excess_p99_ms'])} "
            f"| {fmt(s['stall_p99_ms'])} | {fmt(s['tls_rps'])} ({fmt(s['tls_cpu_us'])}) "
            f"| {fmt(s['mem_mb'])} ({s['sockets']}) |"
            + (f" {s['failed']}" if s["failed"] else ""))
    return "\n".join(out)


def decision(first: dict[str, Any], second: dict[str, Any]) -> str:
    """Does a candidate beat aiohttp by more than the run-to-run noise of the two runs?

    Per run, a candidate's speed-up over aiohttp is aiohttp's CPU per request over its own
    (the throughput one dedicated core would give) and its best req/s over aiohttp's. The
    noise of a figure is the largest change of it between the two runs over all candidates
    (aiohttp included); a candidate wins on a figure when its smaller speed-up of the two
    runs exceeds 1 + that noise."""
    a, b = summary(first), summary(second)
    names = [n for n in a if n in b]

    def change(key: str) -> float:
        return max((abs(a[n][key] / b[n][key] - 1) for n in names
                    if a[n][key] and b[n][key]), default=0.0)

    noise = {"cpu_us": change("cpu_us"), "rps": change("rps")}
    out = [f"noise between the runs (largest change of one candidate's own figure): CPU/req "
           f"{noise['cpu_us']:.0%}, best req/s {noise['rps']:.0%}", "",
           "| candidate | speed-up by CPU/req run 1 / 2 | by req/s run 1 / 2 | excess p50 ms "
           "run 1 / 2 (aiohttp's) | beyond the noise? |", "|---|---:|---:|---:|---|"]
    for n in names:
        if n == "aiohttp":
            continue
        cpu = [r["aiohttp"]["cpu_us"] / r[n]["cpu_us"] if r[n]["cpu_us"] and
               r["aiohttp"]["cpu_us"] else 0.0 for r in (a, b)]
        rps = [r[n]["rps"] / r["aiohttp"]["rps"] if r[n]["rps"] and r["aiohttp"]["rps"]
               else 0.0 for r in (a, b)]
        wins = [f"{label} margin {min(v) - 1 - noise[key]:+.0%}"
                for label, key, v in (("CPU", "cpu_us", cpu), ("req/s", "rps", rps))
                if min(v) > 1 + noise[key]]
        ex = " / ".join(f"{fmt(r[n]['excess_p50_ms'])} ({fmt(r['aiohttp']['excess_p50_ms'])})"
                        for r in (a, b))
        out.append(f"| {n} | {cpu[0]:.2f} / {cpu[1]:.2f} | {rps[0]:.2f} / {rps[1]:.2f} | {ex} "
                   f"| {'yes: ' + ', '.join(wins) if wins else 'no'} |")
    return "\n".join(out)


def _errors(d: dict[str, Any] | None) -> str:
    if not isinstance(d, dict):
        return "-"
    errs = d.get("errors") or {}
    return f"{d.get('ok')} ok, " + (", ".join(f"{v} {k}" for k, v in errs.items())
                                    or "0 errors")


def fit_table(results: dict[str, Any]) -> str:
    out = ["| candidate | HTTPS (CA-verified, TLS run) | timeout 0.5 s on a 3 s answer "
           "| 1 MiB Content-Length / chunked 64,000 B | keep-alive: connections for 50 "
           "requests | proxies (API) | keepalive_requests 10 (1,600 req) | idle close, "
           "reuse after 1.5 s (48 req) |", "|---|---|---|---|---:|---|---|---|"]
    for n, r in results["candidates"].items():
        f = r.get("fit", {})
        tls = best(r.get("tls_runs", []))
        https = ("yes" if tls.get("rps") and not sum((tls.get("errors") or {}).values())
                 else f"no: {tls.get('failed') or tls.get('errors')}")
        body = ("yes / yes" if f.get("body_length_ok") and f.get("body_chunked_ok") else
                f"{f.get('body_length')} / {f.get('body_chunked')}")
        out.append(f"| {n} | {https} | {f.get('timeout', f.get('failed', '-'))} "
                   f"({PER_REQUEST_TIMEOUT[n]}) | {body} | {f.get('ka_connections')} "
                   f"| {PROXIES[n]} | {_errors(f.get('close10'))} "
                   f"| {_errors(f.get('idle_close'))} |")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--only", help="comma-separated candidates (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--table", type=Path, nargs="+", metavar="JSON",
                        help="print the tables of saved runs (two: also the decision)")
    args = parser.parse_args()
    if args.table:
        runs = [json.loads(path.read_text()) for path in args.table]
        for run in runs:
            print(f"run of {run['started']}\n\n{figures_table(run)}\n\n{fit_table(run)}\n")
        if len(runs) == 2:
            print(decision(*runs))
        return 0
    names = [n for n in CANDIDATES if not args.only or n in args.only.split(",")]
    secs, fixed_secs = (2.0, 5.0) if args.quick else (5.0, 10.0)
    if not shutil.which("nginx") or not shutil.which("openssl"):
        print("error: nginx and openssl are needed (apt-get install nginx-light openssl)",
              file=sys.stderr)
        return 2
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    versions = install(args.no_install)
    runnable = [n for n in names if re.match(r"^\S+ \d", versions.get(n, ""))]
    print(f"{started}: client core {CLIENT_CPU}, server core {SERVER_CPU}; "
          f"{os.cpu_count()} CPUs; candidates' venv {VENV}", flush=True)
    for n in names:
        print(f"  {n:10} {versions[n]}  ({NOTES[n]})")
    with tempfile.TemporaryDirectory() as tmp, nginx_servers(Path(tmp)) as servers, \
            ref_server() as ref_url, body_server() as body_url:
        results = measure(runnable, servers, ref_url, body_url, secs, fixed_secs)
    results.update(started=started, versions=versions, quick=args.quick,
                   not_run={n: versions[n] for n in names if n not in runnable})
    print("\n" + figures_table(results) + "\n\n" + fit_table(results))
    for n, why in results["not_run"].items():
        print(f"note: {n}: {why}")
    print("\nrerun: .venv/bin/python benchmarks/engines.py [--quick] [--only a,b] [--json F]")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
