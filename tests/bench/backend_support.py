"""Backend faults for bench tests: a uvicorn backend killed (SIGKILL) and started again on its
port, or frozen (SIGSTOP) and let go; a loopback TCP proxy that cuts the connections of one
process (one --workers worker) while the others' go through.

Everything waits on observable state (the backend's request count, a port that listens, a
socket's owner in /proc), never on a guessed sleep; the outage's length is the test's choice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from perfkit.demo.procs import free_port

ASGIAPP = Path(__file__).with_name("asgiapp.py")


class KillableBackend:
    """tests/bench/asgiapp.py under uvicorn on a fixed port of 127.0.0.1."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> float:
        """Start it; returns when it answers (time.time() then)."""
        self.proc = subprocess.Popen([sys.executable, str(ASGIAPP), str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while self.answered() is None:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the uvicorn backend did not start on port {self.port}")
            time.sleep(0.02)
        return time.time()

    def answered(self) -> int | None:
        """Requests this process answered; None when nothing answers on the port."""
        try:
            with urllib.request.urlopen(f"{self.url}/_count", timeout=2) as resp:
                return int(resp.read())
        except OSError:
            return None

    def wait_answered(self, count: int, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (self.answered() or 0) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the backend answered fewer than {count} requests")
            time.sleep(0.02)

    def kill(self) -> float:
        """SIGKILL, as the OOM killer or a crashed pod does; returns time.time() then."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return at

    def freeze(self) -> float:
        """SIGSTOP: the kernel still accepts its connections, nothing answers them (a hung
        process: a deadlock, a full pool, a debugger); returns time.time() then."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGSTOP)
        return at

    def thaw(self) -> float:
        """SIGCONT: it answers again (the requests still waiting first)."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGCONT)
        return at

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a frozen one cannot handle SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def children(pid: int) -> list[int]:
    """The processes `pid` started (Linux /proc), oldest first."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return sorted(int(p) for p in path.read_text().split()) if path.exists() else []


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _inode(local_port: int, remote_port: int) -> int | None:
    """The inode of the IPv4 socket from 127.0.0.1:local_port to 127.0.0.1:remote_port."""
    want = (f"0100007F:{local_port:04X}", f"0100007F:{remote_port:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == want:
            return int(fields[9])
    return None


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a crashed peer or a load balancer dropping it does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class CuttingProxy:
    """A TCP proxy to 127.0.0.1:`upstream_port`. `cut(pid)` closes every connection of that
    process and resets its new ones as they come, until `restore()`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.cut_pid: int | None = None
        self.resets = 0
        self._closed = False
        self.listener.settimeout(0.1)  # the accept loop sees close()
        self._lock = threading.Lock()
        self._open: dict[int, tuple[socket.socket, socket.socket]] = {}  # client inode ->
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, (_, client_port) = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            inode = _inode(client_port, self.port) or -1
            with self._lock:
                if self.cut_pid is not None and inode in _socket_inodes(self.cut_pid):
                    self.resets += 1
                    _reset(client)
                    continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for sock in (client, upstream):  # no Nagle: 40 ms a request otherwise
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open[inode] = (client, upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink, inode),
                                 daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, inode: int) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._open.pop(inode, None)
        for sock in (source, sink):  # the other pump wakes up, and ends too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut(self, pid: int) -> None:
        with self._lock:
            self.cut_pid = pid
            theirs = _socket_inodes(pid)
            for inode in [i for i in self._open if i in theirs]:
                client, upstream = self._open.pop(inode)
                self.resets += 1
                for sock in (client, upstream):  # wakes the pumps, which then close them
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        with self._lock:
            self.cut_pid = None

    def close(self) -> None:
        self._closed = True
        self.listener.close()
        with self._lock:
            for pair in self._open.values():
                for sock in pair:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()
