"""examples/github-actions/perf.yml, as a user copies it: actionlint passes, and its steps,
run in order the way a runner runs them (bash -eo pipefail, the workspace as the working
folder, GITHUB_STEP_SUMMARY and RUNNER_TEMP in temp files), bench the base and the head of a
real git repository, each starting its own app: the gate passes when the head is as fast as
the base, and fails the job when the head is slower, with the JUnit XML, the step summary
and plot.html written either way."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfkit.demo.procs import free_port

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "examples" / "github-actions" / "perf.yml"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
STEP_TIMEOUT_S = 120

APP = '''\
"""A small app: every GET answers after DELAY_S (loopback only)."""
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY_S = {delay}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        time.sleep(DELAY_S)
        body = b'{{"ok": true}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
'''


def test_the_recipe_passes_actionlint() -> None:
    actionlint = Path(sys.executable).with_name("actionlint")
    assert actionlint.exists(), "actionlint comes with the test extra (pip install -e '.[test]')"
    done = subprocess.run([str(actionlint), str(RECIPE)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


def _commit(repo: Path, delay_s: float, message: str) -> str:
    (repo / "app.py").write_text(APP.format(delay=delay_s))
    (repo / "NOTES.md").write_text(f"{message}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@dataclass
class Job:
    """What a run of the job left: each step's exit code (None: skipped), the files."""

    codes: dict[str, int | None]
    summary: str
    perf: Path
    uploaded: list[Path]
    output: str


class Runner:
    """A GitHub runner's way with one job's steps, for the recipe: `uses:` steps emulated
    (the checkout is the repository at the head; setup-python is this Python; the upload
    checks its path), `run:` steps run by bash in the workspace with the workflow's and the
    step's env, `${{ }}` expressions replaced from `contexts` (an unknown one fails)."""

    def __init__(self, workflow: dict[str, Any], workspace: Path, temp: Path,
                 contexts: dict[str, str]) -> None:
        self.workflow, self.workspace, self.temp, self.contexts = (workflow, workspace, temp,
                                                                   contexts)
        self.summary = temp / "step_summary.md"
        self.summary.touch()
        self.runner_temp = temp / "runner"
        self.runner_temp.mkdir()
        self.uploaded: list[Path] = []
        self.output: list[str] = []

    def expand(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            assert match.group(1) in self.contexts, f"unknown expression {match.group(0)}"
            return self.contexts[match.group(1)]

        return EXPRESSION.sub(value, str(text))

    def env(self, step: dict[str, Any]) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        base = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                "HOME": os.environ.get("HOME", str(self.temp)), "LANG": "C.UTF-8",
                "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(self.workspace),
                "GITHUB_STEP_SUMMARY": str(self.summary), "RUNNER_TEMP": str(self.runner_temp),
                "GITHUB_ENV": str(self.temp / "github_env"),
                "GITHUB_OUTPUT": str(self.temp / "github_output"),
                "PERFKIT_STATE_DIR": str(self.temp / "perfkit-state")}
        declared = {**self.workflow.get("env", {}), **step.get("env", {})}
        return {**base, **{k: self.expand(v) for k, v in declared.items()}}

    def uses(self, step: dict[str, Any]) -> int:
        action = str(step["uses"]).split("@")[0]
        if action == "actions/upload-artifact":
            path = Path(self.expand(step["with"]["path"]))
            self.uploaded = sorted(p for p in path.rglob("*") if p.is_file())
            return 0
        assert action in ("actions/checkout", "actions/setup-python"), action
        return 0

    def run(self, step: dict[str, Any]) -> int:
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                               self.expand(step["run"])], cwd=self.workspace,
                              env=self.env(step), capture_output=True, text=True,
                              timeout=STEP_TIMEOUT_S, check=False)
        self.output.append(f"== {step.get('name')}: exit {done.returncode}\n{done.stdout}"
                           f"{done.stderr}")
        return done.returncode

    def job(self, steps: list[dict[str, Any]]) -> Job:
        codes: dict[str, int | None] = {}
        failed = False
        for step in steps:
            name = str(step.get("name") or step.get("uses"))
            condition = step.get("if")
            assert condition in (None, "always()"), f"{name}: if: {condition} not emulated"
            if failed and condition != "always()":
                codes[name] = None
                continue
            codes[name] = self.uses(step) if "uses" in step else self.run(step)
            failed = failed or codes[name] != 0
        return Job(codes, self.summary.read_text(), self.runner_temp / "perf", self.uploaded,
                   "\n".join(self.output))


def _run_recipe(repo: Path, base: str, head: str, temp: Path) -> Job:
    """The job for a pull request from `head` onto `base`, with the variables at the top of
    the file set for the small app and a few seconds of load."""
    workflow = yaml.safe_load(RECIPE.read_text())
    port = free_port()
    workflow["env"].update(APP_SETUP="true", APP_START=f"python app.py {port}",
                           APP_URL=f"http://127.0.0.1:{port}", BENCH_TARGET="/",
                           BENCH_ARGS="--duration 3s --rate 40", MAX_REGRESSION="25%")
    _git(repo, "checkout", "-q", "--detach", head)
    (job,) = workflow["jobs"].values()
    contexts = {"github.event.pull_request.base.sha": base,
                "github.event.pull_request.head.sha": head,
                "runner.temp": str(temp / "runner")}
    temp.mkdir()
    return Runner(workflow, repo, temp, contexts).job(job["steps"])


def _junit_failures(path: Path) -> int:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    return sum(int(s.get("failures", "0")) for s in suites)


@pytest.mark.integration  # two apps started, seconds of real load
def test_the_recipe_passes_a_head_as_fast_as_its_base_and_fails_a_slower_one(
        tmp_path: Path) -> None:
    assert shutil.which("git") and shutil.which("curl") and shutil.which("setsid")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    fast = _commit(repo, 0.010, "the app")
    also_fast = _commit(repo, 0.010, "docs only")
    slow = _commit(repo, 0.080, "a slower handler")  # 8x: beyond the margin whatever the noise
    expected = {"base.json", "head.json", "plot.html", "gate.xml", "gate.md"}

    same = _run_recipe(repo, fast, also_fast, tmp_path / "same")
    assert set(same.codes.values()) == {0}, same.output
    assert _junit_failures(same.perf / "gate.xml") == 0
    assert "perfkit gate" in same.summary and "FAILED" not in same.summary, same.summary
    assert expected <= {p.name for p in same.uploaded}, same.uploaded

    slower = _run_recipe(repo, also_fast, slow, tmp_path / "slower")
    gate = next(name for name in slower.codes if name.startswith("Gate"))
    assert slower.codes[gate] == 1, slower.output
    assert all(code == 0 for name, code in slower.codes.items() if name != gate), slower.output
    assert _junit_failures(slower.perf / "gate.xml") >= 1
    assert "FAILED" in slower.summary and "GET /" in slower.summary, slower.summary
    assert expected <= {p.name for p in slower.uploaded}, slower.uploaded
