"""`perfkit events`: the change events that split this target's report and doctor windows.

Imports of the core sit inside the commands (start-up: `perfkit events --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from typing import Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat


def events(
    every_target: Annotated[bool, typer.Option(
        "--all", help="Every event of the journal, whatever its target.")] = False,
    since: Annotated[str | None, typer.Option(
        help="Only events of the last SINCE, e.g. 2h or 7d.")] = None,
    base_url: Annotated[str | None, typer.Option(help="The backend (default: configured).")]
    = None,
    dsn: Annotated[str | None, typer.Option(help="The database (default: configured).")]
    = None,
    prometheus: Annotated[str | None, typer.Option(
        "--prometheus", help="The Prometheus (default: configured).")] = None,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """The change events of the current target: marks, index builds, demo restarts.

    These are the events `perfkit report` and `perfkit doctor` split their windows on. Each
    event is kept with its target (backend, database, Prometheus; no credentials); an event
    of another target is left out (see them all with --all), one recorded without a target
    counts for every target.

    Example: `perfkit events --since 1d --format json`
    """
    from datetime import UTC, datetime, timedelta

    from perfkit.durations import parse_duration_s
    from perfkit.events import SCHEMA, list_events
    from perfkit.render.events import events_document

    target = console.settings(base_url=base_url, dsn=dsn, prometheus_url=prometheus).target
    after = None
    if since is not None:
        after = datetime.now(UTC) - timedelta(seconds=parse_duration_s(
            since, flag="--since", minimum_s=1))
    chosen = list_events(since=after, target=None if every_target else target)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json({"schema": SCHEMA, "target": target.to_json(),
                            "all_targets": every_target,
                            "events": [e.to_json() for e in chosen]})
        return
    console.show(events_document(chosen, None if every_target else target),
                 console.fmt(output_format))
