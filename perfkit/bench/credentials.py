"""Who the virtual users log in as: `--users-file users.csv`, one `email,password` a line.

One line is one virtual user. By default every line is a user (the file lists the accounts
made for the test, and each login costs the auth server one request); `--users N` takes the
first N, the others are kept for `--repeat`'s fresh users. A password is never printed: it is
not in a Credential's repr, and a bad line is named by file:line only, never by its text.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from perfkit.errors import UsageError

HEADER = ("email", "password")
FORMAT_HINT = ("one email,password a line (CSV: quote a password that has a comma; blank "
               "lines and # comments are skipped)")


@dataclass(frozen=True)
class Credential:
    """One virtual user's login; `where` (users.csv:3) names it in errors instead of the
    email or the password."""

    email: str
    password: str = field(repr=False)
    where: str = ""


def _row(text: str, where: str) -> Credential:
    try:
        fields = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        fields = []
    if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
        # the line is never echoed: it holds a password, maybe in the wrong column
        raise UsageError(f"{where}: expected email,password "
                         f"({len(fields)} field(s), or an empty one)", hint=FORMAT_HINT)
    return Credential(fields[0].strip(), fields[1].strip(), where)


def read_users_file(path: Path) -> list[Credential]:
    """Every user of the file, in its order; a header line `email,password` is skipped."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read users file {path}: {reason or exc}") from None
    users: list[Credential] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if not users and tuple(f.strip().lower() for f in text.split(",")) == HEADER:
            continue
        users.append(_row(text, f"{path}:{number}"))
    if not users:
        raise UsageError(f"users file {path} has no user", hint=FORMAT_HINT)
    return users


def choose_users(users: list[Credential], count: int | None,
                 path: Path) -> tuple[list[Credential], list[Credential]]:
    """(the virtual users, the spare ones): all of them by default, or the first `count`."""
    if count is None:
        return users, []
    if count > len(users):
        raise UsageError(f"--users {count} but {path} has {len(users)} user(s)",
                         hint="one line a virtual user: add lines or lower --users")
    return users[:count], users[count:]
