"""Writable output paths are checked before any work; unreadable records fail in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.errors import UsageError
from perfkit.jsonfile import check_writable, read_json_object


def test_a_path_under_a_file_or_a_folder_is_refused_before_the_work(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(UsageError, match="cannot write -o"):
        check_writable(afile / "page.html", "-o")
    with pytest.raises(UsageError, match="it is a directory"):
        check_writable(tmp_path, "-o")
    check_writable(tmp_path / "new" / "run.json", "--out")  # folders are created
    assert (tmp_path / "new").is_dir() and not (tmp_path / "new" / "run.json.tmp").exists()


def test_records_that_are_not_json_objects(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a perfkit record"):
        read_json_object(bad)
