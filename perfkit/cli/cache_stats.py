"""`perfkit cache-stats`: a cache's hit ratio, from backend logs or from Redis's counters.

Imports of the core sit inside the commands (start-up: `perfkit cache-stats --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.cachestats.logs import CacheStats, LinePattern
    from perfkit.cachestats.redis import RedisWindow

DEFAULT_WINDOW = "30s"
DEFAULT_MARK_WAIT = "1h"


def cache_stats(
    source: Annotated[str | None, typer.Argument(
        help="Log file, - for stdin, or redis://[:PASSWORD@]HOST:PORT[/DB]. Default: the "
             "backend log (PERFKIT_BACKEND_LOG, perfkit.yaml, the demo's).")] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Count only lines appended from now on (bounded by --for).")]
    = False,
    watch_for: Annotated[str | None, typer.Option(
        "--for", help="With --follow or Redis: how long to watch (default 30s); with "
                      "--until-mark: the longest wait (default 1h).")] = None,
    until_mark: Annotated[bool, typer.Option(
        "--until-mark", help="Redis: end the window at the next `perfkit mark` (or other "
                             "change event) of this target, not after --for.")] = False,
    pattern: Annotated[str | None, typer.Option(
        "--pattern", help="Regex of a cache line with the groups (?P<result>...) and "
                          "(?P<key>...), e.g. 'cache (?P<result>hit|miss) (?P<key>\\S+)'.")]
    = None,
    preset: Annotated[str | None, typer.Option(
        "--preset", help="A named pattern from `cache: presets:` in perfkit.yaml.")] = None,
    hit: Annotated[list[str] | None, typer.Option(
        "--hit", help="A word of `result` that means a hit (repeatable; default: hit).")]
    = None,
    miss: Annotated[list[str] | None, typer.Option(
        "--miss", help="A word of `result` that means a miss (repeatable; default: miss).")]
    = None,
    json_result: Annotated[str | None, typer.Option(
        "--json-result", help="JSON lines: the field holding hit/miss (or true/false), "
                              "e.g. cache or cache.status.")] = None,
    json_key: Annotated[str | None, typer.Option(
        "--json-key", help="JSON lines: the field holding the cache key.")] = None,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """Cache hit ratio: per key family from log lines, or of a Redis over a window.

    Logs: the runbook's `Cache HIT/MISS: key` lines by default, any other with --pattern or
    a preset; docker-compose prefixes, timestamps and JSON lines are understood. Families
    are the key prefixes (auth_user of auth_user:42).

    Redis: INFO's keyspace_hits/misses, evicted and expired keys, read at the start and the
    end of the window (--for 30s, or --until-mark).

    Example: `docker compose logs backend | perfkit cache-stats -`, or
    `perfkit cache-stats redis://127.0.0.1:6379/0 --for 60s`
    """
    from perfkit.cachestats.redis import is_redis_url

    output = console.fmt(output_format)
    if source is not None and is_redis_url(source):
        _show_redis(_redis_window(source, watch_for, until_mark), output)
        return
    from perfkit.cachestats.logs import choose_pattern, with_flags

    settings = console.settings()
    line_pattern = with_flags(
        choose_pattern(settings.config, str(settings.config_path or "perfkit.yaml"),
                       preset=preset),
        regex=pattern, hit=hit, miss=miss, json_result=json_result, json_key=json_key)
    source = source or _default_log(settings.backend_log)
    _show_log(_log_stats(source, follow, watch_for, line_pattern), source, output)


def _default_log(backend_log: Path | None) -> str:
    from perfkit.errors import UsageError

    if backend_log is None:
        raise UsageError("no log source given, no backend log configured and no demo stack "
                         "is up", hint="pass a log file, - to read stdin, or a redis:// URL")
    return str(backend_log)


def _log_stats(source: str, follow: bool, watch_for: str | None,
               pattern: LinePattern) -> CacheStats:
    from perfkit.cachestats.logs import count_cache_lines, follow_lines, read_lines
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError

    for_s = parse_duration_s(watch_for or DEFAULT_WINDOW, flag="--for", minimum_s=0.1,
                             maximum_s=86400)
    if source == "-":
        if follow:
            raise UsageError("--follow needs a file, not stdin",
                             hint="pipe `docker compose logs -f` into `cache-stats -` instead")
        return count_cache_lines(sys.stdin, pattern)
    path = Path(source)
    if path.is_dir():
        raise UsageError(f"{source} is a folder, not a log file", hint="pass the log file")
    if not path.is_file():
        raise UsageError(f"log file {source} does not exist", hint="check the path")
    if not follow:
        return count_cache_lines(read_lines(path), pattern)
    console.note(f"watching {source} for {for_s:g} s")
    with path.open(encoding="utf-8", errors="replace") as stream:
        return count_cache_lines(follow_lines(stream, for_s), pattern)


def _show_log(stats: CacheStats, source: str, output: OutputFormat) -> None:
    from perfkit.render.cache import log_document

    if output is OutputFormat.json:
        console.print_json(stats.to_json())
    else:
        console.show(log_document(stats, source), output)
    for word, count in stats.unknown_results.most_common(3):
        console.warning(f"{count} line(s) matched with the result {word!r}, neither a hit nor "
                        "a miss word: add it with --hit or --miss")
    if not stats.families:
        console.warning(f"no {stats.pattern.describes} found: is the cache enabled and "
                        "logging, and does the pattern match its lines?")


def _redis_window(url: str, watch_for: str | None, until_mark: bool) -> RedisWindow:
    """Read INFO, wait --for (or until the next change event of this target), read again."""
    import time

    from perfkit.cachestats.redis import read_counters, redis_window
    from perfkit.durations import parse_duration_s
    from perfkit.events import wait_for_event
    from perfkit.redact import redact_url

    wait = watch_for or (DEFAULT_MARK_WAIT if until_mark else DEFAULT_WINDOW)
    for_s = parse_duration_s(wait, flag="--for", minimum_s=0.1, maximum_s=7 * 86400)
    target = console.settings().target if until_mark else None
    start = read_counters(url)
    ended_by = "time"
    if until_mark:
        console.note(f"window started on Redis {redact_url(url)}: it ends at the next "
                     f"`perfkit mark` for {target.describe() if target else 'this target'} "
                     f"(at most {for_s:g} s)")
        event = wait_for_event(start.at, for_s, target=target)
        if event is None:
            console.warning(f"no change event within {for_s:g} s: the window ends now")
        else:
            ended_by = f"event {event.id}"
    else:
        with console.status(f"window started on Redis {redact_url(url)}: it ends in "
                            f"{for_s:g} s"):
            time.sleep(for_s)
    return redis_window(url, start, read_counters(url), ended_by)


def _show_redis(window: RedisWindow, output: OutputFormat) -> None:
    from perfkit.render.cache import redis_document

    if output is OutputFormat.json:
        console.print_json(window.to_json())
    else:
        console.show(redis_document(window), output)
    if not window.total.lookups:
        console.warning("no key lookups in the window: was there traffic, and does the "
                        "backend use this Redis?")
