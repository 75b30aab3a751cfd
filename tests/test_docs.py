"""The documentation as a product: the site builds with `mkdocs build --strict` (every page in
the nav, every link and anchor resolving), README.md stays a landing page that puts the user's
own backend first, and nothing shipped says "seed"."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_the_site_builds_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    for page in ("index.html", "getting-started/your-backend/index.html",
                 "reference/cli/index.html", "schemas/run.schema.json"):
        assert (tmp_path / "site" / page).is_file(), page


def test_the_readme_is_a_landing_page_with_your_backend_first() -> None:
    text = README.read_text()
    lines = text.splitlines()
    assert len(lines) <= 250
    assert "./scripts/demo" in "\n".join(lines[:25]) and "./scripts/test" in "\n".join(lines[:25])
    yours, demo = text.index("## On your backend"), text.index("## Try it on the demo")
    assert yours < demo
    commands = [line[2:] for line in lines if line.startswith("$ ")]
    first_demo = next(i for i, c in enumerate(commands) if "perfkit demo" in c)
    assert first_demo > 0 and all("demo" not in c for c in commands[:first_demo])
    assert "docs/" in text[demo:]  # the map of the docs comes after the demo


def test_nothing_shipped_or_user_facing_says_seed() -> None:
    """The runbook the demo comes from is the demo's story; "seed" was this project's
    internal word for it. (--seed, the schedule's random seed, is another word.)"""
    files = [README, ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", ROOT / "scripts" / "demo",
             *ROOT.glob("scenarios/*.yaml"), *ROOT.glob("indexes/*.sql"),
             *ROOT.glob("docs/**/*.md")]
    said = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in files
            for line in path.read_text().splitlines()
            if re.search(r"\bseed\b", line, re.I) and "--seed" not in line]
    assert said == []
