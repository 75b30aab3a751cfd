"""The documentation's tour runs as a test: every command of README.md and of the docs pages,
page after page, against a demo stack of its own; the docs cannot drift from the tool
(tests/readme_tour.py says what is checked)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.readme_tour import (
    DOCS,
    PAGES,
    ROOT,
    Step,
    Tour,
    check,
    excerpt_runs,
    load,
    mismatches,
    parse,
    run_all,
)

EXAMPLE = """
<!-- tour: skip a story of 90 s -->
```console
$ perfkit demo story
```

```console
$ perfkit compare before.json after.json  # exit 0
                     perfkit compare
 route        ┃ phase ┃ mean ms ┃ verdict
━━━━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━━╇━━━━━━━━━
 GET /auth/me │ warm  │ 151 → 2 │ faster
Mann-Whitney U, Holm-corrected
...
$ perfkit gate run.json  # exit 1
```
"""


def test_steps_are_the_commands_of_console_blocks_not_marked_skip() -> None:
    steps = parse(EXAMPLE)
    assert [s.command for s in steps] == ["perfkit compare before.json after.json  # exit 0",
                                         "perfkit gate run.json  # exit 1"]
    assert [s.exit_code for s in steps] == [0, 1]
    assert steps[0].expected[-1] == "..."


def test_a_renamed_column_a_lost_row_or_note_and_a_wrong_exit_code_fail() -> None:
    step = parse(EXAMPLE)[0]
    same = ("  perfkit compare\n route ┃ phase ┃ mean ms ┃ verdict\n"
            " GET /auth/me │ warm │ 160 → 1.9 │ faster\nMann-Whitney U, Holm-corrected over 2\n")
    assert mismatches(step, 0, same) == []
    renamed = same.replace("mean ms", "average")
    assert mismatches(step, 0, renamed) == [
        "no table with the columns ['route', 'phase', 'mean ms', 'verdict']"]
    assert mismatches(step, 0, same.replace("GET /auth/me", "GET /me")) == [
        "no row named 'GET /auth/me'"]
    assert mismatches(step, 2, same.replace("Holm", "Bonferroni")) == [
        "exit 2, the page says 0", "no line 'Mann-Whitney U, Holm-corrected'"]


def test_columns_a_narrow_layout_hid_and_rows_of_statements_do_not_count() -> None:
    step = parse("""
```console
$ perfkit bench runbook
 route        ┃ phase ┃ mean ms ┃ p99.9 ms
 GET /auth/me │ warm  │ 1.0     │ 2.0
 statement                     ┃ calls/req
 SELECT id FROM users WHERE id │ 1.00
```
""")[0]
    narrower = (" route ┃ phase ┃ mean ms\n GET /auth/me │ warm │ 1.1\n statement ┃ calls/req\n"
                " INSERT INTO messages │ 0.20\n(narrow output: p99.9 ms hidden; `perfkit --wide` "
                "or a wider COLUMNS shows them)\n")
    assert mismatches(step, 0, narrower) == []
    renamed = narrower.replace("mean ms", "avg ms")
    assert mismatches(step, 0, renamed) == [
        "no table with the columns ['route', 'phase', 'mean ms', 'p99.9 ms']"]
    assert mismatches(replace(step, file="perfkit.yaml"), 2, "") == []  # a file: nothing run


FILES_AND_CONTINUATIONS = """
<!-- tour: file perfkit.yaml -->
```yaml
thresholds:
  "GET /auth/me": {p99: "< 200ms"}
```

```console
$ perfkit k8s-job /auth/me --segments 4 \\
    --rate 800 --duration 5m
wrote auth-me.yaml
```
"""


def test_a_file_block_is_written_and_a_backslash_continues_the_command(tmp_path: Path) -> None:
    write, k8s = parse(FILES_AND_CONTINUATIONS)
    assert write.file == "perfkit.yaml" and write.command == ""
    assert k8s.command == "perfkit k8s-job /auth/me --segments 4 --rate 800 --duration 5m"
    assert k8s.expected == ["wrote auth-me.yaml"] and k8s.continued == 1
    tour = Tour(tmp_path, tmp_path / "state")
    assert tour.run(write) == (0, "")
    assert (tmp_path / "perfkit.yaml").read_text() == (
        'thresholds:\n  "GET /auth/me": {p99: "< 200ms"}\n')


def test_variables_and_files_carry_from_one_step_to_the_next(tmp_path: Path) -> None:
    tour = Tour(tmp_path, tmp_path / "state")
    assert tour.run(Step("export GREETING=hello; echo x > made.txt", 1))[0] == 0
    code, output = tour.run(Step("echo $GREETING; cat made.txt", 2))
    assert (code, output) == (0, "hello\nx\n")


PAGES_WITH_EXCERPTS = """
<!-- tour: excerpt -->
```console
$ perfkit gate run.json  # exit 1
perfkit gate: FAILED
...
```
"""


def test_an_excerpt_is_checked_against_the_one_step_that_runs_its_command(
        tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(PAGES_WITH_EXCERPTS)
    (tmp_path / "b.md").write_text("```console\n$ echo 'perfkit gate: FAILED'; exit 1"
                                   "\nperfkit gate: FAILED\n```\n")
    steps = load(("a.md", "b.md"), tmp_path)
    assert [s.excerpt for s in steps] == [True, False]
    assert excerpt_runs(steps) == ({}, ["a.md:4: $ perfkit gate run.json  # exit 1: an excerpt "
                                        "of 0 steps of the tour (it must show exactly one)"])
    (tmp_path / "b.md").write_text("```console\n$ perfkit gate run.json   # exit 1\n```\n")
    steps = load(("a.md", "b.md"), tmp_path)
    assert excerpt_runs(steps) == ({0: 1}, [])


def test_the_folder_carries_over_the_steps_of_a_page_and_not_to_the_next(tmp_path: Path) -> None:
    (tmp_path / "one.md").write_text("```console\n$ mkdir -p sub && cd sub\n$ pwd\n```\n")
    (tmp_path / "two.md").write_text("```console\n$ pwd\n```\n")
    work = tmp_path / "work"
    work.mkdir()
    seen: list[str] = []
    run_all(load(("one.md", "two.md"), tmp_path), Tour(work, tmp_path / "state"),
            lambda _i, _s, _c, output: seen.append(output.strip()))
    assert seen == ["", str(work / "sub"), str(work)]


def test_every_page_with_commands_is_in_the_tour() -> None:
    """A page left out of PAGES would not run: its commands could drift unseen."""
    assert all((ROOT / page).is_file() for page in PAGES)
    with_commands = {str(page.relative_to(ROOT)) for page in DOCS.rglob("*.md")
                     if parse(page.read_text())}
    assert with_commands <= set(PAGES), sorted(with_commands - set(PAGES))


@pytest.mark.integration  # a demo stack of its own and every command of the tour
def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    steps = load()
    assert len([s for s in steps if not s.excerpt]) >= 40, "the tour lost its commands"
    assert any(s.page == "README.md" and s.excerpt for s in steps)
    (tmp_path / "work").mkdir()
    tour = Tour(tmp_path / "work", tmp_path / "state")
    try:
        failures = check(steps, tour)
    finally:
        tour.run(Step("perfkit demo down --purge", 0))
    assert not failures, "\n".join(failures)
