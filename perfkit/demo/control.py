"""The demo backend's control routes (`/_demo/*`), both sides: the fault knob the backend
applies, and the small client perfkit uses to read and change it.

perfkit's control traffic goes only to these routes, which the metrics never count
(metrics.CONTROL_PATH_PATTERNS), so a user's report never shows it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from perfkit.errors import StackError, UsageError

FAULTS_PATH = "/_demo/faults"
ROUTES_PATH = "/_demo/routes"
CACHE_CLEAR_PATH = "/_demo/cache/clear"
ALL_ROUTES = "*"
TIMEOUT_S = 5.0
#: The routes that answer a list, which the N+1 fault can target (app.PER_ROW_LOOKUPS runs
#: one more statement per row of each).
LIST_ROUTES = ("/accounts", "/conversations")


@dataclass
class Faults:
    """Injected per-route latency and 5xx ratio (route templates or "*" for every route), and
    the list routes turned N+1 (one more statement per row, as an ORM's lazy load does)."""

    latency_ms: dict[str, float] = field(default_factory=dict)
    error_ratio: dict[str, float] = field(default_factory=dict)
    n_plus_one: set[str] = field(default_factory=set)

    @classmethod
    def from_json(cls, body: Any) -> Faults:
        """From a `PUT /_demo/faults` body (a missing table is empty)."""
        return cls({str(k): float(v) for k, v in (body.get("latency_ms") or {}).items()},
                   {str(k): float(v) for k, v in (body.get("error_ratio") or {}).items()},
                   {str(r) for r in (body.get("n_plus_one") or [])})

    def to_json(self) -> dict[str, Any]:
        return {"latency_ms": dict(self.latency_ms), "error_ratio": dict(self.error_ratio),
                "n_plus_one": sorted(self.n_plus_one)}

    def for_route(self, route: str) -> tuple[float, float]:
        return (self.latency_ms.get(route, self.latency_ms.get(ALL_ROUTES, 0.0)),
                self.error_ratio.get(route, self.error_ratio.get(ALL_ROUTES, 0.0)))

    def routes(self) -> list[str]:
        return sorted({*self.latency_ms, *self.error_ratio, *self.n_plus_one})

    def set_from(self, other: Faults) -> None:
        """Replace every table in place (the middleware and the handlers hold this object)."""
        self.latency_ms, self.error_ratio = dict(other.latency_ms), dict(other.error_ratio)
        self.n_plus_one = set(other.n_plus_one)

    def changed(self, route: str, latency_ms: float | None, error_ratio: float | None) -> Faults:
        """A copy with one route's faults changed: 0 removes one, None leaves it as it is."""
        new = Faults(dict(self.latency_ms), dict(self.error_ratio), set(self.n_plus_one))
        for table, value in ((new.latency_ms, latency_ms), (new.error_ratio, error_ratio)):
            if value == 0:
                table.pop(route, None)
            elif value is not None:
                table[route] = value
        return new

    def with_n_plus_one(self, on: Iterable[str] = (), off: Iterable[str] = ()) -> Faults:
        """A copy with the N+1 fault turned on for some list routes and off for others."""
        return Faults(dict(self.latency_ms), dict(self.error_ratio),
                      (self.n_plus_one | set(on)) - set(off))


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


def _check_n_plus_one(routes: list[str], on: Sequence[str], off: Sequence[str]) -> None:
    """Each N+1 route is a list route of the backend, and none is both turned on and off."""
    for flag, named in (("--n-plus-one", on), ("--no-n-plus-one", off)):
        for route in named:
            if route not in routes:
                raise UsageError(f"{flag} {route!r} is not a route of the demo backend",
                                 hint=f"use one of its list routes: {', '.join(LIST_ROUTES)}")
            if route not in LIST_ROUTES:
                raise UsageError(f"{flag} {route!r} is not a list route: the N+1 fault runs "
                                 "one more statement per row of a list",
                                 hint=f"use one of {', '.join(LIST_ROUTES)}")
    both = sorted(set(on) & set(off))
    if both:
        raise UsageError(f"--n-plus-one and --no-n-plus-one both name {both[0]!r}",
                         hint="give one of the two for a route")


def change_fault(base_url: str, route: str, *, latency_ms: float | None,
                 error_ratio: float | None, clear: bool, n_plus_one: Sequence[str] = (),
                 no_n_plus_one: Sequence[str] = ()) -> FaultState:
    """Set one route's faults and the N+1 routes (after removing every fault with `clear`);
    the others stay."""
    routes = backend_routes(base_url)
    if route != ALL_ROUTES and route not in routes:
        raise UsageError(f"--route {route!r} is not a route of the demo backend",
                         hint=f"use {ALL_ROUTES} or one of {', '.join(routes)}")
    _check_n_plus_one(routes, n_plus_one, no_n_plus_one)
    current = Faults() if clear else FaultState.from_json(_call(base_url, FAULTS_PATH)).faults
    wanted = current.changed(route, latency_ms, error_ratio).with_n_plus_one(n_plus_one,
                                                                            no_n_plus_one)
    now = FaultState.from_json(_call(base_url, FAULTS_PATH, "PUT", wanted.to_json()))
    if not wanted.n_plus_one <= now.faults.n_plus_one:
        raise StackError(f"the demo backend at {base_url} kept no N+1 fault: it was started "
                         "by an older perfkit", hint="restart it with `perfkit demo restart`")
    return now
