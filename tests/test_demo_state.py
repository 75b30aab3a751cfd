"""perfkit.demo_state: the demo stack's state file read and written typed, in the format
`perfkit demo up` has always written (an existing file reads, and is written back the same)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from perfkit.config import demo_defaults
from perfkit.demo_state import SCHEMA, BackendState, DemoState

#: A state file as `perfkit demo up` wrote it before the typed state (keys in its order).
WRITTEN_BY_UP = {
    "schema": "perfkit.demo-state/1",
    "notes": ["loaded demo data at scale 0.005 in 1.2 s"],
    "postgres": {"dsn": "postgresql://perfkit:perfkit-demo@127.0.0.1:54329/perfkit_demo",
                 "pid": 4242, "port": 54329, "data_dir": "/s/demo/pg", "log_file": "/s/pg.log"},
    "load_seconds": 1.2, "scale": 0.005, "tokens_file": "/s/demo/tokens.txt",
    "token": "demo-token-1",
    "backend": {"url": "http://127.0.0.1:8401", "pid": 4250, "port": 8401, "cache": False,
                "metrics_profile": "fastapi-observability", "auth_latency_ms": 40.0,
                "started_at": "2026-12-05T10:00:00+00:00"},
    "log_file": "/s/demo/backend.log",
    "prometheus": {"url": "http://127.0.0.1:9491", "pid": 4260, "port": 9491,
                   "backend_port": 8401, "config_file": "/s/demo/prometheus.yml"},
}


def test_a_state_written_by_up_reads_typed_and_writes_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(WRITTEN_BY_UP, indent=2))
    state = DemoState.read(path)
    assert state is not None and state.backend is not None and state.postgres is not None
    assert (state.backend.port, state.backend.cache, state.postgres.pid) == (8401, False, 4242)
    assert state.prometheus is not None and state.prometheus.backend_port == 8401
    out = tmp_path / "again" / "state.json"
    state.write(out)
    assert json.loads(out.read_text()) == WRITTEN_BY_UP
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # it holds a token and a DSN
    assert WRITTEN_BY_UP["schema"] == SCHEMA


@pytest.mark.parametrize("content", ["", "not json", "[1]", "null"])
def test_no_state_or_an_unreadable_one_is_none(tmp_path: Path, content: str) -> None:
    assert DemoState.read(tmp_path / "missing.json") is None
    path = tmp_path / "state.json"
    path.write_text(content)
    assert DemoState.read(path) is None


def test_a_partial_or_hand_edited_state_reads_what_it_can(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"backend": {"url": "http://demo", "pid": "not a pid"},
                                "postgres": "not an object", "prometheus": {},
                                "token": "t", "notes": "not a list"}))
    state = DemoState.read(path)
    assert state == DemoState(backend=BackendState(url="http://demo"), token="t")
    assert state.backend is not None and state.backend.cache is None  # before the option
    assert demo_defaults(state) == {"base_url": "http://demo", "dsn": None,
                                    "prometheus_url": None, "token": "t",
                                    "tokens_file": None, "backend_log": None}
    assert demo_defaults(None) == dict.fromkeys(demo_defaults(state))
