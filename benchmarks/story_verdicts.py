"""The demo story's verdicts over repeated runs: are the words it prints stable?

    .venv/bin/python benchmarks/story_verdicts.py              # 5 stories at scale 0.1, ~4 min
    .venv/bin/python benchmarks/story_verdicts.py --runs 10 --scale 1 --duration 20s  # default

Each story runs on a demo stack of its own (a temporary state dir, torn down at the end). What
is known: a cache miss on /auth/me costs the same simulated auth call before and after the
change, so its cold row must read no-change every time (faster or slower is a false alarm);
/auth/me's warm row and the indexed routes must read faster; the cache verdict of /auth/me is
`none` before (caches off) and `detected` after; advise-indexes must propose exactly the
runbook's three indexes; doctor must pass.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from perfkit.bench.cache import CacheEffect  # noqa: E402
from perfkit.bench.record import Phase  # noqa: E402
from perfkit.demo import stack  # noqa: E402
from perfkit.demo.story import StoryOptions, StoryResult, run_story  # noqa: E402
from perfkit.doctor import Status  # noqa: E402
from perfkit.durations import parse_duration_s  # noqa: E402

AUTH = "GET /auth/me"
UNJUDGED = "rows with too few samples to judge"  # no verdict, so no truth: counted apart


def verdict(story: StoryResult, route: str, phase: Phase) -> str:
    row = next((r for r in story.comparison.rows if r.route == route and r.phase is phase), None)
    if row is None or row.verdict is None:
        return "absent"
    return row.verdict.value + (" (too few samples)" if row.inconclusive else "")


def cache_effect(story: StoryResult, side: int, route: str) -> str:
    speedup = next((s for s in story.runs[side].speedups() if s.route == route), None)
    return "absent" if speedup is None else speedup.cache_effect.value


def observe(story: StoryResult) -> dict[str, str]:
    """The story's words that a known truth decides. A row compare does not judge (a mixed
    cold+warm `all` row, or too few samples) is no verdict: counted apart, never as wrong."""
    judged = [r for r in story.comparison.rows if not r.mixed_phases and not r.inconclusive]
    indexed = {f"{r.route} {r.phase.value}": verdict(story, r.route, r.phase) for r in judged
               if r.route.startswith(("GET /messages", "GET /conversations", "GET /accounts"))}
    not_faster = sorted(f"{row}: {word}" for row, word in indexed.items() if word != "faster")
    unjudged = sum(1 for r in story.comparison.rows if r.inconclusive and not r.mixed_phases)
    return {
        "/auth/me cold (truth: no-change)": verdict(story, AUTH, Phase.COLD),
        "/auth/me warm (truth: faster)": verdict(story, AUTH, Phase.WARM),
        "indexed routes, judged rows (truth: all faster)": (
            "faster" if indexed and not not_faster else "not all: " + ", ".join(not_faster)),
        UNJUDGED: str(unjudged),
        "/auth/me cache before (truth: none)": cache_effect(story, 0, AUTH),
        "/auth/me cache after (truth: detected)": cache_effect(story, 1, AUTH),
        "advice (truth: exactly the runbook's)": (
            "exact" if story.advice_match is not None and story.advice_match.exact else "other"),
        "doctor (truth: pass)": (
            "pass" if all(b.status is not Status.FAIL for b in story.doctor.checks) else "fail"),
    }


TRUTH = {"/auth/me cold (truth: no-change)": "no-change",
         "/auth/me warm (truth: faster)": "faster",
         "indexed routes, judged rows (truth: all faster)": "faster",
         "/auth/me cache before (truth: none)": CacheEffect.NONE.value,
         "/auth/me cache after (truth: detected)": CacheEffect.DETECTED.value,
         "advice (truth: exactly the runbook's)": "exact",
         "doctor (truth: pass)": "pass"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--duration", default="10s")
    args = parser.parse_args()
    seen: dict[str, Counter[str]] = {k: Counter() for k in (*TRUTH, UNJUDGED)}
    with tempfile.TemporaryDirectory() as state:
        os.environ["PERFKIT_STATE_DIR"] = state
        try:
            for i in range(args.runs):
                story = run_story(StoryOptions(scale=args.scale,
                                               duration_s=parse_duration_s(args.duration)),
                                  lambda _: None)
                words = observe(story)
                for key, word in words.items():
                    seen[key][word] += 1
                print(f"story {i + 1}/{args.runs}: " + "; ".join(
                    f"{k.split(' (')[0]}={v}" for k, v in words.items()), file=sys.stderr)
        finally:
            stack.down(purge=True)
    print(f"\n{args.runs} demo stories at scale {args.scale:g}, {args.duration} bench phases "
          f"(rerun: .venv/bin/python benchmarks/story_verdicts.py --runs {args.runs} "
          f"--scale {args.scale:g} --duration {args.duration})\n")
    print("| what | as the truth says | otherwise |\n|---|---|---|")
    for key, truth in TRUTH.items():
        right = seen[key][truth]
        wrong = ", ".join(f"{w} {n}" for w, n in seen[key].items() if w != truth) or "-"
        print(f"| {key} | {right}/{args.runs} | {wrong} |")
    print(f"\n{UNJUDGED} (not a verdict): " + ", ".join(
        f"{n} in {k} stories" for n, k in sorted(seen[UNJUDGED].items())))


if __name__ == "__main__":
    main()
