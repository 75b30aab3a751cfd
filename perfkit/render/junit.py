"""JUnit XML of a gate result: one testcase per check, as Jenkins, GitLab and GitHub read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from perfkit.gate import Check, GateResult, Status


def _failing(check: Check, strict: bool) -> bool:
    return check.status is Status.FAIL or (strict and check.status is Status.INCONCLUSIVE)


def gate_junit(result: GateResult, *, strict: bool = False, suite: str = "perfkit gate") -> str:
    """Fails and errors are <failure>/<error>; inconclusive is <skipped> (a <failure> if strict)."""
    failures = sum(1 for c in result.checks if _failing(c, strict))
    errors = sum(1 for c in result.checks if c.status is Status.ERROR)
    skipped = 0 if strict else len(result.inconclusive)
    root = ET.Element("testsuites", name=suite, tests=str(len(result.checks)),
                      failures=str(failures), errors=str(errors))
    suite_el = ET.SubElement(root, "testsuite", name=suite, tests=str(len(result.checks)),
                             failures=str(failures), errors=str(errors), skipped=str(skipped))
    for check in result.checks:
        case = ET.SubElement(suite_el, "testcase", classname=check.route, name=check.check)
        if _failing(check, strict):
            ET.SubElement(case, "failure", message=check.detail,
                          type=check.status.value).text = (
                f"limit {check.limit}; value {check.value}; {check.detail}")
        elif check.status is Status.ERROR:
            ET.SubElement(case, "error", message=check.detail, type="no-data").text = check.detail
        elif check.status is Status.INCONCLUSIVE:
            ET.SubElement(case, "skipped").text = check.detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
