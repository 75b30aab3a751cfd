"""Kubernetes without a cluster, for tests: schema validation of manifests, and pods emulated as
local processes that run their containers' exact command lines.

The emulation does what the kubelet does for these manifests: JOB_COMPLETION_INDEX in every
container of an Indexed Job's pod, `env` (values and Secret references) and `envFrom`, Kubernetes'
$(VAR) expansion in command and args, and volumes as local folders (a claim is one folder shared
by every pod, `subPath` a folder in it; Secrets and ConfigMaps are files; emptyDir is the pod's
own). Init containers run in order, then the containers. Only paths are translated (a mount
path -> its local folder) and `perfkit` is found on PATH in this virtualenv.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from perfkit.k8s import MIN_KUBERNETES

Manifest = dict[str, Any]
LATEST_KUBERNETES = kubernetes_validate.latest_version()
POD_TIMEOUT_S = 120.0
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def load(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def schema_errors(documents: list[Manifest]) -> list[str]:
    """Every document against the Kubernetes schema (strict: unknown fields are errors) of
    the oldest version perfkit writes for and of the newest the validator knows."""
    errors = []
    for version in (MIN_KUBERNETES, LATEST_KUBERNETES):
        for doc in documents:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = "/".join(str(p) for p in exc.absolute_path)
                errors.append(f"{version} {doc['kind']} {where}: {exc.message}")
    return errors


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion: $(NAME) of a defined variable, $$ -> $, anything else kept."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR.sub(one, text)


def pod_spec(job: Manifest) -> Manifest:
    return job["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def containers(job: Manifest) -> Iterator[Manifest]:
    spec = pod_spec(job)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def container(job: Manifest, name: str) -> Manifest:
    return next(c for c in containers(job) if c["name"] == name)


@dataclass
class Exited:
    container: str
    code: int
    stdout: str
    stderr: str


@dataclass
class Cluster:
    """What pods find around them: Secrets' values, ConfigMaps, claims as folders."""

    root: Path
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)

    def claim(self, name: str) -> Path:
        return self.root / "claims" / name

    def add_config_maps(self, documents: list[Manifest]) -> None:
        for doc in documents:
            if doc["kind"] == "ConfigMap":
                self.config_maps[doc["metadata"]["name"]] = dict(doc.get("data") or {})

    def run_job(self, job: Manifest) -> list[list[Exited]]:
        """Every pod of the Job at once (an Indexed Job: one per index); per pod, what each
        container did."""
        spec = job["spec"]
        indexed = spec.get("completionMode") == "Indexed"
        count = int(spec.get("completions", 1))
        results: list[list[Exited]] = [[] for _ in range(count)]
        threads = [threading.Thread(target=self._run_pod, args=(
            job, index if indexed else None, results[index])) for index in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(POD_TIMEOUT_S + 10)
        return results

    def _run_pod(self, job: Manifest, index: int | None, out: list[Exited]) -> None:
        pod_dir = self.root / "pods" / f"{job['metadata']['name']}-{index or 0}"
        pod_dir.mkdir(parents=True)
        for spec in containers(job):
            done = self._run_container(job, spec, index, pod_dir)
            out.append(done)
            if done.code != 0:
                return

    def _run_container(self, job: Manifest, spec: Manifest, index: int | None,
                       pod_dir: Path) -> Exited:
        env = self._env(spec, index)
        mounts = {m["mountPath"]: self._volume(job, m, pod_dir) for m in
                  spec.get("volumeMounts", [])}
        argv = [_local(expand(arg, env), mounts) for arg in [*spec["command"],
                                                             *spec.get("args", [])]]
        venv_bin = str(Path(sys.executable).parent)
        process_env = {k: v for k, v in os.environ.items() if not k.startswith("PERFKIT_")}
        process_env.update({**env, "PATH": venv_bin + os.pathsep + os.environ["PATH"],
                            "PERFKIT_STATE_DIR": str(pod_dir / "state"), "COLUMNS": "120"})
        if "PYTHONPATH" in env:
            process_env["PYTHONPATH"] = _local(env["PYTHONPATH"], mounts)
        try:
            done = subprocess.run(argv, cwd=pod_dir, env=process_env, capture_output=True,
                                  text=True, timeout=POD_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return Exited(spec["name"], -9, "", f"killed after {POD_TIMEOUT_S:g} s")
        return Exited(spec["name"], done.returncode, done.stdout, done.stderr)

    def _env(self, spec: Manifest, index: int | None) -> dict[str, str]:
        env = {} if index is None else {"JOB_COMPLETION_INDEX": str(index)}
        for item in spec.get("env", []):
            if "value" in item:
                env[item["name"]] = expand(item["value"], env)
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = self.secrets[ref["name"]][ref["key"]]
        for source in spec.get("envFrom", []):
            env.update(self.secrets[source["secretRef"]["name"]])
        return env

    def _volume(self, job: Manifest, mount: Manifest, pod_dir: Path) -> Path:
        volume = next(v for v in pod_spec(job)["volumes"] if v["name"] == mount["name"])
        if "persistentVolumeClaim" in volume:
            folder = self.claim(volume["persistentVolumeClaim"]["claimName"])
            folder = folder / mount.get("subPath", "")
        elif "secret" in volume:
            folder = self._files(pod_dir / mount["name"], self.secrets[
                volume["secret"]["secretName"]], volume["secret"].get("items"))
        elif "configMap" in volume:
            folder = self._files(pod_dir / mount["name"], self.config_maps[
                volume["configMap"]["name"]], volume["configMap"].get("items"))
        else:
            folder = pod_dir / "volumes" / mount["name"]
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @staticmethod
    def _files(folder: Path, data: dict[str, str], items: list[Manifest] | None) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        paths = {i["key"]: i["path"] for i in items} if items else {k: k for k in data}
        for key, path in paths.items():
            (folder / path).write_text(data[key])
        return folder


def _local(arg: str, mounts: dict[str, Path]) -> str:
    """A path inside a mount, as the local folder that stands for it."""
    for mount_path, folder in mounts.items():
        if arg == mount_path or arg.startswith(mount_path + "/"):
            return str(folder) + arg[len(mount_path):]
    return arg
