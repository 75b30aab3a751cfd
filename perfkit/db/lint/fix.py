"""The findings' fixes as files: index DDL as one migration `perfkit apply-indexes` accepts
(CREATE and DROP INDEX CONCURRENTLY, comments), and policy rewrites apart (ALTER POLICY is
not index DDL: a regular migration runs it).

What a human must decide (an unused index, a primary key to add, policies to merge) is
written commented out, under the finding it comes from.
"""

from __future__ import annotations

from pathlib import Path

from perfkit.db.lint.model import LintReport

POLICIES_SUFFIX = ".policies"


def policies_path(out: Path) -> Path:
    """fix.sql -> fix.policies.sql, beside it."""
    return out.with_name(out.stem + POLICIES_SUFFIX + (out.suffix or ".sql"))


def _blocks(report: LintReport, kind: str) -> list[str]:
    lines: list[str] = []
    number = 0
    for finding in report.findings:
        if finding.fix_kind != kind or not finding.fix_sql:
            continue
        number += 1
        lines += ["", f"-- {number}. {finding.rule} ({finding.severity.label}): "
                      f"{finding.object}", *finding.fix_sql.splitlines()]
    return lines


def _live(lines: list[str]) -> bool:
    return any(line.strip() and not line.lstrip().startswith("--") for line in lines)


def index_migration(report: LintReport, *, written_at: str) -> str | None:
    """fix.sql, or None when no finding has an index fix."""
    blocks = _blocks(report, "indexes")
    if not blocks:
        return None
    head = [f"-- Fixes of `perfkit lint` on {report.database}, {written_at}.",
            "-- `perfkit apply-indexes FILE` runs them: each index built or dropped "
            "CONCURRENTLY (no",
            "-- write blocked), under a short lock_timeout, then ANALYZE and a check. "
            "Commented",
            "-- lines are for a human to decide: uncomment what you agree with."]
    if not _live(blocks):
        head.append("-- (nothing here runs as written: apply-indexes needs one uncommented "
                    "statement)")
    return "\n".join(head + blocks) + "\n"


def policy_migration(report: LintReport, *, written_at: str) -> str | None:
    """fix.policies.sql, or None when no finding has a policy fix."""
    blocks = _blocks(report, "policies")
    if not blocks:
        return None
    head = [f"-- Row level security fixes of `perfkit lint` on {report.database}, "
            f"{written_at}.",
            "-- Not index DDL: run it as a regular migration (psql -f FILE). ALTER POLICY "
            "takes a",
            "-- brief ACCESS EXCLUSIVE lock on its table. A STABLE function gives one answer "
            "per",
            "-- statement anyway: wrapped in (select ...), it runs once instead of once per "
            "row."]
    return "\n".join(head + blocks) + "\n"
