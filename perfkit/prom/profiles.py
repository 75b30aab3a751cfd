"""Metric naming conventions of the exporters FastAPI/Starlette backends really run.

A profile says where the per-route latency histogram and the status-coded request counter
live, which label carries the route, and how 5xx responses are spelled. `report` picks one
from the metric names the server has, or takes `--profile`, or a custom one from perfkit.yaml.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from perfkit.errors import UsageError

#: Routes nobody tunes: the scrape endpoint itself and liveness/readiness probes.
DEFAULT_EXCLUDED_ROUTES = (
    "/metrics", "/health", "/healthz", "/health/.*", "/livez", "/readyz", "/ready", "/ping",
)

#: The name perfkit gives series that have no route label at all (OpenTelemetry leaves
#: http_route unset on requests no route matched).
NO_ROUTE_LABEL = "(no route label)"
#: How exporters label requests the server matched to no route (404s for unknown paths):
#: prometheus-fastapi-instrumentator `none` (should_group_untemplated, its default),
#: starlette-exporter `__unknown__` (group_unhandled_paths), `<unmatched>` (some custom
#: middlewares), no label at all (OpenTelemetry). fastapi-observability and
#: starlette-exporter's default (filter_unhandled_paths) do not record them.
UNMATCHED_ROUTES = ("none", "<unmatched>", "__unknown__", NO_ROUTE_LABEL)


@dataclass(frozen=True)
class Profile:
    """Where one exporter keeps its request latency histogram and its status counter."""

    name: str
    histogram: str
    requests_total: str
    route_label: str
    status_label: str
    status_5xx: str = "5.."
    filters: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    unmatched_routes: tuple[str, ...] = UNMATCHED_ROUTES

    @property
    def detection_names(self) -> tuple[str, ...]:
        return (f"{self.histogram}_bucket", self.requests_total)

    def is_unmatched(self, route: str) -> bool:
        """True for the label of requests no route matched: a mix of paths, not a route."""
        return route in self.unmatched_routes


BUILTIN_PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("fastapi-observability", "fastapi_requests_duration_seconds",
                "fastapi_responses_total", route_label="path", status_label="status_code",
                description="blueswen/fastapi-observability (Grafana dashboard 16110)"),
        Profile("instrumentator", "http_request_duration_seconds", "http_requests_total",
                route_label="handler", status_label="status",
                description="prometheus-fastapi-instrumentator (per-route buckets 0.1/0.5/1 s)"),
        Profile("starlette-exporter", "starlette_request_duration_seconds",
                "starlette_requests_total", route_label="path", status_label="status_code",
                description="stephenhillier/starlette_exporter"),
    )
}

_CUSTOM_KEYS = {"histogram", "requests_total", "route_label", "status_label", "status_5xx",
                "filters", "description", "unmatched_routes"}


def custom_profiles(config: Mapping[str, Any]) -> dict[str, Profile]:
    """Profiles declared under `profiles:` in perfkit.yaml, validated with the file's wording."""
    raw = config.get("profiles") or {}
    if not isinstance(raw, Mapping):
        raise UsageError("perfkit.yaml: `profiles` must be a mapping of name -> profile")
    found: dict[str, Profile] = {}
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            raise UsageError(f"perfkit.yaml: profile {name!r} must be a mapping")
        unknown = set(spec) - _CUSTOM_KEYS
        if unknown:
            raise UsageError(f"perfkit.yaml: profile {name!r} has unknown keys "
                             f"{sorted(unknown)}", hint=f"allowed: {sorted(_CUSTOM_KEYS)}")
        missing = [k for k in ("histogram", "requests_total", "route_label") if not spec.get(k)]
        if missing:
            raise UsageError(f"perfkit.yaml: profile {name!r} needs {', '.join(missing)}",
                             hint="e.g. histogram: http_server_duration_seconds, "
                                  "requests_total: http_requests_total, route_label: route")
        filters = spec.get("filters") or {}
        if not isinstance(filters, Mapping):
            raise UsageError(f"perfkit.yaml: profile {name!r}: `filters` must be a mapping")
        unmatched = spec.get("unmatched_routes", UNMATCHED_ROUTES)
        if not isinstance(unmatched, list | tuple):
            raise UsageError(f"perfkit.yaml: profile {name!r}: `unmatched_routes` must be a list",
                             hint='e.g. unmatched_routes: ["none", "__unknown__"]')
        found[str(name)] = Profile(
            name=str(name), histogram=str(spec["histogram"]),
            requests_total=str(spec["requests_total"]), route_label=str(spec["route_label"]),
            status_label=str(spec.get("status_label", "status_code")),
            status_5xx=str(spec.get("status_5xx", "5..")),
            filters={str(k): str(v) for k, v in filters.items()},
            description=str(spec.get("description", "custom profile from perfkit.yaml")),
            unmatched_routes=(*(str(r) for r in unmatched), NO_ROUTE_LABEL),
        )
    return found


def all_profiles(config: Mapping[str, Any]) -> dict[str, Profile]:
    """Built-in profiles, then custom ones (a custom profile may shadow a built-in name)."""
    return {**BUILTIN_PROFILES, **custom_profiles(config)}


def with_filters(profile: Profile, extra: Mapping[str, str]) -> Profile:
    """The profile with more label filters (`--filter app_name=api`, `job=...`)."""
    if not extra:
        return profile
    return replace(profile, filters={**profile.filters, **extra})


def detect_profile(metric_names: Iterable[str],
                   candidates: Mapping[str, Profile]) -> tuple[Profile | None, list[str]]:
    """The first profile whose histogram and counter both exist; also the others that match."""
    names = set(metric_names)
    matching = [p for p in candidates.values() if all(n in names for n in p.detection_names)]
    if not matching:
        return None, []
    return matching[0], [p.name for p in matching[1:]]


def latency_histograms(metric_names: Iterable[str]) -> list[str]:
    """Histogram families the server has: what to tell a user whose profile found nothing."""
    return sorted({n[: -len("_bucket")] for n in metric_names if n.endswith("_bucket")})
