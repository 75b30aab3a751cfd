"""The files `perfkit init` writes: a commented perfkit.yaml that is valid YAML, and nothing
written over a user's file without --force."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from perfkit.db.lint.settings import from_config as lint_settings
from perfkit.errors import UsageError
from perfkit.init.openapi import read_spec
from perfkit.init.plan import plan_init
from perfkit.init.scaffold import config_text, write_project
from tests.support.openapi_docs import REFSERVER_API


def _plan(document: dict[str, object], origin: str | None = None):  # type: ignore[no-untyped-def]
    return plan_init(read_spec(document, origin), "api.json")


def test_perfkit_yaml_is_commented_and_valid() -> None:
    plan = _plan(REFSERVER_API, origin="http://127.0.0.1:9999")
    text = config_text(plan, "scenarios/items_api.yaml")
    assert yaml.safe_load(text) == {"base_url": "http://127.0.0.1:9999"}
    for section in ("# checks:", "# thresholds:", "# cache:", "# dsn:", "# prometheus_url:",
                    "# lint:"):
        assert section in text
    uncommented = "\n".join(line[2:] if line.startswith("# ") and line[2:3] in " abcdlt"
                            else line for line in text.splitlines())
    loaded = yaml.safe_load(uncommented) or {}
    assert "checks" in loaded
    ignore, _rows = lint_settings(loaded)
    assert [(i.rule, i.name, i.reason) for i in ignore] == [
        ("unused_index", "idx_orders_legacy", "read by the yearly report")]


def test_nothing_is_overwritten_without_force(tmp_path: Path) -> None:
    plan = _plan(REFSERVER_API)
    (tmp_path / "perfkit.yaml").write_text("base_url: http://mine\n")
    with pytest.raises(UsageError, match="already exists: nothing written"):
        write_project(plan, tmp_path)
    assert (tmp_path / "perfkit.yaml").read_text() == "base_url: http://mine\n"
    assert not (tmp_path / "scenarios").exists()
    written = write_project(plan, tmp_path, force=True)
    assert [p.name for p in written] == ["perfkit.yaml", "items_api.yaml"]
