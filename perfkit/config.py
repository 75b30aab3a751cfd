"""Settings resolved once: flags > environment > (a scenario's base_url) > perfkit.yaml > the
demo stack's state > defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perfkit.demo_state import DemoState
from perfkit.errors import UsageError

CONFIG_FILE_NAME = "perfkit.yaml"


def state_dir() -> Path:
    """Where perfkit keeps the demo stack and the change-event journal."""
    explicit = os.environ.get("PERFKIT_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "state"
    return (base / "perfkit").resolve()


DEMO_STATE_FILE_NAME = "state.json"


def demo_dir() -> Path:
    """The demo stack's folder: its state file, logs, tokens and Prometheus data."""
    return state_dir() / "demo"


def demo_state_file() -> Path:
    return demo_dir() / DEMO_STATE_FILE_NAME


def load_demo_state() -> DemoState | None:
    """The running demo stack's addresses, if `perfkit demo up` left any."""
    return DemoState.read(demo_state_file())


def load_config_file(path: Path | None) -> tuple[dict[str, Any], Path | None]:
    """perfkit.yaml as a dict: the --config file (must exist) or ./perfkit.yaml (optional)."""
    import yaml  # local: config loads on `perfkit --help`, which must stay quick

    candidate = path if path is not None else Path.cwd() / CONFIG_FILE_NAME
    if not candidate.exists():
        if path is not None:
            raise UsageError(f"config file {path} does not exist", hint="check --config")
        return {}, None
    try:
        data = yaml.safe_load(candidate.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{candidate}:{mark.line + 1}" if mark is not None else str(candidate)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UsageError(f"{where}: {problem}", hint="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise UsageError(f"{candidate}: expected a mapping at the top level")
    return data, candidate


DEFAULT_PG_PORT = "5432"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_identity(url: str | None) -> str | None:
    """A URL as an identity: no credentials, query or trailing slash; host lower-cased,
    default port dropped (`http://API:80/v1/` -> `http://api/v1`)."""
    from urllib.parse import urlsplit  # local: `perfkit --help` loads config

    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return f"{parts.scheme.lower()}://{host}{parts.path.rstrip('/')}"


def database_identity(dsn: str | None) -> str | None:
    """A DSN (URI or key=value) as `host:port/dbname`, without user or password."""
    if not dsn:
        return None
    from psycopg import Error  # local: `perfkit --help` loads config, psycopg is slow
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Error:
        return None
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost").lower()
    port = str(parts.get("port") or DEFAULT_PG_PORT)
    return f"{host}:{port}/{parts.get('dbname') or parts.get('user') or ''}"


@dataclass(frozen=True)
class Target:
    """The systems a command works on, as identities without credentials: change events are
    keyed by it, so a mark made for staging never splits a report on production."""

    base_url: str | None = None
    database: str | None = None  # host:port/dbname
    prometheus_url: str | None = None

    @classmethod
    def of(cls, *, base_url: str | None = None, dsn: str | None = None,
           prometheus_url: str | None = None) -> Target:
        return cls(url_identity(base_url), database_identity(dsn), url_identity(prometheus_url))

    @classmethod
    def from_json(cls, data: object) -> Target | None:
        """A journal's `target` field; None when absent or unreadable (an old line)."""
        if not isinstance(data, dict):
            return None
        return cls(*(str(data[k]) if data.get(k) else None for k in TARGET_PARTS))

    @property
    def known(self) -> bool:
        return any(self.parts().values())

    def parts(self) -> dict[str, str | None]:
        return {"base_url": self.base_url, "database": self.database,
                "prometheus_url": self.prometheus_url}

    def to_json(self) -> dict[str, str]:
        return {k: v for k, v in self.parts().items() if v}

    def same_system(self, other: Target) -> bool:
        """Nothing both know differs: an event of another backend, database or Prometheus is
        not ours; one that names none of ours cannot be told apart, and counts."""
        mine, theirs = self.parts(), other.parts()
        return all(mine[k] == theirs[k] for k in TARGET_PARTS if mine[k] and theirs[k])

    def describe(self) -> str:
        known = [f"{TARGET_LABELS[k]} {v}" for k, v in self.parts().items() if v]
        return ", ".join(known) or "no target configured"

    def labels(self) -> str:
        """Which parts it names, without their addresses: `backend, database`."""
        return ", ".join(TARGET_LABELS[k] for k, v in self.parts().items() if v) or "none"


TARGET_PARTS = ("base_url", "database", "prometheus_url")
TARGET_LABELS = {"base_url": "backend", "database": "database", "prometheus_url": "Prometheus"}


@dataclass(frozen=True)
class Settings:
    """Where perfkit's targets are. None means "not configured anywhere"."""

    base_url: str | None = None
    token: str | None = None
    tokens_file: Path | None = None
    dsn: str | None = None
    prometheus_url: str | None = None
    prometheus_token: str | None = None
    backend_log: Path | None = None
    config_path: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    from_demo: frozenset[str] = frozenset()

    def secrets(self) -> list[str]:
        """Values that must never be printed."""
        return [s for s in (self.token, self.prometheus_token) if s]

    @property
    def target(self) -> Target:
        """The backend, database and Prometheus these settings point at (no credentials)."""
        return Target.of(base_url=self.base_url, dsn=self.dsn,
                         prometheus_url=self.prometheus_url)


# Each setting: its environment variables, in precedence order.
ENVIRONMENT = {
    "base_url": ("PERFKIT_BASE_URL",), "dsn": ("PERFKIT_DSN", "DATABASE_URL"),
    "prometheus_url": ("PROMETHEUS_URL",), "token": ("PERFKIT_TOKEN",),
    "tokens_file": ("PERFKIT_TOKENS_FILE",), "backend_log": ("PERFKIT_BACKEND_LOG",),
    "prometheus_token": ("PROMETHEUS_TOKEN",),
}
TARGETS = ("base_url", "dsn", "prometheus_url")  # the systems perfkit talks to


def demo_defaults(state: DemoState | None) -> dict[str, str | None]:
    """What a running demo stack offers as defaults, by setting name."""
    state = state or DemoState()
    pg, be, pr = state.postgres, state.backend, state.prometheus
    return {"base_url": be.url if be else None, "dsn": pg.dsn if pg else None,
            "prometheus_url": pr.url if pr else None, "token": state.token,
            "tokens_file": state.tokens_file, "backend_log": state.log_file}


@dataclass(frozen=True)
class _Layers:
    """flags > environment > the scenario file (its base_url) > perfkit.yaml; the demo's
    defaults are applied apart."""

    flags: dict[str, Any]
    env: Mapping[str, str]
    scenario: dict[str, Any]
    config: dict[str, Any]

    def explicit(self, name: str) -> Any:
        if self.flags.get(name) is not None:
            return self.flags[name]
        for env_name in ENVIRONMENT.get(name, ()):
            if self.env.get(env_name):
                return self.env[env_name]
        if self.scenario.get(name) is not None:
            return self.scenario[name]
        return self.config.get(name)

    def points_elsewhere(self, demo: Mapping[str, str | None]) -> bool:
        """True when a target is set to another system than the demo's: then the demo fills
        nothing at all, above all not its tokens sent to another host."""
        for name in TARGETS:
            given = self.explicit(name)
            if given is not None and str(given).rstrip("/") != str(demo[name]).rstrip("/"):
                return True
        return False


def resolve_settings(
    *,
    config_path: Path | None = None,
    base_url: str | None = None,
    dsn: str | None = None,
    prometheus_url: str | None = None,
    token: str | None = None,
    tokens_file: Path | None = None,
    scenario_base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every source in precedence order; the demo stack fills what nothing else set."""
    config, found = load_config_file(config_path)
    layers = _Layers({"base_url": base_url, "dsn": dsn, "prometheus_url": prometheus_url,
                      "token": token, "tokens_file": tokens_file},
                     os.environ if environ is None else environ,
                     {"base_url": scenario_base_url}, config)
    demo = demo_defaults(load_demo_state())
    if layers.points_elsewhere(demo):
        demo = dict.fromkeys(demo)
    values = {name: layers.explicit(name) for name in ENVIRONMENT}
    from_demo = {name for name, value in values.items()
                 if value is None and demo.get(name) is not None}
    for name in from_demo:
        values[name] = demo[name]
    paths = {name: Path(values[name]) if values[name] else None
             for name in ("tokens_file", "backend_log")}
    return Settings(**{**values, **paths}, config_path=found, config=config,
                    from_demo=frozenset(from_demo))
