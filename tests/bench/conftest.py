"""The engine tests run on both transports (bench/engine_choice.py): a test that uses the
`engine` fixture (test_engine.py, test_login.py: their `pytestmark`) runs once with h1 and
once with aiohttp as what `--engine auto` takes; `@pytest.mark.one_engine` keeps a slow test
whose subject is not the transport (pacing, workers, spread) to the default one."""

from __future__ import annotations

import pytest

from perfkit.bench import engine_choice
from perfkit.bench.options import Engine

ENGINES = (Engine.H1, Engine.AIOHTTP)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        one = metafunc.definition.get_closest_marker("one_engine") is not None
        metafunc.parametrize("engine", ENGINES[:1] if one else ENGINES, indirect=True,
                             ids=lambda e: str(e))


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The transport `--engine auto` takes in this test (in this process: worker processes
    keep the default)."""
    chosen = Engine(request.param)
    monkeypatch.setattr(engine_choice, "DEFAULT_ENGINE", chosen)
    return chosen
