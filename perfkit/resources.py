"""Files shipped inside the package: the runbook's index migration and the scenarios.

They live in the repository's top-level `indexes/` and `scenarios/` (the sources); the
package reaches them through `perfkit/shipped/` (links in a clone, real files in a wheel or
an sdist), found with importlib.resources so an installed perfkit needs no clone.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SHIPPED_FOLDER = "shipped"


def shipped_path(*parts: str) -> Path:
    """A file or folder shipped with perfkit, e.g. shipped_path("scenarios", "runbook.yaml")."""
    return Path(str(files("perfkit").joinpath(SHIPPED_FOLDER, *parts)))
