"""Runs index DDL one statement at a time: lock_timeout, retries, cleanup, and who blocks it.

CREATE INDEX CONCURRENTLY takes its lock, enters the catalog, then waits for every
transaction older than each of its phases (writers, then old snapshots); DROP INDEX
CONCURRENTLY waits for every session holding a lock on the table. A wait that ends in
lock_timeout leaves an INVALID index that every write keeps maintaining, so the error
names the sessions waited for (pid, state, age: never their query text) and the cleanup
DROP gets a second chance before perfkit says exactly what is left.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg import sql

from perfkit.db import catalog
from perfkit.db.connect import safe_dsn, scrub, sql_text
from perfkit.db.leftovers import check_connection
from perfkit.errors import CheckFailed, Unreachable

ProgressCallback = Callable[[catalog.BuildProgress], None]
Notify = Callable[[str], None]
_MAX_BACKOFF_S = 10.0
#: pause before the second try of a cleanup DROP INDEX CONCURRENTLY
CLEANUP_BACKOFF_S = 1.0
#: how long a lost build waits for the database to answer, to say what it left
LEFT_CHECK_S = 5.0
OLDER_THAN_BUILD = "waiting for transaction(s) older than the build"


class LockTimeout(Unreachable):
    """The lock never came within the retries; the message says who held it and what is left."""


class ConnectionLost(Unreachable):
    """The session died under a statement (terminated, a failover, a restart): nothing is
    retried; the message says what is left."""


@dataclass
class Target:
    """What a statement builds or drops: names for messages and catalog look-ups."""

    schema: str
    table: str
    index: str | None = None  # built (or INVALID and dropped): what a failure leaves behind

    def qualified(self, conn: psycopg.Connection[Any], name: str) -> str:
        return sql.Identifier(self.schema, name).as_string(conn)


@dataclass
class Seen:
    """What the watcher saw while a statement ran: the last blockers and build phase."""

    phase: str | None = None
    doing: str = ""  # what the statement running now does, when it is not the build itself
    waited_for_older: bool = False
    blockers: list[catalog.Blocker] = field(default_factory=list)
    said: set[tuple[str, tuple[int, ...]]] = field(default_factory=set)


def describe_wait(blockers: list[catalog.Blocker], *, older: bool) -> str:
    who = "; ".join(b.describe() for b in blockers)
    return f"{OLDER_THAN_BUILD}: {who}" if older else f"waiting for a lock held by: {who}"


class Watch:
    """Polls, on a second connection while a statement runs: build progress and its blockers."""

    def __init__(self, dsn: str, callback: ProgressCallback | None, notify: Notify,
                 interval_s: float = 0.25) -> None:
        self.dsn, self.callback, self.notify = dsn, callback, notify
        self.interval_s = interval_s

    @contextmanager
    def watching(self, pid: int, label: str, table: str, seen: Seen) -> Iterator[None]:
        stop = threading.Event()

        def poll() -> None:
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                     prepare_threshold=None,
                                     application_name="perfkit-progress") as mon:
                    while not stop.wait(self.interval_s):
                        self._sample(mon, pid, label, table, seen)
            except psycopg.Error:
                return  # a courtesy: the statement itself reports its errors

        thread = threading.Thread(target=poll, name="perfkit-index-watch", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def _sample(self, mon: psycopg.Connection[Any], pid: int, label: str, table: str,
                seen: Seen) -> None:
        sample = catalog.build_progress(mon, pid, label)
        if sample is not None:
            seen.phase = sample.phase
            if self.callback is not None:
                self.callback(sample)
        waiting = catalog.blockers(mon, pid, table)
        if not waiting:
            return
        older = bool(sample and sample.phase.startswith("waiting for"))
        seen.blockers, seen.waited_for_older = waiting, seen.waited_for_older or older
        doing = sample.phase if older and sample else seen.doing
        key = (doing, tuple(b.pid for b in waiting))
        if key not in seen.said:  # once per phase and set of blockers, not every poll
            seen.said.add(key)
            phase = f" ({doing})" if doing else ""
            self.notify(f"{label}{phase}: {describe_wait(waiting, older=older)}")


class Runner:
    """Runs DDL one statement at a time, with lock_timeout, retries and cleanup."""

    def __init__(self, conn: psycopg.Connection[Any], dsn: str, *, lock_timeout_s: float,
                 lock_retries: int, watch: Watch, notify: Notify) -> None:
        self.conn, self.dsn, self.watch, self.notify = conn, dsn, watch, notify
        self.lock_timeout_s, self.lock_retries = lock_timeout_s, lock_retries

    def run(self, statement: str, target: Target | None = None) -> None:
        """One statement; a build that fails is cleaned up (its INVALID leftover dropped)."""
        retries, timeout_ms = self.lock_retries, int(self.lock_timeout_s * 1000)
        seen = Seen()
        for attempt in range(retries + 1):
            seen.blockers = []  # who blocks this attempt, not an earlier one
            self.conn.execute(sql_text(f"SET lock_timeout = {max(1, timeout_ms)}"))
            started = catalog.now(self.conn) if target else None
            try:
                self._attempt(statement, target, seen)
                return
            except pgerrors.LockNotAvailable:
                final = attempt == retries
                leftover = self._leftover(target)
                waited = self._who(target, seen, started, older=leftover)
                left = self._cleanup(target, final=final, known=seen.blockers)
                if final:
                    raise self._timeout(statement, waited, left, seen) from None
                wait_s = min(_MAX_BACKOFF_S, max(0.1, self.lock_timeout_s) * 2 ** attempt)
                self.notify(f"lock not available ({waited}), retry {attempt + 1}/{retries} "
                            f"in {wait_s:g} s")
                time.sleep(wait_s)
            except psycopg.Error as exc:
                if self.conn.broken or self.conn.closed:
                    raise self._lost(statement, exc, target) from None
                left = self._cleanup(target, final=True)
                raise _failed(statement, exc, self.dsn, left) from None

    def _attempt(self, statement: str, target: Target | None, seen: Seen) -> None:
        if target is None:
            self.conn.execute(sql_text(statement))
            return
        label = target.index or target.table
        table = target.qualified(self.conn, target.table)
        with self.watch.watching(self.conn.info.backend_pid, label, table, seen):
            if target.index is not None:
                seen.doing = "dropping its INVALID leftover first"
                self._drop_invalid(target)  # a leftover of the previous attempt
            seen.doing = ""
            self.conn.execute(sql_text(statement))

    def _leftover(self, target: Target | None) -> bool:
        if target is None or target.index is None:
            return False
        found = catalog.find_index(self.conn, target.schema, target.index)
        return found is not None and not found.valid

    def _who(self, target: Target | None, seen: Seen, since: Any, *, older: bool) -> str:
        """Who the statement waited for: as the watcher saw it, else the sessions older than it."""
        if seen.blockers:
            found, older = seen.blockers, older or seen.waited_for_older
        elif target is not None and since is not None:
            found = catalog.older_transactions(
                self.conn, target.qualified(self.conn, target.table), since)
            seen.blockers = found
        else:
            found = []
        if not found:
            return "no blocking session is left to name (it may have ended)"
        return describe_wait(found, older=older)

    def _drop_invalid(self, target: Target) -> None:
        if self._leftover(target):
            assert target.index is not None
            self.conn.execute(sql_text(
                f"DROP INDEX CONCURRENTLY IF EXISTS {target.qualified(self.conn, target.index)}"))

    def _cleanup(self, target: Target | None, *, final: bool,
                 known: list[catalog.Blocker] | None = None) -> str:
        """Drop the INVALID index a failed CONCURRENTLY build leaves; say what is left."""
        if target is None or target.index is None:
            return "this statement changed nothing"
        if not self._leftover(target):
            return "nothing was left half-done"
        drop = f"DROP INDEX CONCURRENTLY IF EXISTS {target.qualified(self.conn, target.index)}"
        tries = 2 if final else 1  # between retries, the next attempt drops it anyway
        blockers: list[catalog.Blocker] = []
        for attempt in range(tries):
            started = catalog.now(self.conn)
            try:
                self.conn.execute(sql_text(drop))
                return f"the INVALID leftover {target.index} was dropped, nothing was left " \
                       "half-done"
            except psycopg.Error:
                blockers = catalog.older_transactions(
                    self.conn, target.qualified(self.conn, target.table), started)
            if attempt + 1 < tries:
                self.notify(f"the INVALID leftover {target.index} could not be dropped yet; "
                            f"one more try in {CLEANUP_BACKOFF_S:g} s")
                time.sleep(CLEANUP_BACKOFF_S)
        known_pids = {b.pid for b in known or []}
        new = [b.describe() for b in blockers if b.pid not in known_pids]
        by = f" (its DROP waited for {'; '.join(new)})" if new else (
            " (its DROP waited for the same session(s))" if blockers else "")
        return (f"index {target.schema}.{target.index} is left INVALID on "
                f"{target.schema}.{target.table}: queries ignore it but every write still "
                f"maintains it{by}; the next `perfkit apply-indexes` drops and rebuilds it "
                f"(or, once those sessions end: {drop})")

    def _lost(self, statement: str, exc: psycopg.Error, target: Target | None
              ) -> ConnectionLost:
        """The session died under the statement (terminated, a failover, a restart): what is
        left is read on a new connection, and how to repair it is said; nothing is retried
        (the user reruns apply-indexes, which repairs)."""
        text = str(exc).strip()
        why = scrub(text.splitlines()[0] if text else type(exc).__name__, self.dsn)
        doing = f"building {target.index}" if target and target.index else f"`{statement[:60]}`"
        return ConnectionLost(f"the connection to {safe_dsn(self.dsn)} was lost while "
                              f"{doing} ({why}); {self._left_after_loss(target)}",
                              hint="rerun `perfkit apply-indexes` once the database answers: "
                                   "each step is checked again")

    def _left_after_loss(self, target: Target | None) -> str:
        """What the lost statement left, read on a new connection; a server restarting (the
        usual cause) is given LEFT_CHECK_S to answer, so the message can be exact."""
        if target is None or target.index is None:
            return "this statement changed nothing"
        name = sql.Identifier(target.schema, target.index).as_string()
        deadline = time.monotonic() + LEFT_CHECK_S
        while True:
            try:
                with check_connection(self.dsn) as conn:
                    found = catalog.find_index(conn, target.schema, target.index)
                break
            except psycopg.Error:
                if time.monotonic() >= deadline:
                    return (f"what it left could not be read (the database does not answer): "
                            f"if {target.schema}.{target.index} exists INVALID, the next "
                            f"`perfkit apply-indexes` drops and rebuilds it, or DROP INDEX "
                            f"CONCURRENTLY IF EXISTS {name}")
                time.sleep(0.25)
        if found is None or found.valid:
            return "nothing was left half-done"
        return (f"index {target.schema}.{target.index} is left INVALID (every write still "
                f"maintains it): the next `perfkit apply-indexes` drops and rebuilds it, or "
                f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    def _timeout(self, statement: str, waited: str, left: str, seen: Seen) -> LockTimeout:
        tries = self.lock_retries + 1
        attempts = "1 try" if tries == 1 else f"{tries} tries"
        pids = sorted({b.pid for b in seen.blockers})
        if pids:
            hint = (f"end or commit session(s) {', '.join(map(str, pids))} (a stuck one: "
                    f"SELECT pg_terminate_backend({pids[0]})), then rerun; or raise "
                    "--lock-timeout")
        else:
            hint = "a long transaction held the table; retry later or raise --lock-timeout"
        return LockTimeout(f"no lock for `{statement[:80]}` after {attempts} of "
                           f"{self.lock_timeout_s:g} s: {waited}; {left}", hint=hint)


def _failed(statement: str, exc: psycopg.Error, dsn: str, left: str) -> Exception:
    text = str(exc).strip()
    message = scrub(text.splitlines()[0] if text else type(exc).__name__, dsn)
    state = exc.sqlstate or ""
    error_class = CheckFailed if state.startswith(("22", "23")) else Unreachable
    hint = ("building an index needs the table's owner (or a member of its role)"
            if state == "42501" else None)
    return error_class(f"`{statement[:80]}` failed: {message}; {left}", hint=hint)
