"""docs/reference/cli.md is the app's own description of itself: regenerated from the Typer
app (`scripts/gen_cli_reference`), and this test fails when it was not."""

from __future__ import annotations

import click

from tests.cli_reference import PAGE, app_command, render, undocumented


def test_the_committed_reference_is_what_the_app_gives() -> None:
    committed = PAGE.read_text()
    assert undocumented(committed) == [], "run scripts/gen_cli_reference"
    assert committed == render(), "docs/reference/cli.md is stale: run scripts/gen_cli_reference"


def test_an_option_added_without_regenerating_fails() -> None:
    app = app_command()
    gate = app.commands["gate"]
    gate.params.append(click.Option(["--brand-new"], help="An option nobody documented."))
    committed = PAGE.read_text()
    assert undocumented(committed, app) == ["perfkit gate --brand-new"]
    assert render(app) != committed
    assert undocumented(render(app), app) == []


def test_every_command_and_its_example_is_in_the_reference() -> None:
    text = PAGE.read_text()
    for name in ("init", "apply-indexes", "bench", "compare", "report", "gate", "doctor",
                 "cache-stats", "k8s-job", "demo story"):
        assert f"## `perfkit {name}`" in text
    assert "Example: `perfkit gate" in text
    assert "PERFKIT_DSN, DATABASE_URL" in text  # the precedence the code applies
