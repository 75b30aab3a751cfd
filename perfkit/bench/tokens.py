"""Which bearer tokens a bench run uses: one virtual user per token."""

from __future__ import annotations

from pathlib import Path

from perfkit.config import Settings
from perfkit.errors import UsageError

DEFAULT_USERS = 10


def read_tokens(path: Path) -> list[str]:
    """Tokens one a line; blank lines and # comments are skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read tokens file {path}: {exc.strerror or exc}") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not tokens:
        raise UsageError(f"tokens file {path} has no token",
                         hint="one bearer token a line")
    return tokens


def choose_tokens(settings: Settings, tokens_file: Path | None,
                  users: int | None) -> tuple[list[str], list[str]]:
    """(the users' tokens, the spare ones): --tokens-file > PERFKIT_TOKEN >
    PERFKIT_TOKENS_FILE > the demo's tokens file > the demo's token (environment and
    perfkit.yaml always beat the demo stack's defaults, and the demo's many users beat its one
    token: cold samples need users); `users` of a file's tokens (default 10) are the users,
    the others are spares (warm-up, fresh users for each --repeat)."""
    configured = settings.tokens_file if settings.tokens_file is not None and (
        settings.tokens_file.exists()) else None
    own_token = settings.token and "token" not in settings.from_demo
    if tokens_file is not None:
        tokens, source = read_tokens(tokens_file), f"{tokens_file}"
    elif own_token:
        tokens, source = [str(settings.token)], "PERFKIT_TOKEN"
    elif configured is not None:
        tokens, source = read_tokens(configured), f"{configured}"
    elif settings.token:
        tokens, source = [str(settings.token)], "the demo's token"
    else:
        tokens, source = [], ""
    if tokens and users is not None and users > len(tokens):
        raise UsageError(f"--users {users} but {source} has {len(tokens)} token(s)",
                         hint="one token a virtual user: add tokens or lower --users")
    if len(tokens) <= 1:
        return tokens, []
    count = users or DEFAULT_USERS
    return tokens[:count], tokens[count:]
