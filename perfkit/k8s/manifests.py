"""The manifests and the steps of `perfkit k8s-job`, built from checked JobOptions.

The bench Job is Indexed: pod k runs segment k+1 of N (Kubernetes sets JOB_COMPLETION_INDEX in
every container, and fills $(JOB_COMPLETION_INDEX) in command lines), all from one wall-clock
start. Records go to a shared claim (one folder per Job) or, through an init container and
the AWS CLI, to an s3:// prefix. The merge Job runs `perfkit merge` over them, and its
`record` container prints the merged record for `kubectl logs`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from perfkit.k8s.options import (
    SCENARIO_DIR,
    JobOptions,
    Manifest,
    literal,
    validate,
)

MIN_KUBERNETES = "1.29"  # validated from here on (podFailurePolicy on by default since 1.26)
MERGE_DEADLINE_S = 600
KEEP_FINISHED_S = 86400  # finished Jobs and their logs stay a day, then Kubernetes deletes them
BACKOFF_LIMIT = 1  # one retry for a crash (e.g. OOM); a retry starts late, its offset shows
# bench's own verdicts: a retry would give the same answer (1: a worker died or nothing
# completed, 2: usage, e.g. --start-at long past, 3: backend unreachable). Fail the Job.
FAIL_JOB_EXIT_CODES = (1, 2, 3)
MIN_LEAD_S = 30  # less than this between now and the start: pods will likely start late
RESULTS_DIR = "/results"
TOKENS_DIR = "/etc/perfkit/tokens"
TOKENS_FILE = "tokens.txt"
INSTALL_DIR = "/opt/perfkit"
MERGED_FILE = "merged.json"
SEGMENT_RECORD = "segment-$(JOB_COMPLETION_INDEX).json"  # Kubernetes fills in the index
HELPER_RESOURCES: Manifest = {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"memory": "512Mi"}}
MERGE_RESOURCES: Manifest = {"requests": {"cpu": "1", "memory": "1Gi"},
                             "limits": {"memory": "1Gi"}}
RECORD_RESOURCES: Manifest = {"requests": {"cpu": "10m", "memory": "16Mi"},
                              "limits": {"memory": "64Mi"}}
SECURITY: Manifest = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                      "seccompProfile": {"type": "RuntimeDefault"}}


@dataclass(frozen=True)
class Step:
    """One thing to run, in order, with why."""

    command: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"command": self.command, "why": self.why}


@dataclass(frozen=True)
class Files:
    """Where the manifests are written and where the merged record is copied to."""

    job: str
    merge: str
    record: str


@dataclass(frozen=True)
class JobPlan:
    """The manifests and the steps that apply them."""

    options: JobOptions
    files: Files
    bench: list[Manifest]
    merge: list[Manifest]
    steps: list[Step]
    deadline_s: int
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        o = self.options
        return {"name": o.name, "namespace": o.namespace, "segments": o.segments,
                "start_at": o.start_at_iso, "active_deadline_s": self.deadline_s,
                "image": o.image.image, "pip_install": o.image.pip_spec,
                "results": o.results.pvc or o.results.prefix(o.name),
                "files": {"job": self.files.job, "merge": self.files.merge,
                          "record": self.files.record},
                "steps": [s.to_json() for s in self.steps], "warnings": self.warnings}


class _Dumper(yaml.SafeDumper):
    """Plain YAML: a dict used twice is written twice (no &anchors a reader must follow)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(documents: list[Manifest]) -> str:
    """Documents as one YAML stream, keys in the order Kubernetes' docs show them."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         width=100)


def build_plan(o: JobOptions, files: Files, now_s: float) -> JobPlan:
    """The bench Job (and its scenario's ConfigMap), the merge Job, and the kubectl steps."""
    validate(o, now_s)
    deadline = o.deadline_s(now_s)
    bench = [*_scenario_map(o), _job(o, "bench", _bench_spec(o, deadline))]
    merge = [_job(o, "merge", _merge_spec(o))]
    return JobPlan(o, files, bench, merge, _steps(o, files, deadline), deadline,
                   _warnings(o, now_s))


def _labels(o: JobOptions, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "perfkit", "app.kubernetes.io/instance": o.name,
            "app.kubernetes.io/component": component}


def _metadata(o: JobOptions, name: str, component: str) -> Manifest:
    meta: Manifest = {"name": name}
    if o.namespace is not None:
        meta["namespace"] = o.namespace
    meta["labels"] = _labels(o, component)
    return meta


def _scenario_map(o: JobOptions) -> list[Manifest]:
    scenario = o.load.scenario
    if scenario is None:
        return []
    return [{"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": _metadata(o, f"{o.name}-scenario", "bench"),
             "data": {scenario.filename: scenario.text}}]


def _job(o: JobOptions, component: str, spec: Manifest) -> Manifest:
    name = o.name if component == "bench" else f"{o.name}-{component}"
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": _metadata(o, name, component), "spec": spec}


def _bench_spec(o: JobOptions, deadline_s: int) -> Manifest:
    labels = _labels(o, "bench")
    pod = _pod(o, *_bench_containers(o), volumes=_volumes(o, bench=True))
    pod["topologySpreadConstraints"] = [  # one pod a machine where there are machines enough
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
         "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels}}]
    return {"completionMode": "Indexed", "completions": o.segments, "parallelism": o.segments,
            "backoffLimit": BACKOFF_LIMIT, "activeDeadlineSeconds": deadline_s,
            "ttlSecondsAfterFinished": KEEP_FINISHED_S,
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {
                    "containerName": "bench", "operator": "In",
                    "values": list(FAIL_JOB_EXIT_CODES)}},
                {"action": "Ignore",  # a drained node: the pod is replaced, not counted
                 "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]},
            "template": {"metadata": {"labels": labels}, "spec": pod}}


def _merge_spec(o: JobOptions) -> Manifest:
    labels = _labels(o, "merge")
    init, main = _merge_containers(o)
    return {"backoffLimit": BACKOFF_LIMIT, "activeDeadlineSeconds": MERGE_DEADLINE_S,
            "ttlSecondsAfterFinished": KEEP_FINISHED_S,
            "template": {"metadata": {"labels": labels},
                         "spec": _pod(o, init, main, volumes=_volumes(o, bench=False))}}


def _pod(o: JobOptions, init: list[Manifest], main: list[Manifest], *,
         volumes: list[Manifest]) -> Manifest:
    pod: Manifest = {"restartPolicy": "Never", "enableServiceLinks": False,
                     "automountServiceAccountToken": False}
    if o.service_account is not None:
        pod["serviceAccountName"] = o.service_account
    if init:
        pod["initContainers"] = init
    pod["containers"] = main
    pod["volumes"] = volumes
    return pod


def _container(name: str, image: str, command: list[str], args: list[str],
               mounts: list[Manifest], resources: Manifest, *, env: list[Manifest] | None = None,
               env_secret: str | None = None) -> Manifest:
    """A container, keys in the order kubectl prints them; `env_secret`: every key of that
    Secret as an environment variable."""
    container: Manifest = {"name": name, "image": image, "command": command, "args": args}
    if env:
        container["env"] = env
    if env_secret is not None:
        container["envFrom"] = [{"secretRef": {"name": env_secret}}]
    container.update({"volumeMounts": mounts, "resources": resources,
                      "securityContext": SECURITY})
    return container


def _perfkit(o: JobOptions, name: str, args: list[str], mounts: list[Manifest],
             resources: Manifest, **env: Any) -> Manifest:
    """A container running perfkit: from the image, or from what the install step put in the
    pod's shared folder (PYTHONPATH)."""
    if o.image.pip_spec:
        env["env"] = [*env.get("env", []), {"name": "PYTHONPATH", "value": INSTALL_DIR}]
        mounts = [*mounts, {"name": "perfkit", "mountPath": INSTALL_DIR, "readOnly": True}]
    return _container(name, o.image.image, o.image.command(), args, mounts, resources, **env)


def _install(o: JobOptions) -> list[Manifest]:
    if not o.image.pip_spec:
        return []
    args = ["-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
            "--target", INSTALL_DIR, literal(o.image.pip_spec)]
    return [_container("install", o.image.image, ["python"], args,
                       [{"name": "perfkit", "mountPath": INSTALL_DIR}], HELPER_RESOURCES)]


def _results_mount(o: JobOptions, *, read_only: bool = False) -> Manifest:
    mount: Manifest = {"name": "results", "mountPath": RESULTS_DIR}
    if o.results.pvc is not None:
        mount["subPath"] = o.name  # one folder per Job on the shared claim
    if read_only:
        mount["readOnly"] = True
    return mount


def _base_url_env(o: JobOptions) -> Manifest:
    if o.base_url_secret is not None:
        return {"name": "PERFKIT_BASE_URL", "valueFrom": o.base_url_secret.env_source()}
    return {"name": "PERFKIT_BASE_URL", "value": literal(o.base_url or "")}


def _bench_containers(o: JobOptions) -> tuple[list[Manifest], list[Manifest]]:
    """(init containers, containers) of a bench pod: with an object store, bench is an init
    container and the upload of its record the pod's container."""
    record = f"{RESULTS_DIR}/{SEGMENT_RECORD}"
    args = ["bench", *o.load.args(), "--segments", str(o.segments), "--start-at",
            o.start_at_iso, "--max-error-ratio", "1", "--out", record]
    mounts = [_results_mount(o)]
    if o.tokens_secret is not None:
        args += ["--tokens-file", f"{TOKENS_DIR}/{TOKENS_FILE}"]
        mounts.append({"name": "tokens", "mountPath": TOKENS_DIR, "readOnly": True})
    if o.load.scenario is not None:
        mounts.append({"name": "scenario", "mountPath": SCENARIO_DIR, "readOnly": True})
    bench = _perfkit(o, "bench", args, mounts, o.resources(), env=[_base_url_env(o)],
                     env_secret=o.env_secret)
    if o.results.url is None:
        return _install(o), [bench]
    upload = _aws(o, "upload", ["s3", "cp", record,
                                f"{o.results.prefix(o.name)}/{SEGMENT_RECORD}",
                                "--only-show-errors"])
    return [*_install(o), bench], [upload]


def _aws(o: JobOptions, name: str, args: list[str]) -> Manifest:
    return _container(name, o.results.uploader_image, ["aws"], args, [_results_mount(o)],
                      HELPER_RESOURCES, env_secret=o.results.secret)


def _merge_containers(o: JobOptions) -> tuple[list[Manifest], list[Manifest]]:
    """merge (init), then `record` prints the merged record for `kubectl logs`; with an
    object store the records are downloaded first and the merged one uploaded."""
    merged = f"{RESULTS_DIR}/{MERGED_FILE}"
    records = [f"{RESULTS_DIR}/segment-{index}.json" for index in range(o.segments)]
    merge = _perfkit(o, "merge", ["merge", *records, "-o", merged], [_results_mount(o)],
                     MERGE_RESOURCES)
    record = _container("record", o.image.image, ["cat"], [merged],
                        [_results_mount(o, read_only=True)], RECORD_RESOURCES)
    if o.results.url is None:
        return [*_install(o), merge], [record]
    prefix = o.results.prefix(o.name)
    download = _aws(o, "download", ["s3", "cp", prefix + "/", RESULTS_DIR + "/", "--recursive",
                                    "--exclude", "*", "--include", "segment-*.json",
                                    "--only-show-errors"])
    upload = _aws(o, "upload", ["s3", "cp", merged, f"{prefix}/{MERGED_FILE}",
                                "--only-show-errors"])
    return [*_install(o), download, merge], [record, upload]


def _volumes(o: JobOptions, *, bench: bool) -> list[Manifest]:
    results: Manifest = ({"name": "results", "persistentVolumeClaim": {
        "claimName": o.results.pvc}} if o.results.pvc is not None else
        {"name": "results", "emptyDir": {}})
    volumes = [results]
    if o.image.pip_spec:
        volumes.append({"name": "perfkit", "emptyDir": {}})
    if bench and o.tokens_secret is not None:
        volumes.append({"name": "tokens", "secret": {
            "secretName": o.tokens_secret.name,
            "items": [{"key": o.tokens_secret.key, "path": TOKENS_FILE}]}})
    if bench and o.load.scenario is not None:
        volumes.append({"name": "scenario", "configMap": {"name": f"{o.name}-scenario"}})
    return volumes


# -- the steps -------------------------------------------------------------------------------
def _steps(o: JobOptions, files: Files, deadline_s: int) -> list[Step]:
    namespace = ["-n", o.namespace] if o.namespace is not None else []

    def kubectl(*args: str) -> str:
        return shlex.join(["kubectl", *args, *namespace])

    merge_job = f"{o.name}-merge"
    kept = (f"{o.results.prefix(o.name)}/{MERGED_FILE}" if o.results.url
            else f"{o.name}/{MERGED_FILE} on the claim")
    return [
        *_prerequisites(o, kubectl),
        Step(kubectl("apply", "-f", files.job),
             f"before {o.start_at_iso}: a pod over a minute late refuses to run"),
        Step(kubectl("wait", "--for=condition=complete", f"job/{o.name}",
                     f"--timeout={deadline_s}s"),
             f"every pod wrote its record (else: kubectl logs job/{o.name})"),
        Step(kubectl("apply", "-f", files.merge), f"merge the {o.segments} records"),
        Step(kubectl("wait", "--for=condition=complete", f"job/{merge_job}",
                     f"--timeout={MERGE_DEADLINE_S}s"), "the merged record is written"),
        Step(kubectl("logs", f"job/{merge_job}", "-c", "record") + " > " +
             shlex.quote(files.record), f"copy it out (it stays in {kept})"),
        Step(shlex.join(["perfkit", "gate", files.record, "--thresholds", "perfkit.yaml"]),
             "judge it, error_ratio too (pods never fail on errors), or compare it"),
        Step(kubectl("delete", "-f", files.job, "-f", files.merge),
             "clean up (Kubernetes does a day after the end)"),
    ]


def _prerequisites(o: JobOptions, kubectl: Callable[..., str]) -> list[Step]:
    """What must exist before `apply`: the Secrets named (values are the user's) and the
    claim."""
    keys: dict[str, list[str]] = {}
    for ref, source in ((o.base_url_secret, "--from-literal={key}=BASE_URL"),
                        (o.tokens_secret, "--from-file={key}=TOKENS_FILE")):
        if ref is not None:
            keys.setdefault(ref.name, []).append(source.format(key=ref.key))
    for name, example in ((o.env_secret, "--from-literal=PERFKIT_TOKEN=TOKEN"),
                          (o.results.secret, "--from-literal=AWS_ACCESS_KEY_ID=KEY_ID "
                                             "--from-literal=AWS_SECRET_ACCESS_KEY=SECRET_KEY")):
        if name is not None:
            keys.setdefault(name, []).extend(example.split(" "))
    steps = [Step(kubectl("create", "secret", "generic", name, *sources),
                  "once, your values in CAPITALS (never in a manifest)")
             for name, sources in keys.items()]
    if o.results.pvc is not None:
        steps.append(Step(kubectl("get", "pvc", o.results.pvc),
                          "a ReadWriteMany claim must exist"))
    return steps


def _warnings(o: JobOptions, now_s: float) -> list[str]:
    out = []
    if o.image.mutable:
        out.append(f"image {o.image.image} has no fixed tag or digest: pods pulled at "
                   "different times may run different perfkit versions")
    if o.start_at_epoch_s - now_s < MIN_LEAD_S:
        out.append(f"the run starts in {o.start_at_epoch_s - now_s:.0f} s: pods still "
                   "scheduling or pulling then start late (their offset shows in the record)")
    if o.load.concurrency is not None and o.load.concurrency < o.segments:
        out.append(f"--concurrency {o.load.concurrency} is below --segments {o.segments}: "
                   f"each pod still opens one connection ({o.segments} in all)")
    return out
