"""`perfkit gate --baseline` on real bench runs of the demo backend: A/A passes, +15% fails.

The route is GET /auth/me with one token (a cache hit after the warm-up) plus a fixed latency
injected through the demo's fault knob: 100 ms for the baseline and the A/A run, 115 ms (+15%)
for the regression. The backend adds ~5 ms of its own, which drifts from run to run; at 100 ms
that drift stays a few percent of the mean. Measured here (6 rounds idle, 4 with two busy
loops on the 2 cores): A/A changes -2.2..+3.4% (lowest lower bound +1.5%), the regression
+10.8..+17.4% (lowest lower bound +8.5%); the 5% margin sits between the two.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import CliResult, DemoStack

Cli = Callable[..., CliResult]

BASE_MS = 100.0
SLOW_MS = BASE_MS * 1.15
MARGIN = "5%"


def set_faults(backend_url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{backend_url}/_demo/faults", method="PUT",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        resp.read()


def gate_check(result: CliResult) -> dict[str, Any]:
    """The warm latency check against the baseline in the gate's JSON output. The one cold
    sample (the token's first request: the warm-up spares the users' cache keys) is
    inconclusive; every other check, e.g. the error ratio's, must pass."""
    data = json.loads(result.stdout)
    assert data["schema"] == "perfkit.gate/1"
    (check,) = [c for c in data["checks"] if c["check"] == "warm.mean vs baseline"]
    assert check["route"] == "GET /auth/me"
    (cold,) = [c for c in data["checks"] if c["check"] == "cold.mean vs baseline"]
    assert cold["status"] == "inconclusive"
    assert all(c["passed"] for c in data["checks"] if c not in (check, cold)), data
    return dict(check)


def test_gate_passes_a_a_and_fails_a_15pct_regression(
        cli: Cli, demo_stack: DemoStack, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray perfkit.yaml thresholds
    backend = demo_stack.url
    tokens = tmp_path / "token.txt"
    # A token no other test uses: its first requests are real misses of the auth cache.
    tokens.write_text(demo_stack.tokens()[-13] + "\n")

    def bench(name: str) -> Path:
        out = tmp_path / f"{name}.json"
        # 250 requests, 10 connections: ~2.7 s a run; the warm-up opens the connections
        # (without the token: it spares the user's cache key).
        result = cli("bench", "/auth/me", "--base-url", backend, "--tokens-file", str(tokens),
                     "-n", "250", "-c", "10", "--warmup", "10", "--out", str(out))
        assert result.exit_code == 0, result.output
        return out

    try:
        set_faults(backend, {"latency_ms": {"/auth/me": BASE_MS}})
        base = bench("base")
        same = bench("same")
        set_faults(backend, {"latency_ms": {"/auth/me": SLOW_MS}})
        slow = bench("slow")
    finally:
        set_faults(backend, {})

    run = json.loads(base.read_text())
    (record,) = [r for r in run["routes"] if r["phase"] == "all"]
    assert record["count"] == 250 and not record["errors"]
    assert record["latency_ms"]["p50"] >= BASE_MS  # the injected latency is really there

    a_a = cli("gate", str(same), "--baseline", str(base), "--max-regression", MARGIN,
              "--format", "json")
    assert a_a.exit_code == 0, a_a.output
    check = gate_check(a_a)
    assert check["passed"] and check["status"] == "pass"
    low, high = check["ci_pct"]
    assert low <= check["value"] <= high and low < 5.0, check  # an interval, not a verdict

    a_b = cli("gate", str(slow), "--baseline", str(base), "--max-regression", MARGIN,
              "--format", "json")
    assert a_b.exit_code == 1, a_b.output
    check = gate_check(a_b)
    assert not check["passed"] and check["status"] == "fail"
    assert check["ci_pct"][0] > 5.0 and 5.0 < check["value"] < 30.0, check
    assert "beyond the 5% margin" in check["detail"]

    table = cli("gate", str(slow), "--baseline", str(base), "--max-regression", MARGIN)
    assert table.exit_code == 1 and "FAILED" in table.stdout
