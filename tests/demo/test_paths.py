"""The demo stack's folder and state file have one definition (perfkit.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit import config
from perfkit.demo import stack


def test_the_state_file_has_one_definition(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path))
    paths = stack.StackPaths.default()
    assert paths.root == config.demo_dir() == tmp_path / "demo"
    assert paths.state_file == config.demo_state_file()
