"""`perfkit demo up|status|restart|fault|down`: the embedded PostgreSQL + backend + Prometheus."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

app = typer.Typer(
    help="The embedded demo stack: a real PostgreSQL, the seed's backend and Prometheus.",
    no_args_is_help=True,
)

FormatOpt = Annotated[OutputFormat | None,
                      typer.Option("--format", help="table, json or markdown.")]


def _render_status(data: dict[str, Any], output: OutputFormat) -> None:
    if output is OutputFormat.json:
        console.print_json(data)
        return
    rows = []
    for name in ("postgres", "backend", "prometheus"):
        svc = data[name]
        address = svc.get("dsn") or svc.get("url") or "-"
        rows.append([name, "up" if svc["up"] else "DOWN", svc.get("pid") or "-", address])
    if output is OutputFormat.markdown:
        lines = ["| service | state | pid | address |", "|---|---|---|---|"]
        lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
        console.print_text("\n".join(lines))
        return
    console.table("perfkit demo", ["service", "state", "pid", "address"], rows)
    backend = data["backend"]
    if backend.get("url"):
        console.print_text(f"cache: {'on' if backend.get('cache') else 'off'}   "
                           f"metrics: {backend.get('metrics_profile')}   "
                           f"scale: {data.get('scale')}")
    console.print_text(f"tokens: {data.get('tokens_file') or '-'}\n"
                       f"backend log: {data.get('log_file') or '-'}")


@app.command()
def up(
    scale: Annotated[float | None, typer.Option(
        help="Data size: 1.0 = 4M messages, 400k conversations, 50k accounts (~30 s to load). "
             "Default: keep what is loaded, else 1.0.", min=0.0001, max=20)] = None,
    cache: Annotated[bool, typer.Option(
        "--cache/--no-cache", help="The backend's TTL caches (--no-cache: the seed's 'before').")]
    = True,
    metrics_profile: Annotated[str, typer.Option(
        help="Metric naming: fastapi-observability or instrumentator.")]
    = "fastapi-observability",
    auth_latency_ms: Annotated[float, typer.Option(
        help="Latency of the simulated remote auth provider.", min=0)] = 145.0,
    pg_port: Annotated[int | None, typer.Option(help="PostgreSQL port (default: a free one).")]
    = None,
    backend_port: Annotated[int | None, typer.Option(help="Backend port (default: a free one).")]
    = None,
    prometheus_port: Annotated[int | None, typer.Option(
        help="Prometheus port (default: a free one).")] = None,
    output_format: FormatOpt = None,
) -> None:
    """Start (or keep) the demo stack and wait until each part answers. Idempotent.

    Example: `perfkit demo up --scale 0.05 --no-cache`
    """
    from perfkit.demo import stack
    from perfkit.errors import UsageError

    if metrics_profile not in ("fastapi-observability", "instrumentator"):
        raise UsageError(f"unknown --metrics-profile {metrics_profile!r}",
                         hint="use fastapi-observability or instrumentator")
    options = stack.UpOptions(scale=scale, cache=cache, metrics_profile=metrics_profile,
                              auth_latency_ms=auth_latency_ms, pg_port=pg_port,
                              backend_port=backend_port, prometheus_port=prometheus_port)
    with console.status("bringing the demo stack up"):
        state = stack.up(options, progress=console.note)
    for note in state.get("notes", []):
        console.info(note)
    data = stack.status()
    _render_status(data, console.fmt(output_format))
    if console.fmt(output_format) is OutputFormat.table:
        console.print_text(
            f"\ntry: curl -H 'Authorization: Bearer {state['token']}' {data['backend']['url']}"
            "/auth/me")


@app.command()
def status(output_format: FormatOpt = None) -> None:
    """Show each part of the demo stack: pid, address, whether it answers. Exit 1 if any is down.

    Example: `perfkit demo status --format json`
    """
    from perfkit.demo import stack

    data = stack.status()
    _render_status(data, console.fmt(output_format))
    if not all(data[k]["up"] for k in ("postgres", "backend", "prometheus")):
        raise typer.Exit(1)


@app.command()
def restart(
    cache: Annotated[bool | None, typer.Option(
        "--cache/--no-cache", help="Restart with or without the caches (default: as before).")]
    = None,
    metrics_profile: Annotated[str | None, typer.Option(help="Switch the metric naming.")] = None,
) -> None:
    """Restart the backend (the seed's step 1) and record a change event for `report`.

    Example: `perfkit demo restart --cache`
    """
    from perfkit.demo import stack

    state = stack.restart_backend(cache=cache, metrics_profile=metrics_profile,
                                  progress=console.note)
    be = state["backend"]
    console.success(f"backend restarted at {be['url']} (pid {be['pid']}, cache "
                    f"{'on' if be['cache'] else 'off'})")


@app.command()
def fault(
    route: Annotated[str, typer.Option(help="Route template, e.g. /auth/me, or * for all.")] = "*",
    latency_ms: Annotated[float | None, typer.Option(
        help="Extra latency to add (0 removes it; omitted: left as is).", min=0)] = None,
    error_ratio: Annotated[float | None, typer.Option(
        help="Share of requests answered 500 (0 removes it; omitted: left as is).", min=0,
        max=1)] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every fault first.")] = False,
    output_format: FormatOpt = None,
) -> None:
    """Inject latency or 5xx into the running demo backend, without a restart.

    Example: `perfkit demo fault --route /auth/me --latency-ms 100`, then `perfkit demo fault
    --clear`
    """
    import json
    import urllib.request

    from perfkit.demo import stack
    from perfkit.errors import StackError, UsageError

    be = stack.read_state(stack.StackPaths.default()).get("backend") or {}
    if not be.get("url"):
        raise StackError("the demo stack is not up", hint="run `perfkit demo up` first")
    with urllib.request.urlopen(f"{be['url']}/openapi.json", timeout=5) as resp:
        routes = sorted(json.loads(resp.read())["paths"])
    if route != "*" and route not in routes:
        raise UsageError(f"--route {route!r} is not a route of the demo backend",
                         hint=f"use * or one of {', '.join(routes)}")
    with urllib.request.urlopen(f"{be['url']}/_demo/faults", timeout=5) as resp:
        current = json.loads(resp.read())
    latency, errors = ({}, {}) if clear else (current["latency_ms"], current["error_ratio"])
    for table, value in ((latency, latency_ms), (errors, error_ratio)):
        if value == 0:
            table.pop(route, None)
        elif value is not None:
            table[route] = value
    request = urllib.request.Request(
        f"{be['url']}/_demo/faults", method="PUT", headers={"Content-Type": "application/json"},
        data=json.dumps({"latency_ms": latency, "error_ratio": errors}).encode())
    with urllib.request.urlopen(request, timeout=5) as resp:
        now = json.loads(resp.read())
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(now)
        return
    rows = [[r, f"{now['latency_ms'].get(r, 0):g}", f"{now['error_ratio'].get(r, 0) * 100:g}%"]
            for r in sorted({*now["latency_ms"], *now["error_ratio"]})]
    console.table("faults of the demo backend", ["route", "extra latency ms", "5xx"],
                  rows or [["(none)", "0", "0%"]])


@app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete the database and Prometheus data.")]
    = False,
) -> None:
    """Stop exactly what `demo up` started (by pid); nothing is left running.

    Example: `perfkit demo down --purge`
    """
    from perfkit.demo import stack

    stopped = stack.down(purge=purge, progress=console.note)
    console.success("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def story(
    scale: Annotated[float | None, typer.Option(
        help="Data size (default: what is loaded, else 1.0 = 4M messages).", min=0.0001,
        max=20)] = None,
    duration: Annotated[str, typer.Option(help="Length of each bench phase.")] = "20s",
    concurrency: Annotated[int, typer.Option(help="Users in the closed loop.", min=1, max=64)]
    = 4,
    output_format: FormatOpt = None,
) -> None:
    """The seed's whole runbook on the demo stack, measured: before -> cache -> indexes -> after.

    Brings the stack up with caches off and no indexes, benches the seed's API mix, restarts
    with caches (an event), applies the three indexes CONCURRENTLY, benches again, reports
    from Prometheus over both windows, counts cache hits, runs doctor, and prints the seed's
    "Avant / Après" table. Exit 1 if doctor finds a failing line.

    Example: `perfkit demo story --scale 0.1 --duration 10s`
    """
    from perfkit.demo.story import StoryOptions, run_story
    from perfkit.durations import parse_duration_s

    options = StoryOptions(scale=scale, duration_s=parse_duration_s(duration),
                           concurrency=concurrency)
    with console.status("replaying the seed's runbook"):
        result = run_story(options, progress=console.note)
    data = result.to_json()
    output = console.fmt(output_format)
    if output is OutputFormat.json:
        console.print_json(data)
    else:
        _render_story(data, output)
    if not data["doctor"]["passed"]:
        raise typer.Exit(1)


def _render_story(data: dict[str, Any], output: OutputFormat) -> None:
    from perfkit.cli.doctor import render_checklist

    routes = [r for r in data["report"]["routes"] if r.get("before") and r.get("after")]
    routes.sort(key=lambda r: -(r["before"].get("mean_ms") or 0))
    top = max([r["before"].get("mean_ms") or 0 for r in routes] or [0])
    overall = data["overall"]
    rows = []
    for r in routes:
        b, a = r["before"]["mean_ms"] or 0, r["after"]["mean_ms"] or 0
        change = r["change_pct"].get("mean")
        rows.append([r["route"], f"{b:8.1f} ms {console.bar(b, top, 12)}",
                     f"{a:8.1f} ms {console.bar(a, top, 12)}",
                     "-" if change is None else f"{change:+.0f}%"])
    headline = ("-" if overall["change_pct"] is None else f"{overall['change_pct']:+.0f}%")
    if output is OutputFormat.markdown:
        lines = ["| route | avant | après | change |", "|---|---:|---:|---:|"]
        lines += [f"| `{r[0]}` | {r[1].split(' ms')[0].strip()} ms | "
                  f"{r[2].split(' ms')[0].strip()} ms | {r[3]} |" for r in rows]
        lines.append(f"\n**Gain moyen: {headline}** (mean over all requests, Prometheus)")
        console.print_text("\n".join(lines))
        render_checklist(data["doctor"], output)
        return
    console.table("Requests Average Duration (Prometheus), avant → après",
                  ["route", "avant", "après", "change"], rows,
                  justify=["left", "left", "left", "right"])
    if overall["before_mean_ms"] is not None and overall["after_mean_ms"] is not None:
        console.print_text(f"Gain moyen: {headline} (mean over all requests: "
                           f"{overall['before_mean_ms']:.1f} ms → "
                           f"{overall['after_mean_ms']:.1f} ms; the seed promises -70%)")
    glob = data["report"].get("global") or {}
    p99 = [(glob.get(w) or {}).get("p99_ms") for w in ("before", "after")]
    if all(v is not None for v in p99):
        console.print_text(f"P99 global: {p99[0]:.0f} ms → {p99[1]:.0f} ms "
                           "(histogram_quantile over each window)")
    client = [[c["route"], c["phase"], f"{c['before']['mean']:.1f}",
               f"{c['after']['mean']:.1f}",
               "-" if not c.get("ci_pct") else f"[{c['ci_pct'][0]:+.0f}%, {c['ci_pct'][1]:+.0f}%]",
               c["verdict"]]
              for c in sorted(data["compare"]["routes"],
                              key=lambda r: (r["route"], {"cold": 0, "warm": 1}.get(r["phase"], 2)))
              if _client_row(c, data["compare"]["routes"])]
    console.table("Client side (perfkit bench), mean ms per phase", ["route", "phase", "before",
                  "after", "95% CI of change", "verdict"], client)
    cache = data["cache_stats"]
    console.table("Cache lookups since the restart", ["family", "hits",
                  "misses", "hit ratio"],
                  [[f["family"], f["hits"], f["misses"],
                    "-" if f["hit_ratio"] is None else f"{f['hit_ratio'] * 100:.0f}%"]
                   for f in cache["families"]])
    render_checklist(data["doctor"], output)
    t = data["timings_s"]
    console.print_text(f"runs: {data['before_run']} and {data['after_run']} "
                       f"(perfkit compare / gate them); total {t.get('total_s')} s")


def _client_row(row: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """cold and warm rows where a route has them, its `all` row otherwise."""
    if row["before"].get("mean") is None or row["after"].get("mean") is None:
        return False
    if row["phase"] != "all":
        return True
    return not any(r["route"] == row["route"] and r["phase"] != "all" for r in rows)
