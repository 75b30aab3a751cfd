"""`perfkit report` (Prometheus before/after per route) and `perfkit mark` (a change event)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

FormatOpt = Annotated[OutputFormat | None,
                      typer.Option("--format", help="table, json or markdown.")]
BAR_WIDTH = 10


def _parse_filters(values: list[str]) -> dict[str, str]:
    from perfkit.errors import UsageError

    filters: dict[str, str] = {}
    for value in values:
        label, sep, wanted = value.partition("=")
        if not sep or not label.strip():
            raise UsageError(f"--filter {value!r} is not LABEL=VALUE", hint="e.g. --filter "
                             "app_name=api or --filter job=backend")
        filters[label.strip()] = wanted
    return filters


def _render_table(record: dict[str, Any]) -> None:
    from perfkit.prom import render as r

    rows = r.rows_with_global(record)
    means = [v for row in rows for w in ("before", "after")
             if (v := r.side(row.get(w), "mean_ms")) is not None]
    top = max(means, default=0.0)

    def mean_cell(figures: dict[str, Any] | None) -> str:
        value = r.side(figures, "mean_ms")
        if value is None:
            return "-"
        return f"{r.fmt_num_ms(value):>6} {console.bar(value, top, BAR_WIDTH)}"

    means, others = [], []
    for row in rows:
        b, a, change = row.get("before"), row.get("after"), row.get("change_pct") or {}
        means.append([row["route"], mean_cell(b), mean_cell(a), r.fmt_pct(change.get("mean"))])
        others.append([
            row["route"], r.p99_cell(b, unit=False), r.p99_cell(a, unit=False),
            r.fmt_pct(change.get("p99")),
            r.pair(r.fmt_rps(r.side(b, "rps")), r.fmt_rps(r.side(a, "rps"))),
            r.pair(r.fmt_ratio(r.side(b, "ratio_5xx"), unit=False),
                   r.fmt_ratio(r.side(a, "ratio_5xx"), unit=False))])
    console.print_text("\n".join(r.describe_windows(record)))
    # Two panels, as on the seed's dashboard: routes stay whole in 120 columns.
    console.table("Requests average duration (ms), before → after, slowest first",
                  ["route", "before", "after", "Δ mean"], means,
                  justify=["left", "left", "left", "right"])
    console.table("P99 (ms) in its bucket (lo,hi], throughput and errors",
                  ["route", "P99 before", "P99 after", "Δ P99", "req/s", "5xx %"], others,
                  justify=["left", "right", "right", "right", "right", "right"],
                  caption="P99 = Prometheus's histogram_quantile over the window")
    comparison = record.get("client_vs_server") or []
    if comparison:
        console.table(
            "Client (bench run) vs server (Prometheus)",
            ["route", "phase", "window", "client mean", "server mean", "gap", "client P99",
             "server P99", "reading"],
            [[c["route"], c.get("phase") or "-", c["window"], r.fmt_ms(c["client"]["mean_ms"]),
              r.fmt_ms(c["server"]["mean_ms"]), f"{c['diff_ms']['mean']:+.1f} ms",
              r.fmt_ms(c["client"].get("p99_ms")), r.fmt_ms(c["server"]["p99_ms"]), c["note"]]
             for c in comparison])


def report(
    since: Annotated[str, typer.Option(
        help="Length of each window; the after window is the last SINCE.")] = "20m",
    split: Annotated[str | None, typer.Option(
        help="Where the before window ends: a change event id (`perfkit mark`), an ISO time, "
             "unix seconds or -10m. Default: the latest change event of the last three windows, "
             "else right before the after window.")] = None,
    prometheus: Annotated[str | None, typer.Option(
        "--prometheus", help="Prometheus URL (default: PROMETHEUS_URL, perfkit.yaml, the demo "
                             "stack).")] = None,
    profile: Annotated[str | None, typer.Option(
        help="Metric naming: fastapi-observability, instrumentator, starlette-exporter or a "
             "custom one from perfkit.yaml. Default: detected from the metric names.")] = None,
    label_filter: Annotated[list[str] | None, typer.Option(
        "--filter", help="Extra label filter LABEL=VALUE (repeatable), e.g. app_name=api.")]
    = None,
    all_routes: Annotated[bool, typer.Option(
        "--all-routes", help="Keep /metrics and health-check routes.")] = False,
    bench: Annotated[Path | None, typer.Option(
        help="A bench run (perfkit.run/1 JSON) to set client-side latency beside the "
             "server's.")] = None,
    output_format: FormatOpt = None,
) -> None:
    """Per-route mean, P99, req/s and 5xx% from Prometheus, before vs after a change.

    Both windows are real windows (increase over W, evaluated at each window's end); P99 is
    Prometheus's histogram_quantile, shown with the bucket it lies in.

    Example: `perfkit report --since 20m --split 20260131T140500-1a2b`
    """
    from perfkit.errors import UsageError
    from perfkit.prom import PromClient, ReportOptions, build_report
    from perfkit.prom.client import basic_auth_from, split_credentials
    from perfkit.prom.render import markdown
    from perfkit.prom.windows import parse_duration_s

    since_s = parse_duration_s(since)
    settings = console.settings(prometheus_url=prometheus)
    if not settings.prometheus_url:
        raise UsageError("no Prometheus URL", hint="pass --prometheus, set PROMETHEUS_URL, or "
                                                   "run `perfkit demo up`")
    auth = basic_auth_from(settings.config)
    _, url_auth = split_credentials(settings.prometheus_url)
    console.state.secrets.extend(s for s in (*(auth or ()), *(url_auth or ())) if s)
    client = PromClient(settings.prometheus_url, token=settings.prometheus_token,
                        basic_auth=auth)
    options = ReportOptions(since_s=since_s, split=split, profile=profile,
                            filters=_parse_filters(label_filter or []),
                            include_all_routes=all_routes, bench=bench)
    with console.status(f"querying Prometheus at {client.display_url}"):
        record = build_report(client, options, settings.config)
    output = console.fmt(output_format)
    if output is OutputFormat.json:
        console.print_json(record)
    elif output is OutputFormat.markdown:
        console.print_text(markdown(record))
    else:
        _render_table(record)
    for warning in record["warnings"]:
        console.warning(warning["message"])


def mark(
    text: Annotated[str, typer.Argument(help="What changed, e.g. \"restart with auth cache\".")],
    kind: Annotated[str, typer.Option(help="Event kind (mark, deploy, restart…).")] = "mark",
    output_format: FormatOpt = None,
) -> None:
    """Record a change event now; `perfkit report` splits its windows on the latest one.

    Example: `perfkit mark "restart with the auth cache"`
    """
    from perfkit.events import record_event
    from perfkit.prom.render import fmt_time

    event = record_event(kind, text)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json({"schema": "perfkit.event/1", **event.to_json()})
        return
    console.print_text(event.id)
    console.success(f"marked {kind} at {fmt_time(event.at.isoformat())}: {text} "
                    f"(`perfkit report --split {event.id}` compares around it)")
