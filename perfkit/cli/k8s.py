"""`perfkit k8s-job`: a Kubernetes Indexed Job that runs one bench on N pods, and its merge.

Imports of the core sit inside the commands (start-up: `perfkit k --help` and shell
completion load none of psycopg, aiohttp, pglast or the record modules).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from perfkit.cli import console
from perfkit.cli.console import OutputFormat

if TYPE_CHECKING:
    from perfkit.k8s import Files, Image, JobPlan, ScenarioFile


def k8s_job(
    target: Annotated[str | None, typer.Argument(
        help="A path on the base URL (/auth/me), a scenario name in scenarios/ or a scenario "
             "file (shipped to the pods in a ConfigMap).")] = None,
    segments: Annotated[int | None, typer.Option(
        help="Pods (required), each running one share of the schedule at the same time.")]
    = None,
    scenario: Annotated[Path | None, typer.Option(
        "--scenario", "-s", help="Scenario file (instead of TARGET).")] = None,
    requests: Annotated[int | None, typer.Option(
        "--requests", "-n", help="Requests of the whole run (each pod sends its share).",
        min=1)] = None,
    duration: Annotated[str | None, typer.Option(help="Run time, e.g. 5m.")] = None,
    rate: Annotated[float | None, typer.Option(
        help="Open loop: iterations per second of the whole run (each pod paces its share).",
        min=0.001)] = None,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-c", help="Closed loop: connections of the whole run.", min=1)]
    = None,
    workers: Annotated[int, typer.Option(
        help="Processes in each pod, one core each (a number: auto would count the node's "
             "cores, not the pod's).", min=1)] = 1,
    users: Annotated[int | None, typer.Option(
        help="Tokens of the tokens file to use (default 10).", min=1)] = None,
    timeout: Annotated[str, typer.Option(help="Per-request timeout.")] = "10s",
    warmup: Annotated[int, typer.Option(help="Unrecorded requests first.", min=0)] = 0,
    method: Annotated[str, typer.Option(help="HTTP method for a path TARGET.")] = "GET",
    cache_ttl: Annotated[str, typer.Option(help="How long a cache entry stays warm.")]
    = "120s",
    cache_header: Annotated[str | None, typer.Option(
        help="Classify cold/warm by this response header, e.g. X-Cache.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the schedule.")] = 1,
    engine: Annotated[str, typer.Option(
        help="What sends each pod's requests, as bench --engine: h1, aiohttp or auto (h1 "
             "unless the pod's base URL carries credentials).")] = "auto",
    base_url: Annotated[str | None, typer.Option(
        help="Backend URL as the pods reach it (no credentials: they would be in the "
             "manifest).")] = None,
    base_url_secret: Annotated[str | None, typer.Option(
        help="SECRET/KEY holding the backend URL (instead of --base-url).")] = None,
    tokens_secret: Annotated[str | None, typer.Option(
        help="SECRET/KEY holding the tokens file (one bearer token a line).")] = None,
    env_secret: Annotated[str | None, typer.Option(
        help="A Secret whose keys become the pods' environment (PERFKIT_TOKEN, a "
             "scenario's ${VARS}).")] = None,
    image: Annotated[str | None, typer.Option(
        help="Image with perfkit installed; with --pip-install, the Python image to install "
             "into (default python:3.12-slim).")] = None,
    pip_install: Annotated[str | None, typer.Option(
        help="pip requirement installed in each pod first, e.g. 'perfkit @ https://…/"
             "perfkit-0.1.0-py3-none-any.whl'.")] = None,
    start_at: Annotated[str | None, typer.Option(
        help="The run's wall-clock start (ISO time with zone, or unix seconds).")] = None,
    start_in: Annotated[str | None, typer.Option(
        help="Start this long after now (default 2m): time to apply, schedule and pull.")]
    = None,
    results_pvc: Annotated[str | None, typer.Option(
        help="ReadWriteMany PersistentVolumeClaim the pods write their records to.")] = None,
    results_url: Annotated[str | None, typer.Option(
        help="s3://BUCKET/PREFIX the pods upload their records to (AWS CLI image).")] = None,
    results_secret: Annotated[str | None, typer.Option(
        help="Secret with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL, "
             "AWS_DEFAULT_REGION) for --results-url; else the service account's.")] = None,
    uploader_image: Annotated[str | None, typer.Option(
        help="Image with the AWS CLI for --results-url.")] = None,
    namespace: Annotated[str | None, typer.Option(
        help="Namespace (default: kubectl's current one).")] = None,
    name: Annotated[str | None, typer.Option(
        help="Job name (default perfkit-<UTC time>); records go to <claim>/<name>/.")] = None,
    service_account: Annotated[str | None, typer.Option(
        help="Service account of the pods (e.g. one allowed to write to the bucket).")]
    = None,
    cpu: Annotated[str | None, typer.Option(
        help="CPU request of a bench pod (default: one core per worker; no CPU limit).")]
    = None,
    memory: Annotated[str | None, typer.Option(
        help="Memory request and limit of a bench pod (default 256Mi per process).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Where to write the Job (default <name>.yaml); the merge Job "
                            "goes beside it as <stem>-merge.yaml.")] = None,
    output_format: Annotated[OutputFormat | None, typer.Option(
        "--format", help="table, json or markdown.")] = None,
) -> None:
    """Write a Kubernetes Indexed Job that runs one bench on N pods, and the Job that merges.

    Pod k runs share k+1/N of one schedule (perfkit bench --segments N), every pod from the
    same wall-clock start; the records go to a shared claim or an s3:// path, and the merge
    Job adds them exactly. Prints the kubectl steps: apply, wait, merge, copy out, gate.

    Example: `perfkit k8s-job /auth/me --segments 4 --rate 400 --duration 5m --base-url
    http://api.default.svc:8000 --image registry.example.com/perfkit:0.1.0 --results-pvc
    perfkit-results --tokens-secret perfkit/tokens`
    """
    import time

    from perfkit.bench.options import parse_engine
    from perfkit.errors import UsageError
    from perfkit.k8s import JobOptions, Load, Results, SecretKey, build_plan

    if segments is None:
        raise UsageError("--segments N is required: the number of pods", hint="e.g. --segments 4")
    now_s = time.time()
    job_name = name or _default_name(now_s)
    target_path, scenario_file = _target(target, scenario)
    load = Load(target=target_path, scenario=scenario_file, requests=requests,
                duration=duration, rate_per_s=rate, concurrency=concurrency, workers=workers,
                users=users, timeout=timeout, warmup=warmup, method=method.upper(),
                cache_ttl=cache_ttl, cache_header=cache_header, seed=seed,
                engine=parse_engine(engine))
    results = Results(pvc=results_pvc, url=results_url, secret=results_secret)
    if uploader_image is not None:
        results = Results(results_pvc, results_url, results_secret, uploader_image)
    options = JobOptions(
        name=job_name, segments=segments, start_at_epoch_s=_start(start_at, start_in, now_s),
        load=load, image=_image(image, pip_install),
        results=results,
        base_url=base_url,
        base_url_secret=SecretKey.parse(base_url_secret, "--base-url-secret")
        if base_url_secret else None,
        tokens_secret=SecretKey.parse(tokens_secret, "--tokens-secret")
        if tokens_secret else None,
        env_secret=env_secret, namespace=namespace, service_account=service_account,
        cpu=cpu, memory=memory)
    plan = build_plan(options, _files(out, job_name), now_s)
    _write(plan)
    _show(plan, console.fmt(output_format))


def _default_name(now_s: float) -> str:
    from datetime import UTC, datetime

    return f"perfkit-{datetime.fromtimestamp(now_s, UTC):%Y%m%d-%H%M%S}"


def _target(target: str | None, scenario: Path | None) -> tuple[str | None,
                                                                 ScenarioFile | None]:
    """A path stays a path; a scenario (a name or a file) travels in the manifest."""
    from perfkit.bench.scenario import find_scenario
    from perfkit.errors import UsageError
    from perfkit.k8s import read_scenario

    if scenario is not None:
        return None, read_scenario(scenario)
    if target is None:
        raise UsageError("nothing to bench", hint="give a path (/auth/me), a scenario name or "
                                                  "--scenario FILE")
    if target.startswith("/") and not target.endswith((".yaml", ".yml")):
        return target, None
    found = find_scenario(target)
    if found is None:
        raise UsageError(f"no scenario named {target!r}",
                         hint="a path starts with /; scenarios live in ./scenarios/*.yaml")
    return None, read_scenario(found)


def _start(start_at: str | None, start_in: str | None, now_s: float) -> float:
    import math

    from perfkit.bench.segments import parse_start_at
    from perfkit.durations import parse_duration_s
    from perfkit.errors import UsageError
    from perfkit.k8s import DEFAULT_START_IN

    if start_at is not None and start_in is not None:
        raise UsageError("give --start-at or --start-in, not both")
    if start_at is not None:
        return parse_start_at(start_at)
    wait_s = parse_duration_s(start_in or DEFAULT_START_IN, flag="--start-in")
    return float(math.ceil(now_s + wait_s))  # a whole second: easy to read in the manifest


def _image(image: str | None, pip_install: str | None) -> Image:
    from perfkit.errors import UsageError
    from perfkit.k8s import Image

    if image is None and pip_install is None:
        raise UsageError("say how the pods get perfkit: --image IMAGE (perfkit installed) or "
                         "--pip-install REQUIREMENT",
                         hint="e.g. --pip-install 'perfkit @ https://example.com/"
                              "perfkit-0.1.0-py3-none-any.whl'")
    return Image(pip_spec=pip_install) if image is None else Image(image, pip_install)


def _files(out: Path | None, name: str) -> Files:
    from perfkit.k8s import Files

    job = out if out is not None else Path(f"{name}.yaml")
    merge = job.with_name(f"{job.stem}-merge{job.suffix or '.yaml'}")
    return Files(job=str(job), merge=str(merge), record=f"{name}.json")


def _write(plan: JobPlan) -> None:
    """Both files or neither: every path is checked before the first is written."""
    from perfkit.atomic import write_output
    from perfkit.jsonfile import check_writable
    from perfkit.k8s import dump

    job, merge = Path(plan.files.job), Path(plan.files.merge)
    check_writable(job, "-o/--out")
    check_writable(merge, "-o/--out")
    write_output(job, dump(plan.bench), "-o/--out")
    write_output(merge, dump(plan.merge), "-o/--out")
    console.note(f"wrote {job} (apply first) and {merge} (apply once the first is complete)")


def _show(plan: JobPlan, output: OutputFormat) -> None:
    for warning in plan.warnings:
        console.warning(warning)
    if output is OutputFormat.json:
        console.print_json(plan.to_json())
    else:
        from perfkit.render.k8s import job_document

        console.show(job_document(plan), output)
