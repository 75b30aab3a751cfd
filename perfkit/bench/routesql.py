"""The SQL each route's request runs: statements, calls and database time per request.

Pure: from the run's database window (db/workload.py's DbStats) and its requests per route
to the record's `db.routes[]`, which the gate checks (`db.calls`, `db.ms`, `db.share`) and
compare shows before -> after. pg_stat_statements counts calls per statement, not per route:
its queryid ignores SQL comments and it is not keyed by application_name, so a tag a request
carries cannot split its counters. A route's figures are therefore exact only when the route
ran alone: the run's one route, or, for a scenario of several, the attribution pass (one
user, the steps one after the other, a snapshot between them: bench/attribution.py). The
method is stated with the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from perfkit.db.workload import DbStats


class Attribution(StrEnum):
    """How the statements were given to routes."""

    ONE_ROUTE = "one-route"  # the run had one route: every statement of the window is its
    PASS = "pass"  # a pass after the run: one user, a snapshot between steps
    NONE = "none"  # several routes and no pass: the statements are the run's, not a route's


ATTRIBUTION_TEXT = {
    Attribution.ONE_ROUTE: "the run's one route: every statement of the run's window over its "
                           "requests",
    Attribution.PASS: "an attribution pass after the run: one user ran the scenario {passes} "
                      "times, pg_stat_statements read between steps (warm caches: a cold "
                      "request may run more)",
    Attribution.NONE: "not per route: the run has {routes} routes running together and "
                      "pg_stat_statements does not say which ran what (bench one route, or "
                      "keep the attribution pass on)",
}


@dataclass(frozen=True)
class StatementCalls:
    """One statement of a route, with its calls per request of that route."""

    queryid: int
    query: str
    calls_per_request: float

    def to_json(self) -> dict[str, Any]:
        return {"queryid": self.queryid, "query": self.query,
                "calls_per_request": round(self.calls_per_request, 3)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StatementCalls:
        return cls(int(data["queryid"]), str(data["query"]), float(data["calls_per_request"]))


@dataclass(frozen=True)
class RouteSql:
    """What one request of a route costs the database."""

    route: str
    requests: int  # the requests the figures are divided by
    calls_per_request: float  # the app's statements (not the driver's BEGIN/COMMIT/SET)
    ms_per_request: float
    share_of_latency: float | None  # ms_per_request over the route's service time
    statements: tuple[StatementCalls, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "requests": self.requests,
                "calls_per_request": round(self.calls_per_request, 3),
                "ms_per_request": round(self.ms_per_request, 4),
                "share_of_latency": None if self.share_of_latency is None
                else round(self.share_of_latency, 4),
                "statements": [s.to_json() for s in self.statements]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteSql:
        share = data.get("share_of_latency")
        return cls(str(data["route"]), int(data["requests"]), float(data["calls_per_request"]),
                   float(data["ms_per_request"]), None if share is None else float(share),
                   tuple(StatementCalls.from_json(s) for s in data.get("statements") or []))


@dataclass(frozen=True)
class RoutesSql:
    """The record's `db.routes` and how they were attributed."""

    routes: tuple[RouteSql, ...] = ()
    method: Attribution = Attribution.NONE
    detail: str = ""

    def get(self, route: str) -> RouteSql | None:
        return next((r for r in self.routes if r.route == route), None)

    def to_json(self) -> dict[str, Any]:
        """The keys this adds to the record's `db` object."""
        return {"routes": [r.to_json() for r in self.routes],
                "attribution": {"method": self.method.value, "detail": self.detail}}

    @classmethod
    def from_json(cls, db: Mapping[str, Any] | None) -> RoutesSql:
        """From the record's `db` object (older records have neither key)."""
        if not db:
            return cls()
        attribution = db.get("attribution") or {}
        return cls(tuple(RouteSql.from_json(r) for r in db.get("routes") or []),
                   Attribution(str(attribution.get("method") or Attribution.NONE.value)),
                   str(attribution.get("detail") or ""))


def route_sql(route: str, db: DbStats, requests: int, service_ms: float | None) -> RouteSql:
    """One route's figures from a window in which it ran alone."""
    calls = sum(s.calls for s in db.statements)
    ms = sum(s.total_ms for s in db.statements) + db.housekeeping.total_ms
    per_ms = ms / requests if requests else 0.0
    share = per_ms / service_ms if service_ms and service_ms > 0 else None
    statements = tuple(sorted((StatementCalls(s.queryid, s.query, s.calls / requests)
                               for s in db.statements if requests),
                              key=lambda s: (-s.calls_per_request, s.queryid)))
    return RouteSql(route, requests, calls / requests if requests else 0.0, per_ms, share,
                    statements)


def attribute_run(db: DbStats, requests_by_route: Mapping[str, int],
                  service_ms_by_route: Mapping[str, float | None]) -> RoutesSql:
    """The routes' figures when the window itself can attribute them (one route), else
    none, with why."""
    routes = {route: n for route, n in requests_by_route.items() if n > 0}
    if len(routes) != 1:
        return RoutesSql((), Attribution.NONE,
                         ATTRIBUTION_TEXT[Attribution.NONE].format(routes=len(routes)))
    (route, requests), = routes.items()
    return RoutesSql((route_sql(route, db, requests, service_ms_by_route.get(route)),),
                     Attribution.ONE_ROUTE, ATTRIBUTION_TEXT[Attribution.ONE_ROUTE])
