"""Markdown of a gate result, for PR comments and $GITHUB_STEP_SUMMARY."""

from __future__ import annotations

from perfkit.gate import GateResult

_ICON = {"pass": "✅ pass", "fail": "❌ fail", "error": "❌ error",
         "inconclusive": "⚠️ inconclusive"}


def gate_markdown(result: GateResult) -> str:
    head = "passed" if result.passed else f"FAILED ({len(result.failed)} of {len(result.checks)})"
    lines = [f"### perfkit gate: {head}", "",
             "| route | check | limit | value | result | why |", "|---|---|---|---:|---|---|"]
    for c in result.checks:
        value = "-" if c.value is None else f"{c.value:g}"
        lines.append(f"| `{c.route}` | {c.check} | `{c.limit}` | {value} | {_ICON[c.status]} | "
                     f"{c.detail.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
