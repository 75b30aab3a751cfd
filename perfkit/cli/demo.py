"""`perfkit demo up|status|restart|fault|reset|down|story`: the embedded PostgreSQL + backend +
Prometheus.

Imports of the core sit inside the commands (start-up: `perfkit demo --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat
from perfkit.demo.auth import DEFAULT_AUTH_LATENCY_MS
from perfkit.demo.metrics import DEFAULT_PROFILE, MetricsProfile

if TYPE_CHECKING:
    from perfkit.demo.story import StoryResult

app = typer.Typer(
    help="The embedded demo stack: a real PostgreSQL, a FastAPI backend and Prometheus.",
    no_args_is_help=True,
)

FormatOpt = Annotated[OutputFormat | None,
                      typer.Option("--format", help="table, json or markdown.")]
#: What the demo backend imports (the `demo` extra), by module name.
DEMO_EXTRA_MODULES = ("fastapi", "uvicorn", "prometheus_client",
                      "prometheus_fastapi_instrumentator")


def need_demo_extra() -> None:
    """The demo backend runs only with the `demo` extra: say how to install it, in one line."""
    import importlib.util

    from perfkit.errors import UsageError

    missing = [m for m in DEMO_EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"the demo backend needs {', '.join(missing)}, which this install "
                         "does not have", hint="pip install 'perfkit[demo]' (pipx: pipx "
                                               "install --force 'perfkit[demo]')")


@app.command()
def up(
    scale: Annotated[float | None, typer.Option(
        help="Data size: 1.0 = 4M messages, 400k conversations, 50k accounts (~30 s to load). "
             "Default: keep what is loaded, else 1.0.", min=0.0001, max=20)] = None,
    cache: Annotated[bool, typer.Option(
        "--cache/--no-cache", help="The backend's TTL caches (--no-cache: the 'before').")]
    = True,
    metrics_profile: Annotated[MetricsProfile, typer.Option(
        help="Metric naming of the backend.")] = DEFAULT_PROFILE,
    auth_latency_ms: Annotated[float, typer.Option(
        help="Latency of the simulated remote auth provider.", min=0)]
    = DEFAULT_AUTH_LATENCY_MS,
    pg_port: Annotated[int | None, typer.Option(help="PostgreSQL port (default: a free one).")]
    = None,
    backend_port: Annotated[int | None, typer.Option(help="Backend port (default: a free one).")]
    = None,
    prometheus_port: Annotated[int | None, typer.Option(
        help="Prometheus port (default: a free one).")] = None,
    output_format: FormatOpt = None,
) -> None:
    """Start (or keep) the demo stack and wait until each part answers. Idempotent.

    Example: `perfkit demo up --scale 0.05 --no-cache`
    """
    from perfkit.demo import stack
    from perfkit.render.demo import status_document, try_line

    need_demo_extra()
    options = stack.UpOptions(scale=scale, cache=cache, metrics_profile=metrics_profile,
                              auth_latency_ms=auth_latency_ms, pg_port=pg_port,
                              backend_port=backend_port, prometheus_port=prometheus_port)
    with console.status("bringing the demo stack up"):
        state = stack.up(options, progress=console.note)
    for note in state.notes:
        console.info(note)
    status = stack.check()
    output = console.fmt(output_format)
    if output is OutputFormat.json:
        console.print_json(status.to_json())
        return
    doc = status_document(status)
    if output is OutputFormat.table:
        doc.lines("", try_line(status, state.token or ""))
    console.show(doc, output)


@app.command()
def status(output_format: FormatOpt = None) -> None:
    """Show each part of the demo stack: pid, address, whether it answers. Exit 1 if any is down.

    Example: `perfkit demo status --format json`
    """
    from perfkit.demo import stack
    from perfkit.render.demo import status_document

    checked = stack.check()
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(checked.to_json())
    else:
        console.show(status_document(checked), console.fmt(output_format))
    if not checked.all_up:
        raise typer.Exit(1)


@app.command()
def restart(
    cache: Annotated[bool | None, typer.Option(
        "--cache/--no-cache", help="Restart with or without the caches (default: as before).")]
    = None,
    metrics_profile: Annotated[MetricsProfile | None, typer.Option(
        help="Switch the metric naming.")] = None,
) -> None:
    """Restart the backend (the runbook's step 1) and record a change event for `report`.

    Example: `perfkit demo restart --cache`
    """
    from perfkit.demo import stack

    need_demo_extra()
    state = stack.restart_backend(cache=cache, metrics_profile=metrics_profile,
                                  progress=console.note)
    be = state.backend
    assert be is not None  # restart_backend raises when there is none
    console.success(f"backend restarted at {be.url} (pid {be.pid}, cache "
                    f"{'on' if be.cache else 'off'})")


@app.command()
def fault(
    route: Annotated[str, typer.Option(help="Route template, e.g. /auth/me, or * for all.")] = "*",
    latency_ms: Annotated[float | None, typer.Option(
        help="Extra latency to add (0 removes it; omitted: left as is).", min=0)] = None,
    error_ratio: Annotated[str | None, typer.Option(
        help="Share of requests answered 500, 10% or 0.1 (0 removes it; omitted: left as "
             "is).")] = None,
    n_plus_one: Annotated[list[str] | None, typer.Option(
        "--n-plus-one", metavar="<route>",
        help="Turn a list route (/conversations, /accounts) into N+1: one more statement per "
             "row it answers. Repeatable; --route does not apply.", show_default=False)] = None,
    no_n_plus_one: Annotated[list[str] | None, typer.Option(
        "--no-n-plus-one", metavar="<route>", help="Turn the N+1 fault off for a route.",
        show_default=False)] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every fault first.")] = False,
    output_format: FormatOpt = None,
) -> None:
    """Inject latency, 5xx or N+1 queries into the running demo backend, without a restart.

    Example: `perfkit demo fault --route /auth/me --latency-ms 100`, `perfkit demo fault
    --n-plus-one /conversations` (1 + a statement per row: 51 for 50 rows), then
    `perfkit demo fault --no-n-plus-one /conversations` or `perfkit demo fault --clear`
    """
    from perfkit.demo import stack
    from perfkit.demo.control import change_fault
    from perfkit.percentages import parse_ratio
    from perfkit.render.demo import faults_document

    ratio = None if error_ratio is None else parse_ratio(error_ratio, flag="--error-ratio")
    now = change_fault(stack.backend_url(), route, latency_ms=latency_ms, error_ratio=ratio,
                       clear=clear, n_plus_one=n_plus_one or (),
                       no_n_plus_one=no_n_plus_one or ())
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(now.to_json())
        return
    console.show(faults_document(now.faults), console.fmt(output_format))


@app.command()
def reset() -> None:
    """Back to the runbook's 'before': caches off, the runbook's indexes dropped CONCURRENTLY.

    Then try the runbook again by hand (`perfkit advise-indexes`, `perfkit apply-indexes`,
    `perfkit demo restart --cache`). Example: `perfkit demo reset`
    """
    from perfkit.demo.story import reset_to_before

    need_demo_extra()
    dropped = reset_to_before(progress=console.note)
    console.success("the demo is back to the runbook's 'before': caches off, indexes dropped: "
                    + ", ".join(dropped))


@app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete the database and Prometheus data.")]
    = False,
) -> None:
    """Stop exactly what `demo up` started (by pid); nothing is left running.

    Example: `perfkit demo down --purge`
    """
    from perfkit.demo import stack

    stopped = stack.down(purge=purge, progress=console.note)
    console.success("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def story(
    scale: Annotated[float | None, typer.Option(
        help="Data size (default: what is loaded, else 1.0 = 4M messages).", min=0.0001,
        max=20)] = None,
    duration: Annotated[str, typer.Option(help="Length of each bench phase.")] = "20s",
    concurrency: Annotated[int, typer.Option(help="Users in the closed loop.", min=1, max=64)]
    = 4,
    html: Annotated[Path | None, typer.Option(
        help="Also write the story as one self-contained HTML page (perfkit plot).")] = None,
    capacity: Annotated[bool, typer.Option(
        help="Also search the mix's capacity before and after (bench --find-max; ~2 min "
             "more).")] = False,
    slo: Annotated[str, typer.Option(help="The SLO of --capacity.")] = "p90<500ms,errors<1%",
    output_format: FormatOpt = None,
) -> None:
    """The whole runbook on the demo stack, measured: before -> caches -> indexes -> after.

    Brings the stack up with caches off and without the runbook's indexes, benches the API
    mix, restarts with caches (an event), applies the three indexes CONCURRENTLY, benches
    again, reports from Prometheus over both windows, counts cache hits, runs doctor, and
    prints the "Requests Average Duration" table, before -> after. Exit 1 if doctor finds a
    failing line.

    Example: `perfkit demo story --scale 0.1 --duration 10s --html story.html`
    """
    from perfkit.demo.story import StoryOptions, run_story
    from perfkit.durations import parse_duration_s
    from perfkit.jsonfile import check_writable

    need_demo_extra()
    if capacity:
        from perfkit.bench.capacity import Slo

        Slo.parse(slo)  # a wrong SLO fails now, not after the first half of the story
    options = StoryOptions(scale=scale, duration_s=parse_duration_s(duration),
                           concurrency=concurrency, capacity_slo=slo if capacity else None)
    if html is not None:
        check_writable(html, "--html")
    with console.status("replaying the runbook"):
        result = run_story(options, progress=console.note)
    show_story(result, console.fmt(output_format))
    if html is not None:
        from perfkit.atomic import write_output
        from perfkit.render.html import story_page

        write_output(html, story_page(*result.runs, result.record,
                                      comparison=result.comparison).html, "--html")
        console.note(f"story page written to {html}")
    if not result.doctor.passed:
        raise typer.Exit(1)


def show_story(result: StoryResult, output: OutputFormat) -> None:
    """The story's record as JSON, or its tables, doctor's checklist, then where the runs are."""
    from perfkit.render.doctor import doctor_document
    from perfkit.render.story import closing_document, story_document

    if output is OutputFormat.json:
        console.print_json(result.to_json())
        return
    doc = story_document(result).extend(doctor_document(result.doctor))
    console.show(doc.extend(closing_document(result)), output)
