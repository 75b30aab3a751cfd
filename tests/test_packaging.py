"""perfkit installs anywhere: the sdist and the wheel carry the shipped index migration and
scenarios, and a wheel installed into a fresh venv runs the tour from an empty folder."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import CliResult, DemoStack
from tests.support.packaging import REPO, fresh_venv, run_perfkit

SHIPPED = {"perfkit/shipped/indexes/010_performance_indexes.sql",
           *(f"perfkit/shipped/scenarios/{p.name}" for p in (REPO / "scenarios").glob("*.yaml"))}


def test_sdist_and_wheel_carry_the_shipped_files(dist: Path) -> None:
    (wheel,) = dist.glob("perfkit-*.whl")
    (sdist,) = dist.glob("perfkit-*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert len(SHIPPED) >= 6
    assert SHIPPED.issubset(in_wheel) and SHIPPED.issubset(in_sdist)
    assert "perfkit/py.typed" in in_wheel
    assert not any(name.startswith(("tests/", "indexes/", "scenarios/")) for name in in_wheel)


def test_the_wheel_in_a_fresh_venv_runs_the_tour_from_an_empty_folder(
        dist: Path, demo_stack: DemoStack, tmp_path: Path) -> None:
    (wheel,) = dist.glob("perfkit-*.whl")
    bin_dir = fresh_venv(tmp_path / "venv", wheel)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run([str(bin_dir / "python"), "-c", "import perfkit; "
                            "print(perfkit.__file__)"], cwd=empty, capture_output=True,
                           text=True, check=True).stdout
    assert where.startswith(str(tmp_path / "venv")), where
    bench = run_perfkit(bin_dir, empty, "bench", "runbook", "-n", "20", "--format", "json")
    assert bench.returncode == 0, bench.stderr
    run = json.loads(bench.stdout)
    assert sum(r["count"] for r in run["routes"] if r["phase"] == "all") >= 20
    assert not any(r["errors"] for r in run["routes"])
    dry = run_perfkit(bin_dir, empty, "apply-indexes", "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    assert "idx_messages_conversation_timestamp" in dry.stdout
    assert list(empty.iterdir()) == []  # nothing written to the working folder


def test_demo_up_without_the_demo_extra_says_how_to_install_it(
        cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules is how Python marks a module that cannot be imported
    monkeypatch.setitem(sys.modules, "fastapi", None)
    result = cli("demo", "up")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "fastapi" in lines[0]
    assert "pip install 'perfkit[demo]'" in lines[0]
