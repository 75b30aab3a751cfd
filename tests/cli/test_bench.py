"""`perfkit bench / compare / merge` end to end: the reference server and the real demo stack."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bench.support import RefServer
from tests.support import CliResult, DemoStack

Cli = Callable[..., CliResult]


def test_bench_path_table_and_record(cli: Cli, ref: RefServer, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_TOKEN", "secret-token-never-printed")
    out = tmp_path / "run.json"
    result = cli("bench", "/sleep/5", "--base-url", ref.url, "-n", "30", "-c", "2",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "GET /sleep/5" in result.stdout and "p99.9 ms" in result.stdout
    assert "closed loop" in result.stdout
    assert not result.stderr.startswith("\n")  # no stray blank line from the progress bar
    # one token, two connections: at most 2 cold samples, too few for a cache verdict
    assert "GET /sleep/5: cache effect inconclusive" in result.stdout
    assert "cold sample(s): need 5" in result.stdout
    saved = out.read_text()
    assert json.loads(saved)["schema"] == "perfkit.run/2"
    assert "secret-token-never-printed" not in result.output + saved


def test_bench_json_and_open_loop(cli: Cli, ref: RefServer) -> None:
    result = cli("bench", "/fast", "--base-url", ref.url, "--rate", "50", "--duration", "1s",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "perfkit.run/2"
    assert data["settings"]["mode"] == "open-loop" and data["settings"]["iterations_per_s"] == 50
    assert {r["phase"] for r in data["routes"]} == {"cold", "warm", "all"}
    assert data["generator"]["latency_from"] == "intended start (wrk2)"
    # 50/s is easy on loopback; one send held up by a pause of the test process is not a
    # run that fell behind (test_open_loop_that_cannot_keep_its_rate_says_so has that case)
    assert data["generator"]["late_sends"] <= 2 and data["generator"]["max_send_lag_ms"] >= 0


def test_bench_markdown(cli: Cli, ref: RefServer) -> None:
    result = cli("bench", "/fast", "--base-url", ref.url, "-n", "5", "--format", "markdown")
    assert result.exit_code == 0
    assert "| route | phase | count |" in result.stdout


def test_error_budget_exit_1(cli: Cli, ref: RefServer) -> None:
    result = cli("bench", "/status/500", "--base-url", ref.url, "-n", "10")
    assert result.exit_code == 1
    assert "500: 10" in result.stdout
    assert "error ratio 100.0% is above the budget 1.0%" in result.stderr
    assert cli("bench", "/status/500", "--base-url", ref.url, "-n", "4",
               "--max-error-ratio", "1").exit_code == 0


def test_unreachable_exit_3_one_line(cli: Cli) -> None:
    result = cli("bench", "/auth/me", "--base-url", "http://user:pw@127.0.0.1:9", "-n", "3")
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unreachable" in lines[0] and "pw" not in lines[0]


def test_usage_errors_exit_2(cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    assert cli("bench", "no_such_scenario", "--base-url", ref.url).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - path: /a\n    method: FETCH\n")
    result = cli("bench", str(bad), "--base-url", ref.url)
    assert result.exit_code == 2 and f"{bad}:3: steps[0].method" in result.stderr
    assert cli("bench", "/fast", "--base-url", ref.url, "--duration", "soon").exit_code == 2


def _bench(cli: Cli, url: str, path: str, out: Path) -> None:
    result = cli("bench", path, "--base-url", url, "-n", "120", "-c", "2", "--out", str(out))
    assert result.exit_code == 0, result.output


@pytest.mark.integration  # seconds of real load or real processes
def test_compare_says_faster_and_no_change(cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    slow, fast, fast2 = tmp_path / "slow.json", tmp_path / "fast.json", tmp_path / "fast2.json"
    _bench(cli, ref.url, "/sleep/10", slow)
    _bench(cli, ref.url, "/sleep/1", fast)
    # same route name in both runs: rename the slow run's route to compare like for like
    for path in (slow, fast):
        data = json.loads(path.read_text())
        for route in data["routes"]:
            route["route"] = "GET /endpoint"
        path.write_text(json.dumps(data))
    result = cli("compare", str(slow), str(fast), "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["schema"] == "perfkit.compare/1"
    # one token: 1 cold sample, 119 warm; `all` pools them, so the verdict is on `warm`
    pooled = next(r for r in data["routes"] if r["phase"] == "all")
    assert pooled["mixed_phases"] and pooled["verdict"] == "no-change"
    row = next(r for r in data["routes"] if r["phase"] == "warm")
    assert row["verdict"] == "faster" and row["ci_pct"][1] < -50
    assert row["change_pct"]["p50"] < -50
    same = cli("compare", str(fast), str(fast), "--format", "json")
    assert all(r["verdict"] == "no-change" for r in json.loads(same.stdout)["routes"])
    table = cli("compare", str(slow), str(fast))
    assert "faster" in table.stdout and "Holm" in table.stdout
    _bench(cli, ref.url, "/sleep/1", fast2)  # GET /sleep/1 vs the renamed GET /endpoint
    nothing = cli("compare", str(slow), str(fast2))
    assert nothing.exit_code == 2 and nothing.stdout == ""
    assert "no route/phase in common: before has GET /endpoint (cold, warm, all); after has " \
           "GET /sleep/1 (cold, warm, all)" in nothing.stderr


def test_merge_adds_runs(cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    a, b, merged = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "all.json"
    _bench(cli, ref.url, "/fast", a)
    _bench(cli, ref.url, "/fast", b)
    result = cli("merge", str(a), str(b), "-o", str(merged), "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(merged.read_text())
    row = next(r for r in data["routes"] if r["phase"] == "all")
    assert row["count"] == 240
    assert cli("merge", str(a), "-o", str(merged)).exit_code == 2
    (tmp_path / "junk.json").write_text("{}")
    assert cli("merge", str(a), str(tmp_path / "junk.json"), "-o", str(merged)).exit_code == 2
    assert cli("compare", str(a), str(tmp_path / "junk.json")).exit_code == 2


def _demo_call(url: str, method: str = "GET", body: Any = None) -> Any:
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def cold_demo_backend(demo_stack: DemoStack) -> Iterator[str]:
    """The session's demo backend with its caches on and empty and no injected fault,
    whatever earlier tests left; their faults are put back afterwards."""
    from perfkit.demo import stack

    url = demo_stack.url
    before = _demo_call(f"{url}/_demo/faults")
    if not before.get("cache"):
        stack.restart_backend(cache=True)
    _demo_call(f"{url}/_demo/faults", "PUT", {"latency_ms": {}, "error_ratio": {}})
    _demo_call(f"{url}/_demo/cache/clear", "POST", {})
    try:
        yield url
    finally:
        _demo_call(f"{url}/_demo/faults", "PUT", {"latency_ms": before["latency_ms"],
                                                   "error_ratio": before["error_ratio"]})


def test_cold_vs_warm_on_the_demo_backend(cli: Cli, demo_stack: DemoStack,
                                          cold_demo_backend: str, tmp_path: Path) -> None:
    """The seed's "first time ~1 s, second time ~100 ms", measured: many users, many colds."""
    all_tokens = demo_stack.tokens()
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(all_tokens[-12:]) + "\n")  # users no other test touches
    out = tmp_path / "auth.json"
    result = cli("bench", "/auth/me", "--base-url", cold_demo_backend, "--tokens-file",
                 str(tokens), "--users", "12", "-n", "84", "-c", "3", "--out", str(out))
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())
    (speedup,) = run["speedups"]
    assert speedup["cold_count"] >= 12 and speedup["warm_count"] >= 40
    assert speedup["ci"][0] > 1.0  # the interval excludes 1
    assert speedup["cold_mean_ms"] > 100 and speedup["warm_mean_ms"] < speedup[
        "cold_mean_ms"] / 5
    assert all_tokens[-1] not in result.output and all_tokens[-1] not in out.read_text()
    assert "GET /auth/me: cache detected: cold/warm = " in result.stdout


def test_runbook_scenario_on_the_demo_backend(cli: Cli, demo_stack: DemoStack) -> None:
    result = cli("bench", "runbook", "--tokens-file", demo_stack.tokens_file, "--users", "4",
                 "-n", "40", "-c", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    routes = {r["route"] for r in data["routes"]}
    assert routes == {"GET /auth/me", "GET /accounts", "GET /conversations",
                      "GET /messages/{conversation_id}", "POST /webhooks/whatsapp"}
    assert all(not r["errors"] for r in data["routes"])


def test_on_the_demo_many_users_by_default_and_one_with_a_flush(
        cli: Cli, demo_stack: DemoStack) -> None:
    def cold_count(*args: str) -> int:
        result = cli("bench", "/auth/me", "-c", "1", *args, "--format", "json")
        assert result.exit_code == 0, result.output
        return next(r["count"] for r in json.loads(result.stdout)["routes"]
                    if r["phase"] == "cold")

    assert cold_count("-n", "30") == 10  # the demo's tokens file: 10 users, each cold once
    # the flushes make the cold samples: one user, cold once per flush round
    assert cold_count("-n", "20", "--flush-cmd", "true", "--flush-every", "10") == 2
    assert cold_count("-n", "20", "--flush-cmd", "true", "--flush-every", "10",
                      "--users", "2") > 2  # asked for: more users, more cold samples


@pytest.mark.integration  # seconds of real load or real processes
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])  # Ctrl-C, or a pod being stopped
def test_ctrl_c_prints_and_saves_what_was_measured(ref: RefServer, tmp_path: Path,
                                                   stop: str) -> None:
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfkit", "bench", "/sleep/10", "--base-url", ref.url,
         "--duration", "60s", "-c", "2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        proc.send_signal(getattr(signal, stop))
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "GET /sleep/10" in stdout and "interrupted: the results are partial" in stderr
    data = json.loads(out.read_text())
    assert data["interrupted"] is True
    assert next(r for r in data["routes"] if r["phase"] == "all")["count"] > 10


def test_bad_numbers_and_base_urls_exit_2_before_any_request(cli: Cli, ref: RefServer) -> None:
    for args in (["--rate", "inf"], ["--rate", "nan"], ["--rate", "1e400"],
                 ["--base-url", "notaurl"], ["--base-url", "127.0.0.1:8000"],
                 ["--base-url", "http://"]):
        argv = ["bench", "/fast", "-n", "3", *args]
        if "--base-url" not in args:
            argv += ["--base-url", ref.url]
        result = cli(*argv)
        assert result.exit_code == 2, (args, result.output)
        assert result.stdout == "", args
    bad = cli("bench", "/fast", "-n", "3", "--base-url", "notaurl")
    assert "base URL 'notaurl' is not an http:// or https:// URL" in bad.stderr
    assert "--base-url http://127.0.0.1:8000" in bad.stderr


def test_unwritable_out_fails_before_the_run(cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    for out in ("/proc/perfkit-run.json", "/proc/no-such-dir/run.json", str(tmp_path)):
        result = cli("bench", "/sleep/5", "--base-url", ref.url, "--duration", "20s",
                     "--out", out)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""  # nothing measured, nothing lost
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and f"cannot write --out {out}" in lines[0]
    a = tmp_path / "a.json"
    _bench(cli, ref.url, "/fast", a)
    merged = cli("merge", str(a), str(a), "-o", "/proc/perfkit-merged.json")
    assert merged.exit_code == 2 and "cannot write -o/--out" in merged.stderr


@pytest.mark.integration  # seconds of real load or real processes
def test_a_failed_save_still_prints_the_results(cli: Cli, ref: RefServer,
                                                tmp_path: Path) -> None:
    import shutil
    import threading

    folder = tmp_path / "runs"
    folder.mkdir()

    def replace_folder_by_a_file() -> None:  # the disk changes under a running bench
        shutil.rmtree(folder)
        folder.write_text("not a directory")

    timer = threading.Timer(0.5, replace_folder_by_a_file)
    timer.start()
    try:
        result = cli("bench", "/fast", "--base-url", ref.url, "--duration", "1.5s",
                     "--out", str(folder / "run.json"))
    finally:
        timer.cancel()
        timer.join()
    assert result.exit_code == 2, result.output
    assert "GET /fast" in result.stdout and "closed loop" in result.stdout
    assert f"cannot write --out {folder / 'run.json'}: Not a directory; nothing was written" \
        in result.stderr


SCENARIO = """
name: three
steps:
  - path: /items
    extract: {item_id: "$[1].id"}
  - path: /items/{item_id}
  - path: /fast
"""


def test_rate_of_a_scenario_is_iterations(cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    plan = tmp_path / "three.yaml"
    plan.write_text(SCENARIO)
    out = tmp_path / "three.json"
    result = cli("bench", str(plan), "--base-url", ref.url, "--rate", "20", "--duration", "1s",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    assert ("open loop at 20 iterations/s (3 steps each, up to 60 requests/s): first step "
            "of each iteration timed from its intended start (wrk2); later steps from their "
            "actual send") in result.stdout
    assert "60 requests (20 iterations of 3 steps)" in result.stdout
    data = json.loads(out.read_text())
    assert data["settings"]["iterations_per_s"] == 20 and "rate_per_s" not in data["settings"]
    assert data["generator"]["iterations"] == 20 and data["generator"]["requests"] == 60


@pytest.mark.integration  # seconds of real load or real processes
def test_the_cache_verdict_is_said_per_route(cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("\n".join(f"cli-prefilled-{i}" for i in range(20)) + "\n")
    args = ["bench", "/cached?hit_ms=20&miss_ms=50", "--base-url", ref.url, "--tokens-file",
            str(tokens), "-n", "100"]
    first = cli(*args)  # the server's cache is empty: the cold samples are misses
    assert first.exit_code == 0 and "GET /cached: cache detected: cold/warm = " in first.stdout
    out = tmp_path / "again.json"
    again = cli(*args, "--out", str(out))  # same tokens: the server knows them all
    assert again.exit_code == 0, again.output
    assert "GET /cached: no cache effect: cold/warm = " in again.stdout
    assert "within ±20%" in again.stdout
    (speedup,) = json.loads(out.read_text())["speedups"]
    assert speedup["cache_effect"] == "none" and speedup["threshold_pct"] == 20
    rows = [line for line in again.stdout.splitlines() if line.startswith(" GET /cached")]
    assert len(rows) == 1 and " all " in rows[0]  # one row: no cache effect to split by


def test_tokens_file_from_the_environment_beats_the_demo_token(
        cli: Cli, demo_stack: DemoStack, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = demo_stack.tokens()[300:303]
    listed = tmp_path / "tokens.txt"
    listed.write_text("\n".join(tokens) + "\n")
    monkeypatch.setenv("PERFKIT_TOKENS_FILE", str(listed))
    out = tmp_path / "run.json"
    result = cli("bench", "/auth/me", "-n", "9", "-c", "1", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    cold = next(r for r in json.loads(out.read_text())["routes"] if r["phase"] == "cold")
    assert cold["count"] == 3  # one cold sample per token of the file, not the demo's one


@pytest.mark.parametrize("args, message", [
    (["--header", "no-colon-secret"], "--header number 1 is not 'Name: value'"),
    (["-H", "A: b", "-H", "Bad Name: x"], "--header number 2 is not 'Name: value'"),
    (["--repeat", "0"], "--repeat must be between 1"),
    (["--cache-threshold", "-1"], "invalid --cache-threshold '-1': not a percentage >= 0"),
    (["--cache-threshold", "nan"], "invalid --cache-threshold 'nan': not a percentage >= 0"),
    (["--max-error-ratio", "5"], "invalid --max-error-ratio '5': above 100%"),
    (["--segment", "3/2"], "--segment '3/2' is not a share i/n"),
    (["--segment", "0/0"], "--segment '0/0' is not a share i/n"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--start-at", "2020-01-01T00:00:00Z"], "--start-at is more than a minute in the past"),
])
def test_bad_spread_and_verdict_flags_exit_2_in_one_line(cli: Cli, ref: RefServer,
                                                         args: list[str], message: str) -> None:
    result = cli("bench", "/fast", "--base-url", ref.url, "-n", "5", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_compare_min_change_must_be_finite(cli: Cli, tmp_path: Path) -> None:
    from tests.support import make_run

    run = tmp_path / "run.json"
    make_run({("GET /a", "all"): [20.0] * 30}).save(run)
    for bad in ("nan", "-5%", "5%%", "five"):
        result = cli("compare", str(run), str(run), "--min-change", bad)
        assert result.exit_code == 2 and "--min-change" in result.stderr, (bad, result.output)
        assert len(result.stderr.strip().splitlines()) == 1


def test_compare_takes_percentages_as_the_gate_does(cli: Cli, tmp_path: Path) -> None:
    """`--min-change 5%` and `--min-change 5` are one margin; it decides the verdict."""
    from tests.support import make_run

    before, after = tmp_path / "a.json", tmp_path / "b.json"
    make_run({("GET /a", "all"): [20.0, 20.2, 19.8] * 200}).save(before)
    make_run({("GET /a", "all"): [21.6, 21.8, 21.4] * 200}).save(after)  # 8% slower
    verdicts = {}
    for margin in ("5%", "5", "10%", "10"):
        result = cli("compare", str(before), str(after), "--min-change", margin,
                     "--run-noise", "0%", "--format", "json")
        assert result.exit_code == 0, (margin, result.output)
        data = json.loads(result.stdout)
        verdicts[margin] = {r["verdict"] for r in data["routes"] if r["route"] == "GET /a"}
    assert verdicts["5%"] == verdicts["5"] == {"slower"}
    assert verdicts["10%"] == verdicts["10"] != {"slower"}
    noisy = cli("compare", str(before), str(after), "--run-noise", "auto")
    assert noisy.exit_code == 0, noisy.output


@pytest.mark.integration  # seconds of real load or real processes
def test_a_killed_worker_is_named_and_the_others_results_kept(ref: RefServer,
                                                             tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    out = tmp_path / "workers.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "perfkit", "bench", "/fast", "--base-url", ref.url,
         "--rate", "50", "--duration", "5s", "--workers", "2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 15
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                      text=True, check=False).stdout.split()
            workers = [int(pid) for pid in children]
        assert len(workers) == 2, "the two workers did not start"
        time.sleep(2.5)  # both measure; then the second one dies mid-run
        victim = sorted(workers)[1]
        subprocess.run(["kill", "-9", str(victim)], check=True)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, stderr
    assert f"worker 2 (segment 2/2, pid {victim}) died (killed by signal 9)" in stderr
    assert "GET /fast" in stdout  # what the others measured is printed
    data = json.loads(out.read_text())
    assert data["failures"] and "worker 2" in data["failures"][0]
    kept = next(r for r in data["routes"] if r["phase"] == "all")["count"]
    assert 100 <= kept <= 130  # worker 1's 125 (its half of 250), not the dead one's


@pytest.mark.integration  # seconds of real load
def test_a_saturated_target_is_named_in_the_warning_and_the_record(
        cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    """A fixed pool (4 workers x 20 ms: 200/s) offered 400/s by 16 senders: the warning names
    the target's saturation, not the generator, and the record keeps the evidence."""
    from tests.test_schemas import problems

    out = tmp_path / "saturated.json"
    result = cli("bench", "/pool/20?workers=4", "--base-url", ref.url, "--rate", "400",
                 "--duration", "1500ms", "-c", "16", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "warning: the target is saturated, not the generator: " in result.stderr
    assert "generator fell behind" not in result.stderr
    data = json.loads(out.read_text())
    saturation = data["generator"]["saturation"]
    assert saturation["cause"] == "target" and saturation["senders"] == 16, saturation
    assert saturation["all_busy_share"] > 0.8 and saturation["late_all_busy"] > 0
    assert saturation["service_ms"]["route"] == "GET /pool/20"
    assert not problems("run", data)


def _database_ms(dsn: str) -> float:
    """All statements' execution time in this database so far (pg_stat_statements), without
    the reads of pg_stat_statements itself."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(total_exec_time), 0) FROM pg_stat_statements s JOIN pg_database d"
            " ON d.oid = s.dbid WHERE d.datname = current_database()"
            " AND s.query NOT ILIKE '%pg_stat_statements%'").fetchone()
    return float(row[0]) if row else 0.0


def test_a_run_with_a_dsn_records_its_sql(cli: Cli, demo_stack: DemoStack,
                                         tmp_path: Path) -> None:
    """One route of the demo: its statements, one messages query per request, the database's
    time per request as pg_stat_statements counts it, and its share of the latency, of the
    size EXPLAIN ANALYZE gives (how close, on a quiet machine: benchmarks/db_share.py)."""
    from tests.demo.support import heaviest_conversation

    dsn = demo_stack.dsn
    conversation = heaviest_conversation(dsn)
    tokens = tmp_path / "token.txt"
    tokens.write_text(demo_stack.tokens()[-20] + "\n")
    out = tmp_path / "sql.json"
    before_ms = _database_ms(dsn)
    result = cli("bench", f"/messages/{conversation}", "--tokens-file", str(tokens), "-n", "150",
                 "--warmup", "30", "--out", str(out))
    spent_ms = _database_ms(dsn) - before_ms
    assert result.exit_code == 0, result.output
    assert "database: the run's statements, costliest first" in result.stdout
    db = json.loads(out.read_text())["db"]
    messages = next(s for s in db["statements"] if "FROM messages" in s["query"])
    assert messages["calls_per_request"] == pytest.approx(1.0)
    # What the database counted during the run, per request: the test's window holds the run
    # and its 30 warm-up requests, so between 150/180 of it and all of it.
    assert spent_ms / 180 <= db["db_ms_per_request"] * 1.02, (db, spent_ms)
    assert db["db_ms_per_request"] <= spent_ms / 150 * 1.02, (db, spent_ms)
    route = next(r for r in json.loads(out.read_text())["routes"] if r["phase"] == "all")
    assert db["share_of_latency"] == pytest.approx(
        db["db_ms_per_request"] / route["latency_ms"]["mean"], rel=1e-6)
    # of the service time (from the send): in a closed loop, the latency itself
    assert db["share_of_service_time"] == pytest.approx(
        db["db_ms_per_request"] / route["latency_raw_ms"]["mean"], rel=1e-6)
    assert "of the mean service time (latency from the send)" in result.stdout
    # Of the right size: a wrong unit would be 1000x off (a wrong count of calls is caught
    # above); two timings minutes apart on a shared 2-core machine differ by up to ~40%.
    from tests.demo.support import explain_ms

    plans = explain_ms(dsn, str(conversation))
    expected = sum(plans) / len(plans) / route["latency_ms"]["mean"]
    assert expected / 2 <= db["share_of_latency"] <= expected * 2, (db, expected)


def test_the_database_share_of_an_open_loop_above_capacity_is_of_the_service_time(
        cli: Cli, demo_stack: DemoStack, tmp_path: Path) -> None:
    """One sender offered more than it can send: the client queues, so the latency from the
    intended start grows far beyond the service time; the database share is of the service
    time (the raw histograms), the share of the latency kept beside it."""
    from tests.demo.support import heaviest_conversation

    dsn = demo_stack.dsn
    conversation = heaviest_conversation(dsn)
    tokens = tmp_path / "token.txt"
    tokens.write_text(demo_stack.tokens()[-20] + "\n")
    out = tmp_path / "queued.json"
    result = cli("bench", f"/messages/{conversation}", "--tokens-file", str(tokens),
                 "--rate", "1000", "-c", "1", "--duration", "1s", "--timeout", "2s",
                 "--max-error-ratio", "100%", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    db, route = data["db"], next(r for r in data["routes"] if r["phase"] == "all")
    service_ms, latency_ms = route["latency_raw_ms"]["mean"], route["latency_ms"]["mean"]
    assert latency_ms > 3 * service_ms, route  # the queue on the client
    assert db["share_of_service_time"] == pytest.approx(db["db_ms_per_request"] / service_ms,
                                                        rel=1e-6)
    assert db["share_of_latency"] == pytest.approx(db["db_ms_per_request"] / latency_ms,
                                                   rel=1e-6)
    assert "of the mean service time (latency from the send); " in result.stdout
    assert "of the mean latency from the intended start" in result.stdout


def test_engine_option_is_in_the_record_and_checked(cli: Cli, ref: RefServer) -> None:
    for engine, used in (("aiohttp", "aiohttp"), ("auto", "h1")):
        result = cli("bench", "/fast", "--base-url", ref.url, "-n", "5", "--engine", engine,
                     "--format", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["generator"]["engine"] == used
    bad = cli("bench", "/fast", "--base-url", ref.url, "-n", "5", "--engine", "curl")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert "--engine must be auto, h1 or aiohttp, not 'curl'" in bad.stderr
