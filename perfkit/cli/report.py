"""`perfkit report` (Prometheus before/after per route) and `perfkit mark` (a change event).

Imports of the core sit inside the commands (start-up: `perfkit report --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.prom.judge import Rule
    from perfkit.prom.report import Report, ReportOptions

FormatOpt = Annotated[OutputFormat | None,
                      typer.Option("--format", help="table, json or markdown.")]


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
        help="A bench run (perfkit bench --out) to set client-side latency beside the "
             "server's, in the window the run mostly overlaps.")] = None,
    min_change: Annotated[str | None, typer.Option(
        "--min-change", help="Faster/slower only when the whole 95% interval of the mean's "
                             "change is beyond this percentage, 5% or 5 (default 5%, as "
                             "compare and gate).", show_default=False)] = None,
    output_format: FormatOpt = None,
) -> None:
    """Per-route mean, P99, req/s and 5xx% from Prometheus, before vs after a change.

    Both windows are real windows (increase over W, evaluated at each window's end); P99 is
    Prometheus's histogram_quantile, shown with the bucket it lies in. Each route gets a
    verdict (faster, slower, no-change, not judged) by the rule of compare and gate, over
    the requests Prometheus counted in each bucket. The after window starts at the change:
    send traffic after it, then report.

    Example: `perfkit mark "cache on"`, send traffic for 20 s, then `perfkit report --since 20s`
    """
    from perfkit.prom.report import ReportOptions
    from perfkit.prom.windows import parse_duration_s
    from perfkit.records import load_run

    options = ReportOptions(since_s=parse_duration_s(since), split=split, profile=profile,
                            filters=_parse_filters(label_filter or []),
                            include_all_routes=all_routes,
                            # read before the first query: a wrong file costs no request
                            bench=None if bench is None else load_run(bench, label="--bench"),
                            bench_name="" if bench is None else bench.name,
                            rule=_rule(min_change))
    record = _collect(prometheus, options)
    _show(record, console.fmt(output_format))


def _rule(min_change: str | None) -> Rule:
    from perfkit.percentages import parse_percent
    from perfkit.prom.judge import Rule

    if min_change is None:
        return Rule()
    return Rule(min_change_pct=parse_percent(min_change, flag="--min-change"))


def _collect(prometheus: str | None, options: ReportOptions) -> Report:
    from dataclasses import replace

    from perfkit.errors import UsageError
    from perfkit.prom.client import PromClient, basic_auth_from, split_credentials
    from perfkit.prom.report import collect_report

    settings = console.settings(prometheus_url=prometheus)
    if not settings.prometheus_url:
        raise UsageError("no Prometheus URL", hint="pass --prometheus, set PROMETHEUS_URL, or "
                                                   "run `perfkit demo up`")
    auth = basic_auth_from(settings.config)
    _, url_auth = split_credentials(settings.prometheus_url)
    console.state.secrets.extend(s for s in (*(auth or ()), *(url_auth or ())) if s)
    client = PromClient(settings.prometheus_url, token=settings.prometheus_token,
                        basic_auth=auth, on_retry=console.note)
    options = replace(options, target=settings.target)  # split on this target's events
    with console.status(f"querying Prometheus at {client.display_url}"):
        return collect_report(client, options, settings.config)


def _show(record: Report, output: OutputFormat) -> None:
    """The record on stdout; its warnings on stderr, one line per route, decisions first
    (JSON keeps every warning, notes included)."""
    from perfkit.render.report import report_document, warning_lines

    if output is OutputFormat.json:
        console.print_json(record.to_json())
    else:
        markdown = output is OutputFormat.markdown
        console.show(report_document(record, warnings=markdown), output)
    for line in warning_lines(record, notes=False):  # the notes are in the document
        console.warning(line)


def mark(
    text: Annotated[str, typer.Argument(help="What changed, e.g. \"restart with auth cache\".")],
    kind: Annotated[str, typer.Option(help="Event kind (mark, deploy, restart…).")] = "mark",
    base_url: Annotated[str | None, typer.Option(
        help="The backend it changed (default: PERFKIT_BASE_URL, perfkit.yaml, the demo).")]
    = None,
    dsn: Annotated[str | None, typer.Option(help="The database it changed.")] = None,
    prometheus: Annotated[str | None, typer.Option(
        "--prometheus", help="The Prometheus that watches it.")] = None,
    output_format: FormatOpt = None,
) -> None:
    """Record a change event now, for the current target; `perfkit report` and `doctor` on
    this target split their windows on the latest one (other targets never see it).

    The target is the backend, database and Prometheus perfkit is configured for (no
    credentials kept). The after window starts at the event: send traffic after it, then
    report.

    Example: `perfkit mark "restart with the auth cache"`
    """
    from perfkit.events import EVENT_SCHEMA, record_event
    from perfkit.units import fmt_at

    target = console.settings(base_url=base_url, dsn=dsn, prometheus_url=prometheus).target
    event = record_event(kind, text, target=target)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json({"schema": EVENT_SCHEMA, **event.to_json()})
        return
    console.print_text(event.id)
    scope = (f"for {target.describe()}" if target.known
             else "for every target (none is configured)")
    console.success(f"marked {kind} at {fmt_at(event.at)} {scope}: {text}")
    console.info(f"send traffic now; `perfkit report --split {event.id}` then compares "
                 "around it")
