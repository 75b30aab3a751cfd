"""Writable output paths are checked before any work; outputs are written whole or not at all
(perfkit.atomic); unreadable records fail in one line."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from perfkit.atomic import interrupts_held, write_atomic, write_output
from perfkit.errors import UsageError
from perfkit.jsonfile import check_writable, read_json_object


def test_a_path_under_a_file_or_a_folder_is_refused_before_the_work(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(UsageError, match="cannot write -o"):
        check_writable(afile / "page.html", "-o")
    with pytest.raises(UsageError, match="it is a directory"):
        check_writable(tmp_path, "-o")
    check_writable(tmp_path / "new" / "run.json", "--out")  # folders are created
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []


def test_records_that_are_not_json_objects(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(UsageError, match="not a perfkit record"):
        read_json_object(bad)


# perfkit.atomic: every output is written whole or not at all


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_write_replaces_the_whole_file_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "new" / "run.json"
    write_atomic(target, "first\n")  # the folder is created
    target.chmod(0o640)
    write_atomic(target, b"second\n")
    assert target.read_text() == "second\n" and stat.S_IMODE(target.stat().st_mode) == 0o640
    write_atomic(target, "secret\n", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _leftovers(target.parent) == []
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    write_atomic(link, "through the link\n")  # as open() would: the link stays a link
    assert link.is_symlink() and target.read_text() == "through the link\n"


@contextmanager
def _limited(size: int) -> Iterator[None]:
    """RLIMIT_FSIZE: a file cannot grow past `size` bytes, writes fail with EFBIG (Python
    ignores SIGXFSZ): a full disk, for this process, on demand."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_full_disk_leaves_the_previous_file_and_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_text("previous\n")
    with _limited(1024), pytest.raises(OSError, match="File too large"):
        write_atomic(target, "x" * 100_000)
    assert target.read_text() == "previous\n" and _leftovers(tmp_path) == []
    with _limited(1024), pytest.raises(UsageError) as caught:
        write_output(target, "x" * 100_000, "--out")
    assert str(caught.value).startswith(f"cannot write --out {target}: File too large; "
                                        f"{target} still holds its previous content")
    with _limited(1024), pytest.raises(UsageError, match="nothing was written"):
        write_output(tmp_path / "other.json", "x" * 100_000, "--out")
    assert _leftovers(tmp_path) == [] and not (tmp_path / "other.json").exists()


def test_a_folder_replaced_by_a_file_fails_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.write_text("not a folder")
    with pytest.raises(UsageError, match=f"cannot write -o {folder}/page.html: Not a "
                                         "directory; nothing was written"):
        write_output(folder / "page.html", "<html>", "-o")


def test_an_interrupt_waits_for_the_file_to_be_in_place(tmp_path: Path) -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: calls.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt), interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)  # the handlers would have run by now
            write_atomic(tmp_path / "run.json", "whole\n")
            calls.append(0)  # still running: the interrupt was held
        assert calls == [0]  # the first signal held is the one delivered
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (tmp_path / "run.json").read_text() == "whole\n" and _leftovers(tmp_path) == []


KILLED_WRITER = """
import resource, signal, sys
from pathlib import Path
from perfkit.atomic import write_atomic
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # growing past the limit kills, mid-write
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
write_atomic(Path(sys.argv[1]), "x" * 100_000)
"""


def test_a_kill_in_the_middle_of_the_write_leaves_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    target.write_text("previous\n")
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], check=False,
                          capture_output=True)
    assert done.returncode == -signal.SIGXFSZ  # killed during the write itself
    assert target.read_text() == "previous\n"
    assert len(_leftovers(tmp_path)) == 1  # a kill cannot clean up: the next write ignores it
    write_atomic(target, "next\n")
    assert target.read_text() == "next\n"


def test_a_device_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    null = tmp_path / "null"
    try:  # a private /dev/null: were it replaced, nothing of the machine's would be lost
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (OSError, PermissionError):
        pytest.skip("mknod needs root")
    write_atomic(null, "discarded\n")
    check_writable(null, "--junit")
    assert stat.S_ISCHR(null.stat().st_mode) and _leftovers(tmp_path) == []
