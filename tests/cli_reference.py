"""The CLI reference (docs/reference/cli.md), generated from the Typer app itself: every
command, its arguments and options with their help and defaults, as `--help` gives them.

`python tests/cli_reference.py --update` (or `scripts/gen_cli_reference`) rewrites the page;
tests/test_cli_reference.py fails when the committed page is not what the app gives (an
option added, renamed or re-documented without regenerating).
"""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "cli.md"
HEADER = """# CLI reference

Generated from the app by `scripts/gen_cli_reference` (do not edit by hand: a test compares
this page with the app). `perfkit COMMAND --help` prints the same, with an example.

Every command: `--format table|json|markdown` where it prints results, `--help` with an
example, results on stdout and progress, warnings and errors on stderr, `NO_COLOR`
respected, secrets never printed. Global options go before the command: `perfkit --config
ci.yaml --debug bench …` (`--format` works in both places). Exit codes:
[exit codes](exit-codes.md); the variables each command reads:
[environment variables](environment.md).
"""


def app_command() -> Any:
    """The click command of the whole app, every command built (not the stand-ins)."""
    from typer.main import get_command

    from perfkit.cli import build_app

    return get_command(build_app(None, everything=True))


def _default(param: Any) -> str:
    value = param.default
    if callable(value) or value is None or value == () or (value is False and param.is_flag):
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list | tuple):
        value = ", ".join(str(v.value if isinstance(v, enum.Enum) else v) for v in value)
    return f"`{value}`"


def _escape(text: str) -> str:
    """Markdown-safe outside `code`: `<name>` stays text, not an HTML tag."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
    return "`".join(parts)


def _cell(text: str | None) -> str:
    return _escape(" ".join((text or "").split())).replace("|", "\\|")


def _names(param: Any) -> str:
    names = [*param.opts, *getattr(param, "secondary_opts", [])]
    return ", ".join(f"`{n}`" for n in names)


def _params(command: Any) -> list[str]:
    params = [p for p in command.params if not getattr(p, "hidden", False)]
    arguments = [p for p in params if p.param_type_name == "argument"]
    options = [p for p in params if p.param_type_name == "option"]
    lines: list[str] = []
    if arguments:
        lines += ["| argument | required | help |", "|---|---|---|"]
        lines += [f"| `{p.name}`{'…' if p.nargs == -1 else ''} | "
                  f"{'yes' if p.required else 'no'} | {_cell(getattr(p, 'help', ''))} |"
                  for p in arguments]
        lines.append("")
    if options:
        lines += ["| option | default | help |", "|---|---|---|"]
        lines += [f"| {_names(p)} | {_default(p)} | {_cell(p.help)} |" for p in options]
        lines.append("")
    return lines


def _section(path: str, command: Any, level: int) -> list[str]:
    lines = [f"{'#' * level} `{path}`", ""]
    if command.help:
        lines += [_escape(command.help.strip()), ""]
    lines += _params(command)
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not getattr(sub, "hidden", False):
            lines += _section(f"{path} {name}", sub, level + 1)
    return lines


def render(command: Any | None = None) -> str:
    """The reference page of a click command tree (default: perfkit's)."""
    command = command or app_command()
    lines = [HEADER, "## Global options", "", *_params(command)]
    from perfkit.cli import COMMANDS

    for name, *_ in COMMANDS:  # in the order of `perfkit --help`
        lines += _section(f"perfkit {name}", command.commands[name], 2)
    return "\n".join(lines).rstrip() + "\n"


def option_names(command: Any | None = None) -> set[tuple[str, str]]:
    """Every (command path, --option) of the app, e.g. ("perfkit gate", "--junit")."""
    command = command or app_command()
    found: set[tuple[str, str]] = set()

    def walk(path: str, cmd: Any) -> None:
        for p in cmd.params:
            if p.param_type_name == "option" and not getattr(p, "hidden", False):
                found.update((path, o) for o in p.opts if o.startswith("--"))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(f"{path} {name}", sub)

    walk("perfkit", command)
    return found


def sections(text: str) -> dict[str, str]:
    """A reference page's text per command path (the global options under "perfkit")."""
    found, current = {"perfkit": ""}, "perfkit"
    for line in text.splitlines():
        if line.startswith("#") and "`perfkit" in line:
            current = line.split("`")[1]
            found[current] = ""
        found[current] += line + "\n"
    return found


def undocumented(text: str, command: Any | None = None) -> list[str]:
    """The app's options that the page does not list under their command."""
    parts = sections(text)
    return sorted(f"{path} {option}" for path, option in option_names(command)
                  if f"`{option}`" not in parts.get(path, ""))


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        PAGE.parent.mkdir(parents=True, exist_ok=True)
        PAGE.write_text(render())
        print(f"wrote {PAGE.relative_to(ROOT)}")
    else:
        raise SystemExit("usage: python tests/cli_reference.py --update")
