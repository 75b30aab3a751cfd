"""constraints.txt (scripts/refresh-constraints) pins every dependency the suite installs, each
within the range pyproject.toml keeps open for users: a dependency added without refreshing
the file, or a range the pin no longer meets, fails here rather than on a fresh machine."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version.strip(), f"constraints.txt: {line!r} is not NAME==VERSION"
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_every_dependency_is_pinned_within_its_range() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    wanted = [Requirement(r) for r in (*project["dependencies"],
                                       *pyproject["build-system"]["requires"],
                                       *(r for extra in project["optional-dependencies"].values()
                                         for r in extra))]
    pins = _pins()
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        if name == "perfkit":  # the package's own extras
            continue
        assert name in pins, f"{requirement.name} is not in constraints.txt: run " \
                             "scripts/refresh-constraints"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement}")


def test_bootstrap_installs_from_the_constraints_and_reinstalls_when_they_change() -> None:
    bootstrap = (ROOT / "scripts" / "bootstrap").read_text()
    assert "-c constraints.txt" in bootstrap
    assert "cat pyproject.toml constraints.txt | sha256sum" in bootstrap
