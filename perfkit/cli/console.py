"""The one Rich facade: results to stdout, progress/warnings/errors to stderr, one exit path.

rich's renderers and the core's records are imported where they are used: every command
imports this module, and `perfkit --help` must stay quick.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from perfkit.config import Settings
    from perfkit.errors import PerfkitError
    from perfkit.render.model import Document, Table


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


@dataclass
class CliState:
    """Global flags, set once by the root callback."""

    output_format: OutputFormat = OutputFormat.table
    config_path: Path | None = None
    debug: bool = False
    no_color: bool = False
    wide: bool = False
    secrets: list[str] = field(default_factory=list)


state = CliState()
_out: Console | None = None
_err: Console | None = None


def _color_off() -> bool:
    return state.no_color or bool(os.environ.get("NO_COLOR"))


def out() -> Console:
    """Console for results (stdout)."""
    global _out
    if _out is None:
        from rich.console import Console

        width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
        _out = Console(file=sys.stdout, no_color=_color_off(), highlight=False, width=width,
                       soft_wrap=False)
    return _out


def err() -> Console:
    """Console for progress, logs, warnings and errors (stderr)."""
    global _err
    if _err is None:
        from rich.console import Console

        tty = sys.stderr.isatty()
        width = None if tty else int(os.environ.get("COLUMNS", "120"))
        # Logs and CI keep each message on one line (grep finds it whole); a terminal wraps.
        _err = Console(file=sys.stderr, no_color=_color_off(), highlight=False, width=width,
                       soft_wrap=not tty)
    return _err


def reset() -> None:
    """Forget consoles and flags (tests run many commands in one process)."""
    global _out, _err, state
    _out = _err = None
    state = CliState()


def fmt(explicit: OutputFormat | None) -> OutputFormat:
    return explicit or state.output_format


def settings(**overrides: Any) -> Settings:
    """Resolve settings with the global --config; remember secrets so nothing prints them."""
    from perfkit.config import resolve_settings

    resolved = resolve_settings(config_path=state.config_path, **overrides)
    state.secrets.extend(resolved.secrets())
    return resolved


def _scrub(text: str) -> str:
    from perfkit.redact import redact_text

    return redact_text(text, state.secrets)


def _known_secrets_out(text: str) -> str:
    """Results keep their URLs (the demo DSN is documented to carry its password) but never
    a token or password perfkit was given."""
    for secret in state.secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def print_json(data: Any) -> None:
    sys.stdout.write(_known_secrets_out(json.dumps(data, indent=2, default=str)) + "\n")
    sys.stdout.flush()


def print_text(text: str) -> None:
    text = _known_secrets_out(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def info(message: str) -> None:
    err().print(_scrub(message), markup=False)


def note(message: str) -> None:
    """A dim line on stderr (what perfkit is doing)."""
    err().print(_scrub(message), style="dim", markup=False)


def debug(message: str) -> None:
    """A step of the work, on stderr with --debug only (what a hang was doing; where a test
    stops a command)."""
    if state.debug:
        err().print(f"debug: {_scrub(message)}", markup=False, soft_wrap=True)


def success(message: str) -> None:
    err().print(_scrub(message), style="green", markup=False)


def warning(message: str) -> None:
    err().print(f"warning: {_scrub(message)}", style="yellow", markup=False)


def error_line(error: PerfkitError | str) -> None:
    err().print(f"error: {_scrub(str(error))}", style="bold red", markup=False, soft_wrap=True)


def show(doc: Document, output: OutputFormat | None = None) -> None:
    """Print a Document on stdout: markdown, or tables that fit the terminal."""
    from perfkit.render.markdown import document as markdown_document
    from perfkit.render.model import Table

    if fmt(output) is OutputFormat.markdown:
        print_text(markdown_document(doc))
        return
    # A terminal gets notes wrapped at its width on word boundaries; a pipe, a log or CI
    # keeps each on one line (grep finds it whole), as stderr does.
    one_line = not sys.stdout.isatty()
    for block in doc.blocks:
        if isinstance(block, Table):
            _print_table(block)
        else:
            for line in block.lines:
                out().print(escape_markup(_known_secrets_out(line)), soft_wrap=one_line,
                            style="bold" if block.heading else None)


def escape_markup(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _widths(tbl: Table) -> list[int]:
    """The width each column needs: whole names and numbers, text at its longest word."""
    from rich.cells import cell_len

    from perfkit.render.model import Kind

    widths = []
    for i, column in enumerate(tbl.columns):
        cells = [row[i] for row in tbl.rows]
        if column.kind is Kind.TEXT:
            words = [w for cell in cells for w in cell.split()] + column.header.split()
            widths.append(min(max((cell_len(w) for w in words), default=1), 24))
        else:
            widths.append(max([cell_len(column.header), *(cell_len(c) for c in cells)]))
    return widths


def fit_columns(tbl: Table, width: int | None) -> tuple[list[int], list[str]]:
    """The columns to show (indexes) and the headers dropped so that the table fits `width`:
    droppable columns go in their `drop` order; names are never broken."""
    keep = list(range(len(tbl.columns)))
    dropped: list[str] = []
    if width is None:
        return keep, dropped
    needed = _widths(tbl)
    order = sorted((c.drop, i) for i, c in enumerate(tbl.columns) if c.drop is not None)

    def total() -> int:  # cells, 1 space of padding each side, 1 rule between columns
        return sum(needed[i] for i in keep) + 3 * len(keep) - 1

    for _, index in order:
        if total() <= width:
            break
        keep.remove(index)
        dropped.append(tbl.columns[index].header)
    return keep, dropped


def _wide_console(width: int) -> Console:
    from rich.console import Console

    return Console(file=sys.stdout, no_color=_color_off(), highlight=False, width=width,
                   soft_wrap=False)


def _print_table(tbl: Table) -> None:
    from rich.table import Table as RichTable

    from perfkit.render.model import Kind

    width = None if state.wide else out().width
    keep, dropped = fit_columns(tbl, width)
    needed = _widths(tbl)
    natural = sum(needed[i] for i in keep) + 3 * len(keep) - 1
    # it cannot fit: printed wider than the terminal rather than break a name
    console = out() if width is not None and natural <= width else _wide_console(natural + 2)
    fixed = {} if width is None else _text_widths(tbl, keep, needed, console.width)
    rich = RichTable(show_edge=False, header_style="bold")
    for i in keep:
        column = tbl.columns[i]
        rich.add_column(column.header, justify="right" if column.right else "left",
                        no_wrap=column.kind is not Kind.TEXT, min_width=needed[i],
                        width=fixed.get(i), overflow="fold")
    for row in tbl.rows:
        rich.add_row(*[escape_markup(_known_secrets_out(_scrub(row[i]))) for i in keep])
    if width is None:  # --wide: every column at its full width, whatever the terminal
        console = _wide_console(_full_width(rich))
    _print_annotated(console, rich, tbl.title, tbl.caption)
    if dropped:
        note(f"(narrow output: {', '.join(dropped)} hidden; `perfkit --wide` or a wider "
             "COLUMNS shows them)")


def _full_width(rich: Any) -> int:
    from rich.measure import Measurement

    unbounded = _wide_console(10_000)
    return Measurement.get(unbounded, unbounded.options, rich).maximum


def _text_widths(tbl: Table, keep: list[int], needed: list[int], limit: int) -> dict[int, int]:
    """Widths of the text columns when they cannot all have their longest line: each gets its
    longest word (up to 24 cells) and the room left goes to the narrowest first. Rich's own
    squeeze ignores a column's minimum and folds words (`Prometheu` / `s`)."""
    from rich.cells import cell_len

    from perfkit.render.model import Kind

    text = [i for i in keep if tbl.columns[i].kind is Kind.TEXT]
    longest = {i: max([cell_len(tbl.columns[i].header), *(cell_len(line) for row in tbl.rows
                                                          for line in row[i].splitlines())])
               for i in text}
    room = limit - (3 * len(keep) - 1) - sum(needed[i] for i in keep if i not in longest)
    if sum(longest.values()) <= room:
        return {}
    widths = {i: needed[i] for i in text}
    spare = room - sum(widths.values())
    while spare > 0:
        growable = [i for i in text if widths[i] < longest[i]]
        if not growable:
            break
        widths[min(growable, key=lambda i: widths[i])] += 1
        spare -= 1
    return widths


def _print_annotated(console: Console, rich: Any, title: str | None,
                     caption: str | None) -> None:
    """The table with its title and caption, as plain text (a path's [brackets] are not
    markup). Rich fits them to the table's width, folding what does not fit (a long path
    splits the words around it over lines); one wider than the table goes on a line of its
    own instead, whole (a terminal wraps it, grep finds it)."""
    from rich.cells import cell_len
    from rich.measure import Measurement
    from rich.text import Text

    table_width = min(Measurement.get(console, console.options, rich).maximum, console.width)
    title = _known_secrets_out(title) if title else None
    caption = _known_secrets_out(caption) if caption else None
    if title and cell_len(title) > table_width:
        console.print(Text(title, style="table.title"), soft_wrap=True)
    elif title:
        rich.title = Text(title)
    if caption and cell_len(caption) <= table_width:
        rich.caption = Text(caption)
    console.print(rich)
    if caption and cell_len(caption) > table_width:
        console.print(Text(caption, style="table.caption"), soft_wrap=True)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
          *, justify: Sequence[str] | None = None, caption: str | None = None) -> None:
    """A results table on stdout: the first column a name, the others text."""
    from perfkit.render.model import Column, Kind, Table

    kinds = [Kind.NAME] + [Kind.NUMBER if justify and i < len(justify) and justify[i] == "right"
                           else Kind.TEXT for i in range(1, len(columns))]
    _print_table(Table.of(title, [Column(c, k) for c, k in zip(columns, kinds, strict=True)],
                          [[str(c) for c in row] for row in rows], caption))


def bar(value: float, maximum: float, width: int = 20) -> str:
    """A text bar scaled like the seed's Grafana sketch (full width = the largest value)."""
    from perfkit.units import bar as text_bar

    return text_bar(value, maximum, width)


@contextmanager
def progress(transient: bool = True) -> Iterator[Progress]:
    """A Rich progress display on stderr (hidden when stderr is not a terminal)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err(),
                  disable=not err().is_terminal,  # no stray blank line on a pipe
                  transient=transient) as prog:
        yield prog


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner with a message for a step of unknown length."""
    if err().is_terminal:
        with err().status(message):
            yield
    else:
        note(message)
        yield


def abort(error: BaseException) -> int:
    """Print an error in one line (a traceback only with --debug) and return its exit code."""
    from perfkit.errors import PerfkitError

    if state.debug:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, PerfkitError):
        error_line(error)
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        error_line("interrupted")
        return 130
    lost = _lost_database(error)
    if lost is not None:
        error_line(lost)
        return 3
    error_line(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the "
               f"traceback)")
    return 1


def _lost_database(error: BaseException) -> str | None:
    """A database connection that broke under a command (terminated, restarted, a pooler's
    reaper): a fault of the outside world, exit 3, not an internal error."""
    if not type(error).__module__.startswith("psycopg"):
        return None
    import psycopg

    if not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return None
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    from perfkit.redact import redact_text

    return (f"the database connection was lost: {redact_text(first)} (rerun once the "
            "database answers; --debug shows where)")
