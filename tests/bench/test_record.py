"""The Run record: every encoding round-trips, and merging equals measuring the union."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from perfkit import stats
from perfkit.bench.hdr import decode, encode, new_histogram, record_us
from perfkit.bench.provenance import Generator, LoopMode, RunSettings
from perfkit.bench.record import SCHEMA, Phase, Run
from perfkit.errors import UsageError


def same_histogram(a: object, b: object) -> bool:
    return stats.buckets(a) == stats.buckets(b)


def _samples(seed: int, n: int) -> list[tuple[str, Phase, float, float]]:
    rng = random.Random(seed)
    routes = ["GET /auth/me", "GET /messages/{conversation_id}"]
    return [(rng.choice(routes), rng.choice([Phase.COLD, Phase.WARM]),
             rng.lognormvariate(9, 1.2), rng.lognormvariate(8.5, 1)) for _ in range(n)]


def _run(samples: list[tuple[str, Phase, float, float]], errors: int = 0) -> Run:
    run = Run(base_url="http://127.0.0.1:8000", settings=RunSettings(mode=LoopMode.CLOSED))
    for route, phase, corrected, raw in samples:
        for p in (phase, Phase.ALL):
            run.record(route, p).add_latency(max(corrected, raw), raw)
    for _ in range(errors):
        run.record("GET /auth/me", Phase.ALL).add_error("503")
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
    assert back.records[("GET /auth/me", Phase.ALL)].errors == {"503": 3}


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
    assert len(merged.provenance.merged_from) == 2
    # a merged run survives its own round trip
    assert Run.from_json(json.loads(merged.dumps())).to_json() == merged.to_json()


def test_speedups_come_with_the_run() -> None:
    run = Run(base_url="http://x")
    for i in range(20):
        run.record("GET /auth/me", Phase.COLD).add_latency(150_000 + i * 50, 150_000 + i * 50)
    for i in range(200):
        run.record("GET /auth/me", Phase.WARM).add_latency(1_000 + i, 1_000 + i)
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


def _gen(requests: int, errors: int, elapsed_s: float, late: int, fell_behind: bool
         ) -> Generator:
    return Generator(mode=LoopMode.OPEN, elapsed_s=elapsed_s, requests=requests, errors=errors,
                     iterations=requests, target_iterations_per_s=100.0, late_sends=late,
                     max_send_lag_ms=3.0 * late, fell_behind=fell_behind,
                     latency_from="intended start (wrk2)")


def test_merge_adds_the_generator_figures() -> None:
    # Two machines at 100 req/s each, at the same time: 1000 + 950 requests in ~10 s is
    # ~195 req/s, not the first machine's 100.
    a, b = _run(_samples(5, 10)), _run(_samples(6, 10))
    a.generator, b.generator = _gen(1000, 3, 10.0, 0, False), _gen(950, 5, 10.2, 40, True)
    merged = a.merge(b)
    gen = merged.generator
    assert (gen.requests, gen.errors, gen.iterations) == (1950, 8, 1950)
    assert gen.elapsed_s == 10.2 and gen.sources == 2
    assert gen.achieved_rate_per_s == round(1950 / 10.2, 2)
    assert gen.target_iterations_per_s == 200.0
    assert gen.late_sends == 40 and gen.max_send_lag_ms == 120.0
    assert gen.fell_behind is True and gen.mode is LoopMode.OPEN
    sources = merged.provenance.merged_from
    assert [s.generator.requests for s in sources] == [1000, 950]
    assert merged.merge().generator == gen  # a merge of one source changes nothing
    mixed = a.merge(_run(_samples(7, 5)))  # a source with no generator figures
    assert mixed.generator.requests is None and mixed.generator.mode is LoopMode.MIXED


def test_format_1_records_are_read_with_their_old_names() -> None:
    data = _run(_samples(8, 40)).to_json()
    data["schema"] = "perfkit.run/1"
    data["settings"] = {"scenario": "x", "mode": "open-loop", "rate_per_s": 30.0,
                        "routes": ["GET /a", "GET /b"]}
    data["generator"] = {"mode": "open-loop", "completed": 90, "errors": 10, "elapsed_s": 2.0,
                         "target_rate_per_s": 30.0, "rate_per_s": 30.0}
    run = Run.from_json(data)
    assert run.settings.iterations_per_s == 30.0 and run.settings.steps_per_iteration == 2
    assert run.generator.requests == 100 and run.generator.target_iterations_per_s == 30.0
    assert run.to_json()["schema"] == SCHEMA
    assert "rate_per_s" not in run.to_json()["settings"]


def test_the_cache_verdict_and_notes_are_part_of_the_record() -> None:
    run = Run(base_url="http://x")
    for i in range(10):  # "cold" samples as fast as the warm ones: no cache effect
        run.record("GET /auth/me", Phase.COLD).add_latency(20_000 + 37 * i, 20_000 + 37 * i)
    for i in range(40):
        run.record("GET /auth/me", Phase.WARM).add_latency(20_000 + 11 * i, 20_000 + 11 * i)
    run.notes.append("repeats 2 reused the first repeat's users")
    data = run.to_json()
    (speedup,) = data["speedups"]
    assert speedup["cache_effect"] == "none" and speedup["threshold_pct"] == 20.0
    assert data["warnings"] == ["repeats 2 reused the first repeat's users"]
    assert Run.from_json(json.loads(json.dumps(data))).to_json() == data
