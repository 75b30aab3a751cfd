"""`perfkit k8s-job`: the files and steps it writes, its refusals, and the whole flow run with the
pods emulated as local processes against the reference server (tests/support/k8s.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from perfkit.bench.record import Phase, Run
from perfkit.bench.series import Series
from tests.bench.support import RefServer
from tests.support import CliResult
from tests.support.k8s import Cluster, container, load, schema_errors

Cli = Callable[..., CliResult]
IMAGE = "registry.example.com/perfkit:0.1.0"
COMMON = ("--image", IMAGE, "--results-pvc", "perfkit-results", "--base-url",
          "http://api.default.svc:8000")
SEGMENTS = 3
RATE, DURATION_S = 100, 2
START_IN = "10s"  # the emulated pods start three Python processes on a busy 2-core machine
MAX_START_OFFSET_S = 1.0
# A user's requests ~400 ms apart: its cold answer (~1 ms) is back long before its next send,
# so each user has exactly one cold sample even through a client stall of a few hundred ms
# (at 200 ms apart, one single-process run of a loaded suite counted 26 colds for 20 users).
USERS = 40


def test_writes_both_jobs_and_prints_the_steps(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "jobs" / "checkout.yaml"
    result = cli("k8s-job", "/auth/me", "--segments", "4", "--rate", "400", "--duration", "5m",
                 *COMMON, "--name", "checkout", "-o", str(out))
    assert result.exit_code == 0, result.output
    merge = tmp_path / "jobs" / "checkout-merge.yaml"
    assert schema_errors(load(out) + load(merge)) == []
    assert "perfkit k8s-job: checkout" in result.stdout
    for command in (f"kubectl apply -f {out}", "kubectl wait --for=condition=complete "
                    "job/checkout --timeout=", f"kubectl apply -f {merge}",
                    "kubectl logs job/checkout-merge -c record > checkout.json",
                    "perfkit gate checkout.json"):
        assert command in result.stdout
    assert f"wrote {out}" in result.stderr
    assert "--engine" not in container(load(out)[-1], "bench")["args"]  # auto: each pod's own


def test_the_engine_reaches_every_pod(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "fallback.yaml"
    result = cli("k8s-job", "/auth/me", "--segments", "2", "--duration", "1m", *COMMON,
                 "--engine", "aiohttp", "-o", str(out))
    assert result.exit_code == 0, result.output
    args = container(load(out)[-1], "bench")["args"]
    assert args[args.index("--engine") + 1] == "aiohttp"


def test_json_and_markdown(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("k8s-job", "runbook", "--segments", "2", "-n", "1000", *COMMON,
                 "--name", "mix", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["files"] == {"job": "mix.yaml", "merge": "mix-merge.yaml", "record": "mix.json"}
    assert plan["segments"] == 2 and plan["results"] == "perfkit-results"
    documents = load(tmp_path / "mix.yaml")
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job"]  # the scenario travels
    assert "name: runbook" in next(iter(documents[0]["data"].values()))
    markdown = cli("k8s-job", "/x", "--segments", "2", "-n", "10", *COMMON, "--name", "md",
                   "--format", "markdown")
    assert "| step | why | command |" in markdown.stdout
    assert "`kubectl apply -f md.yaml`" in markdown.stdout


def test_default_name_is_the_time(cli: Cli, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("k8s-job", "/x", "--segments", "2", "--duration", "1m", *COMMON,
                 "--format", "json")
    assert result.exit_code == 0, result.output
    name = json.loads(result.stdout)["name"]
    assert name.startswith("perfkit-2") and (tmp_path / f"{name}.yaml").is_file()


BAD = [
    (("--duration", "1m", *COMMON), "--segments N is required"),
    (("--segments", "0", "--duration", "1m", *COMMON), "--segments must be between 2"),
    (("--segments", "3", *COMMON), "the run has no bound: give --duration or -n"),
    (("--segments", "3", "--duration", "1m", "--image", "Not An Image", "--results-pvc", "r",
      "--base-url", "http://api:8000"), "is not a container image reference"),
    (("--segments", "3", "--duration", "1m", "--results-pvc", "r", "--base-url",
      "http://api:8000"), "--image IMAGE (perfkit installed) or --pip-install"),
    (("--segments", "3", "--duration", "1m", "--image", IMAGE, "--results-pvc", "r"),
     "--base-url URL or --base-url-secret"),
    (("--segments", "3", "--duration", "1m", *COMMON, "-o", "/proc/perfkit-job.yaml"),
     "cannot write -o/--out /proc/perfkit-job.yaml"),
    (("--segments", "3", "--duration", "1m", *COMMON, "--start-at", "2020-01-01T00:00:00Z"),
     "is not within the next 24 hours"),
    (("--segments", "3", "--duration", "1m", *COMMON, "--start-at", "1", "--start-in", "1m"),
     "give --start-at or --start-in, not both"),
    (("--segments", "3", "--duration", "1m", *COMMON, "--tokens-secret", "tokens"),
     "--tokens-secret 'tokens' is not SECRET/KEY"),
    (("--segments", "3", "--duration", "1m", *COMMON, "--engine", "h2"),
     "--engine must be auto, h1 or aiohttp, not 'h2'"),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_exit_2_one_line(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   args: tuple[str, ...], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("k8s-job", "/auth/me", *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert result.stdout == "" and list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.integration  # seconds of real load or real processes
def test_emulated_pods_merge_into_the_single_process_run(cli: Cli, ref: RefServer,
                                                         tmp_path: Path) -> None:
    """The whole flow: generate, run each pod's exact container command with its index, run
    the merge Job's containers, copy out what `kubectl logs` would print; the merged record
    counts what one process sends for the same schedule."""
    tokens = [f"user-{k}-token" for k in range(USERS)]
    job_file = tmp_path / "job.yaml"
    result = cli("k8s-job", "/fast", "--segments", str(SEGMENTS), "--rate", str(RATE),
                 "--duration", f"{DURATION_S}s", "--base-url-secret", "backend/url",
                 "--tokens-secret", "perfkit/tokens", "--users", str(USERS), "--image", IMAGE,
                 "--results-pvc", "perfkit-results", "--name", "e2e", "--start-in", START_IN,
                 "-o", str(job_file), "--format", "json")
    assert result.exit_code == 0, result.output
    start_at = datetime.fromisoformat(json.loads(result.stdout)["start_at"]).timestamp()
    bench_docs, merge_docs = load(job_file), load(tmp_path / "job-merge.yaml")
    assert schema_errors(bench_docs + merge_docs) == []
    cluster = Cluster(tmp_path / "cluster", secrets={
        "backend": {"url": ref.url}, "perfkit": {"tokens": "\n".join(tokens) + "\n"}})

    pods = cluster.run_job(bench_docs[-1])
    assert [[(c.container, c.code) for c in pod] for pod in pods] == [[("bench", 0)]] * SEGMENTS, (
        [c.stderr for pod in pods for c in pod])
    merge_pod = cluster.run_job(merge_docs[0])[0]
    assert [(c.container, c.code) for c in merge_pod] == [("merge", 0), ("record", 0)], (
        merge_pod[0].stderr)
    copied = merge_pod[1].stdout  # `kubectl logs job/e2e-merge -c record > e2e.json`
    folder = cluster.claim("perfkit-results") / "e2e"
    assert copied == (folder / "merged.json").read_text()
    merged = Run.from_json(json.loads(copied))
    segments = [Run.load(folder / f"segment-{k}.json") for k in range(SEGMENTS)]

    tokens_file = tmp_path / "tokens.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    single_file = tmp_path / "single.json"
    single = cli("bench", "/fast", "--base-url", ref.url, "--rate", str(RATE), "--duration",
                 f"{DURATION_S}s", "--tokens-file", str(tokens_file), "--users", str(USERS),
                 "--out", str(single_file))
    assert single.exit_code == 0, single.output
    _assert_same_counts(merged, Run.load(single_file), bench_container_args(bench_docs))
    _assert_segments_complete(merged, segments, start_at)


def bench_container_args(documents: list[dict[str, object]]) -> list[str]:
    return list(container(documents[-1], "bench")["args"])  # type: ignore[arg-type]


def _assert_same_counts(merged: Run, single: Run, pod_args: list[str]) -> None:
    planned = RATE * DURATION_S
    assert pod_args[:2] == ["bench", "/fast"] and "--tokens-file" in pod_args
    assert single.generator.requests == merged.generator.requests == planned
    assert merged.generator.iterations == planned and merged.total_errors == 0
    counts = {(name, phase): record.count for name, run in (("merged", merged), ("single", single))
              for phase in Phase if (record := run.get("GET /fast", phase)) is not None}
    assert counts[("merged", Phase.ALL)] == counts[("single", Phase.ALL)] == planned
    for name in ("merged", "single"):
        assert counts[(name, Phase.COLD)] + counts[(name, Phase.WARM)] == planned, name
    # users partitioned: each one cold once (a user in two segments would double them). A
    # user's second request sent before its first answered is a miss too (a clean clone's
    # loaded run: 50 colds of 40 users in the single process): USERS or a few more
    for name in ("merged", "single"):
        assert USERS <= counts[(name, Phase.COLD)] <= 1.5 * USERS, (name, counts)


def _assert_segments_complete(merged: Run, segments: list[Run], start_at: float) -> None:
    """Every intended start once: each segment ran its residue class of the schedule, every
    segment is in the provenance with its offset from the shared start, and the series add."""
    planned = RATE * DURATION_S
    shares = [len(range(k, planned, SEGMENTS)) for k in range(SEGMENTS)]
    assert [s.generator.iterations for s in segments] == shares
    assert [(s.segment.index, s.segment.count) for s in segments if s.segment] == [
        (k, SEGMENTS) for k in range(SEGMENTS)]
    sources = merged.provenance.merged_from
    assert sorted(s.segment.index for s in sources if s.segment) == list(range(SEGMENTS))
    for source in sources:
        offset_s = datetime.fromisoformat(source.started_at).timestamp() - start_at
        assert abs(offset_s) < MAX_START_OFFSET_S, (source.segment, offset_s)
    series = merged.series
    assert series is not None and sum(series.intended or []) == planned
    assert series.intended == _bucket_sum(series, segments, lambda s: s.intended or [])
    for line in series.lines:
        key = (line.route, line.phase)
        assert line.counts() == _bucket_sum(series, segments, lambda s, key=key: _counts(s, key))
    assert sum(sum(line.counts()) for line in series.lines) == planned


def _counts(series: Series, key: tuple[str, str]) -> list[int]:
    line = series.line(*key)
    return line.counts() if line is not None else [0] * series.buckets


def _bucket_sum(merged: Series, runs: list[Run],
                values: Callable[[Series], list[int]]) -> list[int]:
    """The segments' per-bucket values added on the wall clock, bucket by bucket."""
    total = [0] * merged.buckets
    for run in runs:
        assert run.series is not None and run.series.width_s == merged.width_s
        offset = round((run.series.start_epoch_s - merged.start_epoch_s) / merged.width_s)
        for k, value in enumerate(values(run.series)):
            total[offset + k] += value
    return total
