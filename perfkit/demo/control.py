"""The demo backend's control routes (`/_demo/*`), both sides: the fault knob the backend
applies, and the small client perfkit uses to read and change it.

perfkit's control traffic goes only to these routes, which the metrics never count
(metrics.CONTROL_PATH_PATTERNS), so a user's report never shows it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from perfkit.errors import StackError, UsageError

FAULTS_PATH = "/_demo/faults"
ROUTES_PATH = "/_demo/routes"
CACHE_CLEAR_PATH = "/_demo/cache/clear"
ALL_ROUTES = "*"
TIMEOUT_S = 5.0


@dataclass
class Faults:
    """Injected per-route latency and 5xx ratio; route templates or "*" for every route."""

    latency_ms: dict[str, float] = field(default_factory=dict)
    error_ratio: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Any) -> Faults:
        """From a `PUT /_demo/faults` body (a missing table is empty)."""
        return cls({str(k): float(v) for k, v in (body.get("latency_ms") or {}).items()},
                   {str(k): float(v) for k, v in (body.get("error_ratio") or {}).items()})

    def to_json(self) -> dict[str, dict[str, float]]:
        return {"latency_ms": dict(self.latency_ms), "error_ratio": dict(self.error_ratio)}

    def for_route(self, route: str) -> tuple[float, float]:
        return (self.latency_ms.get(route, self.latency_ms.get(ALL_ROUTES, 0.0)),
                self.error_ratio.get(route, self.error_ratio.get(ALL_ROUTES, 0.0)))

    def routes(self) -> list[str]:
        return sorted({*self.latency_ms, *self.error_ratio})

    def set_from(self, other: Faults) -> None:
        """Replace both tables in place (the middleware holds this object)."""
        self.latency_ms, self.error_ratio = dict(other.latency_ms), dict(other.error_ratio)

    def changed(self, route: str, latency_ms: float | None, error_ratio: float | None) -> Faults:
        """A copy with one route's faults changed: 0 removes one, None leaves it as it is."""
        new = Faults(dict(self.latency_ms), dict(self.error_ratio))
        for table, value in ((new.latency_ms, latency_ms), (new.error_ratio, error_ratio)):
            if value == 0:
                table.pop(route, None)
            elif value is not None:
                table[route] = value
        return new


@dataclass(frozen=True)
class FaultState:
    """What `GET /_demo/faults` answers: the faults and the backend's options."""

    faults: Faults
    cache: bool
    metrics_profile: str

    @classmethod
    def from_json(cls, data: Any) -> FaultState:
        return cls(Faults.from_json(data), bool(data.get("cache")),
                   str(data.get("metrics_profile")))

    def to_json(self) -> dict[str, Any]:
        return {**self.faults.to_json(), "cache": self.cache,
                "metrics_profile": self.metrics_profile}


def _call(base_url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", method=method, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise StackError(f"the demo backend at {base_url} did not answer {method} {path}: "
                         f"{exc}", hint="check it with `perfkit demo status`") from None


def backend_routes(base_url: str) -> list[str]:
    """The API's route templates (what a fault can target)."""
    return [str(r) for r in _call(base_url, ROUTES_PATH)]


def change_fault(base_url: str, route: str, *, latency_ms: float | None,
                 error_ratio: float | None, clear: bool) -> FaultState:
    """Set one route's faults (after removing all of them with `clear`); the others stay."""
    routes = backend_routes(base_url)
    if route != ALL_ROUTES and route not in routes:
        raise UsageError(f"--route {route!r} is not a route of the demo backend",
                         hint=f"use {ALL_ROUTES} or one of {', '.join(routes)}")
    current = Faults() if clear else FaultState.from_json(_call(base_url, FAULTS_PATH)).faults
    wanted = current.changed(route, latency_ms, error_ratio)
    return FaultState.from_json(_call(base_url, FAULTS_PATH, "PUT", wanted.to_json()))
