"""README.md's tour as steps a test runs: every `$ command` of its ```console blocks, in order.

A block right after `<!-- tour: skip REASON -->` is not run (a cluster, your own app); a
block of any language right after `<!-- tour: file NAME -->` is written to NAME in the tour's
folder when the tour reaches it (the README's perfkit.yaml is the one the next steps read).
`$ cmd  # exit N` expects exit code N (default 0); a command ending in a backslash goes on
over the next lines; a line `...` marks elided output. What is checked is the output's
shape, not its numbers: each table header as written (but for the columns a narrow layout
hid, which depends on how wide the figures were), the names in the first column of tables of
routes, indexes, services and cache families, and every line with no digit, no table rule and
no `warning:` (titles, notes, verdict words). So a flag removed from the code, a column
renamed or a note reworded fails the test.

`python tests/readme_tour.py --update` reruns the tour and writes the real outputs back
into README.md (run it after changing what a command prints).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*tour:\s*skip\b(.*?)-->")
FILE = re.compile(r"<!--\s*tour:\s*file\s+(\S+)\s*-->")
EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
RULES = "│┃━─╇"
NARROW = re.compile(r"\(narrow output: (.*?) hidden")
NAMED = ("route", "index", "service", "family")  # tables whose first column names a thing
WIDTH = "120"
STEP_TIMEOUT_S = 300


@dataclass
class Step:
    command: str
    line: int  # in README.md, for messages
    expected: list[str] = field(default_factory=list)
    block: int = 0  # index of the console block (for --update)
    file: str | None = None  # a file step: write `expected` to this name, run nothing
    continued: int = 0  # lines the command takes after its first (ending in a backslash)

    @property
    def exit_code(self) -> int:
        found = EXIT.search(self.command)
        return int(found.group(1)) if found else 0


def parse(text: str) -> list[Step]:
    """The steps of every console block not marked skip, and the file blocks, in README order."""
    steps: list[Step] = []
    lines = text.splitlines()
    inside, skipping, block, file = False, False, -1, None
    for number, line in enumerate(lines, start=1):
        if not inside and line.startswith("```") and line.strip() != "```":
            previous = [x for x in lines[max(0, number - 4):number - 1] if x.strip()]
            marker = previous[-1] if previous else ""
            named = FILE.search(marker)
            file = named.group(1) if named else None
            if file:
                inside, block = True, block + 1
                steps.append(Step("", number, block=block, file=file))
            elif line.strip() == "```console":
                inside, block, skipping = True, block + 1, bool(SKIP.search(marker))
        elif inside and line.strip() == "```":
            inside, file = False, None
        elif inside and file:
            steps[-1].expected.append(line)
        elif inside and not skipping:
            last = steps[-1] if steps and steps[-1].block == block else None
            if last and last.command.endswith("\\") and not last.expected:
                last.command = last.command[:-1].rstrip() + " " + line.strip()
                last.continued += 1
            elif line.startswith("$ "):
                steps.append(Step(line[2:], number, block=block))
            elif last:
                last.expected.append(line)
    return steps


def _norm(text: str) -> str:
    return " ".join(text.split())


def _cells(line: str, rule: str) -> list[str]:
    return [_norm(c) for c in line.split(rule)]


@dataclass
class Shape:
    """What an output looks like, figures aside."""

    headers: set[tuple[str, ...]] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # first cells of route/index/... tables
    keys: set[str] = field(default_factory=set)  # lines with no figure
    hidden: set[str] = field(default_factory=set)  # columns a narrow layout dropped


def shape(lines: list[str]) -> Shape:
    """The shape of some output. Only tables of named things (routes, indexes, services,
    cache families) give names: a statement table's rows depend on the traffic."""
    found, first = Shape(), ""
    for line in lines:
        narrow = NARROW.search(line)
        if narrow:
            found.hidden.update(c.strip() for c in narrow.group(1).split(","))
        if "┃" in line:
            header = tuple(_cells(line, "┃"))
            found.headers.add(header)
            first = header[0]
        elif "│" in line:
            cell = _cells(line, "│")[0]
            if first in NAMED and cell and not re.search(r"\d", cell):
                found.names.add(cell)
        elif line.strip() and not any(c in line for c in RULES) and not re.search(
                r"\d", line) and line.strip() not in ("...", "…") and not narrow and not (
                line.startswith("warning:")):  # a warning depends on the figures
            found.keys.add(_norm(line))
    return found


def _same_columns(want: tuple[str, ...], got: tuple[str, ...], hidden: set[str]) -> bool:
    """The same table but for the columns a narrow layout hid in either run (they depend on
    how wide the figures were)."""
    return [c for c in want if c not in hidden] == [c for c in got if c not in hidden]


def mismatches(step: Step, code: int, output: str) -> list[str]:
    """What the README says that the real output does not."""
    if step.file:
        return []
    problems = []
    if code != step.exit_code:
        problems.append(f"exit {code}, README says {step.exit_code}")
    want, got = shape(step.expected), shape(output.splitlines())
    hidden = want.hidden | got.hidden
    problems += [f"no table with the columns {list(h)}" for h in sorted(want.headers)
                 if not any(_same_columns(h, g, hidden) for g in got.headers)]
    problems += [f"no row named {n!r}" for n in sorted(want.names - got.names)]
    flat = _norm(output)
    problems += [f"no line {k!r}" for k in sorted(want.keys) if k not in flat]
    return problems


@dataclass
class Tour:
    """A shell environment for the steps: one work dir, variables kept between steps."""

    workdir: Path
    state_dir: Path
    env_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.env_file = self.workdir / ".tour-env"

    def run(self, step: Step) -> tuple[int, str]:
        if step.file:
            (self.workdir / step.file).write_text("\n".join(step.expected) + "\n")
            return 0, ""
        script = (f"set -a; [ -f {self.env_file} ] && . {self.env_file}; set +a\n"
                  f"{step.command}\nrc=$?\nexport -p > {self.env_file}\nexit $rc\n")
        env = {**os.environ, "PERFKIT_STATE_DIR": str(self.state_dir), "COLUMNS": WIDTH,
               "NO_COLOR": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        for name in ("PERFKIT_BASE_URL", "PERFKIT_TOKEN", "PERFKIT_TOKENS_FILE", "DATABASE_URL",
                     "PERFKIT_DSN", "PROMETHEUS_URL"):
            env.pop(name, None)
        done = subprocess.run(["bash", "-c", script], cwd=self.workdir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=STEP_TIMEOUT_S, check=False)
        return done.returncode, done.stdout  # both streams, in the order a terminal shows


def update(readme: Path = README) -> None:
    """Rerun the tour and write each step's real output under its command."""
    text = readme.read_text()
    steps = parse(text)
    lines = text.splitlines()
    outputs: dict[int, list[str]] = {}
    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as state:
        tour = Tour(Path(work), Path(state))
        try:
            for step in steps:
                code, output = tour.run(step)
                if step.file:
                    continue
                print(f"line {step.line}: exit {code}: {step.command}", file=sys.stderr)
                if code != step.exit_code:
                    print(f"  expected exit {step.exit_code}:\n{output}", file=sys.stderr)
                outputs[step.line] = [line.rstrip() for line in output.rstrip().splitlines()]
        finally:
            tour.run(Step("perfkit demo down --purge >/dev/null 2>&1", 0))
    for step in reversed(steps):  # replace from the bottom: line numbers stay right
        if step.file:
            continue
        start = step.line + step.continued
        lines[start:start + len(step.expected)] = outputs[step.line]
    readme.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        raise SystemExit("usage: python tests/readme_tour.py --update")
