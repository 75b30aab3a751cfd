"""The lint record (`perfkit.lint/1`): findings, each with its evidence and its fix, the ones
perfkit.yaml suppressed (with the reason), and what the rules could not decide.

The rules (db/lint/indexes.py, foreign_keys.py, policies.py, tables.py) fill it; the
migration writer (db/lint/fix.py) and the renderer (render/lint.py) read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

SCHEMA = "perfkit.lint/1"


class Severity(IntEnum):
    """How sure and how costly: `error` is proven waste or breakage, `warn` a cost that needs
    a look, `info` a candidate a human decides on (never fails the command)."""

    INFO = 1
    WARN = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()


#: Every rule, its severity, and the kind of object it names (the key `ignore:` matches on).
RULES: dict[str, tuple[Severity, str]] = {
    "invalid_index": (Severity.ERROR, "index"),
    "duplicate_index": (Severity.ERROR, "index"),
    "unindexed_foreign_key": (Severity.WARN, "constraint"),
    "redundant_index": (Severity.WARN, "index"),
    "rls_per_row_call": (Severity.WARN, "policy"),
    "multiple_permissive_policies": (Severity.WARN, "table"),
    "table_without_primary_key": (Severity.WARN, "table"),
    "unused_index": (Severity.INFO, "index"),
}
#: --fail-on takes these.
FAIL_ON = {"warn": Severity.WARN, "error": Severity.ERROR}


@dataclass
class Finding:
    """One fault of the schema: `object` names it (schema-qualified), `table` is the table it
    belongs to, `evidence` what the database showed, `fix_sql` the SQL that repairs it
    (comment lines where a human decides)."""

    rule: str
    object: str
    table: str
    evidence: dict[str, Any]
    fix_sql: str
    #: where the fix goes: "indexes" (fix.sql, for apply-indexes) or "policies"
    fix_kind: str = "indexes"

    @property
    def severity(self) -> Severity:
        return RULES[self.rule][0]

    @property
    def name(self) -> str:
        """The object's own name, unqualified (what `ignore:` entries usually give)."""
        return self.object.rsplit(".", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity.label, "object": self.object,
                "kind": RULES[self.rule][1], "table": self.table, "evidence": self.evidence,
                "fix_sql": self.fix_sql}


@dataclass(frozen=True)
class StatsAge:
    """How long the activity statistics (idx_scan) have been counting: since their last reset,
    or at least since the server started when they were never reset."""

    seconds: float
    since: str  # ISO time
    at_least: bool  # never reset: counting since before the server's start (a lower bound)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 1), "since": self.since,
                "at_least": self.at_least}


@dataclass
class LintReport:
    database: str
    schemas: list[str]
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[tuple[Finding, str | None]] = field(default_factory=list)
    stats_age: StatsAge | None = None
    min_age_s: float = 0.0
    #: indexes never scanned that got no verdict because the statistics are too young
    unjudged_unused: list[str] = field(default_factory=list)
    hypopg: bool = False
    notes: list[str] = field(default_factory=list)

    def at_or_above(self, level: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= level]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "database": self.database, "schemas": self.schemas,
            "findings": [f.to_json() for f in self.findings],
            "suppressed": [{**f.to_json(), "reason": reason} for f, reason in self.suppressed],
            "statistics": {"age": self.stats_age.to_json() if self.stats_age else None,
                           "min_age_s": self.min_age_s,
                           "unused_without_verdict": self.unjudged_unused},
            "hypopg": self.hypopg, "notes": self.notes,
        }
