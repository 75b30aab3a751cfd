"""The documentation's tour as steps a test runs: every `$ command` of the ```console blocks of
README.md and of the docs pages, page after page in the order of PAGES, in one folder.

Each page is one shell session: variables carry over from page to page (a step's `export`),
the working directory over the steps of one page (`$ cd myapi`) and back to the tour's folder
at the next page. A block right after `<!-- tour: skip REASON -->` is not run (a cluster, your
own app); a block of any language right after `<!-- tour: file NAME -->` is written to NAME in
the current folder when the tour reaches it (the perfkit.yaml the next steps read). A console
block right after `<!-- tour: excerpt -->` is not run where it stands: each of its commands is
one a page of the tour runs (the same text), and its lines are checked against that run's
output (README.md shows a few lines of what the guides run in full).
`$ cmd  # exit N` expects exit code N (default 0); a command ending in a backslash goes on
over the next lines; a line `...` marks elided output. What is checked is the output's
shape, not its numbers: each table header as written (but for the columns a narrow layout
hid, which depends on how wide the figures were), the names in the first column of tables of
routes, indexes, services and cache families, and every line with no digit (nor the tour's
temporary folder: both change from run to run), no table rule and
no `warning:` (titles, notes, verdict words). So a flag removed from the code, a column
renamed or a note reworded fails the test.

`python tests/readme_tour.py --update` reruns the tour and writes the real outputs back
into the pages (not into excerpts: those are cut by hand; run it after changing what a
command prints).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# The order the tour runs the pages in: each step may use what earlier ones made (the demo
# stack of the first, the variables of "your backend", advised.sql, before.json...).
PAGES = (
    "README.md",
    "docs/getting-started/demo.md",
    "docs/getting-started/your-backend.md",
    "docs/guides/indexes.md",
    "docs/guides/bench.md",
    "docs/guides/kubernetes.md",
    "docs/guides/reports.md",
    "docs/guides/ci-gate.md",
    "docs/guides/plot.md",
    "docs/guides/cache.md",
    "docs/guides/doctor.md",
)
SKIP = re.compile(r"<!--\s*tour:\s*skip\b(.*?)-->")
EXCERPT = re.compile(r"<!--\s*tour:\s*excerpt\s*-->")
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
    line: int  # in its page, for messages
    expected: list[str] = field(default_factory=list)
    block: int = 0  # index of the console block (for --update)
    file: str | None = None  # a file step: write `expected` to this name, run nothing
    continued: int = 0  # lines the command takes after its first (ending in a backslash)
    excerpt: bool = False  # shows part of the output of the same command on another page
    page: str = ""  # the page's path from the repository's root

    @property
    def exit_code(self) -> int:
        found = EXIT.search(self.command)
        return int(found.group(1)) if found else 0

    @property
    def where(self) -> str:
        return f"{self.page or 'text'}:{self.line}"


def same_command(command: str) -> str:
    """A command as an excerpt names it: spaces and a trailing `# comment` aside."""
    return " ".join(re.sub(r"\s+#\s.*$", "", command).split())


def parse(text: str, page: str = "") -> list[Step]:
    """The steps of every console block not marked skip, and the file blocks, in page order."""
    steps: list[Step] = []
    lines = text.splitlines()
    inside, skipping, excerpt, block, file = False, False, False, -1, None
    for number, line in enumerate(lines, start=1):
        if not inside and line.startswith("```") and line.strip() != "```":
            previous = [x for x in lines[max(0, number - 4):number - 1] if x.strip()]
            marker = previous[-1] if previous else ""
            named = FILE.search(marker)
            file = named.group(1) if named else None
            if file:
                inside, block = True, block + 1
                steps.append(Step("", number, block=block, file=file, page=page))
            elif line.strip() == "```console":
                inside, block, skipping = True, block + 1, bool(SKIP.search(marker))
                excerpt = bool(EXCERPT.search(marker))
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
                steps.append(Step(line[2:], number, block=block, excerpt=excerpt, page=page))
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


#: what differs from run to run beside the figures: the tour's own temporary folders
VARIES = re.compile(r"\d|" + re.escape(tempfile.gettempdir()) + r"/tmp\w+")


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
            if first in NAMED and cell and not VARIES.search(cell):
                found.names.add(cell)
        elif line.strip() and not any(c in line for c in RULES) and not VARIES.search(
                line) and line.strip() not in ("...", "…") and not narrow and not (
                line.startswith("warning:")):  # a warning depends on the figures
            found.keys.add(_norm(line))
    return found


def _same_columns(want: tuple[str, ...], got: tuple[str, ...], hidden: set[str]) -> bool:
    """The same table but for the columns a narrow layout hid in either run (they depend on
    how wide the figures were)."""
    return [c for c in want if c not in hidden] == [c for c in got if c not in hidden]


def mismatches(step: Step, code: int, output: str) -> list[str]:
    """What the page says that the real output does not."""
    if step.file:
        return []
    problems = []
    if code != step.exit_code:
        problems.append(f"exit {code}, the page says {step.exit_code}")
    want, got = shape(step.expected), shape(output.splitlines())
    hidden = want.hidden | got.hidden
    problems += [f"no table with the columns {list(h)}" for h in sorted(want.headers)
                 if not any(_same_columns(h, g, hidden) for g in got.headers)]
    problems += [f"no row named {n!r}" for n in sorted(want.names - got.names)]
    flat = _norm(output)
    problems += [f"no line {k!r}" for k in sorted(want.keys) if k not in flat]
    return problems


def load(pages: tuple[str, ...] = PAGES, root: Path = ROOT) -> list[Step]:
    """Every step of the pages, in the tour's order."""
    return [step for page in pages for step in parse((root / page).read_text(), page)]


def excerpt_runs(steps: list[Step]) -> tuple[dict[int, int], list[str]]:
    """For each excerpt step (by its index), the step that runs its command; and the
    excerpts no page runs, or more than one does (an excerpt names one run)."""
    runs: dict[str, list[int]] = {}
    for i, step in enumerate(steps):
        if not step.excerpt and not step.file:
            runs.setdefault(same_command(step.command), []).append(i)
    found, problems = {}, []
    for i, step in enumerate(steps):
        if step.excerpt:
            match = runs.get(same_command(step.command), [])
            if len(match) == 1:
                found[i] = match[0]
            else:
                problems.append(f"{step.where}: $ {step.command}: an excerpt of "
                                f"{len(match)} steps of the tour (it must show exactly one)")
    return found, problems


@dataclass
class Tour:
    """A shell for the steps: one work dir; variables kept between steps, the current folder
    between the steps of one page (`start_page` goes back to the work dir)."""

    workdir: Path
    state_dir: Path
    env_file: Path = field(init=False)
    cwd_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.env_file = self.workdir / ".tour-env"
        self.cwd_file = self.workdir / ".tour-cwd"
        self.start_page()

    def start_page(self) -> None:
        self.cwd_file.write_text(str(self.workdir))

    def run(self, step: Step) -> tuple[int, str]:
        cwd = Path(self.cwd_file.read_text().strip())
        if step.file:
            (cwd / step.file).write_text("\n".join(step.expected) + "\n")
            return 0, ""
        script = (f"set -a; [ -f {self.env_file} ] && . {self.env_file}; set +a\n"
                  f"{step.command}\nrc=$?\nexport -p > {self.env_file}\n"
                  f"pwd > {self.cwd_file}\nexit $rc\n")
        env = {**os.environ, "PERFKIT_STATE_DIR": str(self.state_dir), "COLUMNS": WIDTH,
               "NO_COLOR": "1", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        for name in ("PERFKIT_BASE_URL", "PERFKIT_TOKEN", "PERFKIT_TOKENS_FILE", "DATABASE_URL",
                     "PERFKIT_DSN", "PROMETHEUS_URL"):
            env.pop(name, None)
        done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=STEP_TIMEOUT_S, check=False)
        return done.returncode, done.stdout  # both streams, in the order a terminal shows


def run_all(steps: list[Step], tour: Tour,
            report: Callable[[int, Step, int, str], None]) -> dict[int, tuple[int, str]]:
    """Run the steps that run (not excerpts), a new shell folder at each page; `report` hears
    each result. Returns each run step's (exit code, output) by index."""
    results: dict[int, tuple[int, str]] = {}
    page = None
    for i, step in enumerate(steps):
        if step.excerpt:
            continue
        if step.page != page:
            tour.start_page()
            page = step.page
        results[i] = tour.run(step)
        report(i, step, *results[i])
    return results


def check(steps: list[Step], tour: Tour) -> list[str]:
    """Run the tour; what each page (and each excerpt) says that the real outputs do not."""
    runs, failures = excerpt_runs(steps)
    results = run_all(steps, tour, lambda *_: None)
    for i, step in enumerate(steps):
        code, output = results[runs[i]] if step.excerpt and i in runs else results.get(i, (0, ""))
        if step.excerpt and i not in runs:
            continue
        failures += [f"{step.where}: $ {step.command}: {problem}"
                     for problem in mismatches(step, code, output)]
    return failures


def update(pages: tuple[str, ...] = PAGES, root: Path = ROOT) -> None:
    """Rerun the tour and write each step's real output under its command (excerpts stay as
    they were cut)."""
    steps = load(pages, root)

    def say(_: int, step: Step, code: int, output: str) -> None:
        if step.file:
            return
        print(f"{step.where}: exit {code}: {step.command}", file=sys.stderr)
        if code != step.exit_code:
            print(f"  expected exit {step.exit_code}:\n{output}", file=sys.stderr)

    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as state:
        tour = Tour(Path(work), Path(state))
        try:
            results = run_all(steps, tour, say)
        finally:
            tour.run(Step("perfkit demo down --purge >/dev/null 2>&1", 0))
    for page in pages:
        lines = (root / page).read_text().splitlines()
        mine = [(i, s) for i, s in enumerate(steps) if s.page == page]
        for i, step in reversed(mine):  # replace from the bottom: line numbers stay right
            if step.file or step.excerpt:
                continue
            start = step.line + step.continued
            output = [line.rstrip() for line in results[i][1].rstrip().splitlines()]
            lines[start:start + len(step.expected)] = output
        (root / page).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        raise SystemExit("usage: python tests/readme_tour.py --update")
