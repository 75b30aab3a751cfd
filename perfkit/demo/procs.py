"""Process plumbing for the demo stack: free ports, detached spawns, pid checks, clean stops."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from perfkit.errors import StackError, UsageError

UNPRIVILEGED_USER = "postgres"
PS_TIMEOUT_S = 5.0
KILL_WAIT_S = 2.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def choose_port(requested: int | None, flag: str) -> int:
    """The requested port if free (else a clear error), or any free loopback port."""
    if requested is None:
        return free_port()
    if port_in_use(requested):
        raise UsageError(f"port 127.0.0.1:{requested} is already in use ({flag})",
                         hint=f"free it or pick another with {flag}")
    return requested


@dataclass(frozen=True)
class ProcessInfo:
    """What `ps` says about a pid: its state letters (`Ss`, `Z`...) and its command line."""

    state: str
    command: str

    @property
    def zombie(self) -> bool:
        return self.state.startswith("Z")


def process_info(pid: int) -> ProcessInfo | None:
    """`ps -o stat=,command= -p PID` (POSIX, so Linux and macOS alike); None when no such pid."""
    ps = shutil.which("ps")
    if ps is None:
        raise StackError("the `ps` command is missing: perfkit needs it to tell the processes "
                         "it started from others", hint="install it: apt-get install -y procps")
    try:
        result = subprocess.run([ps, "-o", "stat=,command=", "-p", str(pid)],
                                capture_output=True, text=True, timeout=PS_TIMEOUT_S,
                                check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields = result.stdout.strip().split(None, 1)
    if result.returncode != 0 or not fields:
        return None
    return ProcessInfo(fields[0], fields[1] if len(fields) > 1 else "")


def _signalable(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    return True


def _live_process(pid: int | None) -> ProcessInfo | None:
    """The pid's ps entry when it exists and is not a zombie (exited, not yet reaped)."""
    if not pid or not _signalable(pid):
        return None
    info = process_info(pid)
    if info is not None and info.zombie:
        _reap(pid)  # a child of ours that died (killed, crashed): collect it
        return None
    return info


def pid_alive(pid: int | None) -> bool:
    return _live_process(pid) is not None


def is_our_process(pid: int | None, marker: str) -> bool:
    """The pid is alive and still the program we started (pids get recycled)."""
    info = _live_process(pid)
    return info is not None and marker in info.command


_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}  # outlive their caller: never collected


def spawn(argv: Sequence[str], log_file: Path, env: dict[str, str] | None = None) -> int:
    """Start a detached process (own session) with output appended to log_file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **(env or {})})
    _SPAWNED[proc.pid] = proc
    return proc.pid


def stop_pid(pid: int, marker: str, timeout_s: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after timeout_s; only if the pid is still ours."""
    if not is_our_process(pid, marker):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    if not _exited_within(pid, timeout_s):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _exited_within(pid, KILL_WAIT_S)
    # Our own child is a zombie until collected. ps may have stopped listing it while it was
    # still exiting, before the kernel let it be collected: wait for that moment, briefly.
    _reap(pid, wait_s=KILL_WAIT_S)
    return True


def _exited_within(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _reap(pid: int, wait_s: float = 0.0) -> None:
    spawned = _SPAWNED.get(pid)
    if spawned is not None:
        try:
            spawned.wait(timeout=wait_s)  # reaped, its return code kept
        except subprocess.TimeoutExpired:
            return
        del _SPAWNED[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_until(check: Callable[[], bool], timeout_s: float, pid: int | None, what: str,
               log_file: Path) -> None:
    """Poll check() until true; fail early with the log's tail if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if pid is not None:
            _reap(pid)
            if not pid_alive(pid):
                raise StackError(f"{what} exited during start-up: {log_tail(log_file)}",
                                 hint=f"full log: {log_file}")
        time.sleep(0.1)
    raise StackError(f"{what} did not answer within {timeout_s:.0f} s: {log_tail(log_file)}",
                     hint=f"full log: {log_file}")


def log_tail(log_file: Path, lines: int = 1) -> str:
    try:
        text = log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(empty log)"


def running_as_root() -> bool:
    return os.geteuid() == 0


def unprivileged_ids() -> tuple[int, int]:
    """(uid, gid) of the user PostgreSQL runs as when perfkit is root."""
    import pwd  # local: Unix only

    try:
        entry = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise StackError(f"running as root, and there is no `{UNPRIVILEGED_USER}` user to run "
                         "PostgreSQL as", hint="install PostgreSQL's package (it creates the "
                         "user) or run perfkit as a normal user") from None
    return entry.pw_uid, entry.pw_gid


def hand_over(path: Path) -> None:
    """As root, give a file or folder to the unprivileged user PostgreSQL runs as."""
    if running_as_root():
        os.chown(path, *unprivileged_ids())


def as_unprivileged(argv: Sequence[str]) -> list[str]:
    """PostgreSQL refuses root: run its binaries as the `postgres` user when we are root."""
    if not running_as_root():
        return list(argv)
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", UNPRIVILEGED_USER, "--", *argv]
    setpriv = shutil.which("setpriv")
    if setpriv:
        uid, gid = unprivileged_ids()
        return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--init-groups", *argv]
    raise StackError("running as root, and neither runuser nor setpriv is available to start "
                     "PostgreSQL as an unprivileged user",
                     hint="install util-linux or run perfkit as a normal user")
