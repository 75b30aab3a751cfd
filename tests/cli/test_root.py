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


@pytest.mark.integration  # seconds of real load or real processes
def test_shell_completion_script_and_completions() -> None:
    import os
    import subprocess
    import sys

    script = subprocess.run([sys.executable, "-m", "perfkit", "--show-completion", "bash"],
                            capture_output=True, text=True, check=True).stdout
    assert "_PERFKIT_COMPLETE" in script and "complete -o default" in script

    def complete(words: str) -> list[str]:
        env = {**os.environ, "_PERFKIT_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - 1)}
        out = subprocess.run([sys.executable, "-m", "perfkit"], env=env, capture_output=True,
                             text=True, check=False)
        return out.stdout.split()

    assert complete("perfkit be") == ["bench"]
    assert "--workers" in complete("perfkit bench --wo")
    assert complete("perfkit demo sto") == ["story"]


def test_a_command_s_help_is_its_own_and_an_unknown_shell_is_refused(cli: Cli) -> None:
    bench_help = cli("bench", "--help")
    assert bench_help.exit_code == 0 and "--repeat" in bench_help.stdout
    refused = cli("--show-completion", "tcsh")
    assert refused.exit_code == 2 and "unknown shell 'tcsh'" in refused.stderr


def test_a_lost_database_connection_is_exit_3_in_one_line_not_an_internal_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever command a broken connection escapes from (terminated, restarted), it is a
    fault of the outside world: one line, exit 3, no password."""
    import psycopg

    from perfkit.cli import console

    console.reset()
    lost = psycopg.OperationalError(
        "consuming input failed: server closed the connection unexpectedly\n\tThis probably "
        "means the server terminated abnormally")
    assert console.abort(lost) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: the database connection was lost: consuming input failed")
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err
    assert console.abort(ValueError("a bug")) == 1  # a bug of ours stays one
