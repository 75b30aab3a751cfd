"""perfkit's own control traffic never lands in the user's metrics, under both metric profiles."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from perfkit.demo import stack
from perfkit.demo.metrics import DEFAULT_PROFILE, MetricsProfile, is_control_path
from tests.demo.support import Cli, get, prometheus_series, wait_for
from tests.support import DemoStack

#: The route label of each profile, and a selector of its request series.
ROUTE_LABEL = {MetricsProfile.OBSERVABILITY: "path", MetricsProfile.INSTRUMENTATOR: "handler"}
SERIES = {MetricsProfile.OBSERVABILITY: '{__name__=~"fastapi_.*"',
          MetricsProfile.INSTRUMENTATOR: '{__name__=~"http_.*"'}
CONTROL = "/_demo.*|/healthz|/openapi.json|/docs.*|/redoc"


def test_control_paths() -> None:
    for path in ("/_demo/faults", "/_demo/routes", "/_demo/cache/clear", "/healthz",
                 "/openapi.json", "/docs", "/redoc"):
        assert is_control_path(path), path
    for path in ("/auth/me", "/messages/{conversation_id}", "/metrics", "/_demox",
                 "/healthz/deep"):
        assert not is_control_path(path), path


@pytest.fixture(params=list(MetricsProfile))
def profile(request: pytest.FixtureRequest, demo_stack: DemoStack
            ) -> Iterator[MetricsProfile]:
    """The session's backend under one metrics profile; the default one again afterwards."""
    wanted: MetricsProfile = request.param
    if wanted is not DEFAULT_PROFILE:
        stack.restart_backend(metrics_profile=wanted)
    try:
        yield wanted
    finally:
        if wanted is not DEFAULT_PROFILE:
            stack.restart_backend(metrics_profile=DEFAULT_PROFILE)


def test_demo_fault_and_health_checks_leave_no_series(
        cli: Cli, profile: MetricsProfile, demo_stack: DemoStack) -> None:
    base, prom = demo_stack.url, demo_stack.prometheus_url
    assert stack.check().metrics_profile == profile.value
    assert cli("demo", "fault", "--route", "/auth/me", "--latency-ms", "1").exit_code == 0
    assert cli("demo", "fault", "--clear").exit_code == 0
    assert cli("demo", "status").exit_code == 0  # polls /healthz
    for path in ("/openapi.json", "/docs", "/_demo/routes"):
        urllib.request.urlopen(base + path, timeout=10).close()
    for _ in range(3):
        get(f"{base}/auth/me", demo_stack.tokens()[150])
    label = ROUTE_LABEL[profile]
    own = f'{SERIES[profile]}, {label}="/auth/me"}}'
    assert wait_for(lambda: bool(prometheus_series(prom, own)), timeout_s=15)
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        exposed = resp.read().decode()
    assert f'{label}="/auth/me"' in exposed
    for path in ("/_demo", "/healthz", "/openapi.json", "/docs"):
        assert f'{label}="{path}' not in exposed, path
    assert prometheus_series(prom, f'{SERIES[profile]}, {label}=~"{CONTROL}"}}') == []
