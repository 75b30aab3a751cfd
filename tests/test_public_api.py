"""The curated public API: every name in __all__ resolves, and importing perfkit stays light."""

from __future__ import annotations

import subprocess
import sys

import perfkit


def test_every_public_name_resolves() -> None:
    for name in perfkit.__all__:
        assert getattr(perfkit, name) is not None, name


def test_import_perfkit_and_the_cli_load_nothing_heavy() -> None:
    code = ("import sys, perfkit, perfkit.cli; "
            "print(sorted(m for m in ('aiohttp', 'hdrh', 'psycopg', 'pglast', 'requests', "
            "'prometheus_api_client', 'yaml', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
