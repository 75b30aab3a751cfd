"""`perfkit demo up|status|restart|down` on a stack of their own: lifecycle and error cases."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfkit.demo import procs, stack
from tests.demo.support import Cli

pytestmark = pytest.mark.integration  # starts demo stacks of its own


@pytest.fixture
def own_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A separate state dir, so this stack is not the session's; always torn down."""
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path / "state"))
    yield tmp_path / "state"
    stack.down(purge=True)


def _pids(status: dict[str, object]) -> list[int]:
    return [int(status[k]["pid"]) for k in ("postgres", "backend", "prometheus")]  # type: ignore[index]


def test_up_is_idempotent_status_json_and_down_leaves_nothing(cli: Cli, own_state: Path) -> None:
    first = cli("demo", "up", "--scale", "0.005")
    assert first.exit_code == 0, first.stderr
    assert "Authorization: Bearer demo-" in first.stdout
    status = cli("demo", "status", "--format", "json")
    assert status.exit_code == 0
    data = json.loads(status.stdout)
    assert data["schema"] == "perfkit.demo/1"
    assert all(data[k]["up"] for k in ("postgres", "backend", "prometheus"))
    assert data["backend"]["url"].startswith("http://127.0.0.1:")
    assert Path(data["tokens_file"]).read_text().startswith("demo-")
    pids = _pids(data)

    again = cli("demo", "up", "--format", "json")
    assert again.exit_code == 0
    assert _pids(json.loads(again.stdout)) == pids, "a second up restarts nothing"

    down = cli("demo", "down")
    assert down.exit_code == 0
    assert "PostgreSQL" in down.stderr and "backend" in down.stderr
    assert not any(procs.pid_alive(pid) for pid in pids)
    after = cli("demo", "status")
    assert after.exit_code == 1
    assert "DOWN" in after.stdout


def test_up_recovers_a_stale_state_after_a_crash(cli: Cli, own_state: Path) -> None:
    assert cli("demo", "up", "--scale", "0.005").exit_code == 0
    state = stack.read_state(stack.StackPaths.default())  # own_state's, typed
    assert state.backend and state.backend.pid and state.prometheus and state.prometheus.pid
    os.kill(state.backend.pid, signal.SIGKILL)
    os.kill(state.prometheus.pid, signal.SIGKILL)
    recovered = cli("demo", "up")
    assert recovered.exit_code == 0, recovered.stderr
    assert "recovered a stale state: backend" in recovered.stderr
    assert json.loads(cli("demo", "status", "--format", "json").stdout)["backend"]["up"]


def test_restart_switches_cache_and_records_an_event(cli: Cli, own_state: Path) -> None:
    assert cli("demo", "up", "--scale", "0.005", "--no-cache").exit_code == 0
    result = cli("demo", "restart", "--cache")
    assert result.exit_code == 0, result.stderr
    assert json.loads(cli("demo", "status", "--format", "json").stdout)["backend"]["cache"]
    journal = (own_state / "events.jsonl").read_text().splitlines()
    assert "cache on" in json.loads(journal[-1])["text"]


def test_port_taken_is_a_one_line_usage_error(cli: Cli, own_state: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("demo", "up", "--scale", "0.005", "--pg-port", str(port))
    assert result.exit_code == 2
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_binaries_say_how_to_install(cli: Cli, own_state: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    from perfkit.demo import postgres

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(postgres, "SERVER_BIN_DIRS", str(tmp_path / "no-postgres"))
    result = cli("demo", "up", "--scale", "0.005")
    assert result.exit_code == 1
    assert "initdb" in result.stderr and "apt-get install -y postgresql" in result.stderr


def test_corrupt_data_dir_is_reported(cli: Cli, own_state: Path) -> None:
    data_dir = stack.StackPaths.default().pg_data
    data_dir.mkdir(parents=True)
    (data_dir / "junk").write_text("not a cluster")
    result = cli("demo", "up", "--scale", "0.005")
    assert result.exit_code == 1
    assert "is corrupt" in result.stderr and "demo down --purge" in result.stderr


def test_fault_flags_leave_the_other_fault_alone_and_clear_resets(
        cli: Cli, demo_stack: dict[str, object]) -> None:
    try:
        assert cli("demo", "fault", "--route", "/auth/me", "--latency-ms", "30").exit_code == 0
        both = cli("demo", "fault", "--route", "/auth/me", "--error-ratio", "0.5", "--format",
                   "json")
        data = json.loads(both.stdout)
        assert data["latency_ms"] == {"/auth/me": 30.0}  # not reset by the second call
        assert data["error_ratio"] == {"/auth/me": 0.5}
        table = cli("demo", "fault", "--route", "/accounts", "--latency-ms", "12.5")
        assert table.exit_code == 0
        rows = [line.split() for line in table.stdout.splitlines() if "/" in line]
        assert rows == [["/accounts", "│", "12.5", "│", "0.0%"],
                        ["/auth/me", "│", "30.0", "│", "50.0%"]]
        typo = cli("demo", "fault", "--route", "/nope", "--latency-ms", "5")
        assert typo.exit_code == 2 and "/messages/{conversation_id}" in typo.stderr
    finally:
        cleared = cli("demo", "fault", "--clear", "--format", "markdown")
    assert cleared.exit_code == 0
    assert "| `(none)` | 0.00 | 0.0% |" in cleared.stdout


def test_n_plus_one_flag_turns_a_list_route_on_and_off(
        cli: Cli, demo_stack: dict[str, object]) -> None:
    try:
        on = cli("demo", "fault", "--n-plus-one", "/conversations")
        assert on.exit_code == 0, on.stderr
        assert "N+1" in on.stdout
        rows = [line.split() for line in on.stdout.splitlines() if "/" in line]
        assert rows == [["/conversations", "│", "0.00", "│", "0.0%", "│", "on"]]
        other = cli("demo", "fault", "--route", "/auth/me", "--latency-ms", "5", "--format",
                    "json")
        assert json.loads(other.stdout)["n_plus_one"] == ["/conversations"]  # left alone
        off = cli("demo", "fault", "--no-n-plus-one", "/conversations", "--format", "json")
        assert off.exit_code == 0, off.stderr
        data = json.loads(off.stdout)
        assert data["n_plus_one"] == [] and data["latency_ms"] == {"/auth/me": 5.0}
        for args, said in ((["--n-plus-one", "/auth/me"], "'/auth/me' is not a list route"),
                           (["--no-n-plus-one", "/nope"], "'/nope' is not a route"),
                           (["--n-plus-one", "/accounts", "--no-n-plus-one", "/accounts"],
                            "both name '/accounts'")):
            refused = cli("demo", "fault", *args)
            assert refused.exit_code == 2, args
            assert refused.stderr.count("\n") == 1 and said in refused.stderr, refused.stderr
            assert "/conversations" in refused.stderr or "both" in said
        assert cli("demo", "fault", "--n-plus-one", "/accounts").exit_code == 0
    finally:
        cleared = cli("demo", "fault", "--clear", "--format", "json")
    assert json.loads(cleared.stdout)["n_plus_one"] == []


def test_a_taken_backend_port_starts_nothing(cli: Cli, own_state: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("demo", "up", "--scale", "0.005", "--backend-port", str(port))
    assert result.exit_code == 2
    assert stack.StackPaths.default().pg_data.exists() is False  # PostgreSQL was not started
