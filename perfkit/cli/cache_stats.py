"""`perfkit cache-stats`: hit ratio per cache key family from backend logs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat


def cache_stats(
    source: Annotated[str | None, typer.Argument(
        help="Log file, or - for stdin. Default: the demo backend's log.")] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Count only lines appended from now on (bounded by --for).")]
    = False,
    watch_for: Annotated[str, typer.Option(
        "--for", help="With --follow: how long to watch, e.g. 60s or 5m.")] = "30s",
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """Cache hit ratio per key family, from `Cache HIT/MISS: key` log lines.

    Families are the key prefixes: auth_user, conversation, bot_profile, any other.

    Accepts docker-compose prefixes, timestamps and JSON log lines.

    Example: `docker compose logs backend | perfkit cache-stats -`
    """
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError
    from perfkit.logs import count_cache_lines, follow_lines, read_lines

    for_s = parse_duration_s(watch_for, flag="--for", minimum_s=0.1, maximum_s=86400)
    if source is None:
        log_file = console.settings().backend_log
        if log_file is None:
            raise UsageError("no log source given and no demo stack is up",
                             hint="pass a log file, or - to read stdin")
        source = str(log_file)
    if source == "-":
        if follow:
            raise UsageError("--follow needs a file, not stdin",
                             hint="pipe `docker compose logs -f` into `cache-stats -` instead")
        stats = count_cache_lines(sys.stdin)
    else:
        path = Path(source)
        if path.is_dir():
            raise UsageError(f"{source} is a folder, not a log file", hint="pass the log file")
        if not path.is_file():
            raise UsageError(f"log file {source} does not exist", hint="check the path")
        if follow:
            console.note(f"watching {source} for {for_s:g} s")
            with path.open(encoding="utf-8", errors="replace") as stream:
                stats = count_cache_lines(follow_lines(stream, for_s))
        else:
            stats = count_cache_lines(read_lines(path))
    data = stats.to_json()
    output = console.fmt(output_format)
    if output is OutputFormat.json:
        console.print_json(data)
    else:
        rows = [[f["family"], f["hits"], f["misses"], f["keys"], _pct(f["hit_ratio"])]
                for f in data["families"]]  # type: ignore[attr-defined]
        total = data["total"]
        rows.append(["total", total["hits"], total["misses"], "",  # type: ignore[index]
                     _pct(total["hit_ratio"])])  # type: ignore[index]
        columns = ["family", "hits", "misses", "keys", "hit ratio"]
        if output is OutputFormat.markdown:
            lines = ["| " + " | ".join(columns) + " |", "|---|---:|---:|---:|---:|"]
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
            console.print_text("\n".join(lines))
        else:
            console.table(f"cache lookups in {source} ({data['lines']} lines)", columns, rows,
                          justify=["left", "right", "right", "right", "right"])
    if not stats.families:
        console.warning("no `Cache HIT:`/`Cache MISS:` lines found: is the cache enabled and "
                        "logging at INFO level?")


def _pct(ratio: object) -> str:
    return "-" if ratio is None else f"{float(ratio) * 100:.1f}%"  # type: ignore[arg-type]
