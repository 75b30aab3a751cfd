"""`lint()`: every rule over the schemas of one database, read-only through any connection.

The catalog is read in one READ ONLY transaction; each proof (HypoPG costs, EXPLAINs as a
policy's role) runs in a transaction of its own that keeps nothing (db/advisor/hypothetical.py,
db/lint/policies.py): no session setting, no prepared statement and no hypothetical index
outlives it, so a transaction pooler's server connections go back as perfkit found them.
Findings perfkit.yaml suppresses move to `suppressed`, with their reason.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from perfkit.config import database_identity
from perfkit.db.advisor.hypothetical import Planner, hypopg_schema
from perfkit.db.connect import failed, read_only
from perfkit.db.lint.foreign_keys import foreign_key_findings, taken_names
from perfkit.db.lint.indexes import index_findings
from perfkit.db.lint.inventory import choose_schemas, read_inventory
from perfkit.db.lint.model import RULES, Finding, LintReport
from perfkit.db.lint.policies import policy_findings
from perfkit.db.lint.settings import LintOptions
from perfkit.db.lint.tables import table_findings
from perfkit.db.retry import once

Say = Callable[[str], None]
_ORDER = {rule: n for n, rule in enumerate(RULES)}


def lint(dsn: str | None, options: LintOptions | None = None, *,
         say: Say | None = None, on_retry: Say | None = None) -> LintReport:
    """The schema's findings; nothing in the database changes. Read-only, so a lost
    connection is retried once on a new one (`on_retry` tells the user; db/retry.py)."""
    options = options or LintOptions()
    tell: Say = say or (lambda _msg: None)

    def step(conn: psycopg.Connection[tuple[object, ...]]) -> LintReport:
        with read_only(conn):
            schemas = choose_schemas(conn, options.schemas)
        report = LintReport(database_identity(dsn) or conn.info.dbname, list(schemas),
                            min_age_s=options.min_age_s)
        try:
            _run_rules(conn, report, options, tell)
        except psycopg.Error as exc:
            raise failed(exc, "linting the schema") from None
        return report

    return once(dsn, step, doing="linting the schema", say=on_retry,
                application_name="perfkit-lint")


def _run_rules(conn: psycopg.Connection[tuple[object, ...]], report: LintReport,
               options: LintOptions, tell: Say) -> None:
    with read_only(conn):
        inventory = read_inventory(conn, tuple(report.schemas))
    report.stats_age = inventory.stats_age
    tell(f"linting {len(inventory.tables)} table(s), {len(inventory.indexes)} index(es), "
         f"{len(inventory.policies)} policy(ies) in {', '.join(report.schemas) or 'no schema'}")
    found, dropped = index_findings(inventory, report, options.min_age_s)
    planner = Planner(conn, hypopg_schema(conn))
    report.hypopg = planner.hypopg is not None
    found += foreign_key_findings(conn, inventory, dropped, planner, taken_names(inventory))
    found += policy_findings(conn, inventory)
    with read_only(conn):
        found += table_findings(conn, inventory, options.pk_min_rows)
    _sort_and_suppress(report, found, options)


def _sort_and_suppress(report: LintReport, found: list[Finding], options: LintOptions) -> None:
    found.sort(key=lambda f: (_ORDER[f.rule], f.object))
    for finding in found:
        ignore = options.suppression(finding)
        if ignore is None:
            report.findings.append(finding)
        else:
            report.suppressed.append((finding, ignore.reason))
