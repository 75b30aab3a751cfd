"""The root CLI: usage errors are exit 2 with a message, never an 'internal error'."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from perfkit import __version__
from tests.support import CliResult

Cli = Callable[..., CliResult]


@pytest.mark.parametrize("args", [["gate"], ["bench", "--nope"], ["demo", "up", "--scale", "-1"],
                                  ["report", "--since"], ["no-such-command"]])
def test_usage_errors_exit_2_with_a_message(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()  # one line, the help to read
    assert line.startswith("error: ") and "--help`)" in line
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_version_and_help_list_every_command(cli: Cli) -> None:
    assert cli("--version").stdout.strip() == f"perfkit {__version__}"
    help_text = cli("--help").stdout
    for command in ("apply-indexes", "verify-indexes", "bench", "compare", "merge", "report",
                    "mark", "gate", "doctor", "cache-stats", "demo"):
        assert f"  {command} " in help_text
