"""The bench run's Document: rows per route and phase, cold/warm lines, notes, warnings."""

from __future__ import annotations

from dataclasses import replace

from perfkit.bench.cache import Speedup, judge
from perfkit.bench.provenance import LoopMode
from perfkit.bench.saturation import Cause, Saturation
from perfkit.db.workload import DbStats
from perfkit.render.markdown import document
from perfkit.render.run import db_notes, run_document, run_warnings, speedup_lines
from tests.render.support import hand_run

COLD_MS = [150.0, 152.0, 149.0, 151.0, 150.0]


def test_run_markdown() -> None:
    text = document(run_document(hand_run(COLD_MS, [1.0, 1.1, 0.9, 1.0, 1.0])))
    lines = text.splitlines()
    assert lines[0] == "**perfkit bench: /auth/me on http://127.0.0.1:8000**"
    assert lines[2].startswith("| route | phase | count | mean ms | p50 ms |")
    assert lines[4].startswith("| `GET /auth/me` | `cold` | 5 | 150 | 150 |")
    assert lines[5].startswith("| `GET /auth/me` | `warm` | 5 | 1.00 |")
    assert lines[6].endswith("| 503: 1 |")
    assert any("GET /auth/me: cache detected: cold/warm = " in line for line in lines)
    assert any("closed loop, 2 connection(s)" in line for line in lines)


def test_no_cache_effect_is_one_row() -> None:
    text = document(run_document(hand_run([1.0, 1.01, 0.99, 1.0, 1.0, 1.02],
                                          [1.0, 1.01, 0.99, 1.0] * 10)))
    assert "GET /auth/me: no cache effect: cold/warm = 1.00x" in text
    assert "| `cold` |" not in text and "| `all` |" in text


def test_one_count_for_requests_and_errors() -> None:
    text = document(run_document(hand_run([150.0], [1.0, 1.2])))
    assert "4 requests (1 failed) in 1 s" in text


def test_one_cold_sample_is_shown_as_one_sample() -> None:
    text = document(run_document(hand_run([150.0], [1.0, 1.2])))
    assert "| `GET /auth/me` | `cold` | 1 | 150 | - | - | - | - | (1 sample) |" in text
    assert "cache effect inconclusive" in text and "1 cold sample(s): need 5" in text


def test_routes_with_too_few_cold_samples_share_one_line_and_the_others_keep_theirs() -> None:
    def route(name: str, cold: int, ratio: float) -> Speedup:
        return Speedup(name, cold, 60, 150.0, 150.0 / ratio, ratio,
                       (ratio * 0.9, ratio * 1.1), p_value_raw=1e-9)

    judged = judge([route("GET /a", 1, 1.0), route("GET /b", 2, 1.0), route("GET /c", 30, 90.0)])
    lines = speedup_lines(judged)
    assert lines[0].startswith("GET /c: cache detected: cold/warm = 90.00x")
    assert lines[1:] == ["cache effect not judged on 2 routes (GET /a, GET /b): at most 2 cold "
                         "sample(s) a route, 5 needed: one cold sample per user, so give more "
                         "users (--tokens-file, --users)"]
    # one such route keeps its own line, with its figures
    assert speedup_lines(judged[:1])[0].startswith("GET /a: cache effect inconclusive")


def test_open_loop_is_said_and_falling_behind_is_a_warning() -> None:
    run = hand_run([150.0, 151.0], [1.0, 1.1], mode=LoopMode.OPEN)
    run.generator = replace(run.generator, fell_behind=True, late_sends=40,
                            max_send_lag_ms=80.0)
    assert "open loop at 100 req/s" in document(run_document(run))
    assert any("fell behind: 40 sends late" in w for w in run_warnings(run))
    assert "fell behind" not in document(run_document(run))  # warnings go to stderr


def _steps_run(steps: int):  # type: ignore[no-untyped-def]
    run = hand_run([150.0, 151.0], [1.0, 1.1], mode=LoopMode.OPEN, steps=steps)
    run.settings = replace(run.settings, iterations_per_s=30.0)
    run.generator = replace(run.generator, requests=150 * steps, errors=0, iterations=150,
                            elapsed_s=5.0, fell_behind=True, late_sends=9,
                            max_send_lag_ms=40.0)
    return run


def test_multi_step_open_loop_speaks_of_iterations() -> None:
    text = document(run_document(_steps_run(5)))
    assert ("open loop at 30 iterations/s (5 steps each, up to 150 requests/s): first step "
            "of each iteration timed from its intended start (wrk2); later steps from their "
            "actual send") in text
    assert "750 requests (150 iterations of 5 steps) in 5 s (150 req/s)" in text
    assert any("achieved 30.0 iterations/s" in w for w in run_warnings(_steps_run(5)))
    single = document(run_document(_steps_run(1)))
    assert "open loop at 30 req/s: latency from each request's intended start" in single
    assert "iterations" not in single


def test_record_notes_and_merges_are_said() -> None:
    run = hand_run([1.0, 1.1, 0.9, 1.05], [1.0, 1.1, 0.9, 1.0])
    run.notes.append("a note")
    assert "a note" in run_warnings(run)
    merged = run.merge(hand_run([150.0, 152.0], [1.0, 1.1]))
    assert "merged from 2 runs: counts are sums" in document(run_document(merged))


def test_cut_iterations_name_the_routes_that_lost_a_share_of_their_samples() -> None:
    from perfkit.bench.provenance import Generator, RunSettings
    from perfkit.bench.record import Phase, Run
    from perfkit.render.run import cut_lines

    run = Run(base_url="http://127.0.0.1:1", generator=Generator(iterations=200,
                                                                 cut_iterations=163),
              settings=RunSettings(steps_per_iteration=2, duration_s=10.0))
    for _ in range(200):
        run.record("GET /a", Phase.ALL).add_latency(1000, 1000)
    for _ in range(37):
        run.record("GET /b", Phase.ALL).add_latency(1000, 1000)
    run.cut_routes = {"GET /b": 163}
    assert cut_lines(run) == [
        "163 of 200 iterations were cut short by the end of the run; undersampled: GET /b "
        "(37 sent, 163 cut) (raise --duration, or lower --rate to what the target holds)"]
    # each connection's last iteration cut: in the record, not worth a line
    run.cut_routes, run.generator = {"GET /b": 1}, Generator(iterations=200, cut_iterations=1)
    for _ in range(162):
        run.record("GET /b", Phase.ALL).add_latency(1000, 1000)
    assert cut_lines(run) == []


def test_a_capacity_search_shows_its_steps_and_bracket_first() -> None:
    from perfkit.bench.capacity import Capacity, Step

    run = hand_run(COLD_MS, [1.0, 1.1, 0.9, 1.0, 1.0])
    steps = (Step(40, 39.8, 400, 0, {"p50": 2.0, "p99": 9.0}, True, "", 5.0),
             Step(80, 61.0, 500, 0, {"p50": 900.0, "p99": 1800.0}, False,
                  "achieved 61/s of 80/s offered: the target fell behind", 6.5),
             Step(56.57, 56.1, 450, 0, {"p50": 3.0, "p99": 20.0}, None, "", 5.0, True))
    run.capacity = Capacity("p99<200ms", 56.57, 80, steps)
    lines = document(run_document(run)).splitlines()
    assert lines[0] == "**capacity search, SLO p99<200ms**"
    assert lines[4].startswith("| 40 | 39.8 |") and lines[4].endswith("| held |")
    assert lines[5].endswith("| broke |") and lines[6].endswith("| unclear (estimate) |")
    assert ("- capacity: held 56.57/s, broke at 80/s within p99<200ms (achieved 61/s of 80/s "
            "offered: the target fell behind)") in lines

SATURATED = Saturation(cause=Cause.TARGET, senders=16, all_busy_share=0.97, late_all_busy=770,
                       loop_lag_p50_ms=0.15, loop_lag_p99_ms=2.9, cpu_cores=0.05,
                       service_route="GET /pool/20", service_fastest_ms=21.4,
                       service_p50_ms=82.5)


def _late(saturation: Saturation | None) -> str:
    run = hand_run([150.0, 151.0], [1.0, 1.1], mode=LoopMode.OPEN)
    run.generator = replace(run.generator, fell_behind=True, late_sends=772,
                            max_send_lag_ms=2065.0, requests=800, elapsed_s=4.0,
                            saturation=saturation)
    (line,) = run_warnings(run)
    return line


def test_late_sends_name_their_cause_with_its_evidence_and_remedy() -> None:
    assert _late(SATURATED) == (
        "the target is saturated, not the generator: 772 sends late, up to 2065 ms: all 16 "
        "senders were waiting on answers (97% of the run) while its service time grew from "
        "21.4 ms (fastest) to 82.5 ms (median) on GET /pool/20; the achieved 200 req/s is "
        "its capacity at 16 requests in flight (the rate it holds: --find-max; at more "
        "concurrency: --concurrency)")
    steady = replace(SATURATED, cause=Cause.SENDERS, service_p50_ms=21.9)
    assert _late(steady).startswith("the senders were the limit, not the target: 772 sends "
                                    "late, up to 2065 ms: all 16 senders were waiting")
    assert "200 req/s is what 16 requests in flight hold: raise --concurrency (a target " in (
        _late(steady))
    client = replace(SATURATED, cause=Cause.CLIENT, all_busy_share=0.0, late_all_busy=0,
                     late_sender_idle=772, loop_lag_p50_ms=82.3, loop_lag_p99_ms=89.3,
                     cpu_cores=0.99)
    assert _late(client) == (
        "the client was the limit, not the target: 772 sends late, up to 2065 ms; its event "
        "loop woke a 10 ms timer 82.3 ms late (median; p99 89.3 ms), the process used 0.99 "
        "of a CPU core, and 772 of the 772 late sends left while a sender was free; achieved "
        "200 req/s: spread the load over processes (--workers auto) or lower --rate")
    unclear = _late(replace(client, cause=Cause.UNCLEAR))
    assert unclear.startswith("the generator fell behind: 772 sends late, up to 2065 ms; "
                              "achieved 200 req/s (cause unclear: all senders busy 0% of")
    # a record from before the diagnosis keeps the old sentence
    assert _late(None) == ("the generator fell behind: 772 sends late, up to 2065 ms; "
                           "achieved 200 req/s")


def _db_line(service: float | None, latency: float | None) -> str:
    db = DbStats((), share_of_latency=latency, db_ms_per_request=882.0,
                 share_of_service_time=service)
    return db_notes(db)[0]


def test_the_database_share_says_which_time_it_is_of() -> None:
    assert _db_line(0.95, 0.19) == (
        "database time per request 882 ms = 95% of the mean service time (latency from the "
        "send); 19% of the mean latency from the intended start (pg_stat_statements of this "
        "database: other clients count too)")
    # a closed loop: the latency is the service time, one share
    assert " = 5% of the mean service time (latency from the send) (pg_stat" in (
        _db_line(0.05, 0.05))
    assert " = <1% of the mean service time" in _db_line(0.001, 0.001)
    # a record from before the service time: the share of the latency, as it was said
    assert " = 19% of the mean latency (pg_stat" in _db_line(None, 0.19)
