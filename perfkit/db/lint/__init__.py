"""`perfkit lint`: the schema's performance faults, each with the database's own evidence and
its fix. model.py is the record; inventory.py reads the catalog; indexes.py, foreign_keys.py,
policies.py and tables.py are the rules; fix.py writes the migrations; linter.py runs them.
"""

from __future__ import annotations

from perfkit.db.lint.linter import lint
from perfkit.db.lint.model import RULES, SCHEMA, Finding, LintReport, Severity
from perfkit.db.lint.settings import LintOptions

__all__ = ["RULES", "SCHEMA", "Finding", "LintOptions", "LintReport", "Severity", "lint"]
