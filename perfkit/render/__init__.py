"""Pure text renderers over finished records: rows and sentences, no statistics, no terminal.

`run_table` / `compare_table` give (columns, rows) that the CLI prints as a Rich table and
markdown.py as a Markdown table; a new format is one file over the same rows.
"""

from __future__ import annotations

from typing import Any

from perfkit.bench.record import Run
from perfkit.stats import Speedup, summary_ms

RUN_COLUMNS = ("route", "phase", "count", "mean ms", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms",
               "max ms", "errors")
RUN_JUSTIFY = ("left", "left", *["right"] * 7, "left")
COMPARE_COLUMNS = ("route", "phase", "n before/after", "mean ms", "p50 ms", "p99 ms",
                   "mean change", "95% CI", "p (Holm)", "verdict")
COMPARE_JUSTIFY = ("left", "left", "right", "right", "right", "right", "right", "right",
                   "right", "left")
PHASE_ORDER = {"cold": 0, "warm": 1, "all": 2}


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:.0f}"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def fmt_errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(errors.items())) or "-"


def run_table(run: Run) -> tuple[tuple[str, ...], list[list[str]]]:
    """One row per route and phase (cold, warm, all); one sample shows as one value, no
    percentiles."""
    rows: list[list[str]] = []
    for route in run.routes():
        phases = sorted((p for r, p in run.records if r == route),
                        key=lambda p: PHASE_ORDER.get(p, 9))
        for phase in phases:
            rec = run.records[(route, phase)]
            s = summary_ms(rec.corrected)
            if rec.count == 1:
                cells = [fmt_ms(s["mean"]), "-", "-", "-", "-", "(1 sample)"]
            else:
                cells = [fmt_ms(s[k]) for k in ("mean", "p50", "p90", "p99", "p999", "max")]
            rows.append([route, phase, str(rec.count), *cells, fmt_errors(rec.errors)])
    return RUN_COLUMNS, rows


def speedup_line(sp: Speedup) -> str:
    """The cold/warm sentence for one route: a ratio with its interval, or why there is none."""
    if sp.cold_count == 0 or sp.warm_count == 0:
        return f"{sp.route}: no {'cold' if sp.cold_count == 0 else 'warm'} sample"
    if sp.cold_count == 1:
        return (f"{sp.route}: 1 cold sample ({fmt_ms(sp.cold_mean_ms)} ms) vs warm mean "
                f"{fmt_ms(sp.warm_mean_ms)} ms: one sample, not a measurement (more cold "
                "samples: --tokens-file or --flush-cmd)")
    if sp.ci is None or sp.ratio is None:
        return f"{sp.route}: too few samples for a cold/warm interval"
    lo, hi = sp.ci
    verdict = ("warm is faster" if lo > 1 else "warm is slower" if hi < 1
               else "no significant cold/warm difference")
    return (f"{sp.route}: cold/warm = {sp.ratio:.2f}x (95% CI {lo:.2f}x-{hi:.2f}x; "
            f"{sp.cold_count} cold, {sp.warm_count} warm): {verdict}")


def _steps(settings: dict[str, Any]) -> int:
    """Steps per iteration (older records: the number of routes in the settings)."""
    return int(settings.get("steps_per_iteration") or len(settings.get("routes") or ()) or 1)


def run_notes(run: Run) -> list[str]:
    """How the run measured, and anything that makes its figures weaker."""
    gen, settings = run.generator, run.settings
    notes: list[str] = []
    steps = _steps(settings)
    unit = "req/s" if steps == 1 else "iterations/s"
    if gen.get("mode") == "open-loop":
        rate = settings.get("iterations_per_s", settings.get("rate_per_s"))
        if steps == 1:
            notes.append(f"open loop at {rate} req/s: latency from each request's intended "
                         "start (wrk2 method, no coordinated omission)")
        else:
            # --rate paces iterations; only their first request has an intended start.
            planned = f", up to {float(rate) * steps:g} requests/s" if rate else ""
            notes.append(f"open loop at {rate} iterations/s ({steps} steps each{planned}): "
                         "first step of each iteration timed from its intended start (wrk2); "
                         "later steps from their actual send")
        if gen.get("fell_behind"):
            achieved = gen.get("achieved_rate_per_s") if steps == 1 else gen.get(
                "achieved_iterations_per_s")
            notes.append(f"WARNING: the generator fell behind: {gen.get('late_sends')} sends "
                         f"late, up to {fmt_ms(gen.get('max_send_lag_ms'))} ms; achieved "
                         f"{achieved} {unit}")
    else:
        notes.append(f"closed loop, {settings.get('concurrency')} connection(s): latency is "
                     "service time; a stall shows as few slow samples (use --rate for "
                     "latency under a fixed load)")
    if gen.get("achieved_rate_per_s") is not None:
        iterations = (f" ({gen['iterations']} iterations of {steps} steps)"
                      if steps > 1 and gen.get("iterations") is not None else "")
        notes.append(f"{gen.get('completed')} requests{iterations} in {gen.get('elapsed_s')} s "
                     f"({gen.get('achieved_rate_per_s')} req/s), {gen.get('errors')} errors")
    merged = run.provenance.get("merged_from")
    if merged:
        notes.append(f"merged from {len(merged)} runs: counts are sums, elapsed is the longest "
                     "run (they are assumed to have run at the same time)")
    notes += [f"WARNING: {warning}" for warning in run.warnings()]
    if run.interrupted:
        notes.append("INTERRUPTED: partial results")
    return notes


def compare_table(result: dict[str, Any]) -> tuple[tuple[str, ...], list[list[str]]]:
    rows: list[list[str]] = []
    phase_order = {"cold": 0, "warm": 1, "all": 2}
    ordered = sorted(result["routes"], key=lambda r: (r["route"], phase_order.get(r["phase"], 3)))
    for row in ordered:  # a route's cold, warm and all rows side by side
        b, a = row["before"], row["after"]
        ci = row.get("ci_pct")
        p = row.get("p_value")
        rows.append([
            row["route"], row["phase"], f"{b['count']}/{a['count']}",
            f"{fmt_ms(b['mean'])} → {fmt_ms(a['mean'])}",
            f"{fmt_ms(b['p50'])} → {fmt_ms(a['p50'])}",
            f"{fmt_ms(b['p99'])} → {fmt_ms(a['p99'])}",
            fmt_pct(row["change_pct"]["mean"]),
            f"{fmt_pct(ci[0])}..{fmt_pct(ci[1])}" if ci else "-",
            "-" if p is None else (f"{p:.3g}" if p >= 0.001 else "<0.001"),
            "not judged (mixed cold+warm)" if row.get("mixed_phases") else
            row["verdict"] + (" (too few samples)" if row.get("inconclusive") else ""),
        ])
    return COMPARE_COLUMNS, rows


def compare_notes(result: dict[str, Any]) -> list[str]:
    family = sum(1 for r in result["routes"] if r.get("p_value") is not None)
    notes = [f"Mann-Whitney U, Holm-corrected over {family} comparison(s), "
             f"alpha {result['alpha']}; CI of the mean's change at {result['confidence']:.0%}"]
    if any(r.get("mixed_phases") for r in result["routes"]):
        notes.append("rows marked 'mixed cold+warm' pool cache misses and hits: their mean "
                     "moves with the share of misses, not with the code, so they are shown but "
                     "not judged (no-change, outside Holm's family); read their cold and warm "
                     "rows")
    notes += [f"only in {u['only_in']}: {u['route']} ({u['phase']})"
              for u in result.get("unmatched", [])]
    return notes
