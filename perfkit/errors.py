"""One exception hierarchy; each class carries the exit code the CLI returns for it."""

from __future__ import annotations


class PerfkitError(Exception):
    """Base of every error perfkit reports to a user: one line, a hint, an exit code."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class CheckFailed(PerfkitError):
    """A verification, threshold or regression check did not pass."""

    exit_code = 1


class StackError(PerfkitError):
    """The demo stack could not be started or inspected."""

    exit_code = 1


class UsageError(PerfkitError):
    """Bad flags, bad files, bad input: the user can fix it and rerun."""

    exit_code = 2


class Unreachable(PerfkitError):
    """A system perfkit talks to (database, backend, Prometheus) is unreachable or erroring."""

    exit_code = 3


class Inconclusive(PerfkitError):
    """Too few samples to decide; only an error under --strict."""

    exit_code = 4


class Interrupted(PerfkitError):
    """Ctrl-C or SIGTERM stopped the work; the message says what was kept or left."""

    exit_code = 130
