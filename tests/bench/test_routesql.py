"""A route's SQL per request from a database window: exact with one route, none (and why)
with several, and the record's round trip."""

from __future__ import annotations

from perfkit.bench.routesql import Attribution, RoutesSql, attribute_run
from perfkit.db.workload import Counters, DbStats, Housekeeping, StatementStats


def window(*calls: int) -> DbStats:
    return DbStats(tuple(StatementStats.of(i, f"SELECT {i}", Counters(n, n * 0.5), None)
                         for i, n in enumerate(calls)),
                   housekeeping=Housekeeping(1, 10, 2.0))


def test_one_route_gets_every_statement_of_the_window_over_its_requests() -> None:
    routes = attribute_run(window(10, 500), {"GET /list": 10}, {"GET /list": 5.0})
    assert routes.method is Attribution.ONE_ROUTE
    (route,) = routes.routes
    assert (route.route, route.requests, route.calls_per_request) == ("GET /list", 10, 51.0)
    assert route.ms_per_request == (5 + 250 + 2.0) / 10  # the driver's chores' time too
    assert route.share_of_latency == route.ms_per_request / 5.0
    assert [s.calls_per_request for s in route.statements] == [50.0, 1.0]


def test_several_routes_together_are_not_attributed_and_say_why() -> None:
    routes = attribute_run(window(10), {"GET /a": 5, "GET /b": 5, "GET /c": 0}, {})
    assert routes.method is Attribution.NONE and not routes.routes
    assert "2 routes" in routes.detail


def test_the_record_round_trips_and_old_records_read_as_none() -> None:
    routes = attribute_run(window(10, 500), {"GET /list": 10}, {"GET /list": None})
    assert RoutesSql.from_json(routes.to_json()) == routes
    assert RoutesSql.from_json({"statements": []}) == RoutesSql()
