"""The demo stack's lifecycle: up (idempotent), status, restart of the backend, down.

A state file records what `up` started (pids, ports, addresses) so that `down` stops exactly
that, `status` can check it, and every other command defaults to the stack's addresses.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perfkit.atomic import write_atomic
from perfkit.config import DEMO_STATE_FILE_NAME, Target, demo_dir
from perfkit.demo import data, postgres, procs, prometheus
from perfkit.demo.auth import DEFAULT_AUTH_LATENCY_MS
from perfkit.demo.metrics import DEFAULT_PROFILE, MetricsProfile
from perfkit.demo_state import (
    STATUS_SCHEMA,
    BackendState,
    DemoState,
    PostgresState,
    PrometheusState,
)
from perfkit.errors import StackError, UsageError
from perfkit.events import record_event

BACKEND_MARKER = "perfkit.demo.app"
PROMETHEUS_MARKER = "prometheus"
DEFAULT_SCALE = 1.0
TOKENS_IN_FILE = 1000

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StackPaths:
    root: Path

    @classmethod
    def default(cls) -> StackPaths:
        return cls(demo_dir())

    @property
    def state_file(self) -> Path:
        return self.root / DEMO_STATE_FILE_NAME

    @property
    def pg_data(self) -> Path:
        return postgres.data_dir_for(self.root)

    @property
    def pg_log(self) -> Path:
        # Beside the data dir: as root, that is where the `postgres` user can write.
        data = self.pg_data
        return data.parent / f"{data.name}.log" if procs.running_as_root() else (
            self.root / "postgres.log")

    @property
    def backend_log(self) -> Path:
        return self.root / "backend.log"

    @property
    def prom_log(self) -> Path:
        return self.root / "prometheus.log"

    @property
    def prom_config(self) -> Path:
        return self.root / "prometheus.yml"

    @property
    def prom_data(self) -> Path:
        return self.root / "prometheus-data"

    @property
    def tokens_file(self) -> Path:
        return self.root / "tokens.txt"


@dataclass(frozen=True)
class UpOptions:
    scale: float | None = None
    cache: bool = True
    metrics_profile: MetricsProfile = DEFAULT_PROFILE
    auth_latency_ms: float = DEFAULT_AUTH_LATENCY_MS
    pg_port: int | None = None
    backend_port: int | None = None
    prometheus_port: int | None = None


def read_state(paths: StackPaths) -> DemoState:
    """The recorded stack; an empty state when none was started (or its file is unreadable)."""
    return DemoState.read(paths.state_file) or DemoState()


def _noop(_: str) -> None:
    pass


def up(options: UpOptions, paths: StackPaths | None = None,
       progress: Progress = _noop) -> DemoState:
    """Start whatever is not running; leave what runs alone unless its options changed."""
    paths = paths or StackPaths.default()
    paths.root.mkdir(parents=True, exist_ok=True)
    state = read_state(paths)
    state.notes = []
    _check_requested_ports(state, options)
    _up_postgres(state, options, paths, progress)
    state.write(paths.state_file)
    _up_backend(state, options, paths, progress)
    state.write(paths.state_file)
    _up_prometheus(state, options, paths, progress)
    state.write(paths.state_file)
    return state


def _postgres_answers(pg: PostgresState | None) -> bool:
    return pg is not None and bool(pg.dsn) and postgres.answers(pg.dsn or "")


def _check_requested_ports(state: DemoState, options: UpOptions) -> None:
    """Refuse a taken port before starting anything (a failed `up` must not leave half a stack);
    say when a port option cannot apply because that service already runs elsewhere."""
    pg, be, pr = state.postgres, state.backend, state.prometheus
    services = (
        ("--pg-port", options.pg_port, pg.port if pg else None, _postgres_answers(pg)),
        ("--backend-port", options.backend_port, be.port if be else None,
         procs.is_our_process(be.pid if be else None, BACKEND_MARKER)),
        ("--prometheus-port", options.prometheus_port, pr.port if pr else None,
         procs.is_our_process(pr.pid if pr else None, PROMETHEUS_MARKER)))
    for flag, wanted, current, running in services:
        if wanted is None:
            continue
        if running and current is not None and current != wanted:
            state.notes.append(f"{flag} {wanted} ignored: that service already runs on port "
                               f"{current} (`perfkit demo down` first to move it)")
        elif not running and procs.port_in_use(wanted):
            raise UsageError(f"port 127.0.0.1:{wanted} is already in use ({flag})",
                             hint=f"free it or pick another with {flag}")


def _up_postgres(state: DemoState, options: UpOptions, paths: StackPaths,
                 progress: Progress) -> None:
    server = _running_postgres(state, paths) or _start_postgres(options, paths, progress)
    state.postgres = PostgresState(server.dsn, server.pid(), server.port, str(server.data_dir),
                                   str(server.log_file))
    _load_data(state, options, server.dsn, progress)
    state.notes += data.ensure_extensions(server.dsn)
    tokens = data.demo_tokens(server.dsn, TOKENS_IN_FILE)
    write_atomic(paths.tokens_file, "\n".join(tokens) + "\n", mode=0o600)
    state.tokens_file = str(paths.tokens_file)
    state.token = tokens[0]


def _running_postgres(state: DemoState, paths: StackPaths) -> postgres.PostgresServer | None:
    pg = state.postgres
    if pg is not None and pg.port and _postgres_answers(pg):
        return postgres.PostgresServer(paths.pg_data, pg.port, paths.pg_log)
    if pg is not None and pg.pid:
        state.notes.append(f"recovered a stale state: PostgreSQL (pid {pg.pid}) was "
                           "not running")
    return None


def _start_postgres(options: UpOptions, paths: StackPaths,
                    progress: Progress) -> postgres.PostgresServer:
    postgres.find_binary("initdb")
    if not postgres.check_data_dir(paths.pg_data):
        progress("initdb: creating the demo PostgreSQL cluster")
        postgres.init_cluster(paths.pg_data)
    _clear_stale_pidfile(paths.pg_data)
    server = postgres.PostgresServer(
        paths.pg_data, procs.choose_port(options.pg_port, "--pg-port"), paths.pg_log)
    progress(f"starting PostgreSQL on 127.0.0.1:{server.port}")
    postgres.start(server)
    postgres.ensure_database(server)
    return server


def _load_data(state: DemoState, options: UpOptions, dsn: str,
               progress: Progress) -> None:
    """Load the data when absent, at another scale, or made by an older schema."""
    loaded = data.loaded_data(dsn)
    wanted = options.scale if options.scale is not None else (
        loaded.scale if loaded else DEFAULT_SCALE)
    if loaded is None or not loaded.current or loaded.scale != wanted:
        rows = data.DemoScale.of(wanted)
        progress(f"loading demo data at scale {wanted:g} ({rows.messages:,} messages, "
                 f"{rows.conversations:,} conversations, {rows.accounts:,} accounts)")
        seconds = data.load_demo_data(dsn, wanted,
                                      lambda label, i, n: progress(f"  {label} ({i + 1}/{n})"))
        state.load_seconds = round(seconds, 1)
        state.notes.append(f"loaded demo data at scale {wanted:g} in {seconds:.1f} s")
    state.scale = wanted


def _clear_stale_pidfile(data_dir: Path) -> None:
    pidfile = data_dir / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    if not procs.is_our_process(pid, "postgres"):
        pidfile.unlink(missing_ok=True)


def _backend_argv(port: int, options: UpOptions) -> list[str]:
    argv = [sys.executable, "-m", BACKEND_MARKER, "--port", str(port),
            "--metrics-profile", options.metrics_profile,
            "--auth-latency-ms", str(options.auth_latency_ms)]
    return [*argv, "--no-cache"] if not options.cache else argv


def _free_port(recorded: int | None, wanted: int | None, flag: str) -> int:
    """The port a service had, when free and no other is asked for; else `wanted` or any."""
    if recorded and wanted is None and not procs.port_in_use(recorded):
        return recorded
    return procs.choose_port(wanted, flag)


def _up_backend(state: DemoState, options: UpOptions, paths: StackPaths,
                progress: Progress) -> None:
    be = state.backend or BackendState()
    running = procs.is_our_process(be.pid, BACKEND_MARKER)
    if running and (be.cache, be.metrics_profile, be.auth_latency_ms) == (
            options.cache, options.metrics_profile, options.auth_latency_ms):
        return
    if running and be.pid is not None:
        progress("restarting the backend with the new options")
        procs.stop_pid(be.pid, BACKEND_MARKER)
        port = be.port if be.port is not None else procs.choose_port(options.backend_port,
                                                                     "--backend-port")
    else:
        if be.pid:
            state.notes.append(f"recovered a stale state: backend (pid {be.pid}) was "
                               "not running")
        port = _free_port(be.port, options.backend_port, "--backend-port")
    start_backend(state, port, options, paths, progress)


def start_backend(state: DemoState, port: int, options: UpOptions, paths: StackPaths,
                  progress: Progress) -> None:
    url = f"http://127.0.0.1:{port}"
    progress(f"starting the demo backend on {url} (cache {'on' if options.cache else 'off'}, "
             f"metrics {options.metrics_profile})")
    dsn = state.postgres.dsn if state.postgres else None
    if not dsn:
        raise StackError("the demo stack has no database", hint="run `perfkit demo up`")
    pid = procs.spawn(_backend_argv(port, options), paths.backend_log,
                      env={"PERFKIT_DEMO_DSN": dsn})
    procs.wait_until(lambda: procs.http_ok(f"{url}/healthz"), 30, pid, "the demo backend",
                     paths.backend_log)
    state.backend = BackendState(url, pid, port, options.cache, options.metrics_profile,
                                 options.auth_latency_ms, datetime.now(UTC).isoformat())
    state.log_file = str(paths.backend_log)
    target = Target.of(base_url=url, dsn=dsn,
                       prometheus_url=state.prometheus.url if state.prometheus else None)
    record_event("demo-restart", f"demo backend started (cache {'on' if options.cache else 'off'}"
                                 f", metrics {options.metrics_profile})", target=target)


def _up_prometheus(state: DemoState, options: UpOptions, paths: StackPaths,
                   progress: Progress) -> None:
    pr = state.prometheus or PrometheusState()
    backend_port = state.backend.port if state.backend else None
    assert backend_port is not None  # _up_backend recorded it
    running = procs.is_our_process(pr.pid, PROMETHEUS_MARKER)
    if running and pr.backend_port == backend_port:
        return
    if running and pr.pid:
        procs.stop_pid(pr.pid, PROMETHEUS_MARKER)
    elif pr.pid:
        state.notes.append(f"recovered a stale state: Prometheus (pid {pr.pid}) was "
                           "not running")
    prometheus.find_prometheus()
    port = _free_port(pr.port, options.prometheus_port, "--prometheus-port")
    prometheus.write_config(paths.prom_config, backend_port)
    url = f"http://127.0.0.1:{port}"
    progress(f"starting Prometheus on {url} (scraping the backend every "
             f"{prometheus.SCRAPE_INTERVAL_S} s)")
    pid = procs.spawn(prometheus.command(paths.prom_config, paths.prom_data, port),
                      paths.prom_log)
    procs.wait_until(lambda: procs.http_ok(f"{url}/-/ready"), 30, pid, "Prometheus",
                     paths.prom_log)
    procs.wait_until(lambda: prometheus.backend_scraped(url), 30, pid,
                     "Prometheus's first scrape of the backend", paths.prom_log)
    state.prometheus = PrometheusState(url, pid, port, backend_port, str(paths.prom_config))


def restart_backend(cache: bool | None = None, metrics_profile: str | None = None,
                    paths: StackPaths | None = None, progress: Progress = _noop) -> DemoState:
    """Stop and start the backend on the same port (the seed's step 1), recording an event."""
    paths = paths or StackPaths.default()
    state = read_state(paths)
    be = state.backend
    if be is None or be.port is None or state.postgres is None:
        raise StackError("the demo stack is not up", hint="run `perfkit demo up` first")
    options = UpOptions(cache=be.cache is not False if cache is None else cache,
                        metrics_profile=MetricsProfile(
                            metrics_profile or be.metrics_profile or DEFAULT_PROFILE),
                        auth_latency_ms=DEFAULT_AUTH_LATENCY_MS if be.auth_latency_ms is None
                        else be.auth_latency_ms)
    if be.pid:
        procs.stop_pid(be.pid, BACKEND_MARKER)
    start_backend(state, be.port, options, paths, progress)
    state.write(paths.state_file)
    return state


@dataclass(frozen=True)
class Service:
    """One part of the stack: where it is, its pid, and whether it answers now."""

    name: str
    address: str | None
    pid: int | None
    up: bool


@dataclass(frozen=True)
class StackStatus:
    """DESIGN's perfkit.demo/1: each service's address, pid and whether it answers now."""

    postgres: Service
    backend: Service
    prometheus: Service
    cache: bool | None = None
    metrics_profile: str | None = None
    tokens_file: str | None = None
    log_file: str | None = None
    scale: float | None = None

    @property
    def services(self) -> tuple[Service, Service, Service]:
        return self.postgres, self.backend, self.prometheus

    @property
    def all_up(self) -> bool:
        return all(s.up for s in self.services)

    def to_json(self) -> dict[str, Any]:
        pg, be, pr = self.services
        return {
            "schema": STATUS_SCHEMA,
            "postgres": {"dsn": pg.address, "pid": pg.pid, "up": pg.up},
            "backend": {"url": be.address, "pid": be.pid, "up": be.up, "cache": self.cache,
                        "metrics_profile": self.metrics_profile},
            "prometheus": {"url": pr.address, "pid": pr.pid, "up": pr.up},
            "tokens_file": self.tokens_file, "log_file": self.log_file, "scale": self.scale,
        }


def check(paths: StackPaths | None = None) -> StackStatus:
    """Each service of the recorded stack, checked for real."""
    paths = paths or StackPaths.default()
    state = read_state(paths)
    pg = state.postgres or PostgresState()
    be = state.backend or BackendState()
    pr = state.prometheus or PrometheusState()
    pg_pid = (postgres.PostgresServer(paths.pg_data, 0, paths.pg_log).pid()
              if state.postgres else None)
    return StackStatus(
        postgres=Service("postgres", pg.dsn, pg_pid, _postgres_answers(pg)),
        backend=Service("backend", be.url, be.pid,
                        bool(be.url) and procs.http_ok(f"{be.url}/healthz")),
        prometheus=Service("prometheus", pr.url, pr.pid,
                           bool(pr.url) and procs.http_ok(f"{pr.url}/-/ready")),
        cache=be.cache, metrics_profile=be.metrics_profile,
        tokens_file=state.tokens_file, log_file=state.log_file, scale=state.scale)


def backend_url(paths: StackPaths | None = None) -> str:
    """The running stack's backend, or a StackError saying how to start one."""
    be = read_state(paths or StackPaths.default()).backend
    if be is None or not be.url:
        raise StackError("the demo stack is not up", hint="run `perfkit demo up` first")
    return be.url


def down(purge: bool = False, paths: StackPaths | None = None,
         progress: Progress = _noop) -> list[str]:
    """Stop exactly what `up` started (by recorded pid); with purge, delete the data too."""
    paths = paths or StackPaths.default()
    state = read_state(paths)
    stopped: list[str] = []
    pr, be = state.prometheus, state.backend
    if pr is not None and pr.pid and procs.stop_pid(pr.pid, PROMETHEUS_MARKER):
        stopped.append(f"Prometheus (pid {pr.pid})")
    if be is not None and be.pid and procs.stop_pid(be.pid, BACKEND_MARKER):
        stopped.append(f"backend (pid {be.pid})")
    server = postgres.PostgresServer(paths.pg_data, 0, paths.pg_log)
    pg_pid = server.pid()
    if pg_pid and procs.pid_alive(pg_pid):
        progress("stopping PostgreSQL")
        postgres.stop(server)
        deadline = time.monotonic() + 30
        while procs.pid_alive(pg_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        stopped.append(f"PostgreSQL (pid {pg_pid})")
    paths.state_file.unlink(missing_ok=True)
    if purge:
        shutil.rmtree(paths.pg_data, ignore_errors=True)
        paths.pg_log.unlink(missing_ok=True)
        shutil.rmtree(paths.prom_data, ignore_errors=True)
        for f in (paths.tokens_file, paths.prom_config):
            f.unlink(missing_ok=True)
    return stopped
