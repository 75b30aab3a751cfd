"""perfkit on a backend it was not shaped on, as a new user meets it: the wheel in a fresh
venv, an empty folder, nothing but PERFKIT_BASE_URL, DATABASE_URL and PROMETHEUS_URL.

The backend is tests/otherapp (aiohttp, an API-key header, starlette-exporter's metric
names, a cache log of its own format, its own database and role). Every command of the tour
either works or fails with one line saying what is missing; no secret (the role's password,
the API key) ever shows in an output or a file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.otherapp.support import DB_PASSWORD
from tests.support.packaging import fresh_venv, run_perfkit

CACHE_PATTERN = r"cache lookup (?P<result>\w+) key=(?P<key>\S+)"


class User:
    """A shell with only the three variables, in an empty folder."""

    def __init__(self, bin_dir: Path, home: Path, other: Any) -> None:
        self.bin_dir, self.home, self.other = bin_dir, home, other
        self.env = {"PERFKIT_BASE_URL": other.base_url, "DATABASE_URL": other.dsn,
                    "PROMETHEUS_URL": other.prometheus_url,
                    "PERFKIT_STATE_DIR": str(home.parent / "state"), "COLUMNS": "120"}
        self.outputs: list[str] = []

    def run(self, *args: str, code: int = 0, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
        done = run_perfkit(self.bin_dir, cwd or self.home, *args, env=self.env)
        self.outputs.append(done.stdout + done.stderr)
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        if code:
            assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
        return done

    def bench(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("bench", *args, "-H", f"X-API-Key: {self.other.api_key}")


@pytest.fixture
def user(dist: Path, other_stack: Any, tmp_path: Path) -> User:
    (wheel,) = dist.glob("perfkit-*.whl")
    home = tmp_path / "empty"
    home.mkdir()
    return User(fresh_venv(tmp_path / "venv", wheel), home, other_stack)


def test_the_tour_on_a_backend_perfkit_was_not_shaped_on(user: User) -> None:
    _bench_compare_gate_merge_plot(user)
    _mark_report_events_doctor(user)
    _indexes(user)
    _init_without_an_api_document(user)
    _what_is_missing_is_one_line(user)
    secrets = (DB_PASSWORD, user.other.api_key)
    written = [p.read_text(errors="replace") for p in user.home.rglob("*") if p.is_file()]
    assert not any(s in text for s in secrets for text in (*user.outputs, *written))


def _bench_compare_gate_merge_plot(user: User) -> None:
    first = user.bench("/notes?owner=7", "-n", "120", "-c", "2", "--out", "a.json")
    assert "GET /notes" in first.stdout and "errors" in first.stdout
    assert json.loads((user.home / "a.json").read_text())["schema"] == "perfkit.run/2"
    user.bench("/notes?owner=7", "-n", "120", "-c", "2", "--out", "b.json")
    assert "GET /notes" in user.run("compare", "a.json", "b.json").stdout
    user.run("gate", "b.json", "--baseline", "a.json", "--max-regression", "300%")
    user.run("merge", "a.json", "b.json", "-o", "ab.json")
    user.run("plot", "a.json", "b.json", "-o", "page.html")
    keyed = user.bench("/notes/42", "-n", "30", "-c", "1", "--format", "json")
    routes = json.loads(keyed.stdout)["routes"]
    assert not any(r["errors"] for r in routes)  # the key went in X-API-Key


def _mark_report_events_doctor(user: User) -> None:
    # An open loop at a moderate rate, as for any latency check: a closed loop saturates the
    # two cores, and its latency then moves with whatever else runs on them.
    user.bench("/notes?owner=9", "--duration", "3s", "--rate", "40", "--out", "before.json")
    mark = user.run("mark", "deploy 42")
    assert user.other.base_url in mark.stderr + mark.stdout
    user.bench("/notes?owner=9", "--duration", "3s", "--rate", "40", "--out", "after.json")
    report = user.run("report", "--since", "3s")
    assert "starlette-exporter" in report.stdout and "/notes" in report.stdout
    assert "deploy 42" in user.run("events").stdout
    # The windows around the two runs, from their records: the before window ends where the
    # first run's traffic ended, the after window where the second's did. Ending the before
    # window at the mark instead left it the first run's tail only: the seconds `perfkit mark`
    # takes to start (more on a busy machine) had no traffic, and with fewer than 20 requests
    # in it the route was not judged (the box skipped, 1 run in 2 on a fresh clone). A
    # deployed app has traffic all along; this test's has it only while a run lasts.
    split, until = (json.loads((user.home / f"{side}.json").read_text())["ended_at"]
                    for side in ("before", "after"))
    healthy = user.run("doctor", "--split", split, "--since", "3s", "--until", until,
                       "--format", "json")
    checks = json.loads(healthy.stdout)["checks"]
    boxes = {b["check"]: b["status"] for b in checks}
    assert "fail" not in boxes.values() and boxes["backend answers"] == "pass", checks
    assert boxes["no route slower than before"] == "pass", [  # judged, and not slower
        c for c in checks if c["check"] == "no route slower than before"]
    strict = user.home / "strict"
    strict.mkdir()
    (strict / "perfkit.yaml").write_text('checks:\n  - {route: /notes, mean: "< 0.001ms"}\n')
    broken = run_perfkit(user.bin_dir, strict, "doctor", "--split", split, "--since", "3s",
                         "--until", until, env=user.env)
    assert broken.returncode == 1 and "/notes mean < 0.001ms" in broken.stdout
    user.outputs.append(broken.stdout + broken.stderr)


def _indexes(user: User) -> None:
    advice = user.run("advise-indexes", "--out", "advised.sql", "--format", "json")
    proposed = json.loads(advice.stdout)["indexes"]
    assert [(i["table"], [c["name"] for c in i["columns"]]) for i in proposed] == [
        ("notes", ["owner_id", "created_at"])]
    user.run("apply-indexes", "advised.sql")
    verified = user.run("verify-indexes", "advised.sql", "--explain", "--format", "json")
    assert all(i["state"] == "ok" for i in json.loads(verified.stdout)["indexes"])
    assert json.loads(user.run("advise-indexes", "--format", "json").stdout)["indexes"] == []


def _init_without_an_api_document(user: User) -> None:
    mine = user.home / "mine"
    mine.mkdir()
    started = user.run("init", cwd=mine)
    assert "openapi" in started.stderr.lower()  # it says it found none, and starts anyway
    assert (mine / "perfkit.yaml").exists() and list((mine / "scenarios").glob("*.yaml"))


def _what_is_missing_is_one_line(user: User) -> None:
    log = str(user.other.log_file)
    counted = user.run("cache-stats", log, "--pattern", CACHE_PATTERN, "--format", "json")
    (note,) = json.loads(counted.stdout)["families"]
    assert note["family"] == "note" and note["hits"] > 0 and note["misses"] > 0
    for args, code, said in (
            (("cache-stats",), 2, "log"),
            (("apply-indexes", "--dry-run"), 2,
             "give your migration: perfkit apply-indexes path/to/indexes.sql"),
            (("verify-indexes",), 2,
             "give your migration: perfkit verify-indexes path/to/indexes.sql"),
            (("k8s-job", "/notes", "--segments", "2", "--duration", "1m", "--image", "img:1",
              "--results-pvc", "results"), 2, "--base-url")):
        done = user.run(*args, code=code)
        assert said in done.stderr.lower(), (args, done.stderr)
