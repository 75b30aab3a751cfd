"""`perfkit bench`, `perfkit compare`, `perfkit merge`: measure routes, compare runs, add runs.

Imports of the core sit inside the commands (start-up: `perfkit bench --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.bench.credentials import Credential
    from perfkit.bench.options import BenchOptions, ProgressInfo
    from perfkit.bench.record import Run
    from perfkit.bench.scenario import Scenario
    from perfkit.config import Settings

FormatOpt = Annotated[OutputFormat | None,
                      typer.Option("--format", help="table, json or markdown.")]


def _save(run: Run, path: Path) -> str | None:
    """Write the record whole or not at all; the reason it failed (the results are still
    printed, exit 2 as when --out is refused before the run), or None."""
    existed = path.exists()
    try:
        run.save(path)
    except OSError as exc:
        left = f"{path} still holds its previous record" if existed else "nothing was written"
        return f"cannot write --out {path}: {exc.strerror or exc}; {left}"
    if not run.interrupted:  # the interrupted line says where the partial record is
        console.note(f"run record written to {path}")
    return None


def _on_disk(run: Run, path: Path | None, existed: bool) -> str:
    """What --out holds after an interrupt during the save (the write is atomic: the whole
    new record or the previous file)."""
    if path is None:
        return "no --out: nothing written"
    try:
        if path.read_text() == run.dumps():
            return f"the record {path} was written whole"
    except OSError:
        pass
    return f"{path} still holds its previous record" if existed else \
        f"nothing was written to {path}"


def _how_far(run: Run, options: BenchOptions) -> str:
    """How much of the asked-for run the record holds: 3.2 s of 10 s, 120 of 400 requests."""
    if options.duration_s:
        return f"{run.generator.elapsed_s:.1f} s of {options.duration_s * options.repeat:g} s"
    done = run.total_count + run.total_errors
    if options.requests:
        return f"{done} of {options.requests * options.repeat} requests"
    return f"{done} requests"


def _interrupted_line(run: Run, out: Path | None, options: BenchOptions) -> str:
    """The one line an interrupted bench ends with: what was interrupted and what is kept."""
    from perfkit.bench.scheduler import SNAPSHOT_INTERRUPTED

    finished = len(run.repeats) if run.repeats and not run.repeats[-1].interrupted else 0
    if SNAPSHOT_INTERRUPTED in run.notes:
        what, kept = ("interrupted while reading the database's statements after the run",
                      "the whole run without its SQL figures")
    elif finished:  # between two repeats (a flush, the next one connecting)
        what = f"interrupted after {finished} of {options.repeat} repeats"
        kept = "the finished repeat" if finished == 1 else f"the {finished} finished repeats"
    else:
        what, kept = f"interrupted after {_how_far(run, options)}", "what was measured"
    if out is None:
        return f"{what}: the results above are partial (no --out: nothing written)"
    return f"{what}: the record {out} holds {kept}, marked partial (\"interrupted\": true)"


def _render_run(run: Run, output: OutputFormat) -> None:
    from perfkit.render.run import run_document, run_warnings

    if output is OutputFormat.json:
        console.print_json(run.to_json())
    else:
        console.show(run_document(run), output)
    for warning in run_warnings(run):
        console.warning(warning)


def bench(
    target: Annotated[str | None, typer.Argument(
        help="A path on the base URL (/auth/me), a URL (http://host:port/path: its base and "
             "path), a scenario name in scenarios/ (runbook) or a scenario file.")] = None,
    scenario: Annotated[Path | None, typer.Option(
        "--scenario", "-s", help="Scenario file (instead of TARGET).")] = None,
    requests: Annotated[int | None, typer.Option(
        "--requests", "-n", help="Requests to send (default 200 when no --duration).",
        min=1)] = None,
    rate: Annotated[float | None, typer.Option(
        help="Open loop: iterations started per second at fixed intended times; latency from "
             "the intended time (wrk2).", min=0.001)] = None,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", help="Closed loop: connections, each sending when the previous "
        "answer arrived (with --rate: the most iterations in flight).", min=1)] = None,
    duration: Annotated[str | None, typer.Option(help="Run time, e.g. 30s or 2m.")] = None,
    timeout: Annotated[str, typer.Option(help="Per-request timeout.")] = "10s",
    warmup: Annotated[int, typer.Option(
        help="Unrecorded requests first, by a user of their own (a spare token of the tokens "
             "file, else none): they warm connections, not the users' cache keys.", min=0)]
    = 0,
    method: Annotated[str, typer.Option(help="HTTP method for a path TARGET.")] = "GET",
    header: Annotated[list[str] | None, typer.Option(
        "--header", "-H", help="'Name: value' sent with every request (repeatable); its value "
                               "is never printed or saved. '{token}' in it takes each user's "
                               "token, e.g. -H 'X-API-Key: {token}' (then no bearer header).")]
    = None,
    base_url: Annotated[str | None, typer.Option(
        help="Backend URL (default: PERFKIT_BASE_URL, perfkit.yaml, the demo stack).")] = None,
    tokens_file: Annotated[Path | None, typer.Option(
        help="Bearer tokens, one a line: one virtual user each, so many cold samples.")] = None,
    users_file: Annotated[Path | None, typer.Option(
        help="Users who log in (the scenario's login: step), one email,password a line: one "
             "virtual user each, logged in before the run; passwords and tokens are never "
             "printed or saved.")] = None,
    users: Annotated[int | None, typer.Option(
        help="How many tokens of the tokens file to use (default 10), or users of the users "
             "file (default all).", min=1)] = None,
    cache_ttl: Annotated[str, typer.Option(
        help="How long a cache entry stays warm (path TARGET; scenarios set it per route).")]
    = "120s",
    cache_header: Annotated[str | None, typer.Option(
        help="Classify cold/warm by this response header (HIT/MISS), e.g. X-Cache.")] = None,
    flush_cmd: Annotated[str | None, typer.Option(
        help="Shell command that empties the backend's caches, run before each cold round "
             "(closed loop, -c 1, one user unless --users: the flushes make the cold "
             "samples), e.g. 'redis-cli FLUSHALL' or, on the demo stack, "
             "'curl -s -X POST $URL/_demo/cache/clear'.")] = None,
    flush_every: Annotated[int, typer.Option(
        help="With --flush-cmd: iterations per flush (1 cold + N-1 warm).", min=1)] = 5,
    max_error_ratio: Annotated[str, typer.Option(
        help="Error budget: above this share of failed requests (1% or 0.01), exit 1.")]
    = "1%",
    repeat: Annotated[int, typer.Option(
        help="Run the same schedule N times; compare and gate then use runs as samples "
             "(run-to-run noise in the interval). Each repeat takes fresh tokens when the "
             "file has enough.")] = 1,
    cache_threshold: Annotated[str, typer.Option(
        help="Cache verdict: 'detected' when cold is slower than warm beyond this percentage "
             "(20% or 20), 'none' when the interval stays within it.")] = "20%",
    workers: Annotated[str, typer.Option(
        help="Processes on this machine, each a share of the schedule (N or auto); one "
             "merged record.")] = "1",
    segment: Annotated[str | None, typer.Option(
        help="Run share i/n of the schedule (n machines; PERFKIT_SEGMENT works too); "
             "`perfkit merge` adds the records.")] = None,
    segments: Annotated[int | None, typer.Option(
        help="n, with the segment from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).")]
    = None,
    start_at: Annotated[str | None, typer.Option(
        help="Wall-clock start shared by every segment (ISO time with zone, or unix "
             "seconds).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the schedule (users, cold samples).")]
    = 1,
    engine: Annotated[str, typer.Option(
        help="What sends the requests: h1 (perfkit's own HTTP/1.1 client, the least CPU per "
             "request), aiohttp (follows redirects; basic auth from the URL), or auto: h1 "
             "unless the run needs aiohttp. The record's generator.engine says which.")]
    = "auto",
    dsn: Annotated[str | None, typer.Option(
        help="The backend's database: its statements during the run (pg_stat_statements) "
             "go in the record (default: PERFKIT_DSN, DATABASE_URL, perfkit.yaml, demo).")]
    = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the run record (perfkit.run/2 JSON) here.")] = None,
    find_max: Annotated[bool, typer.Option(
        "--find-max", help="Capacity search: open-loop steps from --rate (default 10/s), "
        "doubling until the SLO breaks twice, then bisecting to a 10% bracket. It pushes "
        "the target to its limit: not against production.")] = False,
    slo: Annotated[str, typer.Option(
        help="What a step must hold with --find-max: p50/p90/p99/p999/mean/max in ms or s, "
             "errors in %, comma-separated.")] = "p99<500ms,errors<1%",
    max_rate: Annotated[float, typer.Option(
        help="The highest rate --find-max offers (iterations/s).", min=0.001)] = 2000.0,
    step: Annotated[str, typer.Option(
        help="Shortest step of --find-max (longer at low rates, for the samples the SLO "
             "needs; 60 s at most).")] = "5s",
    output_format: FormatOpt = None,
) -> None:
    """Measure cold (cache miss) and warm (cache hit) latency per route, with HDR histograms.

    Cold samples are each user's first request (one user per token), placed at seeded
    random points spread over the whole run, so they come from the same period as the warm
    ones; each route gets a cache verdict (detected / none / inconclusive) with its interval.

    Example: `perfkit bench /auth/me --tokens-file tokens.txt --users 20 -n 400 --out run.json`
    or, users who log in: `perfkit bench scenarios/app.yaml --users-file users.csv -n 400`;
    capacity: `perfkit bench /conversations --find-max --slo "p99<200ms,errors<1%"`
    """
    from perfkit.bench.engine import BenchOptions
    from perfkit.bench.options import parse_engine
    from perfkit.bench.segments import parse_start_at, parse_workers, resolve_segment
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError
    from perfkit.jsonfile import check_writable
    from perfkit.percentages import parse_percent, parse_ratio

    target, base_url = _url_target(target, base_url)
    extra = parse_headers(header or [])
    console.state.secrets.extend(v for v in extra.values() if "{token}" not in v)
    plan = _plan(target, scenario, method, cache_ttl).with_headers(extra)
    cfg = console.settings(base_url=base_url, scenario_base_url=plan.base_url, dsn=dsn)
    if not cfg.base_url:
        raise UsageError("no base URL", hint="pass --base-url, set PERFKIT_BASE_URL, or run "
                                             "`perfkit demo up`")
    tokens, spare, logins, spare_logins = _users(
        plan, cfg, tokens_file, users_file, users, flush_cmd is not None)
    options = BenchOptions(
        base_url=cfg.base_url, requests=requests,
        duration_s=parse_duration_s(duration, flag="--duration") if duration else None,
        concurrency=concurrency, rate_per_s=rate,
        timeout_s=parse_duration_s(timeout, flag="--timeout"), warmup=warmup,
        tokens=tuple(tokens), spare_tokens=tuple(spare), flush_cmd=flush_cmd,
        flush_every=flush_every, cache_header=cache_header, repeat=repeat,
        cache_threshold_pct=parse_percent(cache_threshold, flag="--cache-threshold"),
        workers=parse_workers(workers),
        segment=resolve_segment(segment, segments),
        start_at_epoch_s=parse_start_at(start_at) if start_at else None, seed=seed,
        credentials=tuple(logins), spare_credentials=tuple(spare_logins),
        engine=parse_engine(engine))
    options.validate()
    if out is not None:
        check_writable(out, "--out")
    from perfkit.bench.scheduler import RunKept

    kept: RunKept | None = None
    try:
        run = (_find_max(plan, options, slo, max_rate, step, (requests, duration, repeat))
               if find_max else _run_with_progress(plan, options, cfg.dsn, out))
    except RunKept as exc:  # the database failed after the run: its results, then the error
        run, kept = exc.run, exc
    _finish(run, out, options, console.fmt(output_format),
            parse_ratio(max_error_ratio, flag="--max-error-ratio"))
    if kept is not None:
        where = f", saved to {out}" if out is not None else ""
        raise type(kept.error)(f"{kept.error.message}; the run's results are above{where}, "
                               f"{kept.missing}", hint=kept.error.hint)


def _find_max(plan: Scenario, options: BenchOptions, slo_text: str, max_rate: float,
              step: str, bounds: tuple[int | None, str | None, int]) -> Run:
    """The capacity search, a line per step as it goes (bench/findmax.py)."""
    from dataclasses import replace

    from perfkit.bench.capacity import Slo, Step
    from perfkit.bench.findmax import find_max
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError
    from perfkit.units import fmt_ms

    requests, duration, repeat = bounds
    if requests is not None or duration is not None or repeat != 1:
        raise UsageError("--find-max sets each step's length and count itself",
                         hint="drop -n, --duration and --repeat; --step sets the shortest step")
    if options.segment.count > 1:
        raise UsageError("--find-max runs in one place: a segment cannot judge the whole rate",
                         hint="use --workers on one machine")
    slo = Slo.parse(slo_text)
    start = options.rate_per_s or 10.0
    if start > max_rate:
        raise UsageError(f"--rate {start:g} is above --max-rate {max_rate:g}")

    def said(s: Step) -> None:
        verdict = {True: "held", False: "broke", None: "unclear"}[s.held]
        p99 = s.latency_ms.get("p99")
        console.info(f"{s.rate:.4g}/s for {s.seconds:.1f} s: {verdict} (achieved "
                     f"{s.achieved:.4g}/s, p99 {'-' if p99 is None else fmt_ms(p99, unit=True)}, "
                     f"{s.errors} errors){': ' + s.why if s.why and s.held is not True else ''}")

    console.info(f"capacity search: from {start:g}/s up to {max_rate:g}/s, SLO {slo.text}")
    return find_max(plan, replace(options, rate_per_s=start), slo, start=start,
                    max_rate=max_rate, step_s=parse_duration_s(step, flag="--step"),
                    on_step=said)


def _users(plan: Scenario, cfg: Settings, tokens_file: Path | None, users_file: Path | None,
           users: int | None, flushing: bool
           ) -> tuple[list[str], list[str], list[Credential], list[Credential]]:
    """(tokens, spare tokens, users who log in, spare ones): one kind or the other; every
    token and password joins the secrets nothing prints."""
    from perfkit.bench.credentials import choose_users, read_users_file
    from perfkit.bench.login import check_login
    from perfkit.bench.tokens import choose_tokens
    from perfkit.errors import UsageError

    if users_file is not None:
        if tokens_file is not None:
            raise UsageError("--users-file and --tokens-file both given",
                             hint="users who log in get their tokens from the login step: "
                                  "give one of them")
        logins, spare = choose_users(read_users_file(users_file), users, users_file)
        console.state.secrets.extend(c.password for c in (*logins, *spare))
        check_login(plan, logins)
        return [], [], logins, spare
    check_login(plan, [])
    # With --flush-cmd the flushes make the cold samples: one user, unless asked for more.
    tokens, spare_tokens = choose_tokens(cfg, tokens_file, users or (1 if flushing else None))
    console.state.secrets.extend([*tokens, *spare_tokens])
    return tokens, spare_tokens, [], []


def parse_headers(raw: list[str]) -> dict[str, str]:
    """`--header 'Name: value'` flags as a mapping; a malformed one is a one-line usage error."""
    from perfkit.errors import UsageError

    headers = {}
    for number, item in enumerate(raw, start=1):
        name, sep, value = item.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            # never echoed: what was typed may be a credential without its name
            raise UsageError(f"--header number {number} is not 'Name: value'",
                             hint="e.g. --header 'X-API-Key: {token}'")
        headers[name.strip()] = value.strip()
    return headers


def _url_target(target: str | None, base_url: str | None) -> tuple[str | None, str | None]:
    """`perfkit bench http://host:port/path` (as hey and k6 take it): the path to bench and
    the base URL it names."""
    from perfkit.bench.evidence import split_target_url
    from perfkit.errors import UsageError

    split = split_target_url(target) if target else None
    if split is None:
        return target, base_url
    if base_url is not None and base_url.rstrip("/") != split[0]:
        raise UsageError("TARGET is a URL and --base-url names another",
                         hint="give the path as TARGET with --base-url, or the URL alone")
    return split[1], split[0]


def _plan(target: str | None, scenario: Path | None, method: str, cache_ttl: str) -> Scenario:
    """The scenario to run: a file, a name in scenarios/, or one path."""
    from perfkit.bench.scenario import Scenario, find_scenario, load_scenario
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError

    if scenario is not None:
        return load_scenario(scenario)
    if target is None:
        raise UsageError("nothing to bench", hint="give a path (/auth/me), a scenario name or "
                                                  "--scenario FILE")
    if target.startswith("/") and not target.endswith((".yaml", ".yml")) and not Path(
            target).is_file():
        return Scenario.for_path(target, method=method,
                                 ttl_s=parse_duration_s(cache_ttl, flag="--cache-ttl"))
    found = find_scenario(target)
    if found is None:
        raise UsageError(f"no scenario named {target!r}",
                         hint="a path starts with /; scenarios live in ./scenarios/*.yaml")
    return load_scenario(found)


def _nothing_measured(out: Path | None) -> str:
    where = "" if out is None else (f"; {out} still holds its previous record" if out.exists()
                                    else f"; nothing was written to {out}")
    return f"interrupted before anything was measured{where}"


def _run_with_progress(plan: Scenario, options: BenchOptions, dsn: str | None,
                       out: Path | None) -> Run:
    from perfkit.bench.scheduler import run_bench_sync
    from perfkit.errors import Interrupted

    measuring = False
    try:
        console.debug("bench: connecting, logging users in, warming up")
        with console.progress() as prog:
            task = prog.add_task("starting", total=None)

            def on_progress(info: ProgressInfo) -> None:
                nonlocal measuring
                if not measuring and info.done + info.errors:
                    measuring = True
                    console.debug("bench: measuring")
                p99 = "-" if info.p99_ms is None else f"{info.p99_ms:.1f} ms"
                prog.update(task, completed=info.done, total=info.planned,
                            description=f"{info.rate_per_s:.0f} req/s, {info.errors} errors, "
                                        f"p99 {p99}")

            return run_bench_sync(plan, options, on_progress, dsn=dsn)
    except KeyboardInterrupt:  # before the engine measured (connect, logins)
        raise Interrupted(_nothing_measured(out)) from None


def _save_and_show(run: Run, out: Path | None, output: OutputFormat) -> str | None:
    """Save (whole or not at all), then print; an interrupt during the save still prints."""
    from perfkit.errors import Interrupted

    existed = out is not None and out.exists()
    doing = "writing the record"
    try:  # the line inside: a Ctrl-C right after it is still said as during the write
        if out is not None:
            console.debug(f"bench: writing {out}")
        save_error = _save(run, out) if out is not None else None
        doing = "printing the results"
        _render_run(run, output)
    except KeyboardInterrupt:
        if doing == "writing the record":
            _render_run(run, output)
        raise Interrupted(f"interrupted while {doing}: {_on_disk(run, out, existed)}"
                          ) from None
    return save_error


def _finish(run: Run, out: Path | None, options: BenchOptions, output: OutputFormat,
            max_error_ratio: float) -> None:
    """Save, print, then the exit code: 130 interrupted, 2 the record not written, 3 a backend
    that never answered, 1 over the error budget."""
    from perfkit.errors import CheckFailed, Interrupted, Unreachable, UsageError

    if run.interrupted and run.total_count + run.total_errors == 0:
        raise Interrupted(_nothing_measured(out))  # an empty record replaces nothing
    save_error = _save_and_show(run, out, output)
    if save_error is not None:
        raise UsageError(save_error + " (the results are printed above)")
    for failure in run.failures:
        console.error_line(failure)
    if run.interrupted:
        raise Interrupted(_interrupted_line(run, out, options))
    if run.failures:
        raise CheckFailed(f"{len(run.failures)} worker(s) died; the record holds the others' "
                          "results", hint="see the lines above")
    lost = sum(o.connections for o in run.outages)
    hung = sum(o.timed_out for o in run.outages)
    if (lost or hung) and not run.answered:
        kept = f"the record {out} holds the errors" if out is not None else "nothing saved"
        if not hung:
            raise Unreachable(f"the backend at {run.base_url} never answered: it refused or "
                              f"closed all {lost} connections of the run",
                              hint=f"start it, or check --base-url; {kept}")
        refused = f"refused or closed {lost} connections and " if lost else ""
        raise Unreachable(f"the backend at {run.base_url} never answered: it {refused}left "
                          f"{hung} requests unanswered until each timed out (--timeout "
                          f"{options.timeout_s:g} s): it accepts connections but hangs",
                          hint=f"look for what it waits on: a lock, a full pool, a stopped "
                               f"process; or raise --timeout; {kept}")
    if run.total_count == 0 and run.total_errors == 0:
        raise CheckFailed("no request completed", hint="raise --duration or -n")
    if run.error_ratio > max_error_ratio:
        total = run.total_errors + run.total_count
        said = [f"{lost} connections the backend refused or closed"] if lost else []
        said += [f"{hung} requests it left unanswered (hung)"] if hung else []
        down = (f", of them {' and '.join(said)}: see the warning above" if said else "")
        raise CheckFailed(f"error ratio {run.error_ratio:.1%} is above the budget "
                          f"{max_error_ratio:.1%} ({run.total_errors} failed of {total} "
                          f"requests{down})",
                          hint="see the errors column; --max-error-ratio sets the budget")


def compare(
    before: Annotated[Path, typer.Argument(help="The 'before' run (perfkit bench --out).")],
    after: Annotated[Path, typer.Argument(help="The 'after' run.")],
    alpha: Annotated[float, typer.Option(help="Significance level (Holm-corrected).",
                                         min=0.0001, max=0.5)] = 0.05,
    min_change: Annotated[str, typer.Option(
        help="faster/slower only when the whole 95% interval of the mean's change is beyond "
             "this percentage, 5% or 5 (the gate's --max-regression).")] = "5%",
    run_noise: Annotated[str, typer.Option(
        help="Run-to-run noise of a run's mean added to one-run intervals: auto (1% + 60 µs, "
             "measured on loopback), a percentage of your own from A/A runs, or 0 (as the "
             "gate's).")] = "auto",
    output_format: FormatOpt = None,
) -> None:
    """Before/after per route and phase: change in mean/p50/p99, a CI and a verdict.

    Example: `perfkit compare before.json after.json --format markdown`
    """
    from perfkit.bench.compare import Method, compare_runs
    from perfkit.percentages import parse_percent, parse_percent_or_auto
    from perfkit.records import load_run
    from perfkit.render.compare import compare_document

    method = Method(alpha=alpha, min_change_pct=parse_percent(min_change, flag="--min-change"),
                    run_noise_pct=parse_percent_or_auto(run_noise, flag="--run-noise"))
    result = compare_runs(load_run(before), load_run(after), method)
    if console.fmt(output_format) is OutputFormat.json:
        console.print_json(result.to_json())
    else:
        console.show(compare_document(result), output_format)


def merge(
    runs: Annotated[list[Path], typer.Argument(help="Run records to add (two or more).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the merged run.")],
    output_format: FormatOpt = None,
) -> None:
    """Add runs from many machines into one: histograms and error counts add exactly.

    Example: `perfkit merge a.json b.json c.json -o all.json`
    """
    from perfkit.errors import UsageError
    from perfkit.jsonfile import check_writable
    from perfkit.records import load_run

    if len(runs) < 2:
        raise UsageError("merge needs at least two run records")
    check_writable(out, "-o/--out")
    loaded = [load_run(path) for path in runs]
    bases = {run.base_url for run in loaded}
    if len(bases) > 1:
        console.warning(f"merging runs against different base URLs: {', '.join(sorted(bases))}")
    scenarios = {r.settings.scenario for r in loaded}
    if len(scenarios) > 1:
        console.warning(f"merging runs of different scenarios ({', '.join(sorted(scenarios))}): "
                        "per-route histograms add exactly, but the iteration counts and rates "
                        "of the merged generator mix unlike things")
    merged = loaded[0].merge(*loaded[1:])
    save_error = _save(merged, out)
    _render_run(merged, console.fmt(output_format))
    if save_error is not None:
        raise UsageError(save_error + " (the merged results are printed above)")
    console.note(f"merged {len(loaded)} runs into {out}")
