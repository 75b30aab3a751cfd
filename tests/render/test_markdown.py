"""Markdown renderers over hand-built records (no measurement, no statistics in the renderer)."""

from __future__ import annotations

from perfkit.bench.compare import compare_runs
from perfkit.bench.record import Run
from perfkit.render.markdown import render_compare, render_run, table


def _run(cold_ms: list[float], warm_ms: list[float], mode: str = "closed-loop") -> Run:
    run = Run(base_url="http://127.0.0.1:8000",
              settings={"scenario": "/auth/me", "mode": mode, "concurrency": 2,
                        "rate_per_s": 100 if mode == "open-loop" else None},
              generator={"mode": mode, "completed": len(cold_ms) + len(warm_ms), "errors": 1,
                         "elapsed_s": 1.0, "achieved_rate_per_s": 10.0, "fell_behind": False})
    for phase, values in (("cold", cold_ms), ("warm", warm_ms)):
        for v in values:
            run.record("GET /auth/me", phase).add_latency(v * 1000, v * 1000)
            run.record("GET /auth/me", "all").add_latency(v * 1000, v * 1000)
    run.record("GET /auth/me", "all").add_error("503")
    return run


def test_table_escapes_pipes() -> None:
    assert table(["a", "b"], [["x|y", "1"]], ["left", "right"]) == (
        "| a | b |\n|---|---:|\n| x\\|y | 1 |")


def test_run_markdown() -> None:
    text = render_run(_run([150.0, 152.0, 149.0], [1.0, 1.1, 0.9, 1.0]))
    lines = text.splitlines()
    assert lines[0] == "### perfkit bench: /auth/me on http://127.0.0.1:8000"
    assert lines[2].startswith("| route | phase | count | mean ms | p50 ms |")
    assert lines[4].startswith("| GET /auth/me | cold | 3 | 150 | 150 |")
    assert lines[5].startswith("| GET /auth/me | warm | 4 | 1.00 |")
    assert lines[6].endswith("| 503: 1 |")
    assert any("cold/warm = " in line and "warm is faster" in line for line in lines)
    assert any("closed loop, 2 connection(s)" in line for line in lines)


def test_one_cold_sample_is_shown_as_one_sample() -> None:
    text = render_run(_run([150.0], [1.0, 1.2]))
    assert "| GET /auth/me | cold | 1 | 150 | - | - | - | - | (1 sample) |" in text
    assert "1 cold sample (150 ms)" in text and "not a measurement" in text


def test_open_loop_and_fell_behind_are_said() -> None:
    run = _run([150.0, 151.0], [1.0, 1.1], mode="open-loop")
    run.generator.update(fell_behind=True, late_sends=40, max_send_lag_ms=80.0)
    text = render_run(run)
    assert "open loop at 100 req/s" in text and "fell behind" in text


def test_compare_markdown() -> None:
    before = _run([150.0] * 20, [1.0] * 50 + [1.1] * 50)
    after = _run([50.0] * 20, [1.0] * 50 + [1.1] * 50)
    text = render_compare(compare_runs(before, after))
    assert text.startswith("### perfkit compare\n\n| route | phase | n before/after |")
    cold = next(line for line in text.splitlines() if "| cold |" in line)
    assert "150 → 50.0" in cold and "faster" in cold
    warm = next(line for line in text.splitlines() if "| warm |" in line)
    assert "no-change" in warm
    # the pooled `all` row is shown but not judged: 2 comparisons in Holm's family
    assert "Holm-corrected over 2 comparison(s)" in text
    pooled = next(line for line in text.splitlines() if "| all |" in line)
    assert "not judged (mixed cold+warm)" in pooled


def _steps_run(steps: int) -> Run:
    run = _run([150.0, 151.0], [1.0, 1.1], mode="open-loop")
    run.settings.update(rate_per_s=30.0, iterations_per_s=30.0, steps_per_iteration=steps)
    run.generator.update(completed=150 * steps, iterations=150, elapsed_s=5.0,
                         achieved_rate_per_s=30.0 * steps, achieved_iterations_per_s=30.0,
                         fell_behind=True, late_sends=9, max_send_lag_ms=40.0)
    return run


def test_multi_step_open_loop_speaks_of_iterations() -> None:
    text = render_run(_steps_run(5))
    assert ("open loop at 30.0 iterations/s (5 steps each, up to 150 requests/s): first step "
            "of each iteration timed from its intended start (wrk2); later steps from their "
            "actual send") in text
    assert "achieved 30.0 iterations/s" in text
    assert "750 requests (150 iterations of 5 steps) in 5.0 s (150.0 req/s)" in text
    single = render_run(_steps_run(1))
    assert "open loop at 30.0 req/s: latency from each request's intended start" in single
    assert "iterations" not in single


def test_warnings_and_merges_are_said() -> None:
    run = _run([1.0, 1.1, 0.9, 1.05], [1.0, 1.1, 0.9, 1.0])
    assert "WARNING: GET /auth/me: cold samples look warm" in render_run(run)
    merged = run.merge(_run([150.0, 152.0], [1.0, 1.1]))
    assert "merged from 2 runs: counts are sums" in render_run(merged)
