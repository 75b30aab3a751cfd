"""Hand-built runs for renderer tests (no measurement, no statistics in the renderer)."""

from __future__ import annotations

from perfkit.bench.provenance import Generator, LoopMode, RunSettings
from perfkit.bench.record import Phase, Run


def hand_run(cold_ms: list[float], warm_ms: list[float], *,
             mode: LoopMode = LoopMode.CLOSED, steps: int = 1) -> Run:
    rate = 100.0 if mode is LoopMode.OPEN else None
    run = Run(base_url="http://127.0.0.1:8000",
              settings=RunSettings(scenario="/auth/me", mode=mode, concurrency=2,
                                   iterations_per_s=rate, steps_per_iteration=steps),
              generator=Generator(mode=mode, requests=len(cold_ms) + len(warm_ms) + 1,
                                  errors=1, elapsed_s=1.0))
    for phase, values in ((Phase.COLD, cold_ms), (Phase.WARM, warm_ms)):
        for v in values:
            run.record("GET /auth/me", phase).add_latency(v * 1000, v * 1000)
            run.record("GET /auth/me", Phase.ALL).add_latency(v * 1000, v * 1000)
    run.record("GET /auth/me", Phase.ALL).add_error("503")
    return run
