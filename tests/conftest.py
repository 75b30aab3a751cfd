"""Session fixtures: a real demo stack (PostgreSQL, backend, Prometheus) started once.

Every test runs with PERFKIT_STATE_DIR in a temp dir, so nothing touches a user's own
demo stack or event journal. A test that needs the demo stack (directly or through another
fixture) is marked `integration`, so `pytest -m "not integration"` starts no PostgreSQL and
no Prometheus.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import CliResult, DemoStack

TEST_SCALE = 0.02
# Fixtures that start real services or build the package: their tests are integration tests.
SLOW_FIXTURES = frozenset({"demo_stack", "other_stack", "third_stack", "dist"})
_TARGET_VARIABLES = ("PERFKIT_BASE_URL", "PERFKIT_TOKEN", "PERFKIT_TOKENS_FILE", "DATABASE_URL",
                     "PERFKIT_DSN", "PROMETHEUS_URL", "NO_COLOR", "PERFKIT_SEGMENT",
                     "JOB_COMPLETION_INDEX")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state dir and no target from the developer's shell, for the whole session."""
    state = tmp_path_factory.mktemp("perfkit-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PERFKIT_STATE_DIR", str(state))
        for name in _TARGET_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("COLUMNS", "160")
        yield state


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `perfkit ARGS` in-process; returns exit code, stdout and stderr."""
    from perfkit.cli import console, main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        console.reset()
        code = main(list(args))
        captured = capsys.readouterr()
        console.reset()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def demo_stack(isolated_environment: Path) -> Iterator[DemoStack]:
    """The real demo stack at a small scale, caches on, no secondary indexes."""
    from perfkit.demo import stack

    stack.up(stack.UpOptions(scale=TEST_SCALE))
    try:
        yield DemoStack.of(stack.check())
    finally:
        stack.down(purge=True)


@pytest.fixture(scope="session")
def demo_dsn(demo_stack: DemoStack) -> str:
    return demo_stack.dsn


@pytest.fixture(scope="session")
def demo_token(demo_stack: DemoStack) -> str:
    return demo_stack.tokens()[0]


@pytest.fixture
def fresh_db(demo_dsn: str) -> Iterator[Callable[[float], str]]:
    """A factory of private databases on the demo server, loaded with demo data; dropped after."""
    import psycopg

    from perfkit.demo.data import load_demo_data

    admin = demo_dsn.rsplit("/", 1)[0] + "/postgres"
    created: list[str] = []

    def make(scale: float = 0.01) -> str:
        name = f"t_{secrets.token_hex(4)}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        created.append(name)
        dsn = demo_dsn.rsplit("/", 1)[0] + f"/{name}"
        load_demo_data(dsn, scale)
        return dsn

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in created:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def ref_server() -> Iterator[Any]:
    """The bench reference server (tests/bench/refserver.py), one process for the session."""
    from tests.bench.support import running_refserver

    with running_refserver() as server:
        yield server


@pytest.fixture
def ref(ref_server: Any) -> Any:
    """The reference server with its counters reset."""
    ref_server.reset()
    return ref_server


@pytest.fixture(scope="session")
def other_stack(demo_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A second backend perfkit was not shaped on (tests/otherapp): its own database and role
    on the test PostgreSQL, its own Prometheus, metrics named as starlette-exporter names them."""
    from tests.otherapp.support import running_other_stack

    admin = demo_dsn.rsplit("/", 1)[0] + "/postgres"
    with running_other_stack(admin, tmp_path_factory.mktemp("otherapp")) as stack:
        yield stack


@pytest.fixture(scope="session")
def third_stack(demo_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A third backend shaped like issue 25's apps (tests/thirdapp): an N+1 list route, three
    query-builder statements with one long prefix, a 2,000-row users table read by id on every
    request; its own database and role, 20 bearer tokens, an access log of every request."""
    from tests.thirdapp.support import running_third_stack

    admin = demo_dsn.rsplit("/", 1)[0] + "/postgres"
    with running_third_stack(admin, tmp_path_factory.mktemp("thirdapp")) as stack:
        yield stack


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel of this tree, built once (`python -m build`)."""
    from tests.support.packaging import build_dist

    return build_dist(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("source"))
