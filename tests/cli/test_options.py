"""One grammar for options across commands: percentages take `5%` and `5`, durations
`500ms|5s|2m|1h`, and the help says the order in which settings are found as the code does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import CliResult

Cli = Callable[..., CliResult]

#: Every option that is a percentage or a share, by command: each goes through
#: perfkit/percentages.py. An option whose help speaks of percent and is not listed fails below.
PERCENT_OPTIONS = {
    ("bench", "--cache-threshold"), ("bench", "--max-error-ratio"),
    ("compare", "--min-change"), ("compare", "--run-noise"), ("report", "--min-change"),
    ("gate", "--max-regression"), ("gate", "--run-noise"), ("demo fault", "--error-ratio")}
#: Every option that is a duration: each goes through perfkit/durations.py.
DURATION_OPTIONS = {
    ("bench", "--duration"), ("bench", "--timeout"), ("bench", "--cache-ttl"),
    ("apply-indexes", "--lock-timeout"), ("report", "--since"), ("doctor", "--since"),
    ("events", "--since"), ("advise-indexes", "--since"), ("cache-stats", "--for"),
    ("k8s-job", "--duration"), ("k8s-job", "--timeout"), ("k8s-job", "--cache-ttl"),
    ("k8s-job", "--start-in"), ("demo story", "--duration"), ("lint", "--min-age"),
    ("bench", "--step")}
#: Options written as conditions (`p99<200ms,errors<1%`): perfkit.yaml's threshold grammar,
#: each part through thresholds.parse_condition.
CONDITION_OPTIONS = {("bench", "--slo"), ("demo story", "--slo")}


def _options() -> Iterator[tuple[str, Any]]:
    """(command path, click option) for every option of every command."""
    from typer.main import get_command

    from perfkit.cli import build_app

    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        for sub_name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, f"{path} {sub_name}".strip())
        for param in getattr(command, "params", []):
            if param.param_type_name == "option":
                yield path, param

    yield from walk(get_command(build_app(None, everything=True)), "")


def _reads_text(option: Any) -> bool:
    """The option hands its text to perfkit (click's own type, or Typer's annotation where a
    Typer release keeps it apart)."""
    kind = getattr(option, "type", None)
    if kind is not None:
        return str(getattr(kind, "name", "")) == "text"
    return option.type_descriptor.annotation in (str, str | None)


def test_every_percentage_and_duration_option_is_read_as_text_by_one_parser() -> None:
    found = {(path, max(p.opts, key=len)): p for path, p in _options()}
    for key in PERCENT_OPTIONS | DURATION_OPTIONS | CONDITION_OPTIONS:
        assert key in found, key
        assert _reads_text(found[key]), key  # not click's float: "5%" reaches the parser
    spoken = {key for key, p in found.items()
              if "percent" in (p.help or "").lower() or "%" in str(p.default or "")}
    assert spoken <= PERCENT_OPTIONS | CONDITION_OPTIONS, spoken - PERCENT_OPTIONS
    for key in PERCENT_OPTIONS:
        default = found[key].default
        assert default is None or default == "auto" or str(default).endswith("%"), (key, default)


def test_the_help_says_the_order_the_code_reads_settings_in(cli: Cli) -> None:
    from perfkit.config import ENVIRONMENT

    root = " ".join(cli("--help").stdout.split())
    assert "PERFKIT_DSN then DATABASE_URL" in root
    assert list(ENVIRONMENT["dsn"]) == ["PERFKIT_DSN", "DATABASE_URL"]
    assert "flags, then the environment" in root and "then perfkit.yaml" in root
    for path, option in _options():
        text = option.help or ""
        if "DATABASE_URL" in text:
            assert text.index("PERFKIT_DSN") < text.index("DATABASE_URL"), (path, text)


@pytest.mark.parametrize("args", [
    ["gate", "{run}", "--baseline", "{run}", "--max-regression", "{value}"],
    ["gate", "{run}", "--baseline", "{run}", "--run-noise", "{value}"],
    ["compare", "{run}", "{run}", "--min-change", "{value}"],
    ["compare", "{run}", "{run}", "--run-noise", "{value}"]])
def test_a_percentage_takes_its_sign_or_not(cli: Cli, tmp_path: Any, args: list[str]) -> None:
    from tests.support import make_run

    run = tmp_path / "run.json"
    make_run({("GET /a", "all"): [20.0] * 50}).save(run)
    outputs = []
    for value in ("5%", "5"):
        result = cli(*[a.format(run=run, value=value) for a in args], "--format", "json")
        assert result.exit_code == 0, (value, result.output)
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    refused = cli(*[a.format(run=run, value="5 pct") for a in args])
    assert refused.exit_code == 2 and "not a percentage" in refused.stderr
