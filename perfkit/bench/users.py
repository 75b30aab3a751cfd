"""What one request of the engine is: a virtual user, its prepared requests, the budget.

Kept apart from the loops of bench/engine.py: these are the per-request pieces (what goes on
the wire for a user, which phase a cache header says, how an error is named), the runner is
when and by whom they are sent.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from perfkit.bench import pacer
from perfkit.bench.credentials import Credential
from perfkit.bench.evidence import decoded
from perfkit.bench.options import MAX_REQUESTS, BenchOptions
from perfkit.bench.pacer import Segment
from perfkit.bench.record import Phase
from perfkit.bench.scenario import Step, render, render_body
from perfkit.bench.transport import TransportError


@dataclass(frozen=True)
class Prepared:
    """A step's request for one user: what goes on the wire, and its cache key. The URL is
    parsed once (yarl), not on every request."""

    url: URL
    headers: dict[str, str]
    body: bytes | None
    key: str | None


@dataclass
class VirtualUser:
    """A virtual user: its token and the values its steps extracted. A user with a
    credential gets its token by logging in (bench/login.py): `generation` counts its
    logins."""

    token: str
    rng: random.Random
    variables: dict[str, Any] = field(default_factory=dict)
    did_once: set[int] = field(default_factory=set)
    prepared: dict[int, Prepared] = field(default_factory=dict)
    credential: Credential | None = None
    generation: int = 0
    login_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)


def segment_users(options: BenchOptions, segment: Segment) -> list[VirtualUser]:
    """This segment's share of the users: one per token, or per credential (logged in
    later), or one with no token at all."""
    pool: tuple[str | Credential, ...] = options.credentials or options.tokens or ("",)
    users = []
    for u in segment.users(len(pool)):
        rng, item = random.Random(options.seed * 7919 + u), pool[u]
        users.append(VirtualUser(item, rng) if isinstance(item, str) else
                     VirtualUser("", rng, credential=item))
    return users


class Budget:
    """The requests and the time a segment may still use."""

    def __init__(self, limit: int | None, deadline: float) -> None:
        self.limit = limit
        self.deadline = deadline
        self.started = 0

    def left(self, *, scheduled: bool = False) -> bool:
        if self.limit is not None and self.started >= self.limit:
            return False
        if self.started >= MAX_REQUESTS:
            return False
        # A scheduled (open-loop) request was due before the end: it is sent however late,
        # or its latency would be omitted exactly when the system is slowest.
        return scheduled or time.perf_counter() < self.deadline

    def take(self, *, scheduled: bool = False) -> bool:
        if not self.left(scheduled=scheduled):
            return False
        self.started += 1
        return True


def segment_limit(limit: int | None, segment: Segment) -> int | None:
    """This segment's share of -n: the whole count dealt round-robin."""
    if limit is None:
        return None
    return pacer.split_closed_loop(limit, segment.count)[segment.index]


def prepare(base: str, step: Step, user: VirtualUser) -> Prepared:
    """URL, headers, body and cache key of a step for a user (KeyError: a missing value)."""
    variables = {**user.variables, "token": user.token}
    headers = {k: render(v, variables) for k, v in step.headers.items()}
    if not user.token:
        headers = {k: v for k, v in headers.items() if v.strip() != "Bearer"}
    body = None
    if step.json_body is not None:
        body = json.dumps(render_body(step.json_body, variables)).encode()
        headers.setdefault("Content-Type", "application/json")
    key = render(step.cache.key, variables) if step.cache.key is not None else None
    return Prepared(URL(base + render(step.path, variables, url=True)), headers, body, key)


def extract(step: Step, user: VirtualUser, data: bytes, content_encoding: str | None = None
            ) -> bool:
    """Store the values a step extracts from its JSON answer; False when one is missing."""
    try:
        body = decoded(data, content_encoding)
        if body is None:
            return False
        document = json.loads(body)
        for name, extractor in step.extract.items():
            user.variables[name] = extractor.apply(document, user.rng)
    except (ValueError, KeyError, IndexError, TypeError):
        return False
    return True


def error_kind(exc: BaseException) -> str:
    """A failed request's kind: timeout, or the transport's (refused, connect, disconnected,
    reset, malformed: bench/transport.py)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, TransportError):
        return exc.kind
    return type(exc).__name__


def header_phase(value: str | None) -> Phase | None:
    """The phase a cache header names (`HIT` warm, `MISS` cold), if it names one."""
    if value is None:
        return None
    upper = value.upper()
    return Phase.WARM if "HIT" in upper else Phase.COLD if "MISS" in upper else None
