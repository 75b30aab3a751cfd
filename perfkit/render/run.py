"""A bench Run as a Document: one row per route and phase, the cold/warm lines, the notes."""

from __future__ import annotations

from perfkit.bench.cache import MIN_COLD_SAMPLES, CacheEffect, Speedup
from perfkit.bench.capacity import Capacity
from perfkit.bench.evidence import Outage
from perfkit.bench.provenance import LoopMode
from perfkit.bench.record import Phase, Run
from perfkit.bench.saturation import Cause, Saturation
from perfkit.db.workload import DbStats
from perfkit.render.advice import short_query
from perfkit.render.model import Document, Table, name, number, text
from perfkit.stats import summary_ms
from perfkit.units import fmt_ms, fmt_rate, fmt_share

RUN_COLUMNS = (name("route"), name("phase"), number("count"), number("mean ms"),
               number("p50 ms"), number("p90 ms", drop=2), number("p99 ms"),
               number("p99.9 ms", drop=1), number("max ms", drop=3), text("errors"))
LATENCY_KEYS = ("mean", "p50", "p90", "p99", "p999", "max")


def fmt_errors(errors: dict[str, int]) -> str:
    return ", ".join(f"{kind}: {n}" for kind, n in sorted(errors.items())) or "-"


def run_table(run: Run) -> Table:
    """One row per route and phase (cold, warm, all); a route without a cache effect is one
    row (its `all`); one sample shows as one value, no percentiles."""
    rows: list[list[str]] = []
    folded = {sp.route for sp in run.speedups() if sp.cache_effect is CacheEffect.NONE}
    for route in run.routes():
        phases = [Phase.ALL] if route in folded else run.phases(route)
        for phase in phases:
            rec = run.records[(route, phase)]
            s = summary_ms(rec.corrected)
            if rec.count == 1:
                cells = [fmt_ms(s["mean"]), "-", "-", "-", "-", "(1 sample)"]
            else:
                cells = [fmt_ms(s[k]) for k in LATENCY_KEYS]
            rows.append([route, phase.value, str(rec.count), *cells, fmt_errors(rec.errors)])
    return Table.of(f"perfkit bench: {run.settings.scenario} on {run.base_url}", RUN_COLUMNS,
                    rows)


def speedup_line(sp: Speedup) -> str:
    """The cache verdict of one route, with the figures it rests on."""
    if sp.cold_count == 0 or sp.warm_count == 0:
        return f"{sp.route}: no {'cold' if sp.cold_count == 0 else 'warm'} sample"
    figures = f"cold/warm = {sp.ratio:.2f}x" if sp.ratio is not None else "cold/warm"
    if sp.ci is not None:
        figures += f" (95% CI {sp.ci[0]:.2f}x-{sp.ci[1]:.2f}x)"
    figures += f", {sp.cold_count} cold, {sp.warm_count} warm"
    threshold = f"±{sp.threshold_pct:g}%"
    if sp.cache_effect is CacheEffect.DETECTED:
        return f"{sp.route}: cache detected: {figures}; beyond the {threshold} threshold"
    if sp.cache_effect is CacheEffect.NONE:
        return (f"{sp.route}: no cache effect: {figures}; within {threshold} (one row "
                "shown: cold and warm stay in the record)")
    return f"{sp.route}: cache effect inconclusive: {figures}; {sp.reason} ({threshold})"


def _loop_note(run: Run) -> str:
    settings = run.settings
    steps = settings.steps_per_iteration
    rate = settings.iterations_per_s
    if settings.mode is not LoopMode.OPEN:
        return (f"closed loop, {settings.concurrency} connection(s): latency is service time; "
                "a stall shows as few slow samples (use --rate for latency under a fixed load)")
    if steps == 1:
        return (f"open loop at {rate:g} req/s: latency from each request's intended start "
                "(wrk2 method, no coordinated omission)")
    planned = f", up to {rate * steps:g} requests/s" if rate else ""
    return (f"open loop at {rate:g} iterations/s ({steps} steps each{planned}): first step of "
            "each iteration timed from its intended start (wrk2); later steps from their "
            "actual send")


def _count_note(run: Run) -> str | None:
    gen, steps = run.generator, run.settings.steps_per_iteration
    if gen.requests is None or not gen.elapsed_s:
        return None
    iterations = (f" ({gen.iterations} iterations of {steps} steps)"
                  if steps > 1 and gen.iterations is not None else "")
    failed = f" ({gen.errors} failed)" if gen.errors else ""
    return (f"{gen.requests} requests{failed}{iterations} in {gen.elapsed_s:g} s "
            f"({fmt_rate(gen.achieved_rate_per_s)} req/s)")


def login_lines(run: Run) -> list[str]:
    """The users' logins: timed, but kept apart from the measured routes and their budget."""
    lines = []
    for rec in run.logins.values():
        s = summary_ms(rec.corrected)
        timing = (f": mean {fmt_ms(s['mean'])} ms, max {fmt_ms(s['max'])} ms"
                  if rec.count else "")
        errors = f"; errors {fmt_errors(rec.errors)}" if rec.errors else ""
        lines.append(f"logins {rec.route} (apart from the measured routes): {rec.count} for "
                     f"{run.settings.login_users} user(s){timing}{errors}")
    return lines


def run_notes(run: Run) -> list[str]:
    """How the run measured (the loop, the counts, the logins, a merge)."""
    notes = [_loop_note(run)]
    counts = _count_note(run)
    if counts:
        notes.append(counts)
    notes += login_lines(run)
    merged = run.provenance.merged_from
    if merged:
        notes.append(f"merged from {len(merged)} runs: counts are sums, elapsed is the longest "
                     "run (they are assumed to have run at the same time)")
        offsets = run.start_offsets()
        if offsets:
            origin = "the shared --start-at" if run.settings.start_at else "the first start"
            notes.append(f"start offsets from {origin}: " + ", ".join(
                f"{label} {offset:+.3f} s" for label, offset in offsets))
    return notes


def run_warnings(run: Run) -> list[str]:
    """What makes the run's figures weaker: said on stderr as warnings."""
    out = []
    if run.generator.fell_behind:
        out.append(late_line(run))
    out += outage_lines(run)
    out += redirect_lines(run)
    out += run.warnings()
    if run.interrupted:
        out.append("interrupted: the results are partial")
    return out


REDIRECTS = frozenset({"301", "302", "303", "307", "308"})


def redirect_lines(run: Run) -> list[str]:
    """A route answered redirects that h1 does not follow (bench/h1.py): said, with the way
    to measure what the redirect leads to."""
    if run.generator.engine != "h1":
        return []
    out = []
    for r in run.records.values():
        kinds = sorted(REDIRECTS.intersection(r.errors)) if r.phase is Phase.ALL else []
        if kinds:
            out.append(f"{r.route} answered {sum(r.errors[k] for k in kinds)} redirect(s) "
                       f"({', '.join(kinds)}), counted as errors: the h1 engine does not "
                       "follow redirects; bench the URL they lead to, or use --engine aiohttp, "
                       "which follows them (each timed with its redirects)")
    return out


def late_line(run: Run) -> str:
    """Sends left late: what held them back (bench/saturation.py), with the evidence and
    what to do about it."""
    gen, steps = run.generator, run.settings.steps_per_iteration
    unit = "req/s" if steps == 1 else "iterations/s"
    achieved = fmt_rate(gen.achieved_rate_per_s if steps == 1 else
                        gen.achieved_iterations_per_s)
    late = f"{gen.late_sends} sends late, up to {fmt_ms(gen.max_send_lag_ms)} ms"
    sat = gen.saturation
    if sat is None or sat.cause is None:
        return f"the generator fell behind: {late}; achieved {achieved} {unit}"
    busy = (f"all {sat.senders} senders were waiting on answers "
            f"({fmt_share(sat.all_busy_share, digits=0)} of the run)")
    if sat.cause is Cause.TARGET:
        return (f"the target is saturated, not the generator: {late}: {busy} while its "
                f"service time grew from {fmt_ms(sat.service_fastest_ms)} ms (fastest) to "
                f"{fmt_ms(sat.service_p50_ms)} ms (median) on {sat.service_route}; the "
                f"achieved {achieved} {unit} is its capacity at {sat.senders} requests in "
                "flight (the rate it holds: --find-max; at more concurrency: --concurrency)")
    if sat.cause is Cause.SENDERS:
        return (f"the senders were the limit, not the target: {late}: {busy} at a steady "
                f"service time ({fmt_ms(sat.service_p50_ms)} ms median, "
                f"{fmt_ms(sat.service_fastest_ms)} ms fastest, on {sat.service_route}); "
                f"{achieved} {unit} is what {sat.senders} requests in flight hold: raise "
                "--concurrency (a target already saturated at its first answer looks the "
                "same; its service time then grows with the concurrency)")
    if sat.cause is Cause.CLIENT:
        return (f"the client was the limit, not the target: {late}; {_client(sat, gen.late_sends)}"
                f"; achieved {achieved} {unit}: spread the load over processes (--workers "
                "auto) or lower --rate")
    return (f"the generator fell behind: {late}; achieved {achieved} {unit} (cause unclear: "
            f"all senders busy {fmt_share(sat.all_busy_share, digits=0)} of the run, "
            f"{_client(sat, gen.late_sends)})")


def _client(sat: Saturation, late: int | None) -> str:
    """The client's own figures: its loop's delay, its CPU, the late sends of idle senders."""
    return (f"its event loop woke a 10 ms timer {fmt_ms(sat.loop_lag_p50_ms)} ms late "
            f"(median; p99 {fmt_ms(sat.loop_lag_p99_ms)} ms), the process used "
            f"{sat.cpu_cores or 0:.2f} of a CPU core, and {sat.late_sender_idle} of the "
            f"{late} late sends left while a sender was free")


OUTAGE_LINES = 5  # a flapping backend: the first ones said, all kept in the record


def outage_line(outage: Outage, base_url: str) -> str:
    """`the backend at URL refused 40 and closed 2 connections between 1.20 s and 2.31 s into
    the run; it answered again at 2.33 s`, or `hung: it answered none of the 12 requests sent
    between ...`, prefixed with the worker or repeat that saw it."""
    done = [f"{verb} {n}" for verb, n in (("refused", outage.refused),
                                         ("closed", outage.closed)) if n]
    noun = "connection" if outage.connections == 1 else "connections"
    what, kinds = [], []
    if done:
        what.append(f"{' and '.join(done)} {noun}")
        kinds.append("refused, disconnected, reset")
    if outage.timed_out:
        sent = ("did not answer the request sent" if outage.timed_out == 1 else
                f"answered none of the {outage.timed_out} requests sent")
        what.append(f"{'hung: it ' if not done else ''}{sent}")
        kinds.append("timeout")
    span = (f"at {outage.from_s:.2f} s" if outage.to_s - outage.from_s < 0.005 else
            f"between {outage.from_s:.2f} s and {outage.to_s:.2f} s")
    back = ("it did not answer again before the run ended" if outage.back_s is None else
            f"it answered again at {outage.back_s:.2f} s, and the run went on")
    who = f"{outage.source}: " if outage.source else ""
    return (f"{who}the backend at {base_url} {' and '.join(what)} {span} into the run; "
            f"{back} (each is an error of its route: {', '.join(kinds)})")


def outage_lines(run: Run) -> list[str]:
    lines = [outage_line(o, run.base_url) for o in run.outages[:OUTAGE_LINES]]
    more = len(run.outages) - OUTAGE_LINES
    if more > 0:
        lines.append(f"and {more} more outages in the record's `outages`")
    return lines


DB_COLUMNS = (text("statement"), number("calls/req"), number("mean ms"), number("total ms"),
              number("rows/call", drop=2), number("blocks read", drop=1))
DB_TOP = 5


def db_table(db: DbStats) -> Table:
    """The run's costliest statements (pg_stat_statements, this database, this window)."""
    rows = [[short_query(s.query, s.queryid),
             "-" if s.calls_per_request is None else f"{s.calls_per_request:.2f}",
             fmt_ms(s.mean_ms), fmt_ms(s.total_ms), f"{s.rows_per_call:.1f}",
             str(s.shared_blks_read)] for s in db.statements[:DB_TOP]]
    more = len(db.statements) - DB_TOP
    caption = f"{more} more in the record's db.statements" if more > 0 else None
    return Table.of("database: the run's statements, costliest first", DB_COLUMNS, rows,
                    caption)


def db_notes(db: DbStats) -> list[str]:
    notes = []
    if db.db_ms_per_request is not None:
        notes.append(f"database time per request {fmt_ms(db.db_ms_per_request)} ms"
                     f"{_db_share(db)} (pg_stat_statements of this database: other clients "
                     "count too)")
    return notes + db.notes()


def _percent(portion: float) -> str:
    return "<1%" if 0 < portion < 0.005 else format(portion, ".0%")


def _db_share(db: DbStats) -> str:
    """` = 95% of the mean service time (latency from the send); 19% of the mean latency
    from the intended start`: the second part only where the two differ (an open loop's
    queueing); a record from before the service time, its share of the latency alone."""
    service, latency = db.share_of_service_time, db.share_of_latency
    if service is None:
        return "" if latency is None else f" = {_percent(latency)} of the mean latency"
    said = f" = {_percent(service)} of the mean service time (latency from the send)"
    if latency is not None and _percent(latency) != _percent(service):
        said += f"; {_percent(latency)} of the mean latency from the intended start"
    return said


def speedup_lines(speedups: list[Speedup]) -> list[str]:
    """One line per route's cache verdict; the routes with too few cold samples to judge share
    one line (the same cause, the same remedy)."""
    few = [sp for sp in speedups if sp.cold_count and sp.warm_count
           and sp.cold_count < MIN_COLD_SAMPLES]
    lines = [speedup_line(sp) for sp in speedups if sp not in few or len(few) == 1]
    if len(few) > 1:
        most = max(sp.cold_count for sp in few)
        routes = ", ".join(sp.route for sp in few)
        lines.append(f"cache effect not judged on {len(few)} routes ({routes}): at most {most} "
                     f"cold sample(s) a route, {MIN_COLD_SAMPLES} needed: one cold sample per "
                     "user, so give more users (--tokens-file, --users)")
    return lines


def error_body_lines(run: Run) -> list[str]:
    """What the app answered to each failing route and status (a sample, secrets masked)."""
    return [f"{b.route} answered {b.status}: {b.body or '(empty body)'}"
            for b in run.error_bodies]


UNDERSAMPLED_SHARE = 0.05  # a route that lost this share of its requests to the run's end


def cut_lines(run: Run) -> list[str]:
    """Iterations the run's end stopped half-way, and the routes that lost a share of their
    samples by it (all of them stay in the record's `cut_routes`)."""
    cut = run.generator.cut_iterations
    sent = run.requests_by_route()
    short = {route: missing for route, missing in run.cut_routes.items()
             if missing >= UNDERSAMPLED_SHARE * (sent.get(route, 0) + missing)}
    if not cut or not short:
        return []  # each connection's last iteration: kept in the record, not worth a line
    routes = ", ".join(f"{route} ({sent.get(route, 0)} sent, {missing} cut)"
                       for route, missing in short.items())
    of = f" of {run.generator.iterations}" if run.generator.iterations else ""
    steps = run.settings.steps_per_iteration
    hint = ("raise --duration, or lower --rate to what the target holds"
            if run.settings.duration_s else
            f"-n counts requests: a multiple of the {steps} steps ends on whole iterations")
    return [f"{cut}{of} iterations were cut short by the end of the run; undersampled: "
            f"{routes} ({hint})"]


def n_plus_one_lines(run: Run) -> list[str]:
    """N+1: a statement run 5 or more times a request, where it is seen."""
    return [f"N+1: {n.calls_per_request:.1f} calls per {n.where} of "
            f"`{' '.join(n.query.split())[:160]}` (queryid {n.queryid}; {n.method})"
            for n in run.n_plus_one]


ROUTE_SQL_COLUMNS = (name("route"), number("statements/req"), number("db ms/req"),
                     number("share", drop=1))


def route_sql_table(run: Run) -> Table:
    """Each route's SQL per request, as the attribution pass found it."""
    rows = [[r.route, f"{r.calls_per_request:g}", fmt_ms(r.ms_per_request),
             "-" if r.share_of_latency is None else f"{r.share_of_latency:.0%}"]
            for r in run.route_sql.routes]
    return Table.of("database: SQL per request of each route", ROUTE_SQL_COLUMNS, rows,
                    run.route_sql.detail)


CAPACITY_COLUMNS = (number("offered/s"), number("achieved/s"), number("p50 ms", drop=2),
                    number("p99 ms"), number("errors"), number("s", drop=1), text("verdict"))


def capacity_table(capacity: Capacity) -> Table:
    """Every step of the search, in the order it ran."""
    rows = [[f"{s.rate:.4g}", f"{s.achieved:.4g}", fmt_ms(s.latency_ms.get("p50")),
             fmt_ms(s.latency_ms.get("p99")), str(s.errors), f"{s.seconds:.1f}",
             {True: "held", False: "broke", None: "unclear"}[s.held]
             + (" (estimate)" if s.on_estimate else "")] for s in capacity.steps]
    return Table.of(f"capacity search, SLO {capacity.slo}", CAPACITY_COLUMNS, rows)


def capacity_lines(capacity: Capacity) -> list[str]:
    """The bracket, what broke it, and what limits it."""
    broke = next((s for s in capacity.steps if s.held is False
                  and s.rate == capacity.broke_at_per_s), None)
    why = f" ({broke.why})" if broke is not None and broke.why else ""
    body = ("the tables below are the step at the highest rate that held"
            if capacity.max_rate_per_s is not None else "the tables below are the last step")
    return [f"capacity: {capacity.bracket} within {capacity.slo}{why}", *capacity.notes, body]


def run_document(run: Run) -> Document:
    doc = Document()
    if run.capacity is not None:
        doc.table(capacity_table(run.capacity)).lines(*capacity_lines(run.capacity),
                                                      bullets=True)
    doc.table(run_table(run))
    doc.lines(*speedup_lines(run.speedups()), *run_notes(run), *error_body_lines(run),
              *cut_lines(run), bullets=True)
    if run.db is not None and run.db.statements:
        doc.table(db_table(run.db))
        if len(run.route_sql.routes) > 1:
            doc.table(route_sql_table(run))
        doc.lines(*n_plus_one_lines(run), *db_notes(run.db), bullets=True)
    return doc
