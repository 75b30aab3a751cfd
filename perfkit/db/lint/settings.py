"""What a lint run is told: its options, and the `lint:` section of perfkit.yaml (findings
suppressed per object, each with its reason; the row count above which a table needs a
primary key).

    lint:
      pk_min_rows: 10000
      ignore:
        - {rule: unused_index, index: idx_orders_legacy, reason: "read by the yearly report"}

A suppression that names an unknown rule or key is refused (exit 2): a typo must not
silence nothing while looking like it silences something.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perfkit.db.lint.model import FAIL_ON, RULES, Finding, Severity
from perfkit.errors import UsageError

#: A table larger than this (estimated rows) without a primary key is a finding.
DEFAULT_PK_MIN_ROWS = 10_000
#: Seven days of statistics before an index is called unused (a weekly job scans it).
DEFAULT_MIN_AGE_S = 7 * 86400.0
_OBJECT_KEYS = ("index", "constraint", "policy", "table")
_SECTION_KEYS = ("ignore", "pk_min_rows")


@dataclass(frozen=True)
class Ignore:
    """One suppression: a rule, optionally one object (by name, schema-qualified or not)."""

    rule: str
    key: str | None
    name: str | None
    reason: str | None

    def matches(self, finding: Finding) -> bool:
        if finding.rule != self.rule:
            return False
        if self.key is None or self.name is None:
            return True
        if self.key == "table" and RULES[self.rule][1] != "table":
            target = finding.table
        else:
            target = finding.object
        return self.name in (target, target.rsplit(".", 1)[-1]) or (
            "." not in self.name and target.rsplit(".", 1)[-1] == self.name)


@dataclass(frozen=True)
class LintOptions:
    schemas: tuple[str, ...] = ()  # empty: every schema but the system's and managed ones
    min_age_s: float = DEFAULT_MIN_AGE_S
    pk_min_rows: int = DEFAULT_PK_MIN_ROWS
    ignore: tuple[Ignore, ...] = field(default_factory=tuple)
    fail_on: Severity = Severity.WARN

    def suppression(self, finding: Finding) -> Ignore | None:
        return next((i for i in self.ignore if i.matches(finding)), None)


def fail_level(text: str) -> Severity:
    if text not in FAIL_ON:
        raise UsageError(f"--fail-on {text!r}: not a level", hint="warn or error")
    return FAIL_ON[text]


def _ignore(entry: Any, where: str) -> Ignore:
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a mapping like {{rule: unused_index, index: "
                         "NAME, reason: WHY}}")
    unknown = sorted(set(entry) - {"rule", "reason", *_OBJECT_KEYS})
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}",
                         hint=f"keys: rule, {', '.join(_OBJECT_KEYS)}, reason")
    rule = str(entry.get("rule") or "")
    if rule not in RULES:
        raise UsageError(f"{where}: unknown rule {rule!r}" if rule else f"{where}: no rule",
                         hint=f"rules: {', '.join(RULES)}")
    named = [k for k in _OBJECT_KEYS if entry.get(k) is not None]
    if len(named) > 1:
        raise UsageError(f"{where}: names {' and '.join(named)}: give one object")
    key = named[0] if named else None
    kind = RULES[rule][1]
    if key is not None and key not in (kind, "table"):
        article = "an" if kind == "index" else "a"
        raise UsageError(f"{where}: rule {rule} names {article} {kind}, not a {key}",
                         hint=f"write {kind}: NAME (or table: NAME for every one of a table)")
    reason = entry.get("reason")
    return Ignore(rule, key, None if key is None else str(entry[key]),
                  None if reason is None else str(reason))


def from_config(config: dict[str, Any], where: str = "perfkit.yaml") -> tuple[
        tuple[Ignore, ...], int]:
    """(suppressions, pk_min_rows) from the `lint:` section; UsageError naming the entry."""
    section = config.get("lint") or {}
    if not isinstance(section, dict):
        raise UsageError(f"{where}: lint: expected a mapping (ignore:, pk_min_rows:)")
    unknown = sorted(set(section) - set(_SECTION_KEYS))
    if unknown:
        raise UsageError(f"{where}: lint: unknown key {unknown[0]!r}",
                         hint=f"keys: {', '.join(_SECTION_KEYS)}")
    entries = section.get("ignore") or []
    if not isinstance(entries, list):
        raise UsageError(f"{where}: lint.ignore: expected a list of {{rule, index, reason}}")
    ignore = tuple(_ignore(e, f"{where}: lint.ignore[{i}]") for i, e in enumerate(entries))
    rows = section.get("pk_min_rows", DEFAULT_PK_MIN_ROWS)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise UsageError(f"{where}: lint.pk_min_rows: expected a row count (0 or more), "
                         f"not {rows!r}")
    return ignore, rows
