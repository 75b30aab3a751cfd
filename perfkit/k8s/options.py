"""What `perfkit k8s-job` is asked for, typed and checked: everything a pod would refuse is
refused here, before anything is applied. Nothing is targeted by default: the backend, the
image and where the records go are always given."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from perfkit.bench.options import BenchOptions, Engine, check_base_url
from perfkit.bench.pacer import Segment
from perfkit.bench.scenario import METHODS, parse_scenario
from perfkit.durations import parse_duration_s
from perfkit.errors import UsageError

Manifest = dict[str, Any]  # one Kubernetes object, as kubectl reads it

DEFAULT_START_IN = "2m"  # time to apply, schedule the pods and pull the image
MAX_SEGMENTS = 1000  # beyond, a typo rather than a plan
MAX_NAME_LENGTH = 50  # "<name>-merge" and the pods' "<name>-<index>" stay DNS labels
MAX_START_AHEAD_S = 24 * 3600.0
MAX_RUN_S = 600.0  # bench's own cap on a run that only -n bounds (BenchOptions.max_time_s)
DEADLINE_SLACK_S = 300  # scheduling, image pulls, a pip install, writing the record
MEMORY_PER_PROCESS_MI = 256  # a bench process peaks near 60 MiB; the rest is headroom
SCENARIO_DIR = "/etc/perfkit/scenario"
DEFAULT_PYTHON_IMAGE = "python:3.12-slim"
DEFAULT_UPLOADER_IMAGE = "amazon/aws-cli:2.15.35"
SECRET_BASE_URL = "http://base-url-from-a-secret.invalid"  # stands in while checking flags

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(rf"^{_LABEL}$")
_DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_QUANTITY = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)(?:m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_S3_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/[^\s]*)?$")
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"^(?:{_HOST}(?:\.{_HOST})*(?::\d+)?/)?{_PATH}(?:/{_PATH})*"
                    r"(?::\w[\w.-]{0,127})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,})?$")


def check_name(value: str, flag: str, *, subdomain: bool = False, max_length: int = 63) -> str:
    """A Kubernetes object name (DNS label, or subdomain for Secrets and claims)."""
    pattern = _DNS_SUBDOMAIN if subdomain else _DNS_LABEL
    if len(value) > max_length or not pattern.match(value):
        kind = "DNS subdomain" if subdomain else "DNS label"
        raise UsageError(f"{flag} {value!r} is not a Kubernetes name ({kind}: lowercase "
                         f"letters, digits and '-', at most {max_length} characters)",
                         hint=f"e.g. {flag} perfkit-results")
    return value


def check_image(value: str, flag: str) -> str:
    if len(value) > 255 or not _IMAGE.match(value):
        raise UsageError(f"{flag} {value!r} is not a container image reference",
                         hint=f"e.g. {flag} registry.example.com/perfkit:0.1.0")
    return value


def check_quantity(value: str, flag: str) -> str:
    if not _QUANTITY.match(value):
        raise UsageError(f"{flag} {value!r} is not a Kubernetes quantity",
                         hint="e.g. --cpu 2 or 500m, --memory 512Mi or 1Gi")
    return value


@dataclass(frozen=True)
class SecretKey:
    """One key of a Kubernetes Secret, written NAME/KEY on the command line."""

    name: str
    key: str

    @classmethod
    def parse(cls, text: str, flag: str) -> SecretKey:
        name, slash, key = text.partition("/")
        if not slash or not _SECRET_KEY.match(key):
            raise UsageError(f"{flag} {text!r} is not SECRET/KEY",
                             hint=f"e.g. {flag} perfkit/base-url")
        return cls(check_name(name, flag, subdomain=True, max_length=253), key)

    def env_source(self) -> Manifest:
        return {"secretKeyRef": {"name": self.name, "key": self.key}}


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario shipped to the pods in a ConfigMap (the pods have no scenarios/ folder)."""

    filename: str
    text: str


@dataclass(frozen=True)
class Load:
    """The bench flags every pod runs with (the schedule is the whole run's, not a pod's)."""

    target: str | None = None  # a path (/auth/me); None with a scenario
    scenario: ScenarioFile | None = None
    requests: int | None = None
    duration: str | None = None
    rate_per_s: float | None = None
    concurrency: int | None = None
    workers: int = 1
    users: int | None = None
    timeout: str = "10s"
    warmup: int = 0
    method: str = "GET"
    cache_ttl: str = "120s"
    cache_header: str | None = None
    seed: int = 1
    engine: Engine = Engine.AUTO  # each pod chooses for itself (its URL may come from a secret)

    def bound_s(self) -> float:
        """The longest the measured part can last (the Job's deadline builds on it)."""
        if self.duration is None:
            return MAX_RUN_S
        return min(MAX_RUN_S, parse_duration_s(self.duration, flag="--duration"))

    def args(self) -> list[str]:
        """The flags after `perfkit bench`, user text escaped from Kubernetes' $(VAR)."""
        head = (["--scenario", f"{SCENARIO_DIR}/{self.scenario.filename}"]
                if self.scenario is not None else [literal(self.target or "")])
        optional: list[tuple[str, object]] = [
            ("-n", self.requests), ("--duration", self.duration), ("--rate", self.rate_per_s),
            ("--concurrency", self.concurrency), ("--users", self.users),
            ("--cache-header", self.cache_header)]
        tail = [item for flag, value in optional if value is not None
                for item in (flag, literal(as_text(value)))]
        if self.workers != 1:
            tail += ["--workers", str(self.workers)]
        if self.warmup:
            tail += ["--warmup", str(self.warmup)]
        if self.engine is not Engine.AUTO:
            tail += ["--engine", self.engine.value]
        if self.scenario is None:
            tail += ["--method", self.method, "--cache-ttl", literal(self.cache_ttl)]
        return [*head, *tail, "--timeout", literal(self.timeout), "--seed", str(self.seed)]


@dataclass(frozen=True)
class Image:
    """The image the pods run perfkit from; with `pip_spec`, an init container first
    installs that requirement into a shared folder of the pod (no image to build)."""

    image: str = DEFAULT_PYTHON_IMAGE
    pip_spec: str | None = None

    def command(self) -> list[str]:
        return ["python", "-m", "perfkit"] if self.pip_spec else ["perfkit"]

    @property
    def mutable(self) -> bool:
        """No digest and no tag, or :latest: the pods may not all run the same perfkit."""
        if "@" in self.image:
            return False
        last = self.image.rsplit("/", 1)[-1]
        return ":" not in last or last.endswith(":latest")


@dataclass(frozen=True)
class Results:
    """Where the pods' records go: a ReadWriteMany claim, or an s3:// prefix that each pod
    uploads to with the AWS CLI (credentials from `secret`, or the service account)."""

    pvc: str | None = None
    url: str | None = None
    secret: str | None = None
    uploader_image: str = DEFAULT_UPLOADER_IMAGE

    def prefix(self, name: str) -> str:
        return f"{(self.url or '').rstrip('/')}/{name}"


@dataclass(frozen=True)
class JobOptions:
    name: str
    segments: int
    start_at_epoch_s: float
    load: Load
    image: Image
    results: Results
    base_url: str | None = None
    base_url_secret: SecretKey | None = None
    tokens_secret: SecretKey | None = None
    env_secret: str | None = None
    namespace: str | None = None
    service_account: str | None = None
    cpu: str | None = None  # default: one core per bench process
    memory: str | None = None

    @property
    def start_at_iso(self) -> str:
        return datetime.fromtimestamp(self.start_at_epoch_s, UTC).isoformat().replace(
            "+00:00", "Z")

    def deadline_s(self, now_s: float) -> int:
        """activeDeadlineSeconds: the wait for the start, the run, then slack."""
        wait_s = max(0.0, self.start_at_epoch_s - now_s)
        return math.ceil(wait_s + self.load.bound_s()) + DEADLINE_SLACK_S

    def resources(self) -> Manifest:
        """A core per process and no CPU limit: a throttled load generator measures its own
        throttling as latency. Memory is capped (request = limit) so a leak cannot spread."""
        memory = self.memory or f"{MEMORY_PER_PROCESS_MI * (self.load.workers + 1)}Mi"
        return {"requests": {"cpu": self.cpu or str(self.load.workers), "memory": memory},
                "limits": {"memory": memory}}


def validate(o: JobOptions, now_s: float) -> None:
    check_name(o.name, "--name", max_length=MAX_NAME_LENGTH)
    for flag, value in (("--service-account", o.service_account),
                        ("--env-secret", o.env_secret)):
        if value is not None:
            check_name(value, flag, subdomain=True, max_length=253)
    if o.namespace is not None:
        check_name(o.namespace, "--namespace")
    if not 2 <= o.segments <= MAX_SEGMENTS:
        raise UsageError(f"--segments must be between 2 and {MAX_SEGMENTS}, not {o.segments}",
                         hint="one pod per segment; on one machine use perfkit bench --workers")
    _check_target(o)
    _check_schedule(o, now_s)
    _check_image(o.image)
    _check_results(o.results)
    for flag, quantity in (("--cpu", o.cpu), ("--memory", o.memory)):
        if quantity is not None:
            check_quantity(quantity, flag)


def _check_target(o: JobOptions) -> None:
    if (o.base_url is None) == (o.base_url_secret is None):
        raise UsageError("give the backend with --base-url URL or --base-url-secret SECRET/KEY "
                         "(one of them)", hint="a Job never targets anything by default")
    if o.base_url is not None:
        check_base_url(o.base_url)
        if "@" in urlsplit(o.base_url).netloc:
            raise UsageError("--base-url carries credentials, which the manifest would show",
                             hint="put the URL in a Secret: --base-url-secret SECRET/KEY")
    if not o.load.target and o.load.scenario is None:
        raise UsageError("nothing to bench", hint="give a path (/auth/me), a scenario name or "
                                                  "--scenario FILE")


def _check_schedule(o: JobOptions, now_s: float) -> None:
    """A bounded run that starts ahead, with flags bench accepts (its own checks)."""
    load = o.load
    if load.duration is None and load.requests is None:
        raise UsageError("the run has no bound: give --duration or -n",
                         hint="every pod must stop by itself, e.g. --duration 5m")
    ahead_s = o.start_at_epoch_s - now_s
    if not 0 < ahead_s <= MAX_START_AHEAD_S:
        raise UsageError(f"the start {o.start_at_iso} is not within the next 24 hours",
                         hint="the pods wait for it: give --start-in 2m or a --start-at ahead")
    if load.method.upper() not in METHODS:
        raise UsageError(f"--method {load.method!r} is not one of {', '.join(METHODS)}")
    parse_duration_s(load.cache_ttl, flag="--cache-ttl")
    BenchOptions(
        base_url=o.base_url or SECRET_BASE_URL, requests=load.requests,
        duration_s=parse_duration_s(load.duration, flag="--duration") if load.duration else None,
        concurrency=load.concurrency, rate_per_s=load.rate_per_s,
        timeout_s=parse_duration_s(load.timeout, flag="--timeout"), warmup=load.warmup,
        workers=load.workers, segment=Segment(0, o.segments),
        start_at_epoch_s=o.start_at_epoch_s, seed=load.seed).validate()


def _check_image(image: Image) -> None:
    check_image(image.image, "--image")
    spec = image.pip_spec
    if spec is not None and (not spec.strip() or spec.lstrip().startswith("-")
                             or "\n" in spec):
        raise UsageError(f"--pip-install {spec!r} is not a requirement",
                         hint="e.g. --pip-install 'perfkit @ https://example.com/"
                              "perfkit-0.1.0-py3-none-any.whl'")


def _check_results(results: Results) -> None:
    if (results.pvc is None) == (results.url is None):
        raise UsageError("say where the records go: --results-pvc CLAIM (ReadWriteMany) or "
                         "--results-url s3://BUCKET/PREFIX (one of them)")
    if results.pvc is not None:
        check_name(results.pvc, "--results-pvc", subdomain=True, max_length=253)
        if results.secret is not None:
            raise UsageError("--results-secret goes with --results-url (object-store "
                             "credentials); a claim needs none")
        return
    if not _S3_URL.match(results.url or ""):
        raise UsageError(f"--results-url {results.url!r} is not s3://BUCKET[/PREFIX]",
                         hint="S3 or a compatible store (AWS_ENDPOINT_URL in --results-secret)")
    if results.secret is not None:
        check_name(results.secret, "--results-secret", subdomain=True, max_length=253)
    check_image(results.uploader_image, "--uploader-image")


def read_scenario(path: Path) -> ScenarioFile:
    """A scenario file for the pods, checked here as bench will check it there. Its ${VARS}
    are the pods' environment (--env-secret), so any value stands in for them now."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    parse_scenario(text, file=str(path), environ=_AnyEnvironment())
    return ScenarioFile(path.name, text)


class _AnyEnvironment(dict[str, str]):
    """Every variable set, to a value that passes wherever a URL or a header may stand."""

    def get(self, key: str, default: Any = None) -> str:
        return SECRET_BASE_URL

    def __missing__(self, key: str) -> str:
        return SECRET_BASE_URL



def literal(text: str) -> str:
    """User text in command/args: Kubernetes reads $(VAR) there, $$ keeps a $."""
    return text.replace("$", "$$")


def as_text(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
