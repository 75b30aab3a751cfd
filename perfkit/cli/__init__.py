"""Root Typer app and global flags. The only package that imports typer or rich.

Commands are registered lazily: an invocation builds only the command it names (Typer reads
every option of every command it registers, and `perfkit --help` must stay quick); the list
of `perfkit --help` is built from one-line stand-ins. Shell completion builds them all.
For the same reason every command module imports the core inside its functions, never at
its top: each module's docstring says so.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from perfkit import __version__
from perfkit.cli import console
from perfkit.cli.console import OutputFormat
from perfkit.config import ENVIRONMENT

HELP = ("Performance tuning for PostgreSQL-backed web backends: safe index builds, honest "
        "latency benchmarks, Prometheus before/after reports and CI gates.\n\n"
        "Start with `perfkit demo up` (a real PostgreSQL, demo backend and Prometheus on this "
        "machine); every command then targets it with no setup.\n\n"
        "Settings, first found wins: flags, then the environment ("
        + ", ".join(" then ".join(names) for names in ENVIRONMENT.values())
        + "), then perfkit.yaml (or --config), then the running demo stack.")
COMPLETE_VAR = "_PERFKIT_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")

# name, module in perfkit.cli, function (None: a Typer group), one line for `perfkit --help`;
# in the order a user meets them.
COMMANDS: tuple[tuple[str, str, str | None, str], ...] = (
    ("demo", "demo", None, "The embedded demo stack: PostgreSQL, backend, Prometheus."),
    ("init", "init", "init", "A perfkit.yaml and a scenario for your backend (OpenAPI)."),
    ("apply-indexes", "indexes", "apply_indexes",
     "Build SQL indexes CONCURRENTLY, repair, verify."),
    ("verify-indexes", "indexes", "verify_indexes",
     "Expected indexes vs the catalog; --explain proves use."),
    ("advise-indexes", "advise", "advise_indexes",
     "Indexes the traffic needs, proven with HypoPG."),
    ("lint", "lint", "lint",
     "The schema's performance faults, each proven, each with its fix."),
    ("bench", "bench", "bench",
     "Measure cold vs warm latency per route (HDR, no coordinated omission)."),
    ("compare", "bench", "compare", "Before/after of two bench runs with a verdict."),
    ("merge", "bench", "merge", "Add bench runs from many machines exactly."),
    ("report", "report", "report", "Before/after per route from Prometheus windows."),
    ("mark", "report", "mark", "Record a change event for `report` to split on."),
    ("events", "events", "events", "The change events of this target (marks, builds)."),
    ("gate", "gate", "gate", "CI regression gate: thresholds and a baseline."),
    ("plot", "plot", "plot", "One HTML page of runs and a report (works offline)."),
    ("doctor", "doctor", "doctor", "A checklist of the system, each line checked for real."),
    ("cache-stats", "cache_stats", "cache_stats", "Cache hit ratio from logs or Redis."),
    ("k8s-job", "k8s", "k8s_job", "One bench on N Kubernetes pods, merged."),
)
_GLOBAL_WITH_VALUE = ("--format", "--config", "--show-completion", "--install-completion")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"perfkit {__version__}")
        raise typer.Exit()


def _show_completion(value: str | None) -> None:
    if value:
        from typer._completion_shared import get_completion_script

        typer.echo(get_completion_script(prog_name="perfkit", complete_var=COMPLETE_VAR,
                                         shell=_shell(value)))
        raise typer.Exit()


def _install_completion(value: str | None) -> None:
    if value:
        from typer._completion_shared import install

        shell, path = install(shell=_shell(value), prog_name="perfkit",
                              complete_var=COMPLETE_VAR)
        console.success(f"{shell} completion installed in {path}; it takes effect in a new "
                        "shell")
        raise typer.Exit()


def _shell(value: str) -> str:
    from perfkit.errors import UsageError

    if value not in SHELLS:
        raise UsageError(f"unknown shell {value!r}", hint=f"one of {', '.join(SHELLS)}")
    return value


def root(
    output_format: Annotated[OutputFormat, typer.Option(
        "--format", help="Default output format for results.")] = OutputFormat.table,
    config: Annotated[Path | None, typer.Option(
        "--config", help="perfkit.yaml to read (default: ./perfkit.yaml if present).")] = None,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show tracebacks on errors, and each step of bench on stderr.")]
    = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR works too).")]
    = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="Tables at their full width (no column hidden on a narrow terminal).")]
    = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    show_completion: Annotated[str | None, typer.Option(
        "--show-completion", callback=_show_completion, is_eager=True, metavar="SHELL",
        help="Print the completion script for SHELL (bash, zsh, fish, powershell).")] = None,
    install_completion: Annotated[str | None, typer.Option(
        "--install-completion", callback=_install_completion, is_eager=True, metavar="SHELL",
        help="Install completion for SHELL.")] = None,
) -> None:
    console.state.output_format = output_format
    console.state.config_path = config
    console.state.debug = debug
    console.state.no_color = no_color
    console.state.wide = wide


def named_command(args: list[str]) -> str | None:
    """The command an invocation names (skipping the global options and their values)."""
    names = {name for name, *_ in COMMANDS}
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _GLOBAL_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in names else None
    return None


def _stand_in() -> None:
    """A command listed by `perfkit --help`; never run (the real one is built when named)."""


def build_app(only: str | None, *, everything: bool = False) -> typer.Typer:
    """The Typer app with the real command `only` (every real one with `everything`) and
    stand-ins for the others."""
    app = typer.Typer(name="perfkit", help=HELP, no_args_is_help=True, add_completion=False,
                      context_settings={"help_option_names": ["-h", "--help"]},
                      pretty_exceptions_enable=False, rich_markup_mode=None)
    app.callback()(root)
    for name, module, function, short in COMMANDS:
        if not (everything or name == only):
            app.command(name, short_help=short, help=short)(_stand_in)
            continue
        target: Any = importlib.import_module(f"perfkit.cli.{module}")
        if function is None:
            app.add_typer(target.app, name=name, short_help=short)
        else:
            command: Callable[..., None] = getattr(target, function)
            app.command(name, short_help=short)(command)
    return app


def _usage_line(exc: Exception) -> str:
    """A click usage error as one line that names the command's --help."""
    context = getattr(exc, "ctx", None)
    where = context.command_path if context is not None else "perfkit"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return f"{message} (see `{where} --help`)"


def _ctrl_c(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _sigterm_is_ctrl_c() -> Callable[[], None]:
    """SIGTERM (`kill`, a CI job's timeout, a stopped pod) stops a command as Ctrl-C does: it
    says what it kept and left, exit 130, instead of dying silently mid-write or mid-build.
    Returns what puts the previous handler back (main runs in-process in the tests)."""
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, _ctrl_c)
    except ValueError:  # not the main thread: leave signals alone
        return lambda: None

    def restore() -> None:
        if previous is not None:  # None: a handler not set from Python, left as it was
            signal.signal(signal.SIGTERM, previous)

    return restore


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn every error into one line and its exit code."""
    from typer.main import get_command

    try:  # recent typer vendors click: its usage errors are not the `click` package's
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click.exceptions import ClickException  # type: ignore[assignment]

    args = sys.argv[1:] if argv is None else argv
    console.state.debug = "--debug" in args
    completing = COMPLETE_VAR in os.environ
    if completing:  # the shell asks for completions: every command, Typer's completers
        from typer._completion_classes import completion_init

        completion_init()
    restore = _sigterm_is_ctrl_c()
    try:
        app = build_app(named_command(args), everything=completing)
        result = get_command(app).main(args=args, prog_name="perfkit", standalone_mode=False)
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
    finally:
        restore()
    # Without standalone mode, click returns typer.Exit's code as the result; 130 is how typer
    # returns a Ctrl-C no command turned into an Interrupted error (they raise those).
    if result == 130:
        console.error_line("interrupted")
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
