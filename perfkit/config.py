"""Settings resolved once: flags > environment > perfkit.yaml > the demo stack's state > defaults.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def load_demo_state() -> dict[str, Any] | None:
    """The running demo stack's addresses, if `perfkit demo up` left any."""
    path = demo_state_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_config_file(path: Path | None) -> tuple[dict[str, Any], Path | None]:
    """perfkit.yaml as a dict: the --config file (must exist) or ./perfkit.yaml (optional)."""
    import yaml

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


def resolve_settings(
    *,
    config_path: Path | None = None,
    base_url: str | None = None,
    dsn: str | None = None,
    prometheus_url: str | None = None,
    token: str | None = None,
    tokens_file: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge every source in precedence order; the demo stack fills what nothing else set."""
    env = os.environ if environ is None else environ
    config, found = load_config_file(config_path)
    demo = load_demo_state() or {}
    from_demo: set[str] = set()
    # The demo stack is a default for the whole target or not at all: with any target set
    # elsewhere (a real backend, database or Prometheus), nothing of the demo leaks into it,
    # above all not its tokens sent to another host.
    demo_targets = {"base_url": (demo.get("backend") or {}).get("url"),
                    "dsn": (demo.get("postgres") or {}).get("dsn"),
                    "prometheus_url": (demo.get("prometheus") or {}).get("url")}
    targets = (("base_url", base_url, ("PERFKIT_BASE_URL",)),
               ("dsn", dsn, ("PERFKIT_DSN", "DATABASE_URL")),
               ("prometheus_url", prometheus_url, ("PROMETHEUS_URL",)))
    for key, flag, names in targets:
        given = flag if flag is not None else next(
            (env[n] for n in names if env.get(n)), config.get(key))
        if given is not None and str(given).rstrip("/") != str(demo_targets[key]).rstrip("/"):
            demo = {}  # another system: the demo fills nothing
            break

    def pick(name: str, flag: Any, env_names: tuple[str, ...], demo_value: Any) -> Any:
        if flag is not None:
            return flag
        for env_name in env_names:
            if env.get(env_name):
                return env[env_name]
        if config.get(name) is not None:
            return config[name]
        if demo_value is not None:
            from_demo.add(name)
        return demo_value

    demo_backend = demo.get("backend", {}) if isinstance(demo.get("backend"), dict) else {}
    demo_pg = demo.get("postgres", {}) if isinstance(demo.get("postgres"), dict) else {}
    demo_prom = demo.get("prometheus", {}) if isinstance(demo.get("prometheus"), dict) else {}

    tokens_value = pick("tokens_file", tokens_file, ("PERFKIT_TOKENS_FILE",),
                        demo.get("tokens_file"))
    log_value = pick("backend_log", None, ("PERFKIT_BACKEND_LOG",), demo.get("log_file"))
    return Settings(
        base_url=pick("base_url", base_url, ("PERFKIT_BASE_URL",), demo_backend.get("url")),
        token=pick("token", token, ("PERFKIT_TOKEN",), demo.get("token")),
        tokens_file=Path(tokens_value) if tokens_value else None,
        dsn=pick("dsn", dsn, ("PERFKIT_DSN", "DATABASE_URL"), demo_pg.get("dsn")),
        prometheus_url=pick(
            "prometheus_url", prometheus_url, ("PROMETHEUS_URL",), demo_prom.get("url")
        ),
        prometheus_token=pick("prometheus_token", None, ("PROMETHEUS_TOKEN",), None),
        backend_log=Path(log_value) if log_value else None,
        config_path=found,
        config=config,
        from_demo=frozenset(from_demo),
    )
