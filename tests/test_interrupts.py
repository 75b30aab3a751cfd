"""perfkit itself interrupted (Ctrl-C, SIGTERM, a kill) at each phase of bench, and its disk
failing when the record is written: one line saying what was interrupted and what is kept,
exit 130 (2 for an output that cannot be written), and on disk the previous record or a whole
one (marked partial when it is), never half a file nor a temporary one left behind.

Each signal is sent when the phase is observable (a `--debug` step line on stderr, a session
waiting in pg_stat_activity), not after a sleep.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.bench.support import RefServer
from tests.db.fault_support import old_snapshot

pytestmark = pytest.mark.integration  # real processes, real load on loopback


class Perfkit:
    """`python -m perfkit --debug ARGS` in a child process whose stderr is read as it comes."""

    def __init__(self, *args: str, preexec_fn: Callable[[], None] | None = None,
                 debug: bool = True) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "perfkit", *(["--debug"] if debug else []), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "160"},
            preexec_fn=preexec_fn)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.out: list[str] = []
        self.readers = [threading.Thread(target=self._read_stderr, daemon=True),
                        threading.Thread(target=self._read_stdout, daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr as stream:
            for line in stream:
                self.lines.put(line)
        self.lines.put(None)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout as stream:
            self.out.append(stream.read())

    def wait_for(self, text: str, timeout_s: float = 30) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            line = self.lines.get(timeout=max(0.01, end - time.monotonic()))
            if line is None:
                break
            self.seen.append(line)
            if text in line:
                return
        self.finish()
        raise AssertionError(f"never saw {text!r}: {''.join(self.seen)}")

    def finish(self, timeout_s: float = 30) -> tuple[int, str, str]:
        """Exit code, stdout, stderr (--debug's step lines and traceback included)."""
        try:
            self.proc.wait(timeout=timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for reader in self.readers:
                reader.join(timeout=10)
        while (line := self.lines.get_nowait()) is not None:
            self.seen.append(line)
        return self.proc.returncode, "".join(self.out), "".join(self.seen)


def error_line(stderr: str) -> str:
    """The one `error:` line (--debug adds a traceback before it: not counted)."""
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


def bench_args(ref: RefServer, out: Path, *extra: str) -> list[str]:
    return ["bench", "/sleep/5", "--base-url", ref.url, "-c", "2", "--out", str(out), *extra]


@pytest.fixture
def previous(ref: RefServer, tmp_path: Path) -> Path:
    """A complete record at the --out path, as the last run left it."""
    out = tmp_path / "runs" / "run.json"
    done = subprocess.run([sys.executable, "-m", "perfkit",
                           *bench_args(ref, out, "--duration", "0.3s")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return out


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_interrupted_before_measuring_keeps_the_previous_record(
        ref: RefServer, previous: Path) -> None:
    before = previous.read_bytes()
    run = Perfkit(*bench_args(ref, previous, "--duration", "30s", "--warmup", "100000"))
    run.wait_for("bench: connecting, logging users in, warming up")
    run.proc.send_signal(signal.SIGINT)
    code, out, err = run.finish()
    assert code == 130, err
    assert error_line(err) == ("error: interrupted before anything was measured; "
                               f"{previous} still holds its previous record")
    assert out == "" and previous.read_bytes() == before and leftovers(previous.parent) == []


def test_sigterm_while_measuring_keeps_a_partial_record(ref: RefServer, previous: Path) -> None:
    run = Perfkit(*bench_args(ref, previous, "--duration", "30s"))
    run.wait_for("bench: measuring")
    run.proc.send_signal(signal.SIGTERM)  # how CI runners and Kubernetes stop a job
    code, out, err = run.finish()
    assert code == 130, err
    line = error_line(err)
    assert line.startswith("error: interrupted after ") and " s of 30 s: the record " in line
    assert line.endswith(f"{previous} holds what was measured, marked partial "
                         "(\"interrupted\": true)")
    assert "GET /sleep/5" in out
    data = json.loads(previous.read_text())
    assert data["interrupted"] is True and data["generator"]["elapsed_s"] < 30
    assert sum(r["count"] for r in data["routes"] if r["phase"] == "all") > 0
    assert leftovers(previous.parent) == []


def test_interrupted_while_reading_the_statements_keeps_the_whole_run(
        ref: RefServer, demo_dsn: str, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    run = Perfkit(*bench_args(ref, out, "--duration", "1s", "--dsn", demo_dsn))
    run.wait_for("bench: measuring")  # the first snapshot is taken: block the last one
    with psycopg.connect(demo_dsn) as holder:
        schema = holder.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                                "ON n.oid = e.extnamespace WHERE e.extname = "
                                "'pg_stat_statements'").fetchone()
        assert schema is not None
        holder.execute(f'LOCK TABLE "{schema[0]}".pg_stat_statements '  # type: ignore[arg-type]
                       "IN ACCESS EXCLUSIVE MODE")
        waiting_on_the_lock(demo_dsn, "perfkit-statements")
        run.proc.send_signal(signal.SIGINT)
        code, stdout, err = run.finish()
        holder.rollback()
    assert code == 130, err
    assert error_line(err) == (
        "error: interrupted while reading the database's statements after the run: the "
        f"record {out} holds the whole run without its SQL figures, marked partial "
        "(\"interrupted\": true)")
    data = json.loads(out.read_text())
    assert data["interrupted"] is True and "db" not in data
    assert data["generator"]["elapsed_s"] >= 0.9 and "GET /sleep/5" in stdout
    assert "perfkit-demo" not in stdout + err  # the DSN's password


def waiting_on_the_lock(dsn: str, application: str, deadline_s: float = 30) -> None:
    end = time.monotonic() + deadline_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < end:
            if conn.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s "
                            "AND wait_event_type = 'Lock'", (application,)).fetchone():
                return
            time.sleep(0.02)
    raise AssertionError(f"{application} never waited on the lock")


@pytest.mark.parametrize(("finished", "stop"), [(1, signal.SIGTERM), (2, signal.SIGINT)])
def test_stopped_between_repeats_keeps_the_finished_repeats(
        ref: RefServer, tmp_path: Path, finished: int, stop: signal.Signals) -> None:
    out, flushes = tmp_path / "run.json", tmp_path / "flushes"
    # --flush-cmd runs at each repeat's start and between repeats: its run 2 x `finished` is
    # the one after repeat `finished`; it waits there, so the signal lands between repeats
    between = 2 * finished
    flush = f"echo x >> {flushes}; [ $(wc -l < {flushes}) -lt {between} ] || exec sleep 30"
    run = Perfkit("bench", "/sleep/5", "--base-url", ref.url, "-c", "1", "--out", str(out),
                  "--duration", "0.3s", "--repeat", "3", "--flush-cmd", flush,
                  "--flush-every", "100000", debug=False)
    end = time.monotonic() + 30
    while not (flushes.exists() and len(flushes.read_text().split()) == between):
        assert time.monotonic() < end and run.proc.poll() is None, "never between repeats"
        time.sleep(0.02)
    run.proc.send_signal(stop)
    code, stdout, err = run.finish()
    assert code == 130, err
    kept = "the finished repeat" if finished == 1 else f"the {finished} finished repeats"
    assert err.splitlines() == [  # the results' warning, then one line; no traceback
        "warning: interrupted: the results are partial",
        f"error: interrupted after {finished} of 3 repeats: the record {out} holds {kept}, "
        "marked partial (\"interrupted\": true)"]
    data = json.loads(out.read_text())
    assert data["interrupted"] is True and data["settings"]["repeat"] == 3
    assert [r["interrupted"] for r in data["repeats"]] == [False] * finished
    assert all(r["generator"]["elapsed_s"] >= 0.25 for r in data["repeats"])
    counts = [sum(r["count"] for r in rep["routes"] if r["phase"] == "all")
              for rep in data["repeats"]]
    assert min(counts) > 0 and sum(counts) == sum(
        r["count"] for r in data["routes"] if r["phase"] == "all")
    assert "GET /sleep/5" in stdout and leftovers(tmp_path) == []


def test_interrupted_while_writing_leaves_a_whole_record(ref: RefServer,
                                                         previous: Path) -> None:
    before = previous.read_bytes()
    run = Perfkit(*bench_args(ref, previous, "--duration", "0.5s"))
    run.wait_for(f"bench: writing {previous}")
    run.proc.send_signal(signal.SIGINT)  # during the write or just after: never half a file
    code, _out, err = run.finish()
    assert code == 130, err
    line = error_line(err)
    data = json.loads(previous.read_text())
    if previous.read_bytes() == before:  # the signal came before the write began
        assert line.endswith(f"{previous} still holds its previous record"), line
    else:
        assert f"the record {previous} was written whole" in line, line
        assert data["interrupted"] is False and data["generator"]["elapsed_s"] >= 0.45
    assert leftovers(previous.parent) == []


def _file_size_limit(size: int) -> Callable[[], None]:
    def limit() -> None:  # in the child: a file cannot grow past `size` (EFBIG, a full disk)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return limit


def test_a_full_disk_after_the_run_prints_the_results_and_names_the_path(
        ref: RefServer, previous: Path) -> None:
    before = previous.read_bytes()
    run = Perfkit(*bench_args(ref, previous, "--duration", "0.5s"),
                  preexec_fn=_file_size_limit(1024))
    code, out, err = run.finish()
    assert code == 2, err
    assert "GET /sleep/5" in out  # the run's results, measured, are not lost
    assert error_line(err) == (
        f"error: cannot write --out {previous}: File too large; {previous} still holds its "
        "previous record (the results are printed above)")
    assert previous.read_bytes() == before and leftovers(previous.parent) == []


def test_the_output_folder_gone_after_the_run_prints_the_results(
        ref: RefServer, tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    run = Perfkit(*bench_args(ref, folder / "run.json", "--duration", "1s"))
    run.wait_for("bench: measuring")  # check_writable passed: now the disk changes
    folder.rmdir()
    folder.write_text("a file where the folder was")
    code, out, err = run.finish()
    assert code == 2, err
    assert "GET /sleep/5" in out
    assert error_line(err) == (f"error: cannot write --out {folder / 'run.json'}: Not a "
                               "directory; nothing was written (the results are printed above)")



# apply-indexes: a build cancelled leaves an INVALID index, named with its repair


def index_states(dsn: str, *names: str) -> dict[str, bool]:
    """name -> indisvalid, for the named indexes that exist."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
                            "ON c.oid = i.indexrelid WHERE c.relname = ANY(%s)",
                            (list(names),)).fetchall()
    return {str(name): bool(valid) for name, valid in rows}


def session_waiting(dsn: str, condition: str, what: str, deadline_s: float = 30) -> None:
    """Until a session of this database matches `condition` (pg_stat_activity)."""
    end = time.monotonic() + deadline_s
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < end:
            if conn.execute("SELECT 1 FROM pg_stat_activity WHERE datname = "
                            f"current_database() AND {condition}").fetchone():
                return
            time.sleep(0.02)
    raise AssertionError(f"{what} never happened")


BUILD_WAITS = "query LIKE 'CREATE INDEX%%' AND wait_event_type = 'Lock'"
MESSAGES = "idx_messages_by_conversation"
ACCOUNTS = "idx_accounts_by_phone"


def test_sigterm_during_a_build_names_the_invalid_index_and_a_rerun_repairs(
        fresh_db: Callable[[float], str], tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    migration = tmp_path / "one.sql"
    migration.write_text(f"CREATE INDEX {MESSAGES} ON messages (conversation_id);\n")
    with old_snapshot(dsn) as holder:  # the build waits at its end
        run = Perfkit("apply-indexes", str(migration), "--dsn", dsn, "--lock-timeout", "60s")
        session_waiting(dsn, BUILD_WAITS, "the build's wait")
        run.proc.send_signal(signal.SIGTERM)
        code, out, err = run.finish()
        holder.rollback()
    assert code == 130, err
    assert error_line(err) == (
        f"error: apply-indexes interrupted while building {MESSAGES}: {MESSAGES} is left "
        "INVALID (queries ignore it, every write still maintains it): rerun `perfkit "
        "apply-indexes` (it drops and rebuilds it) or DROP INDEX CONCURRENTLY IF EXISTS "
        f"\"public\".\"{MESSAGES}\"")
    assert "perfkit-demo" not in out + err
    assert index_states(dsn, MESSAGES) == {MESSAGES: False}
    again = subprocess.run([sys.executable, "-m", "perfkit", "apply-indexes", str(migration),
                            "--dsn", dsn], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert index_states(dsn, MESSAGES) == {MESSAGES: True}


def test_ctrl_c_between_two_builds_keeps_the_first_and_journals_it(
        fresh_db: Callable[[float], str], tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    migration = tmp_path / "two.sql"
    migration.write_text(f"CREATE INDEX {MESSAGES} ON messages (conversation_id);\n"
                         f"CREATE INDEX {ACCOUNTS} ON whatsapp_accounts (phone_number_id);\n")
    with psycopg.connect(dsn) as holder:  # the second build cannot start: its table is held
        holder.execute("LOCK TABLE whatsapp_accounts IN SHARE MODE")
        run = Perfkit("apply-indexes", str(migration), "--dsn", dsn, "--lock-timeout", "60s")
        session_waiting(dsn, BUILD_WAITS + " AND query LIKE '%%whatsapp_accounts%%'",
                        "the second build's wait")
        run.proc.send_signal(signal.SIGINT)
        code, _out, err = run.finish()
        holder.rollback()
    assert code == 130, err
    assert error_line(err) == (
        f"error: apply-indexes interrupted while building {ACCOUNTS}: {MESSAGES} is built; "
        f"{ACCOUNTS} is not built yet; rerun `perfkit apply-indexes` to finish")
    assert index_states(dsn, MESSAGES, ACCOUNTS) == {MESSAGES: True}
    events = subprocess.run([sys.executable, "-m", "perfkit", "events", "--dsn", dsn,
                             "--format", "json"],
                            capture_output=True, text=True, check=True).stdout
    assert f"built {MESSAGES}; interrupted while building {ACCOUNTS}" in events
    again = subprocess.run([sys.executable, "-m", "perfkit", "apply-indexes", str(migration),
                            "--dsn", dsn], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert index_states(dsn, MESSAGES, ACCOUNTS) == {MESSAGES: True, ACCOUNTS: True}


def test_ctrl_c_during_verification_says_every_index_is_built(
        fresh_db: Callable[[float], str], tmp_path: Path) -> None:
    dsn = fresh_db(0.01)
    migration = tmp_path / "verified.sql"
    migration.write_text(  # its proof also reads whatsapp_accounts: held, it waits there
        "-- perfkit:query SELECT id FROM messages WHERE conversation_id = $1\n"
        "-- perfkit:query AND (SELECT count(*) FROM whatsapp_accounts) >= 0 LIMIT 5\n"
        "-- perfkit:params '00000000-0000-0000-0000-000000000000'\n"
        f"CREATE INDEX {MESSAGES} ON messages (conversation_id);\n")
    with psycopg.connect(dsn) as snapshot, psycopg.connect(dsn) as holder:
        snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        snapshot.execute("SELECT count(*) FROM users").fetchone()  # the build waits at its end
        run = Perfkit("apply-indexes", str(migration), "--explain", "--dsn", dsn)
        session_waiting(dsn, BUILD_WAITS, "the build's wait")
        holder.execute("LOCK TABLE whatsapp_accounts IN ACCESS EXCLUSIVE MODE")
        snapshot.rollback()  # the build ends; the proof of its query waits for the table
        session_waiting(dsn, "application_name = 'perfkit' AND wait_event_type = 'Lock' "
                             "AND query NOT LIKE 'CREATE INDEX%%'", "the proof's wait")
        run.proc.send_signal(signal.SIGINT)
        code, _out, err = run.finish()
        holder.rollback()
    assert code == 130, err
    assert error_line(err) == (f"error: apply-indexes interrupted while verifying the indexes: "
                               f"{MESSAGES} is built; `perfkit verify-indexes` checks them")
    assert index_states(dsn, MESSAGES) == {MESSAGES: True}


# advise-indexes: a partial advice is no advice, so nothing is written (the previous file stays)


@pytest.fixture
def advice_db(pytestconfig: pytest.Config) -> Iterator[Callable[[], str]]:
    """Private databases with pg_stat_statements and HypoPG (tests/db/support.py)."""
    from tests.db import support

    with support.databases(support.shared_server(pytestconfig)) as make:
        yield make


UNCHANGED = ("the database is unchanged (hypothetical indexes end with their read-only "
             "transaction)")


def test_ctrl_c_while_observing_the_traffic_writes_nothing(
        advice_db: Callable[[], str], tmp_path: Path) -> None:
    dsn = advice_db()
    out = tmp_path / "020_advised.sql"
    out.write_text("-- the previous advice\n")
    run = Perfkit("advise-indexes", "--since", "30s", "--dsn", dsn, "--out", str(out))
    session_waiting(dsn, "application_name = 'perfkit-statements'", "the observation")
    run.proc.send_signal(signal.SIGINT)
    code, stdout, err = run.finish()
    assert code == 130, err
    assert error_line(err) == ("error: advise-indexes interrupted while observing the traffic "
                               f"(--since): {out} still holds its previous content; "
                               f"{UNCHANGED}")
    assert stdout == "" and out.read_text() == "-- the previous advice\n"


def test_sigterm_while_proving_writes_nothing_and_a_rerun_advises(
        advice_db: Callable[[], str], tmp_path: Path) -> None:
    from tests.db.support import runbook_traffic

    dsn = advice_db()
    runbook_traffic(dsn, 10)
    out = tmp_path / "020_advised.sql"
    with psycopg.connect(dsn) as holder:  # the proofs wait for the table: stop them there
        holder.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        run = Perfkit("advise-indexes", "--dsn", dsn, "--out", str(out))
        session_waiting(dsn, "application_name LIKE 'perfkit%%' AND wait_event_type = 'Lock'",
                        "the proof's wait")
        run.proc.send_signal(signal.SIGTERM)
        code, _out, err = run.finish()
        holder.rollback()
    assert code == 130, err
    assert error_line(err) == ("error: advise-indexes interrupted while proving candidate "
                               f"indexes with HypoPG: nothing was written to {out}; "
                               f"{UNCHANGED}")
    assert not out.exists() and leftovers(tmp_path) == []
    again = subprocess.run([sys.executable, "-m", "perfkit", "advise-indexes", "--dsn", dsn,
                            "--out", str(out)], capture_output=True, text=True, check=False)
    assert again.returncode == 0, again.stderr
    assert "CREATE INDEX" in out.read_text()
