"""The report (`perfkit.report/1`): per-route before/after figures from two real windows.

Prometheus does every estimate (increase, histogram_quantile); this module asks, puts the
answers side by side, judges each route by the rule of compare and the gate (judge.py),
says where the figures cannot be trusted (caveats.py), and keeps each route's mean and P99
over time (series.py). `collect_report` returns the typed
`Report`; JSON only at the edge (`Report.to_json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from perfkit import stats
from perfkit.bench.record import Run
from perfkit.config import Target
from perfkit.errors import UsageError
from perfkit.prom.caveats import (
    GLOBAL_SCOPE,
    ReportWarning,
    Severity,
    load_warnings,
    one_bucket,
    ordered,
    p99_warnings,
    sample_warnings,
)
from perfkit.prom.client import PromClient
from perfkit.prom.clientside import CLEAN_RUN_SHARE, BenchComparison, compare_bench
from perfkit.prom.figures import WindowFigures, WindowPair, window_figures
from perfkit.prom.judge import ONE_BUCKET, Judgement, Rule, judge
from perfkit.prom.profiles import (
    DEFAULT_EXCLUDED_ROUTES,
    Profile,
    all_profiles,
    detect_profile,
    latency_histograms,
    with_filters,
)
from perfkit.prom.record import SCHEMA
from perfkit.prom.series import SeriesSet, fetch_series, plan_series, reset_warnings
from perfkit.prom.windows import WindowPlan, plan_windows

Figures = dict[str | None, WindowFigures]  # per route; None = all routes together


@dataclass(frozen=True)
class ReportOptions:
    since_s: float
    split: str | None = None
    profile: str | None = None
    filters: Mapping[str, str] = field(default_factory=dict)
    include_all_routes: bool = False
    bench: Run | None = None  # a bench run (read by the caller: `records.load_run`)
    bench_name: str = "run"  # its file's name, in the report's words
    now: datetime | None = None
    journal: Path | None = None
    rule: Rule = field(default_factory=Rule)
    target: Target | None = None  # split only on this target's events (None: any event)
    series: bool = True  # also each route's mean and P99 over time (three range queries)


@dataclass(frozen=True)
class RouteReport:
    """One route: both windows, and its verdict (None = not judged; `judgement.reason`)."""

    route: str
    figures: WindowPair
    judgement: Judgement
    unmatched: bool = False

    @property
    def before(self) -> WindowFigures | None:
        return self.figures.before

    @property
    def after(self) -> WindowFigures | None:
        return self.figures.after

    @property
    def verdict(self) -> stats.Verdict | None:
        return self.judgement.verdict

    @property
    def change_pct(self) -> dict[str, float | None]:
        return self.figures.change_pct()

    def to_json(self, rule: Rule) -> dict[str, Any]:
        return {"route": self.route, **self.figures.to_json(), "unmatched": self.unmatched,
                **self.judgement.to_json(rule)}


@dataclass(frozen=True)
class Report:
    """What Prometheus said about two windows, route by route, and what it cannot say."""

    prometheus_url: str
    profile: str | None
    profile_source: str  # "flag" | "auto"
    scrape_interval_s: float | None
    plan: WindowPlan
    excluded_routes: tuple[str, ...]
    routes: tuple[RouteReport, ...]
    overall: WindowPair
    warnings: tuple[ReportWarning, ...]
    queries: int
    rule: Rule = field(default_factory=Rule)
    bench: BenchComparison | None = None
    series: SeriesSet | None = None

    def route(self, name: str) -> RouteReport | None:
        return next((r for r in self.routes if r.route == name), None)

    @property
    def judged(self) -> list[RouteReport]:
        """The routes with a verdict: Holm's family."""
        return [r for r in self.routes if r.judgement.judged]

    def with_verdict(self, verdict: stats.Verdict) -> list[RouteReport]:
        """E.g. `report.with_verdict(Verdict.SLOWER)`: no route slower beyond noise."""
        return [r for r in self.routes if r.verdict is verdict]

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "schema": SCHEMA, "prometheus_url": self.prometheus_url, "profile": self.profile,
            "profile_source": self.profile_source, "scrape_interval_s": self.scrape_interval_s,
            "before": self.plan.before.to_json(), "after": self.plan.after.to_json(),
            "split": self.plan.split_json(), "excluded_routes": list(self.excluded_routes),
            "verdicts": self.rule.to_json(),
            "routes": [self._with_series(r.to_json(self.rule), r.route) for r in self.routes],
            "global": self._with_series(self.overall.to_json(), None),
            "warnings": [w.to_json() for w in self.warnings]}
        if self.bench is not None:
            record["client_vs_server"] = [row.to_json() for row in self.bench.rows]
            record["bench"] = self.bench.to_json()
        record["queries"] = self.queries
        return record

    def _with_series(self, data: dict[str, Any], route: str | None) -> dict[str, Any]:
        if self.series is not None:
            data["series"] = self.series.of(route).to_json()
        return data


@dataclass(frozen=True)
class ProfileChoice:
    profile: Profile | None
    source: str  # "flag" | "auto"
    metric_names: list[str]
    warnings: list[ReportWarning] = field(default_factory=list)


def choose_profile(client: PromClient, options: ReportOptions,
                   profiles: Mapping[str, Profile], plan: WindowPlan) -> ProfileChoice:
    """The profile named by --profile, else the one whose metric names the server has."""
    names = client.metric_names(plan.before.start, plan.after.end)
    if options.profile:
        return ProfileChoice(with_filters(profiles[options.profile], options.filters), "flag",
                             names)
    found, others = detect_profile(names, profiles)
    if found is None:
        return ProfileChoice(None, "auto", names)
    if not others:
        return ProfileChoice(with_filters(found, options.filters), "auto", names)
    # Several exporters over time (a redeploy switched libraries): prefer the one whose
    # histogram is live at the after window's end, in one query.
    matching = [found, *(profiles[o] for o in others)]
    pattern = "|".join(f"{p.histogram}_count" for p in matching)
    live = {s.labels.get("__name__") for s in client.instant(
        f'count by (__name__) ({{__name__=~"{pattern}"}})', plan.after.end,
        "the profile live at the after window's end")}
    found = next((p for p in matching if f"{p.histogram}_count" in live), found)
    note = ReportWarning("profile", f"metrics of several profiles exist "
                         f"({', '.join(p.name for p in matching)}); using {found.name}, live "
                         "at the after window's end (pass --profile to choose)")
    return ProfileChoice(with_filters(found, options.filters), "auto", names, [note])


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


def _empty_window_message(side: str, plan: WindowPlan) -> str:
    window = plan.before if side == "before" else plan.after
    if side == "after" and plan.split_source != "none":
        return (f"no requests in the after window ({window.seconds:.3g} s since the split at "
                f"{plan.split_at:%H:%M:%S} UTC): send traffic after the change, then report "
                "again (a report needs load in both windows)")
    return (f"no requests in the {side} window ({window.start:%H:%M:%S} → "
            f"{window.end:%H:%M:%S} UTC): was traffic flowing then? (a report needs load in "
            "both windows)")


def _route_reports(before: Figures, after: Figures, profile: Profile | None,
                   rule: Rule) -> list[RouteReport]:
    """Every route seen in a window, judged, slowest first."""
    names = sorted({r for r in (*before, *after) if r is not None})
    pairs = [(WindowPair(before.get(n), after.get(n)),
              profile is not None and profile.is_unmatched(n)) for n in names]
    judgements = judge(pairs, rule)
    routes = [RouteReport(name, pair, judgement, unmatched)
              for name, (pair, unmatched), judgement in zip(names, pairs, judgements,
                                                            strict=True)]
    return sorted(routes, key=lambda r: -max(
        (f.mean_ms or 0.0) for f in (r.before, r.after) if f is not None))


def _figure_warnings(routes: list[RouteReport], overall: WindowPair,
                     rule: Rule) -> list[ReportWarning]:
    out: list[ReportWarning] = []
    for r in routes:
        if r.unmatched:
            out.append(ReportWarning("unmatched", "requests the server matched to no route "
                                     "(e.g. 404s for unknown paths): shown, never judged",
                                     Severity.NOTE, r.route))
            continue
        out += sample_warnings(r.route, r.figures, rule.min_samples, judged_route=True)
        if r.judgement is not None and r.judgement.reason == ONE_BUCKET:
            out += [w for w in [one_bucket(r.route, r.figures, r.judgement.ci_pct)] if w]
        out += p99_warnings(r.route, r.figures)
    out += sample_warnings(GLOBAL_SCOPE, overall, rule.min_samples, judged_route=False)
    return out + p99_warnings(GLOBAL_SCOPE, overall) + load_warnings(overall)



def _data_warnings(routes: list[RouteReport], before: Figures, after: Figures,
                   choice: ProfileChoice, profiles: Mapping[str, Profile],
                   plan: WindowPlan) -> list[ReportWarning]:
    if not routes:
        return [ReportWarning("no-data", _no_data_message(choice.profile, choice.metric_names,
                                                          profiles), Severity.DECISION)]
    return [ReportWarning("no-data", _empty_window_message(side, plan), Severity.DECISION)
            for side, figures in (("before", before), ("after", after)) if not figures]


def _bench_warnings(bench: BenchComparison) -> list[ReportWarning]:
    match, name = bench.match, f"--bench {bench.source}"
    if not bench.matched:
        return [ReportWarning("bench", f"{name}: {match.describe()}: too little of the run "
                              "lies in a window, no client-vs-server comparison (choose "
                              "--since and --split so a window covers the run)")]
    if not bench.rows:
        return [ReportWarning("bench", f"{name}: none of its routes has server figures in "
                              f"the {match.window_name} window")]
    if match.run_share >= CLEAN_RUN_SHARE:
        return [ReportWarning("bench", f"{name}: {match.describe()}", Severity.NOTE)]
    return [ReportWarning("bench", f"{name}: {match.describe()}: the server did not see "
                          "the run's requests outside the window, read the gaps loosely")]


def _plan(client: PromClient, options: ReportOptions
          ) -> tuple[WindowPlan, float | None, list[ReportWarning]]:
    now = options.now or datetime.now(UTC)
    # the flags first: a bad --split is a usage error whether Prometheus answers or not
    plan_windows(options.since_s, now=now, split=options.split, journal=options.journal,
                 target=options.target)
    interval_s = client.scrape_interval_s()
    plan = plan_windows(options.since_s, now=now, split=options.split,
                        scrape_interval_s=interval_s, journal=options.journal,
                        target=options.target)
    notes = [ReportWarning("window", note, Severity.NOTE) for note in plan.notes]
    if interval_s is None:
        notes.append(ReportWarning("scrape-interval", "the scrape interval is unknown (no "
                                   "/api/v1/targets): windows were not checked against it"))
    return plan, interval_s, notes


def _bench(options: ReportOptions, plan: WindowPlan, before: Figures, after: Figures,
           routes: list[RouteReport]) -> BenchComparison | None:
    if options.bench is None:
        return None
    server_routes = [r.route for r in routes if not r.unmatched]
    return compare_bench(options.bench, options.bench_name, plan, before, after,
                         server_routes)


def collect_report(client: PromClient, options: ReportOptions,
                   config: Mapping[str, Any] | None = None) -> Report:
    """Ask Prometheus about both windows (ten queries whatever the routes, and three range
    queries for the series over time) and judge each route."""
    profiles = all_profiles(config or {})
    if options.profile and options.profile not in profiles:
        raise UsageError(f"unknown profile {options.profile!r}",
                         hint=f"choose from {', '.join(profiles)} or declare it under "
                              "`profiles:` in perfkit.yaml")
    plan, interval_s, warnings = _plan(client, options)
    choice = choose_profile(client, options, profiles, plan)
    excluded = () if options.include_all_routes else DEFAULT_EXCLUDED_ROUTES
    before: Figures = {}
    after: Figures = {}
    if choice.profile is not None:
        before = window_figures(client, choice.profile, plan.before, excluded, "before")
        after = window_figures(client, choice.profile, plan.after, excluded, "after")
    routes = _route_reports(before, after, choice.profile, options.rule)
    overall = WindowPair(before.get(None), after.get(None))
    bench = _bench(options, plan, before, after, routes)
    series = None
    if choice.profile is not None and routes and options.series:
        series = fetch_series(client, choice.profile, plan_series(plan, interval_s), excluded)
        warnings += reset_warnings(series, [r.route for r in routes])
    warnings += choice.warnings + _figure_warnings(routes, overall, options.rule)
    warnings += _data_warnings(routes, before, after, choice, profiles, plan)
    warnings += [] if bench is None else _bench_warnings(bench)
    warnings += [ReportWarning("prometheus", f"Prometheus: {text}", Severity.DECISION)
                 for text in client.log.warnings]
    warnings += [ReportWarning("prometheus", f"Prometheus: {text}", Severity.CAVEAT)
                 for text in client.log.infos]
    return Report(client.display_url, None if choice.profile is None else choice.profile.name,
                  choice.source, interval_s, plan, excluded, tuple(routes), overall,
                  tuple(ordered(warnings)), client.queries_sent, options.rule, bench, series)


def build_report(client: PromClient, options: ReportOptions,
                 config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report as its JSON record, for callers that read `perfkit.report/1` (doctor, the
    demo story); new code reads the typed `collect_report`."""
    return collect_report(client, options, config).to_json()
