"""Every file perfkit writes for the user (run records, migrations, reports, pages, manifests,
the demo's state) is written whole or not at all.

`write_atomic` writes a temporary file in the target's folder (`.NAME.XXXXXXXX.tmp`), flushes
it to disk (fsync), then renames it over the target (os.replace: atomic on POSIX). An error
(a full disk, a folder gone) removes the temporary file and leaves the target as it was. A
Ctrl-C or SIGTERM during those milliseconds is held until the file is in place, then raised:
an interrupt cannot land between the failed write and the removal of its temporary file. A
kill (SIGKILL) at any moment leaves the previous file or the new one, never a truncated one
(a kill during the write itself may leave the temporary file beside it).
jsonfile.check_writable probes the same way before a long run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from perfkit.errors import UsageError

__all__ = ["create_temp", "write_atomic", "write_output"]

_DEFAULT_MODE = 0o666  # less the umask, as open() would create it


def create_temp(path: Path, mode: int = _DEFAULT_MODE) -> tuple[int, Path]:
    """A new, empty temporary file beside `path` (same folder, so the rename stays atomic):
    its descriptor and path. Raises OSError when the folder cannot take it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        # os.urandom, as secrets.token_hex would: `secrets` costs the CLI's start-up ~5 ms
        tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:  # pragma: no cover - 1 in 4 billion
            continue


def _special(path: Path) -> bool:
    """/dev/stdout, /dev/null, a FIFO: written in place (never renamed over)."""
    try:
        return not stat.S_ISREG(path.stat().st_mode) and not path.is_dir()
    except OSError:
        return False


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None) -> None:
    """Write `data` (str as UTF-8) to `path` whole or not at all; missing folders are created.

    `mode` sets the permissions (e.g. 0o600 for a file with a password), else an existing
    file keeps its own. Raises OSError; the temporary file never outlives a failure.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if path.is_symlink():  # write where the link points, as open() would
        path = Path(os.path.realpath(path))
    if _special(path):
        with path.open("wb") as stream:
            stream.write(payload)
        return
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None and path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
    with interrupts_held():
        _replace(path, payload, mode)
    _sync_folder(path.parent)


def _replace(path: Path, payload: bytes, mode: int | None) -> None:
    fd, tmp = create_temp(path)
    try:
        with os.fdopen(fd, "wb") as stream:
            if mode is not None:
                os.fchmod(stream.fileno(), mode)
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait for the end of the block, then act as they would have (Ctrl-C
    raises KeyboardInterrupt after it). Only the main thread sets handlers; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, _frame: FrameType | None) -> None:
        held.append(signum)

    previous: dict[signal.Signals, Any] = {}
    try:
        for name in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(name) is not None:  # None: not ours to replace
                previous[name] = signal.signal(name, hold)
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
        if held:
            _deliver(held[0], previous[signal.Signals(held[0])])


def _deliver(signum: int, handler: object) -> None:
    """The held signal, as its handler would have taken it."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_output(path: Path, data: str | bytes, flag: str, *, mode: int | None = None) -> None:
    """`write_atomic` for a file the user asked for with `flag`: a failure is one UsageError
    (exit 2, as when check_writable refuses the path before the work) naming the path, the
    OS's reason, and what is left (the previous file, untouched, or nothing)."""
    existed = path.exists()
    try:
        write_atomic(path, data, mode=mode)
    except OSError as exc:
        left = f"{path} still holds its previous content" if existed else "nothing was written"
        raise UsageError(f"cannot write {flag} {path}: {exc.strerror or exc}; {left}",
                         hint="free some space or choose another path, then rerun") from None
