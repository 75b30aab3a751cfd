"""The perfkit.report/1 record: per-route before/after figures from two real windows.

Prometheus does every estimate (increase, histogram_quantile); this module only asks, puts
the answers side by side, and says where they cannot be trusted: too few samples, buckets
too coarse for the change claimed, a P99 clamped at the last bucket, a route seen in one
window only, no data at all, and whatever Prometheus itself warned about.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from perfkit.errors import UsageError
from perfkit.prom.client import PromClient, Sample
from perfkit.prom.profiles import (
    DEFAULT_EXCLUDED_ROUTES,
    Profile,
    all_profiles,
    detect_profile,
    latency_histograms,
    with_filters,
)
from perfkit.prom.queries import locate_quantile_bucket, window_queries
from perfkit.prom.windows import Window, WindowPlan, plan_windows

SCHEMA = "perfkit.report/1"
MIN_SAMPLES = 30

Figures = dict[str, Any]


@dataclass(frozen=True)
class ReportOptions:
    since_s: float
    split: str | None = None
    profile: str | None = None
    filters: Mapping[str, str] = field(default_factory=dict)
    include_all_routes: bool = False
    bench: Path | None = None
    now: datetime | None = None
    journal: Path | None = None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _ms(value_s: float | None) -> float | None:
    value = _finite(value_s)
    return None if value is None else round(value * 1000, 3)


def window_figures(client: PromClient, profile: Profile, window: Window,
                   excluded: tuple[str, ...]) -> dict[str | None, Figures]:
    """Figures per route (key None = all routes together) for one window, five queries."""
    queries = window_queries(profile, max(1, round(window.seconds)), excluded)
    answers = {name: client.instant(q, window.end) for name, q in queries.items()}

    def by_route(samples: list[Sample]) -> dict[str | None, float]:
        return {s.labels.get(profile.route_label): s.value for s in samples}

    count, mean, p99 = (by_route(answers[k]) for k in ("count", "mean_s", "p99_s"))
    ratio = by_route(answers["ratio_5xx"])
    buckets: dict[str | None, dict[float, float]] = {}
    for s in answers["buckets"]:
        try:
            le = float(s.labels["le"])
        except (KeyError, ValueError):
            continue
        per_route = buckets.setdefault(s.labels.get(profile.route_label), {})
        per_route[le] = per_route.get(le, 0.0) + s.value
    figures: dict[str | None, Figures] = {}
    for route, n in count.items():
        if not (_finite(n) or 0) > 0:
            continue  # a series with no request in this window is not "present" in it
        bounds = locate_quantile_bucket(buckets.get(route, {}))
        figures[route] = {
            "mean_ms": _ms(mean.get(route)),
            "p99_ms": _ms(p99.get(route)),
            "p99_bucket_ms": None if bounds is None else [
                round(bounds.lo_s * 1000, 3),
                None if bounds.hi_s is None else round(bounds.hi_s * 1000, 3)],
            "p99_clamped": bool(bounds and bounds.clamped),
            "rps": round(n / window.seconds, 3),
            "ratio_5xx": _finite(ratio.get(route)),
            "count": round(n),
            "count_exact": n,
        }
    return figures


def _change_pct(before: Figures | None, after: Figures | None, key: str) -> float | None:
    if not before or not after or before.get(key) in (None, 0) or after.get(key) is None:
        return None
    return round((float(after[key]) - float(before[key])) / float(before[key]) * 100, 1)


def _fmt_ms(value_ms: float) -> str:
    return f"{value_ms / 1000:g} s" if value_ms >= 1000 else f"{value_ms:g} ms"


def _warn(warnings: list[dict[str, Any]], kind: str, message: str,
          route: str | None = None) -> None:
    warnings.append({"kind": kind, "route": route, "message": message})


def _entry_warnings(name: str, route: str | None, before: Figures | None,
                    after: Figures | None, warnings: list[dict[str, Any]]) -> None:
    for label, figs in (("before", before), ("after", after)):
        if figs is None:
            continue
        if figs["count_exact"] < MIN_SAMPLES:
            _warn(warnings, "low-samples", f"{name}: only {figs['count_exact']:.0f} requests in "
                  f"the {label} window (< {MIN_SAMPLES}): its mean and P99 are not reliable",
                  route)
        if figs["p99_clamped"]:
            last = figs["p99_bucket_ms"][0]
            _warn(warnings, "clamped-p99", f"{name} ({label}): P99 >= {_fmt_ms(last)}, clamped "
                  f"at the last bucket; the histogram needs finer buckets above "
                  f"{_fmt_ms(last)} to say more", route)
        bucket = figs["p99_bucket_ms"]
        if bucket and bucket[0] == 0 and bucket[1] is not None and figs["p99_ms"] is not None:
            _warn(warnings, "first-bucket", f"{name} ({label}): P99 lies in the first bucket "
                  f"(0, {bucket[1]:g} ms]; Prometheus interpolates inside it, so read "
                  f"{figs['p99_ms']:.3g} ms as <= {bucket[1]:g} ms (the true P99 may be far "
                  "lower)", route)
    if route is not None and (before is None) != (after is None):
        only = "after" if before is None else "before"
        _warn(warnings, "one-window", f"{name}: only in the {only} window (no requests in the "
              f"other), nothing to compare", route)
    if not before or not after or before["p99_ms"] is None or after["p99_ms"] is None:
        return
    b_lo, b_hi = before["p99_bucket_ms"] or [None, None]
    a_lo, a_hi = after["p99_bucket_ms"] or [None, None]
    if None in (b_lo, b_hi, a_lo, a_hi):
        return
    change = after["p99_ms"] - before["p99_ms"]
    widest = max(b_hi - b_lo, a_hi - a_lo)
    claimed = abs(change) >= 0.01 * max(before["p99_ms"], 1e-9)
    if claimed and widest > abs(change):
        _warn(warnings, "coarse-buckets", f"{name}: the P99 change ({change:+.1f} ms) is "
              f"smaller than the bucket it is read from ({widest:g} ms wide): the true change "
              f"lies between {a_lo - b_hi:+g} and {a_hi - b_lo:+g} ms", route)


def _public(figs: Figures | None) -> Figures | None:
    return None if figs is None else {k: v for k, v in figs.items() if k != "count_exact"}


def choose_profile(client: PromClient, options: ReportOptions, config: Mapping[str, Any],
                   plan: WindowPlan, warnings: list[dict[str, Any]]
                   ) -> tuple[Profile | None, str, list[str]]:
    """The profile named by --profile, else the one whose metric names the server has."""
    profiles = all_profiles(config)
    names = client.metric_names(plan.before.start, plan.after.end)
    if options.profile:
        return with_filters(profiles[options.profile], options.filters), "flag", names
    found, others = detect_profile(names, profiles)
    if found is None:
        return None, "auto", names
    if others:
        # Several exporters over time (a redeploy switched libraries): prefer the one whose
        # histogram is live at the after window's end, in one query.
        matching = [found, *(profiles[o] for o in others)]
        pattern = "|".join(f"{p.histogram}_count" for p in matching)
        live = {s.labels.get("__name__") for s in client.instant(
            f'count by (__name__) ({{__name__=~"{pattern}"}})', plan.after.end)}
        found = next((p for p in matching if f"{p.histogram}_count" in live), found)
        _warn(warnings, "profile", f"metrics of several profiles exist "
              f"({', '.join(p.name for p in matching)}); using {found.name}, live at the after "
              "window's end (pass --profile to choose)")
    return with_filters(found, options.filters), "auto", names


def _no_data_message(profile: Profile | None, names: list[str],
                     profiles: Mapping[str, Profile]) -> str:
    histograms = latency_histograms(names)
    have = (f"the server has these histograms: {', '.join(histograms)}" if histograms else
            f"the server has these metrics: {', '.join(sorted(names)[:30]) or 'none at all'}")
    if profile is None:
        wanted = ", ".join(f"{p.histogram} ({p.name})" for p in profiles.values())
        return (f"no data: none of the known profiles' metrics exist in these windows "
                f"(looked for {wanted}); {have}. Pass --profile or declare one under "
                "`profiles:` in perfkit.yaml")
    filters = ", ".join(f"{k}={v}" for k, v in profile.filters.items()) or "none"
    return (f"no data: {profile.histogram} ({profile.name} profile, route label "
            f"{profile.route_label}, filters {filters}) has no requests in either window; "
            f"{have}")


def build_report(client: PromClient, options: ReportOptions,
                 config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ask Prometheus about both windows and assemble perfkit.report/1."""
    config = config or {}
    profiles = all_profiles(config)
    if options.profile and options.profile not in profiles:
        raise UsageError(f"unknown profile {options.profile!r}",
                         hint=f"choose from {', '.join(profiles)} or declare it under "
                              "`profiles:` in perfkit.yaml")
    warnings: list[dict[str, Any]] = []
    interval_s = client.scrape_interval_s()
    plan = plan_windows(options.since_s, now=options.now, split=options.split,
                        scrape_interval_s=interval_s, journal=options.journal)
    for note in plan.notes:
        _warn(warnings, "window", note)
    if interval_s is None:
        _warn(warnings, "scrape-interval", "the scrape interval is unknown (no /api/v1/targets)"
              ": windows were not checked against it")
    profile, how, names = choose_profile(client, options, config, plan, warnings)
    excluded = () if options.include_all_routes else DEFAULT_EXCLUDED_ROUTES
    before: dict[str | None, Figures] = {}
    after: dict[str | None, Figures] = {}
    if profile is not None:
        before = window_figures(client, profile, plan.before, excluded)
        after = window_figures(client, profile, plan.after, excluded)
    routes: list[dict[str, Any]] = []
    for route in sorted({r for r in (*before, *after) if r is not None}):
        b, a = before.get(route), after.get(route)
        _entry_warnings(route, route, b, a, warnings)
        routes.append({"route": route, "before": _public(b), "after": _public(a),
                       "change_pct": {"mean": _change_pct(b, a, "mean_ms"),
                                      "p99": _change_pct(b, a, "p99_ms")}})
    routes.sort(key=lambda r: -max((r[w] or {}).get("mean_ms") or 0 for w in ("before", "after")))
    gb, ga = before.get(None), after.get(None)
    _entry_warnings("all routes", None, gb, ga, warnings)
    if not routes:
        _warn(warnings, "no-data", _no_data_message(profile, names, profiles))
    for side, figures in (("before", before), ("after", after)):
        if routes and not figures:
            _warn(warnings, "no-data", f"no requests at all in the {side} window: was traffic "
                  "flowing then? (a report needs load in both windows)")
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "prometheus_url": client.display_url,
        "profile": None if profile is None else profile.name,
        "profile_source": how,
        "scrape_interval_s": interval_s,
        "before": plan.before.to_json(),
        "after": plan.after.to_json(),
        "split": plan.split_json(),
        "excluded_routes": list(excluded),
        "routes": routes,
        "global": {"before": _public(gb), "after": _public(ga),
                   "change_pct": {"mean": _change_pct(gb, ga, "mean_ms"),
                                  "p99": _change_pct(gb, ga, "p99_ms")}},
        "warnings": warnings,
    }
    if options.bench is not None:
        from perfkit.prom.clientside import compare_bench

        rows, bench_warnings = compare_bench(options.bench, plan, before, after)
        record["client_vs_server"] = rows
        warnings.extend(bench_warnings)
    for text in client.log.warnings:
        _warn(warnings, "prometheus", f"Prometheus: {text}")
    record["queries"] = client.queries_sent
    return record
