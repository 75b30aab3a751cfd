"""Client vs server: a bench run's own latencies beside Prometheus's for the same routes.

The client sees network, queueing before the app (proxy, accept queue, event loop) and
itself; the server histogram sees only the handler. Their gap says which one to chase.
Reads DESIGN's perfkit.run/1 JSON directly; it needs nothing from perfkit.bench.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from perfkit.errors import UsageError
from perfkit.prom.windows import WindowPlan, parse_duration_s

Figures = dict[str, Any]


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.astimezone()


def load_run(path: Path) -> dict[str, Any]:
    from perfkit.jsonfile import read_json_object

    data = read_json_object(path, label="--bench")
    if not isinstance(data.get("routes"), list):
        raise UsageError(f"--bench {path}: not a perfkit.run/1 record (no `routes` list)",
                         hint="write one with `perfkit bench … --out run.json`")
    return data


def _run_span(run: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    start = _when(run.get("started_at"))
    end = _when(run.get("finished_at") or run.get("ended_at"))
    duration = (run.get("settings") or {}).get("duration")
    if start is not None and end is None and duration:
        try:
            seconds = (float(duration) if isinstance(duration, int | float)
                       else parse_duration_s(str(duration), flag="duration"))
            end = start + timedelta(seconds=seconds)
        except (UsageError, ValueError):
            end = None
    return start, end


def _path_of(route: str) -> str:
    """"GET /conversations?account_id=3" -> "/conversations"."""
    path = route.split(" ", 1)[1] if " " in route else route
    return path.split("?", 1)[0]


def _matches(template: str, path: str) -> bool:
    if template == path:
        return True
    pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
    return re.fullmatch(pattern, path) is not None


def _note(diff_ms: float, server_ms: float) -> str:
    if diff_ms < -max(1.0, 0.1 * server_ms):
        return ("client faster than server: not the same requests, or an artefact "
                "(window edges, scrape timing)")
    if diff_ms <= max(2.0, 0.1 * server_ms):
        return "close: the handler's time is nearly all of it"
    return "client slower: network, queueing before the app, or the client itself"


def compare_bench(path: Path, plan: WindowPlan, before: dict[str | None, Figures],
                  after: dict[str | None, Figures]) -> tuple[list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
    """One row per bench route and phase whose server route exists in the window it ran in."""
    run = load_run(path)
    start, end = _run_span(run)
    warnings: list[dict[str, Any]] = []
    window_name, figures = None, None
    for name, window, figs in (("after", plan.after, after), ("before", plan.before, before)):
        if start is not None and window.contains(start) and (end is None
                                                            or window.contains(end)):
            window_name, figures = name, figs
            break
    if figures is None:
        warnings.append({"kind": "bench", "route": None, "message": (
            f"--bench {path.name}: the run ({run.get('started_at')} to "
            f"{end.isoformat() if end else '?'}) does not lie inside either window; no "
            "client-vs-server comparison")})
        return [], warnings
    rows: list[dict[str, Any]] = []
    server_routes = [r for r in figures if r is not None]
    for entry in run["routes"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("route"), str):
            continue
        path_part = _path_of(entry["route"])
        match = next((r for r in server_routes if _matches(r, path_part)), None)
        latency = entry.get("latency_ms") or {}
        if match is None or latency.get("mean") is None:
            continue
        server = figures[match]
        diff = float(latency["mean"]) - float(server["mean_ms"] or 0.0)
        rows.append({
            "route": entry["route"], "server_route": match, "phase": entry.get("phase"),
            "window": window_name,
            "client": {"mean_ms": latency.get("mean"), "p99_ms": latency.get("p99"),
                       "count": entry.get("count")},
            "server": {"mean_ms": server["mean_ms"], "p99_ms": server["p99_ms"],
                       "p99_bucket_ms": server["p99_bucket_ms"], "count": server["count"]},
            "diff_ms": {"mean": round(diff, 3),
                        "p99": (None if latency.get("p99") is None or server["p99_ms"] is None
                                else round(float(latency["p99"]) - server["p99_ms"], 3))},
            "note": _note(diff, float(server["mean_ms"] or 0.0)),
        })
    if not rows:
        warnings.append({"kind": "bench", "route": None, "message": (
            f"--bench {path.name}: none of its routes has server figures in the "
            f"{window_name} window")})
    return rows, warnings
