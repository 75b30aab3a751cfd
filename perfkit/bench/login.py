"""Virtual users log in: once each before the measurement starts, again once when a request
answers 401 (its token expired).

Why before: every user of the segment logs in before the schedule's first intended start, so
no measured request waits behind a login and none is sent late because of one (the
coordinated omission a login inside the schedule would cause). Logins are timed and kept
apart, in the record's `logins` (phase `login`): never in a measured route's histograms,
errors, error budget or verdicts. A renewal mid-run: a request that gets 401 makes its user
log in again (one login, shared by the user's requests in flight) and is sent once more,
timed from that resend: the expired answer and the login belong to the login route, not to
the measured one. A second 401 is the route's error, as usual, and that step's later 401s
for that user cost no more logins (the route refuses the user, whatever the token). Neither
passwords nor tokens are ever put into a message or the record.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from yarl import URL

from perfkit.bench.credentials import Credential
from perfkit.bench.record import Phase, RouteRecord, Run
from perfkit.bench.scenario import LoginStep, Scenario, render, render_body
from perfkit.bench.transport import Transport, TransportError
from perfkit.bench.users import VirtualUser, error_kind
from perfkit.errors import PerfkitError, Unreachable, UsageError
from perfkit.redact import redact_text

SAMPLE_CHARS = 120  # of a refused login's answer, in its error line
CHECK_HINT = ("check that user's email and password in the users file, and the login step's "
              "headers (Supabase Auth wants an apikey header)")


def check_login(scenario: Scenario, credentials: Sequence[Credential]) -> None:
    """A login step and a users file go together: one without the other is a usage error."""
    if scenario.login is not None and not credentials:
        raise UsageError(f"scenario {scenario.name} logs its users in (login:) but no users "
                         "file was given", hint="--users-file users.csv, one email,password "
                                                "a line")
    if scenario.login is None and credentials:
        raise UsageError(f"--users-file needs a scenario with a login: step ({scenario.name} "
                         "has none)", hint="see `login:` in the scenario guide, or use "
                                           "--tokens-file for ready-made tokens")


@dataclass(frozen=True)
class _Failure:
    """Why one login failed: the error kind for the record and the error for the user."""

    kind: str
    error: PerfkitError


class Logins:
    """The login step of one engine: sends it for a user, keeps its records."""

    def __init__(self, step: LoginStep, base: str) -> None:
        self.step = step
        self.url = URL(base + step.path)
        self.record = RouteRecord(step.route, Phase.LOGIN)
        self.renewed = 0
        self.not_expiry: set[tuple[int, int]] = set()  # (user, step): 401 to a fresh login

    def _request(self, credential: Credential) -> tuple[dict[str, str], bytes]:
        values = {"email": credential.email, "password": credential.password}
        headers = {k: render(v, values) for k, v in self.step.headers.items()}
        # the engine reads bodies as sent (no decompression): the answer must be plain JSON
        headers.setdefault("Accept-Encoding", "identity")
        if self.step.form is not None:
            body = urlencode({k: render(v, values) for k, v in self.step.form.items()}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        else:
            body = json.dumps(render_body(self.step.json_body, values)).encode()
            headers.setdefault("Content-Type", "application/json")
        return headers, body

    def _refused(self, status: int, data: bytes, credential: Credential) -> _Failure:
        # masked whole, then cut: a cut could hide the end of a secret from the masking
        text = data[:65536].decode("utf-8", "replace")
        sample = redact_text(text, [credential.password, credential.email])
        sample = " ".join(sample.split())[:SAMPLE_CHARS]
        message = (f"login {self.step.route} answered {status} for the user of "
                   f"{credential.where}" + (f": {sample}" if sample else ""))
        if status >= 500:
            return _Failure(str(status), Unreachable(message))
        return _Failure(str(status), UsageError(message, hint=CHECK_HINT))

    def _read(self, data: bytes, user: VirtualUser) -> _Failure | None:
        """Store the extracted values (the token first); the failure when one is missing."""
        try:
            document: Any = json.loads(data)
        except ValueError:
            document = None
        for name, extractor in self.step.extract.items():
            try:
                value = extractor.apply(document, user.rng)
            except (KeyError, IndexError, TypeError):
                value = None
            if value is None or value == "":
                keys = (f" (it has: {', '.join(sorted(map(str, document))[:8])})"
                        if isinstance(document, dict) and document else
                        "" if document is not None else " (it is not JSON)")
                return _Failure("extract", UsageError(
                    f"login {self.step.route}: the answer has no {extractor.expr} for "
                    f"{{{name}}}{keys}", hint="fix extract: in the scenario's login step"))
            if name == "token":
                user.token = str(value)
            else:
                user.variables[name] = value
        return None

    async def _attempt(self, session: Transport, user: VirtualUser
                       ) -> _Failure | None:
        """One login of `user`, recorded; None when it gave the user a token."""
        assert user.credential is not None
        headers, body = self._request(user.credential)
        sent = time.perf_counter()
        failure: _Failure | None
        try:
            answer = await session.request(self.step.method, self.url, headers, body)
            data, status = answer.body, answer.status
        except (TimeoutError, TransportError) as exc:
            kind = error_kind(exc)
            failure = _Failure(kind, Unreachable(
                f"login {self.step.route} failed for the user of {user.credential.where}: "
                f"{kind}", hint="is the auth server up at the base URL?"))
        else:
            failure = (self._refused(status, data, user.credential)
                       if not self.step.ok(status) else self._read(data, user))
        if failure is not None:
            self.record.add_error(failure.kind)
            return failure
        elapsed_us = (time.perf_counter() - sent) * 1e6
        self.record.add_latency(elapsed_us, elapsed_us)
        user.generation += 1
        user.prepared.clear()  # they carry the old token
        return None

    async def first(self, session: Transport, users: Sequence[VirtualUser],
                    parallel: int, within_s: float) -> None:
        """Log every user in, `parallel` at a time, within `within_s`; the first user's
        failure (in the users file's order) is raised, before any measured request."""
        gate = asyncio.Semaphore(max(1, parallel))

        async def one(user: VirtualUser) -> _Failure | None:
            async with gate:
                return await self._attempt(session, user)

        try:
            failures = await asyncio.wait_for(asyncio.gather(
                *(one(u) for u in users if u.credential is not None)), timeout=within_s)
        except TimeoutError:
            raise Unreachable(f"the users' logins ({self.step.route}) took more than "
                              f"{within_s:g} s", hint="fewer users, or a faster auth "
                                                      "server") from None
        failed = next((f for f in failures if f is not None), None)
        if failed is not None:
            raise failed.error

    async def after_401(self, session: Transport, user: VirtualUser,
                        generation: int, step: int, *, resent: bool) -> bool:
        """A 401 to step `step`: True when it is to be sent again with a new token. A 401 to
        the resend means the step refuses this user whatever the token: its 401s are its own
        errors from then on, and cost no more logins."""
        if resent:
            self.not_expiry.add((id(user), step))
            return False
        return (id(user), step) not in self.not_expiry and await self.renew(session, user,
                                                                          generation)

    async def renew(self, session: Transport, user: VirtualUser,
                    generation: int) -> bool:
        """After a 401 on a request sent with token `generation`: True when the request
        should be sent again (a fresh token, by this call or a concurrent one)."""
        if user.credential is None:
            return False
        async with user.login_lock:
            if user.generation != generation:
                return True  # renewed meanwhile by another request of this user
            if await self._attempt(session, user) is not None:
                return False  # recorded as the login route's error; the 401 is the route's
            self.renewed += 1
            return True


    def close(self, run: Run) -> None:
        """The logins into the run record, apart from its routes; renewals said once."""
        run.logins = {self.record.route: self.record}
        if self.renewed:
            run.notes.append(f"{self.renewed} expired token(s) renewed mid-run (a 401, then a "
                             "new login): those requests were timed from their resend")
