"""The attribution pass: which route ran which statements, when a run had several routes.

pg_stat_statements cannot say it for requests that ran together (bench/routesql.py says
why). After the run, one user runs the scenario a few times, one request at a time, and
pg_stat_statements is read before and after each request: what moved in between is that
request's. Exact when nothing else uses the database meanwhile (as the run itself should
be alone); the caches are warm by then, so a route with a cache may show fewer statements
than its cold requests ran, which the method says.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg

from perfkit.bench.engine import run_segment_sync
from perfkit.bench.options import BenchOptions
from perfkit.bench.pacer import Segment
from perfkit.bench.routesql import (
    ATTRIBUTION_TEXT,
    Attribution,
    RouteSql,
    RoutesSql,
    StatementCalls,
)
from perfkit.bench.scenario import Scenario
from perfkit.db.connect import connect
from perfkit.db.statements import delta, extension_schema, take_snapshot
from perfkit.db.workload import DbStats, Snapshot

PASSES = 3  # scenario iterations of the pass: a few, the counts are exact


@dataclass
class _Totals:
    """One route's statements over the pass: calls and ms by statement text."""

    requests: int = 0
    calls: dict[str, tuple[int, int]] = field(default_factory=dict)  # text -> (queryid, calls)
    ms: float = 0.0

    def add(self, db: DbStats) -> None:
        self.requests += 1
        self.ms += db.total_ms + db.housekeeping.total_ms
        for s in db.statements:
            queryid, calls = self.calls.get(s.query, (s.queryid, 0))
            self.calls[s.query] = (queryid, calls + s.calls)

    def figures(self, route: str, service_ms: float | None) -> RouteSql:
        n = max(1, self.requests)
        statements = sorted((StatementCalls(queryid, text, calls / n)
                             for text, (queryid, calls) in self.calls.items()),
                            key=lambda s: (-s.calls_per_request, s.queryid))
        per_ms = self.ms / n
        return RouteSql(route, self.requests, sum(c for _, c in self.calls.values()) / n,
                        per_ms, per_ms / service_ms if service_ms else None, tuple(statements))


class SnapshotWatch:
    """Reads pg_stat_statements around each request of the pass (a bench StepWatch)."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str) -> None:
        self._conn, self._schema = conn, schema
        self._start: Snapshot | None = None
        self.totals: dict[str, _Totals] = defaultdict(_Totals)

    def _take(self) -> Snapshot:
        return take_snapshot(self._conn, self._schema)

    def before(self, route: str) -> None:
        self._start = self._take()

    def after(self, route: str) -> None:
        end = self._take()
        if self._start is not None:
            self.totals[route].add(delta(self._start, end))
        self._start = None


def pass_options(options: BenchOptions, scenario: Scenario, passes: int) -> BenchOptions:
    """One user, one request at a time, `passes` iterations, nothing else of the run's."""
    return replace(options, requests=passes * len(scenario.steps), duration_s=None,
                   concurrency=1, rate_per_s=None, warmup=0, repeat=1, workers=1,
                   tokens=options.tokens[:1], spare_tokens=(),
                   credentials=options.credentials[:1], spare_credentials=(),
                   flush_cmd=None, segment=Segment(), start_at_epoch_s=None)


def attribution_pass(scenario: Scenario, options: BenchOptions, dsn: str,
                     service_ms_by_route: Mapping[str, float | None],
                     passes: int = PASSES) -> RoutesSql:
    """The routes' SQL per request, from a sequential pass after the run."""
    with connect(dsn, application_name="perfkit-statements") as conn:
        watch = SnapshotWatch(conn, extension_schema(conn))
        run_segment_sync(scenario, pass_options(options, scenario, passes), Segment(),
                         watch=watch)
    routes = tuple(totals.figures(route, service_ms_by_route.get(route))
                   for route, totals in watch.totals.items())
    return RoutesSql(routes, Attribution.PASS,
                     ATTRIBUTION_TEXT[Attribution.PASS].format(passes=passes))
