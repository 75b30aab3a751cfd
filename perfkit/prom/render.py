"""perfkit.report/1 as text: cell formatting shared with the terminal table, and markdown.

Pure functions over the record: nothing here asks Prometheus or computes a statistic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

GLOBAL_LABEL = "all routes"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def fmt_num_ms(value: float | None) -> str:
    """A duration in ms without the unit (the column header carries it)."""
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def fmt_bucket(bounds: list[float | None] | None) -> str:
    """(lo, hi] in ms, as Prometheus buckets are: `(100, 250]`, or `(1000, +Inf)` clamped."""
    if not bounds:
        return ""
    lo, hi = bounds
    return f"({lo:g},+Inf)" if hi is None else f"({lo:g},{hi:g}]"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"


def fmt_ratio(value: float | None, *, unit: bool = True) -> str:
    return "-" if value is None else f"{value * 100:.1f}{'%' if unit else ''}"


def fmt_rps(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def fmt_time(iso: str) -> str:
    return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M:%S} UTC"


def side(figures: dict[str, Any] | None, key: str) -> Any:
    return None if figures is None else figures.get(key)


def p99_cell(figures: dict[str, Any] | None, *, unit: bool = True) -> str:
    """`248 ms (100,250]`: the estimate and the bucket Prometheus interpolated it in."""
    if figures is None or figures.get("p99_ms") is None:
        return "-"
    value = fmt_ms(figures["p99_ms"]) if unit else fmt_num_ms(figures["p99_ms"])
    bucket = figures.get("p99_bucket_ms")
    if bucket and bucket[1] is None:
        value = f">={value}"  # clamped at the last finite bucket: only a lower bound
    return f"{value} {fmt_bucket(figures.get('p99_bucket_ms'))}".strip()


def pair(before: str, after: str) -> str:
    return f"{before} → {after}"


def rows_with_global(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Routes slowest first, then the global line when there is one."""
    rows = list(record["routes"])
    glob = record.get("global") or {}
    if glob.get("before") or glob.get("after"):
        rows.append({"route": GLOBAL_LABEL, **glob})
    return rows


def describe_windows(record: dict[str, Any]) -> list[str]:
    """The lines that say what was compared: both windows, the split, the profile."""
    b, a, split = record["before"], record["after"], record["split"]
    lines = [f"before: {fmt_time(b['start'])} → {fmt_time(b['end'])} ({b['seconds']:g} s)",
             f"after:  {fmt_time(a['start'])} → {fmt_time(a['end'])} ({a['seconds']:g} s)"]
    event = split.get("event")
    if event:
        lines.append(f"split:  change event {event['id']} ({event['kind']}: {event['text']}) "
                     f"at {fmt_time(split['at'])}")
    elif split["source"] == "time":
        lines.append(f"split:  --split {fmt_time(split['at'])}")
    else:
        lines.append("split:  no change event in the lookback; before = the window right "
                     "before the after window")
    how = "auto-detected from the server's metric names" if record[
        "profile_source"] == "auto" else "from --profile"
    lines.append(f"profile: {record['profile'] or 'none found'} ({how}); Prometheus "
                 f"{record['prometheus_url']}, {record['queries']} queries")
    return lines


def markdown(record: dict[str, Any]) -> str:
    """The report for a pull request: windows, the per-route table, caveats, client vs server."""
    out = ["## perfkit report: before → after", ""]
    out += [f"- {line}" for line in describe_windows(record)]
    out += ["", "| route | mean before | mean after | Δ mean | P99 before | P99 after | Δ P99 "
                "| req/s | 5xx |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows_with_global(record):
        b, a, change = row.get("before"), row.get("after"), row.get("change_pct") or {}
        name = f"**{row['route']}**" if row["route"] == GLOBAL_LABEL else f"`{row['route']}`"
        cells = [name, fmt_ms(side(b, "mean_ms")), fmt_ms(side(a, "mean_ms")),
                 fmt_pct(change.get("mean")), p99_cell(b), p99_cell(a),
                 fmt_pct(change.get("p99")),
                 pair(fmt_rps(side(b, "rps")), fmt_rps(side(a, "rps"))),
                 pair(fmt_ratio(side(b, "ratio_5xx")), fmt_ratio(side(a, "ratio_5xx")))]
        out.append("| " + " | ".join(cells) + " |")
    out += ["", "P99 is Prometheus's `histogram_quantile` over the window; the bracket is the "
                "bucket it was interpolated in (ms)."]
    comparison = record.get("client_vs_server") or []
    if comparison:
        out += ["", "### Client (perfkit bench) vs server (Prometheus)", "",
                "| route | phase | client mean | server mean | gap | client P99 | server P99 "
                "| reading |", "|---|---|---:|---:|---:|---:|---:|---|"]
        for row in comparison:
            c, s = row["client"], row["server"]
            out.append(f"| `{row['route']}` | {row.get('phase') or '-'} | "
                       f"{fmt_ms(c['mean_ms'])} | {fmt_ms(s['mean_ms'])} | "
                       f"{row['diff_ms']['mean']:+.1f} ms | {fmt_ms(c.get('p99_ms'))} | "
                       f"{fmt_ms(s['p99_ms'])} {fmt_bucket(s.get('p99_bucket_ms'))} | "
                       f"{row['note']} |")
    if record["warnings"]:
        out += ["", "### Warnings", ""]
        out += [f"- {w['message']}" for w in record["warnings"]]
    return "\n".join(out) + "\n"
