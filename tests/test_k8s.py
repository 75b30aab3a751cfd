"""perfkit.k8s: the Indexed Job and merge Job manifests, checked against the Kubernetes schema
and for what a user relies on (bounded, nothing inline that is secret, one record per pod)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from perfkit.errors import UsageError
from perfkit.k8s import (
    Files,
    Image,
    JobOptions,
    JobPlan,
    Load,
    Results,
    ScenarioFile,
    SecretKey,
    build_plan,
    dump,
    read_scenario,
)
from tests.support.k8s import container, expand, pod_spec, schema_errors

NOW = 1_800_000_000.0
FILES = Files(job="load.yaml", merge="load-merge.yaml", record="load.json")
SCENARIO = ScenarioFile("checkout.yaml", "name: checkout\nsteps:\n  - path: /auth/me\n")


def options(**overrides: Any) -> JobOptions:
    base: dict[str, Any] = {
        "name": "load", "segments": 3, "start_at_epoch_s": NOW + 120,
        "load": Load(target="/auth/me", rate_per_s=100.0, duration="2m"),
        "image": Image("registry.example.com/perfkit:0.1.0"),
        "results": Results(pvc="perfkit-results"), "base_url": "http://api.default.svc:8000"}
    return JobOptions(**{**base, **overrides})


def plan_of(**overrides: Any) -> JobPlan:
    return build_plan(options(**overrides), FILES, NOW)


def jobs(plan: JobPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    bench = next(d for d in plan.bench if d["kind"] == "Job")
    return bench, plan.merge[0]


VARIANTS = {
    "claim, image, literal URL": {},
    "s3, pip install, secrets, scenario": {
        "results": Results(url="s3://perf-results/runs/", secret="perfkit-s3"),
        "image": Image(pip_spec="perfkit @ https://example.com/perfkit-0.1.0-py3-none-any.whl"),
        "base_url": None, "base_url_secret": SecretKey("perfkit", "base-url"),
        "tokens_secret": SecretKey("perfkit", "tokens"), "env_secret": "perfkit-env",
        "namespace": "load-tests", "service_account": "perfkit-uploader",
        "load": Load(scenario=SCENARIO, rate_per_s=50.0, duration="90s", users=20)},
    "closed loop, -n, workers": {
        "load": Load(target="/messages/1", requests=5000, concurrency=32, workers=4),
        "cpu": "3500m", "memory": "2Gi", "segments": 8},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_manifest_is_valid_kubernetes(variant: str) -> None:
    plan = plan_of(**VARIANTS[variant])
    documents = [*plan.bench, *plan.merge]
    assert schema_errors(documents) == []
    assert list(yaml.safe_load_all(dump(documents))) == documents  # what is written is this


def test_the_bench_job_is_indexed_bounded_and_starts_at_one_instant() -> None:
    plan = plan_of()
    bench, _ = jobs(plan)
    spec = bench["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == (
        "Indexed", 3, 3)
    assert spec["backoffLimit"] <= 1 and pod_spec(bench)["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 120 + 120 + 300  # wait, run, slack
    failjob = spec["podFailurePolicy"]["rules"][0]
    assert failjob["action"] == "FailJob" and failjob["onExitCodes"]["values"] == [1, 2, 3]
    runner = container(bench, "bench")
    args = runner["args"]
    assert runner["command"] == ["perfkit"] and args[:2] == ["bench", "/auth/me"]
    assert args[args.index("--segments") + 1] == "3"
    assert args[args.index("--start-at") + 1] == "2027-01-15T08:02:00Z"
    assert args[args.index("--out") + 1] == "/results/segment-$(JOB_COMPLETION_INDEX).json"
    assert args[args.index("--rate") + 1] == "100" and args[args.index("--duration") + 1] == "2m"
    assert runner["resources"] == {"requests": {"cpu": "1", "memory": "512Mi"},
                                   "limits": {"memory": "512Mi"}}  # no CPU limit: no throttling
    mount = runner["volumeMounts"][0]
    assert (mount["mountPath"], mount["subPath"]) == ("/results", "load")


def test_the_merge_job_merges_every_segment_and_prints_the_record() -> None:
    _, merge = jobs(plan_of())
    merge_args = container(merge, "merge")["args"]
    assert merge_args == ["merge", "/results/segment-0.json", "/results/segment-1.json",
                          "/results/segment-2.json", "-o", "/results/merged.json"]
    assert [c["name"] for c in pod_spec(merge)["initContainers"]] == ["merge"]
    record = container(merge, "record")
    assert record["command"] + record["args"] == ["cat", "/results/merged.json"]
    assert record["volumeMounts"][0]["readOnly"] is True


def test_secrets_are_references_never_values() -> None:
    plan = plan_of(**VARIANTS["s3, pip install, secrets, scenario"])
    bench, _ = jobs(plan)
    runner = container(bench, "bench")
    assert runner["env"][0] == {"name": "PERFKIT_BASE_URL", "valueFrom": {
        "secretKeyRef": {"name": "perfkit", "key": "base-url"}}}
    assert runner["envFrom"] == [{"secretRef": {"name": "perfkit-env"}}]
    tokens = next(v for v in pod_spec(bench)["volumes"] if v["name"] == "tokens")
    assert tokens["secret"] == {"secretName": "perfkit",
                                "items": [{"key": "tokens", "path": "tokens.txt"}]}
    assert "/etc/perfkit/tokens/tokens.txt" in runner["args"]
    upload = container(bench, "upload")
    assert upload["envFrom"] == [{"secretRef": {"name": "perfkit-s3"}}]  # the store's keys
    assert "perfkit-s3" not in str(runner)  # ... reach the uploader only
    assert all(d["kind"] != "Secret" for d in [*plan.bench, *plan.merge])


def test_object_store_records_are_uploaded_then_downloaded_for_the_merge() -> None:
    bench, merge = jobs(plan_of(results=Results(url="s3://perf-results/runs")))
    spec = pod_spec(bench)
    assert [c["name"] for c in spec["initContainers"]] == ["bench"]
    assert [c["name"] for c in spec["containers"]] == ["upload"]
    assert container(bench, "upload")["args"][:4] == [
        "s3", "cp", "/results/segment-$(JOB_COMPLETION_INDEX).json",
        "s3://perf-results/runs/load/segment-$(JOB_COMPLETION_INDEX).json"]
    assert {"name": "results", "emptyDir": {}} in spec["volumes"]
    assert [c["name"] for c in containers_of(merge)] == ["download", "merge", "record",
                                                         "upload"]
    assert container(merge, "upload")["args"][3] == "s3://perf-results/runs/load/merged.json"


def containers_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(job)
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_pip_install_puts_perfkit_in_the_pod_first() -> None:
    spec = "perfkit @ https://example.com/perfkit-0.1.0-py3-none-any.whl"
    bench, merge = jobs(plan_of(image=Image(pip_spec=spec)))
    install = container(bench, "install")
    assert install["image"] == "python:3.12-slim"
    assert install["args"][-3:] == ["--target", "/opt/perfkit", spec]
    for job, name in ((bench, "bench"), (merge, "merge")):
        runner = container(job, name)
        assert runner["command"] == ["python", "-m", "perfkit"]
        assert {"name": "PYTHONPATH", "value": "/opt/perfkit"} in runner["env"]


def test_a_scenario_travels_in_a_config_map() -> None:
    plan = plan_of(load=Load(scenario=SCENARIO, duration="1m", rate_per_s=10.0))
    config_map = plan.bench[0]
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"] == (
        "load-scenario")
    assert config_map["data"] == {"checkout.yaml": SCENARIO.text}
    runner = container(jobs(plan)[0], "bench")
    assert runner["args"][1:3] == ["--scenario", "/etc/perfkit/scenario/checkout.yaml"]
    assert "--method" not in runner["args"]  # the scenario says it


def test_user_text_reaches_bench_unchanged_by_kubernetes_expansion() -> None:
    target = "/price/$(HOME)/a$$b"
    runner = container(jobs(plan_of(load=Load(target=target, duration="1m")))[0], "bench")
    assert expand(runner["args"][1], {"HOME": "/root"}) == target


def test_steps_apply_wait_merge_copy_gate() -> None:
    plan = build_plan(options(namespace="perf"), Files("my jobs/load.yaml",
                                                       "my jobs/load-merge.yaml", "load.json"),
                      NOW)
    commands = [s.command for s in plan.steps]
    assert commands == [
        "kubectl get pvc perfkit-results -n perf",
        "kubectl apply -f 'my jobs/load.yaml' -n perf",
        "kubectl wait --for=condition=complete job/load --timeout=540s -n perf",
        "kubectl apply -f 'my jobs/load-merge.yaml' -n perf",
        "kubectl wait --for=condition=complete job/load-merge --timeout=600s -n perf",
        "kubectl logs job/load-merge -c record -n perf > load.json",
        "perfkit gate load.json --thresholds perfkit.yaml",
        "kubectl delete -f 'my jobs/load.yaml' -f 'my jobs/load-merge.yaml' -n perf"]
    secrets = plan_of(**VARIANTS["s3, pip install, secrets, scenario"]).steps[:3]
    assert [s.command.split(" ")[4] for s in secrets] == ["perfkit", "perfkit-env",
                                                          "perfkit-s3"]
    assert secrets[0].command == ("kubectl create secret generic perfkit "
                                  "--from-literal=base-url=BASE_URL "
                                  "--from-file=tokens=TOKENS_FILE -n load-tests")


def test_deadline_and_warnings() -> None:
    plan = plan_of(load=Load(target="/x", requests=100, concurrency=2),
                   start_at_epoch_s=NOW + 10, image=Image("example.com/perfkit:latest"))
    assert plan.deadline_s == 10 + 600 + 300  # -n only: bench's own 10-minute cap
    assert len(plan.warnings) == 3
    assert "no fixed tag" in plan.warnings[0] and "starts in 10 s" in plan.warnings[1]
    assert "2 is below --segments 3" in plan.warnings[2]


REFUSED = [
    ({"segments": 0}, "--segments must be between 2 and 1000, not 0"),
    ({"segments": 1}, "--segments must be between 2 and 1000, not 1"),
    ({"load": Load(target="/x")}, "no bound: give --duration or -n"),
    ({"image": Image("Registry.example.com/Perfkit!")}, "is not a container image reference"),
    ({"image": Image(pip_spec="--index-url=https://evil.example")}, "is not a requirement"),
    ({"base_url": None}, "--base-url URL or --base-url-secret"),
    ({"base_url_secret": SecretKey("perfkit", "url")}, "--base-url URL or --base-url-secret"),
    ({"base_url": "http://user:pw@api:8000"}, "carries credentials"),
    ({"base_url": "api:8000"}, "not an http:// or https:// URL"),
    ({"results": Results()}, "--results-pvc CLAIM"),
    ({"results": Results(pvc="a", url="s3://b/c")}, "--results-pvc CLAIM"),
    ({"results": Results(url="gs://bucket/x")}, "is not s3://BUCKET"),
    ({"results": Results(pvc="claim", secret="s3")}, "--results-secret goes with"),
    ({"name": "Load_1"}, "--name 'Load_1' is not a Kubernetes name"),
    ({"name": "x" * 51}, "at most 50 characters"),
    ({"start_at_epoch_s": NOW - 1}, "is not within the next 24 hours"),
    ({"start_at_epoch_s": NOW + 2 * 86400}, "is not within the next 24 hours"),
    ({"cpu": "two"}, "--cpu 'two' is not a Kubernetes quantity"),
    ({"load": Load(target="/x", duration="2m", rate_per_s=0.0)}, "--rate must be > 0"),
    ({"load": Load(target="/x", duration="soon")}, "--duration 'soon'"),
    ({"load": Load(target="/x", duration="1m", workers=0)}, "--workers must be between"),
    ({"load": Load(target="/x", duration="1m", method="FETCH")}, "--method 'FETCH'"),
]


@pytest.mark.parametrize(("overrides", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_refused_before_anything_is_written(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        plan_of(**overrides)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_secret_keys_are_parsed_and_checked() -> None:
    assert SecretKey.parse("perfkit/base-url", "--x") == SecretKey("perfkit", "base-url")
    for bad in ("perfkit", "perfkit/", "Perfkit/url", "perfkit/a b"):
        with pytest.raises(UsageError):
            SecretKey.parse(bad, "--base-url-secret")


def test_read_scenario_checks_it_with_the_pods_environment_unknown(tmp_path: Path) -> None:
    good = tmp_path / "checkout.yaml"
    good.write_text("name: checkout\nbase_url: ${API_URL}\nheaders:\n  X-Api-Key: ${API_KEY}\n"
                    "steps:\n  - path: /cart/${CART_ID}\n")
    assert read_scenario(good) == ScenarioFile("checkout.yaml", good.read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - method: GET\n")
    with pytest.raises(UsageError, match=r"bad.yaml:3: steps\[0\].path"):
        read_scenario(bad)
    with pytest.raises(UsageError, match="cannot read scenario"):
        read_scenario(tmp_path / "missing.yaml")


def test_written_yaml_is_plain() -> None:
    text = dump([*plan_of().bench, *plan_of().merge])
    assert "&id" not in text and "*id" not in text  # shared dicts are not anchors
