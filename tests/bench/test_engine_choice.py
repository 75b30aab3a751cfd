"""perfkit.bench.engine_choice: `--engine auto` takes h1 unless the run needs aiohttp, and a
run that fell back says so in its notes."""

from __future__ import annotations

from yarl import URL

from perfkit.bench.engine_choice import choose_engine, fallback_note
from perfkit.bench.options import BenchOptions, Engine
from perfkit.bench.scenario import Scenario
from perfkit.bench.scheduler import run_bench_sync
from tests.bench.support import RefServer


def test_auto_takes_h1_unless_the_base_url_carries_credentials() -> None:
    assert choose_engine(BenchOptions("http://127.0.0.1:1"))[0] is Engine.H1
    assert choose_engine(BenchOptions("https://u:p@127.0.0.1:1"))[0] is Engine.AIOHTTP
    assert choose_engine(BenchOptions("http://u:p@127.0.0.1:1", engine=Engine.H1)) == (
        Engine.H1, "asked with --engine")
    assert fallback_note(BenchOptions("http://127.0.0.1:1")) is None
    assert fallback_note(BenchOptions("http://u:p@127.0.0.1:1", engine=Engine.AIOHTTP)) is None


def test_a_run_auto_sent_through_aiohttp_says_why_and_keeps_the_password_out(
        ref: RefServer) -> None:
    with_credentials = str(URL(ref.url).with_user("alice").with_password("s3cret-pw"))
    run = run_bench_sync(Scenario.for_path("/fast"),
                         BenchOptions(base_url=with_credentials, requests=5, concurrency=1))
    assert run.generator.engine == "aiohttp" and run.total_errors == 0
    said = [n for n in run.notes if n.startswith("engine aiohttp, not h1: ")]
    assert said == ["engine aiohttp, not h1: the base URL carries credentials (basic auth); "
                    "aiohttp uses ~3x the client CPU a request, so a busy client core weighs "
                    "more in the latencies"], run.notes
    assert "s3cret-pw" not in str(run.to_json())
    plain = run_bench_sync(Scenario.for_path("/fast"),
                           BenchOptions(base_url=ref.url, requests=5, concurrency=1))
    assert plain.generator.engine == "h1"
    assert not [n for n in plain.notes if n.startswith("engine ")]
