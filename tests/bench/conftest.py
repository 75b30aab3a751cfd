"""The engine tests run on both transports (bench/engine_choice.py): a test that uses the
`engine` fixture (test_engine.py, test_login.py: their `pytestmark`) runs once with h1 and
once with aiohttp as what `--engine auto` takes; pacing, workers and segments included (issue
24: every engine test passes on both)."""

from __future__ import annotations

import pytest

from perfkit.bench import engine_choice
from perfkit.bench.options import Engine

ENGINES = (Engine.H1, Engine.AIOHTTP)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", ENGINES, indirect=True, ids=lambda e: str(e))


@pytest.fixture
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The transport `--engine auto` takes in this test (in this process: worker processes
    keep the default)."""
    chosen = Engine(request.param)
    monkeypatch.setattr(engine_choice, "DEFAULT_ENGINE", chosen)
    return chosen
