"""Markdown for a bench Run and for a compare result (PR comments, CI summaries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from perfkit.bench.record import Run
from perfkit.render import (
    COMPARE_JUSTIFY,
    RUN_JUSTIFY,
    compare_notes,
    compare_table,
    run_notes,
    run_table,
    speedup_line,
)


def table(columns: Sequence[str], rows: Sequence[Sequence[str]],
          justify: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table; `|` inside cells is escaped."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    aligns = [("---:" if j == "right" else "---") for j in (justify or ["left"] * len(columns))]
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_run(run: Run) -> str:
    columns, rows = run_table(run)
    parts = [f"### perfkit bench: {run.settings.get('scenario', '')} on {run.base_url}", "",
             table(columns, rows, RUN_JUSTIFY), ""]
    parts += [f"- {speedup_line(sp)}" for sp in run.speedups()]
    parts += [f"- {note}" for note in run_notes(run)]
    return "\n".join(parts).rstrip() + "\n"


def render_compare(result: dict[str, Any]) -> str:
    columns, rows = compare_table(result)
    parts = ["### perfkit compare", "", table(columns, rows, COMPARE_JUSTIFY), ""]
    parts += [f"- {note}" for note in compare_notes(result)]
    return "\n".join(parts).rstrip() + "\n"
