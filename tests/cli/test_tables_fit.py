"""Every table fits the terminal without breaking a name: compare, gate, merge (the bench
table) and doctor at 80, 100 and 120 columns. Narrow layouts drop columns, never split a
route or a check in two."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import CliResult, lognormal_ms, make_run

Cli = Callable[..., CliResult]

ROUTES = ("GET /conversations/{conversation_id}", "GET /messages/{conversation_id}",
          "POST /webhooks/whatsapp", "GET /auth/me")  # the demo's names, as long as usual ones
WIDTHS = (80, 100, 120)


def _runs(tmp_path: Path) -> tuple[Path, Path]:
    paths = []
    for side, factor in (("before", 1.0), ("after", 1.3)):
        samples = {(route, phase): lognormal_ms(ms * factor, n, seed=i)
                   for i, route in enumerate(ROUTES)
                   for phase, ms, n in (("cold", 150.0, 40), ("warm", 2.0, 400))}
        path = tmp_path / f"{side}.json"
        make_run(samples).save(path)
        paths.append(path)
    return paths[0], paths[1]


def _fits(result: CliResult, columns: int, names: tuple[str, ...]) -> None:
    """Each name whole on one line; from 100 columns on, every table line within the width
    (at 80 a table may run wider rather than break a name)."""
    lines = result.stdout.splitlines()
    for name in names:
        assert any(name in line for line in lines), (name, result.stdout)
    too_wide = [line for line in lines if len(line) > columns and any(c in line for c in "│┃━")]
    assert columns < 100 or not too_wide, result.stdout


@pytest.mark.parametrize("columns", WIDTHS)
def test_compare_gate_and_the_run_table_keep_route_names_whole(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    before, after = _runs(tmp_path)
    compare = cli("compare", str(before), str(after))
    assert compare.exit_code == 0, compare.output
    _fits(compare, columns, ROUTES)
    assert "slower" in compare.stdout  # the verdict column survives the narrowest layout
    gate = cli("gate", str(after), "--baseline", str(before))
    assert gate.exit_code == 1, gate.output
    _fits(gate, columns, ROUTES)
    merged = cli("merge", str(before), str(after), "-o", str(tmp_path / "all.json"))
    assert merged.exit_code == 0, merged.output
    _fits(merged, columns, ROUTES)


@pytest.mark.parametrize("columns", WIDTHS)
def test_doctor_keeps_its_check_names_whole(cli: Cli, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("doctor", str(tmp_path / "no-migrations"), "--base-url",
                 "http://127.0.0.1:9/", "--prometheus", "http://127.0.0.1:9")
    assert result.exit_code == 1, result.output
    _fits(result, columns, ("backend answers", "Prometheus has request metrics"))


@pytest.mark.parametrize("columns", WIDTHS)
def test_a_text_column_wraps_between_words_never_inside_one(
        cli: Cli, monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """At 80 columns the events table folded `Prometheus` into `Prometheu` / `s`."""
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("PERFKIT_BASE_URL", "https://api.example.com")
    monkeypatch.setenv("PROMETHEUS_URL", "http://prom:9090")
    assert cli("mark", "prod: cache on").exit_code == 0
    table = cli("events")
    assert table.exit_code == 0, table.output
    cells = [cell.strip() for line in table.stdout.splitlines() if "│" in line
             for cell in line.split("│")]
    assert "Prometheus" in " ".join(cells).split() or "(narrow output: recorded for" in (
        table.stderr)
    assert not any(word.startswith("Prometheu") and word != "Prometheus"
                   for cell in cells for word in cell.split())


INDEX_NAMES = ("idx_messages_conversation_timestamp_desc", "idx_conversations_account_updated_at")


@pytest.mark.parametrize("columns", WIDTHS)
def test_the_events_table_keeps_index_names_whole(cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path, columns: int) -> None:
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path / "state"))
    text = f"built {INDEX_NAMES[0]}, {INDEX_NAMES[1]}; analyzed messages, conversations"
    assert cli("mark", text).exit_code == 0
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("events")
    assert result.exit_code == 0, result.output
    _fits(result, columns, INDEX_NAMES)
