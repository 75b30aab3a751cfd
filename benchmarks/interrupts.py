"""perfkit bench killed at random moments: is the record on disk ever half a file?

The acceptance of issue 26: "the record on disk is either the complete previous one or a
valid partial one marked as such, never a truncated file (checked by killing at random
moments, 50 times)". Each run is a short `perfkit bench` (closed loop, 2 connections,
--duration 1s) against the tests' reference server (tests/bench/refserver.py, loopback) with
--out over a complete record of an earlier run; a SIGINT, SIGTERM or SIGKILL (in turn) lands
at a uniformly random moment between the start of the process and its usual end (measured
first), so some land while Python loads, some while measuring, some while saving. After each:
the file must parse as a run record and be the previous one byte for byte, a partial one
marked `"interrupted": true`, or a whole new one; SIGINT/SIGTERM must exit 130 with one
`error:` line (0 when the run ended first) and leave no temporary file (a SIGKILL during the
write may leave `.run.json.*.tmp`: counted, then removed).

Rerun:
    .venv/bin/python benchmarks/interrupts.py                 # 50 runs, ~2 minutes
    .venv/bin/python benchmarks/interrupts.py --runs 200 --seed 3
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfkit.bench.record import Run  # noqa: E402
from perfkit.errors import UsageError  # noqa: E402
from tests.bench.support import running_refserver  # noqa: E402

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def bench(url: str, out: Path, duration: str) -> list[str]:
    return [sys.executable, "-m", "perfkit", "bench", "/sleep/5", "--base-url", url, "-c", "2",
            "--duration", duration, "--out", str(out)]


def usual_length_s(url: str, out: Path, duration: str) -> float:
    """Wall time of an uninterrupted run (3 tries, the longest): where kills are spread."""
    times = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run(bench(url, out, duration), capture_output=True, check=True)
        times.append(time.monotonic() - started)
    return max(times)


def verdict(out: Path, previous: bytes, duration_s: float) -> str:
    """previous | partial | complete, or what is wrong with the file."""
    data = out.read_bytes()
    if data == previous:
        return "previous"
    try:
        run = Run.from_json(json.loads(data), source=str(out))
    except (ValueError, UsageError) as exc:
        return f"BROKEN ({len(data)} bytes: {exc})"
    if run.interrupted:
        return "partial"
    if run.generator.elapsed_s < 0.95 * duration_s:
        return f"UNMARKED PARTIAL ({run.generator.elapsed_s} s)"
    return "complete"


def _ending(code: int, sig: signal.Signals, state: str, err: str) -> tuple[str, bool]:
    """How a SIGINT/SIGTERM run ended, and whether that is wrong. Exit 130 with one error
    line; or killed by the signal itself, which only Python's own start (before any handler,
    nothing written yet) and its exit (after the work, the record whole) may see."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    if code == 130:
        return "exit 130", len(errors) != 1 or "Traceback" in err
    if code == 0 and state == "complete":  # it ended between our look and the signal
        return "ended before the signal", False
    if code == -sig and state == "previous" and not err:
        return "killed while Python started", False
    if code == -sig and state == "complete" and not errors:
        return "killed while Python exited", False
    return f"exit {code}", True


def one_run(url: str, out: Path, previous: bytes, sig: signal.Signals, at_s: float,
            duration: str) -> tuple[str, str, list[str]]:
    """(what the file is, how the process ended, problems)."""
    out.write_bytes(previous)
    proc = subprocess.Popen(bench(url, out, duration), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(at_s)
    ended_first = proc.poll() is not None
    if not ended_first:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    problems = []
    state = verdict(out, previous, float(duration.rstrip("s")))
    if state.isupper() or state.startswith(("BROKEN", "UNMARKED")):
        problems.append(state)
    temps = sorted(p.name for p in out.parent.glob(f".{out.name}.*.tmp"))
    for name in temps:
        (out.parent / name).unlink()
    if temps and sig is not signal.SIGKILL:
        problems.append(f"temporary file left by {sig.name}: {temps}")
    ending = "ended before the signal" if ended_first else f"exit {proc.returncode}"
    if sig is not signal.SIGKILL and not ended_first:
        ending, wrong = _ending(proc.returncode, sig, state, err)
        if wrong:
            problems.append(f"{sig.name}: exit {proc.returncode}, stderr {err!r}")
    if temps:
        ending += ", temporary file left"
    return state, ending, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--duration", default="1s", help="each bench's --duration")
    parser.add_argument("--seed", type=int, default=26)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally: collections.Counter[tuple[str, str, str]] = collections.Counter()
    problems: list[str] = []
    with running_refserver() as server, tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run.json"
        length_s = usual_length_s(server.url, out, args.duration)
        previous = out.read_bytes()
        print(f"an uninterrupted run takes {length_s:.2f} s; killing {args.runs} runs at "
              f"random moments in [0, {length_s:.2f}] s", flush=True)
        for index in range(args.runs):
            sig = SIGNALS[index % len(SIGNALS)]
            at_s = rng.uniform(0.0, length_s)
            state, ending, found = one_run(server.url, out, previous, sig, at_s,
                                           args.duration)
            tally[(sig.name, state, ending)] += 1
            problems += [f"run {index + 1} ({sig.name} at {at_s:.2f} s): {p}" for p in found]
    print(f"\n{'signal':8} {'file on disk':26} {'process':40} runs")
    for (name, state, ending), count in sorted(tally.items()):
        print(f"{name:8} {state:26} {ending:40} {count}")
    print(f"\n{len(problems)} problem(s) in {args.runs} runs")
    for problem in problems:
        print("  " + problem)
    print(f"rerun: .venv/bin/python benchmarks/interrupts.py --runs {args.runs} "
          f"--seed {args.seed}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
