"""The users file (`--users-file`): one email,password a line, bad lines named by file:line
without their text, the password never in a repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfkit.bench.credentials import choose_users, read_users_file
from perfkit.errors import UsageError


def test_lines_are_users_in_order_with_header_comments_and_quoted_commas(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text('email,password\n# staff\n\na@x.io, pw1 \n"b@x.io","p,w2"\n')
    users = read_users_file(path)
    assert [(u.email, u.password, u.where) for u in users] == [
        ("a@x.io", "pw1", f"{path}:4"), ("b@x.io", "p,w2", f"{path}:5")]
    assert "pw1" not in repr(users)


@pytest.mark.parametrize("bad", ["only-an-email@x.io", "a@x.io,", ",pw", "a@x.io,pw,extra"])
def test_a_malformed_line_is_named_by_file_line_and_never_echoed(tmp_path: Path,
                                                                 bad: str) -> None:
    path = tmp_path / "users.csv"
    path.write_text(f"ok@x.io,fine-pw\n{bad}\n")
    with pytest.raises(UsageError) as caught:
        read_users_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: expected email,password")
    assert bad.strip(",") not in message and "fine-pw" not in message


def test_users_default_to_every_line_and_may_not_exceed_them(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text("".join(f"u{i}@x.io,pw-{i}\n" for i in range(5)))
    users = read_users_file(path)
    assert choose_users(users, None, path) == (users, [])
    assert choose_users(users, 2, path) == (users[:2], users[2:])
    with pytest.raises(UsageError, match=r"--users 6 but .* has 5 user\(s\)"):
        choose_users(users, 6, path)
    empty = tmp_path / "empty.csv"
    empty.write_text("email,password\n")
    with pytest.raises(UsageError, match="has no user"):
        read_users_file(empty)
