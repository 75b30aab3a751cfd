"""Reading perfkit's JSON records (runs, reports) with one-line errors that name the file, and
checking an output path before the work (writing goes through perfkit.atomic)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from perfkit.atomic import create_temp
from perfkit.errors import UsageError


def read_json_object(path: Path, *, label: str = "") -> dict[str, Any]:
    """The JSON object in `path`; UsageError (exit 2) when unreadable, not JSON or not an object.

    `label` prefixes messages with the flag the file came from (e.g. "--bench").
    """
    where = f"{label} {path}" if label else str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {where}: {exc.strerror or exc}",
                         hint="check the path") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where}: invalid JSON ({exc})",
                         hint="pass a file written by perfkit") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where}: not a perfkit record (expected a JSON object)")
    return data


def check_writable(path: Path, flag: str) -> None:
    """Fail before a run, not after it: create the directory as saving would, then create and
    remove a temporary file where saving writes its own (perfkit.atomic)."""
    hint = f"choose a writable path, e.g. {flag} runs/before.json"
    if path.is_dir():
        raise UsageError(f"cannot write {flag} {path}: it is a directory", hint=hint)
    if path.exists() and not path.is_file():
        return  # /dev/stdout, a FIFO: written in place
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = create_temp(path)
        os.close(fd)
        probe.unlink()
    except OSError as exc:  # e.g. a component of the folder is a file, a read-only folder
        raise UsageError(f"cannot write {flag} {path}: {exc.strerror or exc}",
                         hint=hint) from None
