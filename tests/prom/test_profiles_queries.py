"""Profiles (detection, perfkit.yaml) and the bucket the P99 lies in, by Prometheus's rules."""

from __future__ import annotations

import math

import pytest

from perfkit.errors import UsageError
from perfkit.prom.profiles import (
    BUILTIN_PROFILES,
    NO_ROUTE_LABEL,
    all_profiles,
    custom_profiles,
    detect_profile,
)
from perfkit.prom.queries import locate_quantile_bucket, range_selector, selector, window_queries


def test_detects_each_builtin_profile_from_names() -> None:
    for profile in BUILTIN_PROFILES.values():
        names = [*profile.detection_names, f"{profile.histogram}_sum", "up"]
        found, others = detect_profile(names, BUILTIN_PROFILES)
        assert found == profile and others == []
    assert detect_profile(["up", "go_gc_duration_seconds_bucket"], BUILTIN_PROFILES) == (None, [])


def test_custom_profile_from_yaml_and_its_errors() -> None:
    config = {"profiles": {"otel": {"histogram": "http_server_duration_seconds",
                                    "requests_total": "http_server_requests_total",
                                    "route_label": "http_route", "status_label": "code",
                                    "filters": {"job": "api"}}}}
    profile = all_profiles(config)["otel"]
    assert profile.route_label == "http_route" and profile.filters == {"job": "api"}
    with pytest.raises(UsageError, match="needs requests_total, route_label"):
        custom_profiles({"profiles": {"bad": {"histogram": "x"}}})
    with pytest.raises(UsageError, match="unknown keys"):
        custom_profiles({"profiles": {"bad": {"histogram": "x", "requests_total": "y",
                                              "route_label": "z", "buckets": [1]}}})


def test_queries_group_by_route_and_keep_the_global_series() -> None:
    profile = BUILTIN_PROFILES["instrumentator"]
    queries = window_queries(profile, 600, ["/metrics"])
    assert queries.p99_s.startswith(
        "histogram_quantile(0.99, label_replace(sum by (handler, le) (increase(")
    assert "http_request_duration_seconds_bucket{handler!~\"/metrics\"}[600s]" in queries.p99_s
    assert " or sum by (le) (" in queries.p99_s
    assert 'status=~"5.."' in queries.ratio_5xx  # instrumentator's "5xx" matches 5..
    assert selector("m", profile, [], {"a": 'x"y'}) == 'm{a=~"x\\"y"}'


def test_series_without_a_route_label_are_named_apart_from_the_global_one() -> None:
    queries = window_queries(BUILTIN_PROFILES["fastapi-observability"], 60, [])
    for query in (queries.count, queries.mean_s, queries.p99_s, queries.buckets,
                  queries.ratio_5xx):
        assert f'"path", "{NO_ROUTE_LABEL}", "path", "")' in query
    assert BUILTIN_PROFILES["instrumentator"].is_unmatched("none")
    assert BUILTIN_PROFILES["starlette-exporter"].is_unmatched("__unknown__")
    assert not BUILTIN_PROFILES["instrumentator"].is_unmatched("/auth/me")


def test_bucket_location_follows_prometheus() -> None:
    cumulative = {0.1: 10.0, 0.25: 95.0, 0.5: 100.0, math.inf: 100.0}
    b = locate_quantile_bucket(cumulative)
    assert b is not None and (b.lo_s, b.hi_s) == (0.25, 0.5)
    first = locate_quantile_bucket({0.1: 100.0, math.inf: 100.0})
    assert first is not None and (first.lo_s, first.hi_s) == (0.0, 0.1)
    clamped = locate_quantile_bucket({0.1: 0.0, 0.5: 1.0, 1.0: 2.0, math.inf: 50.0})
    assert clamped is not None and clamped.clamped and clamped.lo_s == 1.0
    assert locate_quantile_bucket({0.1: 0.0, math.inf: 0.0}) is None


def test_unmatched_routes_from_perfkit_yaml() -> None:
    config = {"profiles": {"otel": {"histogram": "h", "requests_total": "r",
                                    "route_label": "http_route",
                                    "unmatched_routes": ["UNKNOWN"]}}}
    profile = all_profiles(config)["otel"]
    assert profile.is_unmatched("UNKNOWN") and profile.is_unmatched(NO_ROUTE_LABEL)
    assert not profile.is_unmatched("none")
    with pytest.raises(UsageError, match="must be a list"):
        custom_profiles({"profiles": {"bad": {"histogram": "x", "requests_total": "y",
                                              "route_label": "z", "unmatched_routes": "none"}}})


def test_a_window_cut_at_a_mark_keeps_its_milliseconds() -> None:
    # rounded to the second, a 10.4 s window would miss 0.4 s of the traffic after a change
    assert range_selector(600.0) == "[600s]"
    assert range_selector(10.4) == "[10400ms]"
    assert range_selector(0.0001) == "[1ms]"
    queries = window_queries(BUILTIN_PROFILES["instrumentator"], 10.4, [])
    assert "[10400ms]" in queries.count and "[10s]" not in queries.count
