"""The Run record: every encoding round-trips, and merging equals measuring the union."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from perfkit.bench.record import (
    SCHEMA,
    Run,
    decode,
    encode,
    new_histogram,
    record_us,
    same_histogram,
)
from perfkit.errors import UsageError


def _samples(seed: int, n: int) -> list[tuple[str, str, float, float]]:
    rng = random.Random(seed)
    routes = ["GET /auth/me", "GET /messages/{conversation_id}"]
    return [(rng.choice(routes), rng.choice(["cold", "warm"]),
             rng.lognormvariate(9, 1.2), rng.lognormvariate(8.5, 1)) for _ in range(n)]


def _run(samples: list[tuple[str, str, float, float]], errors: int = 0) -> Run:
    run = Run(base_url="http://127.0.0.1:8000", settings={"mode": "closed-loop"})
    for route, phase, corrected, raw in samples:
        for p in (phase, "all"):
            run.record(route, p).add_latency(max(corrected, raw), raw)
    for _ in range(errors):
        run.record("GET /auth/me", "all").add_error("503")
    run.finish()
    return run


def test_histogram_encoding_round_trips() -> None:
    hist = new_histogram()
    for v in (1, 999, 20_000, 20_011, 3_600_000_000, 5_000_000_000):
        record_us(hist, v)
    back = decode(encode(hist))
    assert same_histogram(hist, back)
    assert back.get_total_count() == 6
    assert back.get_max_value() >= 3_599_000_000  # clamped, never dropped


def test_run_json_round_trips_exactly(tmp_path: Path) -> None:
    run = _run(_samples(1, 500), errors=3)
    path = tmp_path / "run.json"
    run.save(path)
    back = Run.load(path)
    assert back.to_json() == run.to_json()
    for key, rec in run.records.items():
        assert same_histogram(rec.corrected, back.records[key].corrected)
        assert same_histogram(rec.raw, back.records[key].raw)
    assert back.records[("GET /auth/me", "all")].errors == {"503": 3}


def test_run_json_has_the_design_keys() -> None:
    data = _run(_samples(2, 50)).to_json()
    assert data["schema"] == SCHEMA
    assert {"started_at", "base_url", "settings", "routes"} <= set(data)
    route = data["routes"][0]
    assert {"route", "phase", "count", "errors", "latency_ms", "hdr"} <= set(route)
    assert set(route["latency_ms"]) == {"mean", "p50", "p90", "p99", "p999", "max"}
    assert json.loads(json.dumps(data)) == data


def test_merge_equals_the_run_of_the_union() -> None:
    a, b = _samples(3, 700), _samples(4, 300)
    merged = _run(a, errors=2).merge(_run(b, errors=1))
    union = _run(a + b, errors=3)
    assert set(merged.records) == set(union.records)
    for key, rec in union.records.items():
        assert same_histogram(merged.records[key].corrected, rec.corrected)
        assert same_histogram(merged.records[key].raw, rec.raw)
        assert merged.records[key].errors == rec.errors
    assert merged.total_count == 1000
    assert len(merged.provenance["merged_from"]) == 2
    # a merged run survives its own round trip
    assert Run.from_json(json.loads(merged.dumps())).to_json() == merged.to_json()


def test_speedups_come_with_the_run() -> None:
    run = Run(base_url="http://x")
    for i in range(20):
        run.record("GET /auth/me", "cold").add_latency(150_000 + i * 50, 150_000 + i * 50)
    for i in range(200):
        run.record("GET /auth/me", "warm").add_latency(1_000 + i, 1_000 + i)
    (sp,) = run.speedups()
    assert sp.ratio is not None and sp.ratio > 100 and sp.ci is not None and sp.ci[0] > 100


@pytest.mark.parametrize("content", ["not json", '{"schema": "other/1"}', "[]",
                                     '{"schema": "perfkit.run/1", "routes": [{"x": 1}]}'])
def test_bad_run_files_are_usage_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError):
        Run.load(path)
    with pytest.raises(UsageError):
        Run.load(tmp_path / "missing.json")
