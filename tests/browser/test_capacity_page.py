"""`perfkit plot` of a `bench --find-max` record in a real headless Chromium: the knee chart
is drawn, and its figures in the DOM are the record's steps and bracket."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.bench.support import served_url
from tests.browser.support import console_errors, find_chromium, open_page, read_charts, read_tables

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(find_chromium() is None,
                                 reason="chromium or chromium-driver not found (scripts/"
                                        "bootstrap installs them)")]
SERVER = Path(__file__).parents[1] / "bench" / "capacityserver.py"


def test_the_knee_chart_draws_every_step_of_the_record(tmp_path: Path) -> None:
    from perfkit.cli import main
    from tests.browser.support import chromium

    record, page = tmp_path / "cap.json", tmp_path / "page.html"
    with served_url([sys.executable, str(SERVER), "--limit", "150"]) as url:
        assert main(["bench", f"{url}/limit", "--find-max", "--slo", "p90<50ms", "--rate",
                     "50", "--step", "1s", "--max-rate", "400", "--out", str(record)]) == 0
    assert main(["plot", str(record), "-o", str(page)]) == 0
    capacity = json.loads(record.read_text())["capacity"]
    with chromium() as browser:
        open_page(browser, page)
        errors, charts, tables = console_errors(browser), read_charts(browser), read_tables(
            browser)
    assert errors == []
    (knee,) = [c for c in charts if c.get("kind") == "capacity"]
    assert knee["plot"]["rendered"] == "true" and knee["plot"]["traces"] >= 3
    (bracket, _) = knee["facts"]
    assert bracket["max-rate"] == repr(capacity["max_rate_per_s"])
    assert bracket["broke-at"] == repr(capacity["broke_at_per_s"])
    (rows,) = [rows for title, rows in tables.items() if title.startswith("Capacity")]
    steps = sorted(capacity["steps"], key=lambda s: s["rate"])
    assert [r["offered /s"] for r in rows] == [f"{s['rate']:.4g}" for s in steps]
    assert [r["verdict"].split(" ")[0] for r in rows] == [
        "held" if s["held"] else "broke" for s in steps]
