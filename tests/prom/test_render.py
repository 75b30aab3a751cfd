"""The markdown renderer over a hand-built perfkit.report/1 record, against a golden file.

Regenerate after an intended change: PERFKIT_UPDATE_GOLDEN=1 pytest tests/prom/test_render.py
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from perfkit.prom.render import markdown

GOLDEN = Path(__file__).parent / "golden" / "report.md"


def _figures(mean: float, p99: float, bucket: list[float | None], rps: float, ratio: float,
             count: int) -> dict[str, Any]:
    return {"mean_ms": mean, "p99_ms": p99, "p99_bucket_ms": bucket, "p99_clamped":
            bucket[1] is None, "rps": rps, "ratio_5xx": ratio, "count": count}


RECORD: dict[str, Any] = {
    "schema": "perfkit.report/1", "prometheus_url": "http://prometheus:9090",
    "profile": "instrumentator", "profile_source": "auto", "scrape_interval_s": 15.0,
    "before": {"start": "2026-01-31T13:40:00+00:00", "end": "2026-01-31T14:00:00+00:00",
               "seconds": 1200},
    "after": {"start": "2026-01-31T14:10:00+00:00", "end": "2026-01-31T14:30:00+00:00",
              "seconds": 1200},
    "split": {"at": "2026-01-31T14:00:00+00:00", "source": "event", "event": {
        "id": "20260131T140000-1a2b", "at": "2026-01-31T14:00:00+00:00", "kind": "mark",
        "text": "restart with the auth cache"}},
    "queries": 10,
    "routes": [
        {"route": "/accounts", "before": _figures(1120, 1000, [1000, None], 3.2, 0, 3840),
         "after": _figures(450, 962, [500, 1000], 3.1, 0.001, 3720),
         "change_pct": {"mean": -59.8, "p99": -3.8}},
        {"route": "/auth/me", "before": _figures(1010, 1000, [1000, None], 9.5, 0, 11400),
         "after": _figures(100, 98, [0, 100], 9.9, 0, 11880),
         "change_pct": {"mean": -90.1, "p99": -90.2}},
    ],
    "global": {"before": _figures(1050, 1000, [1000, None], 12.7, 0, 15240),
               "after": _figures(190, 890, [500, 1000], 13.0, 0.0003, 15600),
               "change_pct": {"mean": -81.9, "p99": -11.0}},
    "client_vs_server": [{"route": "GET /auth/me", "server_route": "/auth/me", "phase": "warm",
                          "window": "after", "client": {"mean_ms": 104.2, "p99_ms": 131.0},
                          "server": {"mean_ms": 100, "p99_ms": 98, "p99_bucket_ms": [0, 100]},
                          "diff_ms": {"mean": 4.2, "p99": 33.0},
                          "note": "close: the handler's time is nearly all of it"}],
    "warnings": [{"kind": "clamped-p99", "route": "/auth/me", "message":
                  "/auth/me (before): P99 >= 1 s, clamped at the last bucket; the histogram "
                  "needs finer buckets above 1 s to say more"}],
}


def test_markdown_matches_golden() -> None:
    text = markdown(RECORD)
    if os.environ.get("PERFKIT_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_markdown_without_routes_still_shows_windows_and_warnings() -> None:
    empty = {**RECORD, "routes": [], "global": {"before": None, "after": None},
             "client_vs_server": [], "profile": None,
             "warnings": [{"kind": "no-data", "route": None, "message": "no data: …"}]}
    text = markdown(empty)
    assert "before: 2026-01-31 13:40:00 UTC" in text and "- no data: …" in text
    assert "all routes" not in text
