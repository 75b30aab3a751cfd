"""Root Typer app and global flags. The only package that imports typer or rich."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from perfkit import __version__
from perfkit.cli import console
from perfkit.cli.console import OutputFormat

app = typer.Typer(
    name="perfkit",
    help="Performance tuning for PostgreSQL-backed web backends: safe index builds, honest "
    "latency benchmarks, Prometheus before/after reports and CI gates.\n\n"
    "Start with `perfkit demo up` (a real PostgreSQL, demo backend and Prometheus on this "
    "machine); every command then targets it with no setup.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"perfkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="Default output format for results.")] = OutputFormat.table,
    config: Annotated[Path | None, typer.Option(
        "--config", help="perfkit.yaml to read (default: ./perfkit.yaml if present).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR works too).")]
    = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Tables at their full width (no column hidden on a narrow terminal).")]
    = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    console.state.output_format = output_format
    console.state.config_path = config
    console.state.debug = debug
    console.state.no_color = no_color
    console.state.wide = wide


def _register() -> None:
    """Commands in the order a user meets them; short_help keeps `perfkit --help` one line each."""
    from perfkit.cli import bench, cache_stats, demo, doctor, gate, indexes, report

    app.add_typer(demo.app, name="demo", short_help="The embedded demo stack: PostgreSQL, "
                  "backend, Prometheus.")
    app.command("apply-indexes", short_help="Build SQL indexes CONCURRENTLY, repair, verify.")(
        indexes.apply_indexes)
    app.command("verify-indexes", short_help="Expected indexes vs the catalog; --explain proves "
                "use.")(indexes.verify_indexes)
    app.command("bench", short_help="Measure cold vs warm latency per route (HDR, no "
                "coordinated omission).")(bench.bench)
    app.command("compare", short_help="Before/after of two bench runs with a verdict.")(
        bench.compare)
    app.command("merge", short_help="Add bench runs from many machines exactly.")(bench.merge)
    app.command("report", short_help="Before/after per route from Prometheus windows.")(
        report.report)
    app.command("mark", short_help="Record a change event for `report` to split on.")(
        report.mark)
    app.command("gate", short_help="CI regression gate: thresholds and a baseline.")(gate.gate)
    app.command("doctor", short_help="The seed's checklist, each line checked for real.")(
        doctor.doctor)
    app.command("cache-stats", short_help="Cache hit ratio per key family from logs.")(
        cache_stats.cache_stats)


_register()


def _usage_line(exc: Exception) -> str:
    """A click usage error as one line that names the command's --help."""
    context = getattr(exc, "ctx", None)
    where = context.command_path if context is not None else "perfkit"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return f"{message} (see `{where} --help`)"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn every error into one line and its exit code."""
    from typer.main import get_command

    try:  # recent typer vendors click: its usage errors are not the `click` package's
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click.exceptions import ClickException  # type: ignore[assignment]

    args = sys.argv[1:] if argv is None else argv
    console.state.debug = "--debug" in args
    command = get_command(app)
    try:
        result = command.main(args=args, prog_name="perfkit", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        console.error_line("interrupted")
        return 130
    except ClickException as exc:  # usage errors: one line, the help to read, exit 2
        console.error_line(_usage_line(exc))
        return int(exc.exit_code)
    except (Exception, KeyboardInterrupt) as exc:
        return console.abort(exc)
    # Without standalone mode, click returns typer.Exit's code as the result.
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
