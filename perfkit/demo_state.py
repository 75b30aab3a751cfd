"""The demo stack's state file (`perfkit.demo-state/1`), typed: what `demo up` started (pids,
ports, addresses) so that `down` stops exactly that, `status` checks it, and every other
command takes the stack's addresses as defaults (perfkit.config). Its one reader and writer.

A state file is perfkit's own but may be old, half written by an older perfkit, or edited by
hand: the reader takes what it can (a missing or malformed part is absent, never an error);
the writer writes it whole (perfkit.atomic), readable by its owner only (it holds a token).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfkit.atomic import write_atomic

SCHEMA = "perfkit.demo-state/1"
#: `perfkit demo status --format json`: each service checked now (demo/stack.py StackStatus).
STATUS_SCHEMA = "perfkit.demo/1"


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _part(data: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = data.get(name)
    return value if isinstance(value, Mapping) and value else None


@dataclass
class PostgresState:
    dsn: str | None = None
    pid: int | None = None
    port: int | None = None
    data_dir: str | None = None
    log_file: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PostgresState:
        return cls(_str(data.get("dsn")), _int(data.get("pid")), _int(data.get("port")),
                   _str(data.get("data_dir")), _str(data.get("log_file")))

    def to_json(self) -> dict[str, Any]:
        return {"dsn": self.dsn, "pid": self.pid, "port": self.port, "data_dir": self.data_dir,
                "log_file": self.log_file}


@dataclass
class BackendState:
    """The backend and the options it was started with (`up` restarts it when they change)."""

    url: str | None = None
    pid: int | None = None
    port: int | None = None
    cache: bool | None = None  # None: a state from before the option (on, as then)
    metrics_profile: str | None = None
    auth_latency_ms: float | None = None
    started_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackendState:
        return cls(_str(data.get("url")), _int(data.get("pid")), _int(data.get("port")),
                   _bool(data.get("cache")), _str(data.get("metrics_profile")),
                   _float(data.get("auth_latency_ms")), _str(data.get("started_at")))

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "pid": self.pid, "port": self.port, "cache": self.cache,
                "metrics_profile": self.metrics_profile,
                "auth_latency_ms": self.auth_latency_ms, "started_at": self.started_at}


@dataclass
class PrometheusState:
    url: str | None = None
    pid: int | None = None
    port: int | None = None
    backend_port: int | None = None  # the backend it scrapes: another port means a new config
    config_file: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PrometheusState:
        return cls(_str(data.get("url")), _int(data.get("pid")), _int(data.get("port")),
                   _int(data.get("backend_port")), _str(data.get("config_file")))

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "pid": self.pid, "port": self.port,
                "backend_port": self.backend_port, "config_file": self.config_file}


@dataclass
class DemoState:
    """What `up` started; a part is None until its service was started once."""

    postgres: PostgresState | None = None
    backend: BackendState | None = None
    prometheus: PrometheusState | None = None
    scale: float | None = None  # the data's scale
    load_seconds: float | None = None  # the last load's time
    tokens_file: str | None = None
    token: str | None = None  # the first demo user's bearer token
    log_file: str | None = None  # the backend's log
    notes: list[str] = field(default_factory=list)  # what the last `up` did, said once

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DemoState:
        pg, be, pr = (_part(data, k) for k in ("postgres", "backend", "prometheus"))
        notes = data.get("notes")
        return cls(None if pg is None else PostgresState.from_json(pg),
                   None if be is None else BackendState.from_json(be),
                   None if pr is None else PrometheusState.from_json(pr),
                   _float(data.get("scale")), _float(data.get("load_seconds")),
                   _str(data.get("tokens_file")), _str(data.get("token")),
                   _str(data.get("log_file")),
                   [str(n) for n in notes] if isinstance(notes, list) else [])

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA, "notes": self.notes}
        for name, part in (("postgres", self.postgres), ("backend", self.backend),
                           ("prometheus", self.prometheus)):
            if part is not None:
                data[name] = part.to_json()
        for name, value in (("scale", self.scale), ("load_seconds", self.load_seconds),
                            ("tokens_file", self.tokens_file), ("token", self.token),
                            ("log_file", self.log_file)):
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def read(cls, path: Path) -> DemoState | None:
        """The state in `path`; None when there is none (no stack was started) or it cannot
        be read as one (not JSON, not an object)."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls.from_json(data) if isinstance(data, dict) else None

    def write(self, path: Path) -> None:
        write_atomic(path, json.dumps(self.to_json(), indent=2), mode=0o600)
