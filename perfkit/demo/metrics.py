"""Prometheus metrics exactly as the two libraries users really run name and bucket them.

`fastapi-observability`: the middleware of the dashboard the seed reads (Grafana 16110,
blueswen/fastapi-observability), prometheus_client's default buckets.
`instrumentator`: prometheus-fastapi-instrumentator itself (per-route buckets 0.1/0.5/1 s).
The CLI reads the profile names at start-up: the metric libraries are imported when used.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send


class MetricsProfile(StrEnum):
    """The metric naming of the library the backend runs (the names `report` detects)."""

    OBSERVABILITY = "fastapi-observability"
    INSTRUMENTATOR = "instrumentator"


DEFAULT_PROFILE = MetricsProfile.OBSERVABILITY
METRICS_PATH = "/metrics"
#: perfkit's own control traffic (the fault knob, health polls, the API schema): never
#: counted, so it never shows up in a user's report. Anchored regexes over the route template.
CONTROL_PATH_PATTERNS = (r"/_demo(/.*)?", r"/healthz", r"/openapi\.json", r"/docs(/.*)?",
                         r"/redoc")
_CONTROL_PATH = re.compile("|".join(f"(?:{p})" for p in CONTROL_PATH_PATTERNS))


def is_control_path(path: str) -> bool:
    return _CONTROL_PATH.fullmatch(path) is not None


def route_template(app: Starlette, scope: Scope) -> str | None:
    """The matched route's path template (`/messages/{conversation_id}`), as the dashboards use."""
    from starlette.routing import Match

    for route in app.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return None


class ObservabilityMiddleware:
    """The fastapi-observability PrometheusMiddleware, as a pure ASGI middleware."""

    def __init__(self, app: ASGIApp, *, starlette_app: Starlette, app_name: str,
                 registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.app = app
        self.starlette_app = starlette_app
        self.app_name = app_name
        labels = ["method", "path", "app_name"]
        Gauge("fastapi_app_info", "FastAPI application information.", ["app_name"],
              registry=registry).labels(app_name=app_name).inc()
        self.requests = Counter("fastapi_requests", "Total count of requests by method and "
                                "path.", labels, registry=registry)
        self.responses = Counter("fastapi_responses", "Total count of responses by method, path "
                                 "and status codes.", ["method", "path", "status_code", "app_name"],
                                 registry=registry)
        self.duration = Histogram("fastapi_requests_duration_seconds", "Histogram of requests "
                                  "processing time by path (in seconds)", labels,
                                  registry=registry)
        self.exceptions = Counter("fastapi_exceptions", "Total count of exceptions raised by path "
                                  "and exception type", [*labels[:2], "exception_type",
                                                         "app_name"], registry=registry)
        self.in_progress = Gauge("fastapi_requests_in_progress", "Gauge of requests by method and "
                                 "path currently being processed", labels, registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_template(self.starlette_app, scope) if scope["type"] == "http" else None
        if path is None or is_control_path(path):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        labels = {"method": method, "path": path, "app_name": self.app_name}
        status = [500]

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        self.in_progress.labels(**labels).inc()
        self.requests.labels(**labels).inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            self.exceptions.labels(method=method, path=path, exception_type=type(exc).__name__,
                                   app_name=self.app_name).inc()
            raise
        finally:
            self.duration.labels(**labels).observe(time.perf_counter() - started)
            self.responses.labels(method=method, path=path, status_code=str(status[0]),
                                  app_name=self.app_name).inc()
            self.in_progress.labels(**labels).dec()


def install_metrics(app: Starlette, profile: MetricsProfile, app_name: str) -> None:
    """Wire one profile's metrics and the /metrics endpoint into the app."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from starlette.responses import Response

    registry = CollectorRegistry()
    if profile is MetricsProfile.INSTRUMENTATOR:
        from prometheus_fastapi_instrumentator import Instrumentator

        excluded = [f"^(?:{p})$" for p in CONTROL_PATH_PATTERNS]
        Instrumentator(registry=registry, excluded_handlers=excluded).instrument(app).expose(
            app, endpoint=METRICS_PATH, include_in_schema=False)
        return
    app.add_middleware(ObservabilityMiddleware, starlette_app=app, app_name=app_name,
                       registry=registry)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    handler: Callable[[Request], Awaitable[Response]] = metrics
    app.add_route(METRICS_PATH, handler, methods=["GET"], include_in_schema=False)
