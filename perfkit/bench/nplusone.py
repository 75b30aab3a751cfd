"""N+1, said where it is seen: a statement run 5 or more times per request of a route.

Pure: from the run's requests per route and its database window (db/workload.py's DbStats,
pg_stat_statements of the run) to the record's `db.n_plus_one[]`. pg_stat_statements counts
calls per statement, not per request or route, so the attribution is stated with each
finding: with one route, a statement's calls are that route's; with several, the
attribution pass (bench/attribution.py) gives each route its own, and without it they are
divided by every request of the run and no route is named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from perfkit.bench.routesql import ATTRIBUTION_TEXT, Attribution, RoutesSql
from perfkit.db.workload import DbStats

MIN_CALLS_PER_REQUEST = 5.0
ONE_ROUTE = "the run's one route: its statements' calls over its requests"
BY_PASS = ATTRIBUTION_TEXT[Attribution.PASS]
WHOLE_RUN = ("per request of the run: {routes} routes, and pg_stat_statements does not say "
             "which one ran it (5+ a request of the run means 5+ a request of one of them at "
             "least; an N+1 in one route of many can stay under)")


@dataclass(frozen=True)
class NPlusOne:
    """One statement run many times a request (None route: not attributable)."""

    queryid: int
    query: str
    calls_per_request: float
    route: str | None
    method: str

    @property
    def where(self) -> str:
        return f"request of {self.route}" if self.route else "request of the run"

    def to_json(self) -> dict[str, Any]:
        return {"queryid": self.queryid, "query": self.query,
                "calls_per_request": round(self.calls_per_request, 2), "route": self.route,
                "method": self.method}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NPlusOne:
        route = data.get("route")
        return cls(int(data["queryid"]), str(data["query"]), float(data["calls_per_request"]),
                   None if route is None else str(route), str(data.get("method") or ""))


def find_n_plus_one(db: DbStats, requests_by_route: Mapping[str, int],
                    threshold: float = MIN_CALLS_PER_REQUEST) -> list[NPlusOne]:
    """The statements run `threshold` times or more per request, most calls first."""
    routes = {route: n for route, n in requests_by_route.items() if n > 0}
    total = sum(routes.values())
    if not total:
        return []
    route = next(iter(routes)) if len(routes) == 1 else None
    method = ONE_ROUTE if route else WHOLE_RUN.format(routes=len(routes))
    found = [NPlusOne(s.queryid, s.query, s.calls / total, route, method)
             for s in db.statements if s.calls / total >= threshold]
    return sorted(found, key=lambda n: -n.calls_per_request)


def routes_n_plus_one(routes: RoutesSql,
                      threshold: float = MIN_CALLS_PER_REQUEST) -> list[NPlusOne]:
    """The same, per route, from routes whose statements were attributed (the pass)."""
    method = routes.detail or BY_PASS
    found = [NPlusOne(s.queryid, s.query, s.calls_per_request, r.route, method)
             for r in routes.routes for s in r.statements
             if s.calls_per_request >= threshold]
    return sorted(found, key=lambda n: -n.calls_per_request)
