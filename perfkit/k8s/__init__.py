"""Kubernetes manifests for one bench spread over many pods (`perfkit k8s-job`).

An Indexed Job runs N pods at once; pod k runs segment k+1 of N of one schedule (`perfkit
bench --segments N`) from one shared wall-clock start and writes its record to a shared
volume or an object-store path; a second Job, applied once the first is complete, merges the
N records exactly. Pure: typed options in, YAML documents and the kubectl steps out; nothing
is applied here, and nothing is targeted by default.
"""

from __future__ import annotations

from perfkit.k8s.manifests import MIN_KUBERNETES, Files, JobPlan, Step, build_plan, dump
from perfkit.k8s.options import (
    DEFAULT_START_IN,
    Image,
    JobOptions,
    Load,
    Results,
    ScenarioFile,
    SecretKey,
    read_scenario,
    validate,
)

__all__ = ["DEFAULT_START_IN", "MIN_KUBERNETES", "Files", "Image", "JobOptions", "JobPlan",
           "Load", "Results", "ScenarioFile", "SecretKey", "Step", "build_plan", "dump",
           "read_scenario", "validate"]
