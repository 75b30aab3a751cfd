"""A wheel of this tree in a fresh venv, as a user installs it (tests import from here)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOT_COPIED = shutil.ignore_patterns(".venv", ".git", "*.whl", "build", "dist", "*.egg-info",
                                    "__pycache__", ".*_cache", "benchmarks", "tests")
BUILD_TIMEOUT_S = 240
#: What a user's shell would not have: this session's venv, and any target of perfkit's.
SCRUBBED = ("PYTHONPATH", "VIRTUAL_ENV", "PERFKIT_", "DATABASE_URL", "PROMETHEUS_")


def build_dist(out: Path, work: Path) -> Path:
    """`python -m build` (sdist, then the wheel from the sdist) of a copy of the source tree."""
    source = work / "perfkit"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_COPIED)
    # the build backend's release is constraints.txt's, as for the suite's own venv
    env = {**os.environ, "PIP_CONSTRAINT": str(REPO / "constraints.txt")}
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
                          env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


def fresh_venv(root: Path, wheel: Path) -> Path:
    """A venv with only the wheel installed (no deps); the deps come from this venv's
    site-packages through a .pth line, which does not run this venv's editable finder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                   timeout=60)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=120)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], capture_output=True,
                             text=True, check=True).stdout.strip()
    Path(purelib, "perfkit_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root / "bin"


def run_perfkit(bin_dir: Path, cwd: Path, *args: str,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `perfkit` in `cwd`; with `env`, a shell that has only those of perfkit's
    variables (no PERFKIT_*, DATABASE_URL or PROMETHEUS_* of this session)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV"))}
    if env is not None:
        base = {**{k: v for k, v in base.items() if not k.startswith(SCRUBBED)}, **env}
    return subprocess.run([str(bin_dir / "perfkit"), *args], cwd=cwd, env=base,
                          capture_output=True, text=True, timeout=120, check=False)


