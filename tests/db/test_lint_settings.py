"""perfkit.yaml's `lint:` section and suppression matching, without a database."""

from __future__ import annotations

import pytest

from perfkit.db.lint.model import Finding
from perfkit.db.lint.settings import DEFAULT_PK_MIN_ROWS, LintOptions, from_config
from perfkit.errors import UsageError


def finding(rule: str, obj: str, table: str = "public.orders") -> Finding:
    return Finding(rule, obj, table, {}, "")


def test_an_index_matches_by_name_or_qualified_name_and_a_table_entry_covers_its_findings(
        ) -> None:
    ignore, rows = from_config({"lint": {"ignore": [
        {"rule": "unused_index", "index": "idx_a", "reason": "yearly report"},
        {"rule": "redundant_index", "index": "shop.idx_b"},
        {"rule": "rls_per_row_call", "table": "notes"}]}})
    assert rows == DEFAULT_PK_MIN_ROWS
    options = LintOptions(ignore=ignore)
    matched = options.suppression(finding("unused_index", "public.idx_a"))
    assert matched is not None and matched.reason == "yearly report"
    assert options.suppression(finding("unused_index", "public.idx_b")) is None
    assert options.suppression(finding("redundant_index", "shop.idx_b")) is not None
    assert options.suppression(finding("redundant_index", "public.idx_b")) is None
    assert options.suppression(finding("rls_per_row_call", "public.notes.own", "public.notes"))
    other = finding("rls_per_row_call", "public.posts.p", "public.posts")
    assert options.suppression(other) is None


@pytest.mark.parametrize(("section", "message"), [
    ({"ignore": [{"rule": "nope"}]}, "lint.ignore[0]: unknown rule 'nope'"),
    ({"ignore": [{"index": "x"}]}, "lint.ignore[0]: no rule"),
    ({"ignore": [{"rule": "unused_index", "indx": "x"}]}, "lint.ignore[0]: unknown key 'indx'"),
    ({"ignore": [{"rule": "unused_index", "index": "a", "table": "b"}]},
     "names index and table: give one object"),
    ({"ignore": {"rule": "unused_index"}}, "lint.ignore: expected a list"),
    ({"pk_min_rows": -1}, "lint.pk_min_rows: expected a row count"),
    ({"fail_on": "warn"}, "lint: unknown key 'fail_on'"),
    ("everything", "lint: expected a mapping"),
])
def test_a_wrong_entry_is_named(section: object, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        from_config({"lint": section})
    assert caught.value.message.startswith("perfkit.yaml: ") and message in caught.value.message
