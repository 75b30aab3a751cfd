"""What a bench saw beside the latencies: the app's replies to failed requests, the iterations
the end of the run cut short, the stretches where the backend refused or closed connections
(killed, restarting) or answered nothing at all until the requests timed out (hung), and
whether the target listens (without sending it a request).

bench/engine.py feeds these while it runs; the Run record (bench/record.py) keeps them, and
render/run.py says them. perfkit sends the target nothing but the scenario: reachability is
a TCP connect to its host and port, never a request of perfkit's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from perfkit.redact import redact_text

BODY_SAMPLE_CHARS = 200


def decoded(data: bytes, content_encoding: str | None, limit: int = 0) -> bytes | None:
    """A body as the app wrote it (at most `limit` bytes when given): the engine reads answers
    as sent, no decompression on the hot path, so what is read is inflated here; None when a
    compressed body does not inflate."""
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("gzip", "deflate"):
        return data
    try:
        return zlib.decompressobj(47 if encoding == "gzip" else 15).decompress(data, limit)
    except zlib.error:
        return None


def body_sample(data: bytes, content_encoding: str | None, secrets: list[str]) -> str:
    """The first 200 characters of a reply's body, decompressed when it came compressed, with
    secrets (tokens, passwords, header values, JSON token keys) masked."""
    body = decoded(data, content_encoding, 4 * BODY_SAMPLE_CHARS)
    if body is None:
        return f"({len(data)} bytes, {(content_encoding or '').strip()}, not readable)"
    text = body[:4 * BODY_SAMPLE_CHARS].decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return redact_text(text, secrets)[:BODY_SAMPLE_CHARS]


@dataclass
class Seen:
    """The accumulator: first reply body per (route, status), cut iterations per step."""

    bodies: dict[tuple[str, str], str] = field(default_factory=dict)
    cut_iterations: int = 0
    missing: Counter[str] = field(default_factory=Counter)  # route -> requests never sent

    def wants_body(self, route: str, status: str) -> bool:
        return (route, status) not in self.bodies

    def body(self, route: str, status: str, sample: str) -> None:
        self.bodies.setdefault((route, status), sample)

    def cut(self, routes_left: list[str]) -> None:
        """An iteration stopped by the end of the run before these routes were sent."""
        self.cut_iterations += 1
        self.missing.update(routes_left)


# error kinds (bench/users.py error_kind) of a connection the backend did not serve
CONNECTION_KINDS = {"refused": "refused", "connect": "refused", "disconnected": "closed",
                    "reset": "closed"}
NO_ANSWER_KINDS = frozenset({*CONNECTION_KINDS, "timeout", "unsent"})  # no HTTP answer came


@dataclass(frozen=True)
class Outage:
    """Connections the backend refused or closed, or requests it let time out while it
    answered no other, with no answer in between (it was killed, restarting, or hung): the
    record's `outages[]`, in seconds into the run."""

    from_s: float  # the first connection it failed (a timed-out request: when it was sent)
    to_s: float  # the last one
    back_s: float | None  # its first answer after them; None: it never answered again
    refused: int
    closed: int  # closed or reset, without an answer
    source: str | None = None  # the worker or repeat that saw it (None: the whole run)
    timed_out: int = 0  # requests sent while it answered nothing, until they timed out

    @property
    def connections(self) -> int:
        return self.refused + self.closed

    @property
    def lost(self) -> int:
        """Every request of the outage: connections failed and requests left unanswered."""
        return self.connections + self.timed_out

    def within(self, where: str) -> Outage:
        """The same outage, said to be seen by `where` (a worker, a repeat)."""
        return replace(self, source=where if self.source is None else f"{where}, {self.source}")

    def to_json(self) -> dict[str, Any]:
        return {"from_s": self.from_s, "to_s": self.to_s, "back_s": self.back_s,
                "refused": self.refused, "closed": self.closed, "timed_out": self.timed_out,
                "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outage:
        back = data.get("back_s")
        return cls(float(data["from_s"]), float(data["to_s"]),
                   None if back is None else float(back), int(data.get("refused", 0)),
                   int(data.get("closed", 0)), data.get("source"),
                   int(data.get("timed_out", 0)))


@dataclass
class Outages:
    """The accumulator: connection failures, grouped into outages that the backend's next
    answer ends. Timeouts join them when two in a row came with no answer at all while they
    waited (the backend hung: down, to its users); one alone, or one among answers, is a slow
    request. `down` is the one attribute the hot path reads."""

    windows: list[Outage] = field(default_factory=list)
    down: bool = False
    lost: int = 0  # connection failures and hung requests so far
    answer_s: float = -math.inf  # the backend's last answer
    _hung: float | None = None  # the send of a first unanswered timeout, not yet an outage
    _open: list[float] = field(default_factory=lambda: [0.0, 0.0])
    _counts: Counter[str] = field(default_factory=Counter)

    def failed(self, at_s: float, kind: str, sent_s: float | None = None) -> None:
        """A request sent at `sent_s` failed with `kind` at `at_s` s into the run (kinds other
        than a connection's and a timeout are ignored)."""
        what = CONNECTION_KINDS.get(kind)
        if kind == "timeout" and sent_s is not None and self.answer_s < sent_s:
            if not self.down and self._hung is None:
                self._hung = sent_s  # alone, a slow request; a second one makes it a hang
                return
            what, at_s = "timed_out", sent_s  # hung since (at least) its send
        if what is None:
            return
        self._count(at_s, what)
        if self._hung is not None:  # the first unanswered timeout was the hang's start
            self._count(self._hung, "timed_out")
            self._hung = None

    def _count(self, at_s: float, what: str) -> None:
        self.lost += 1
        if not self.down:
            self.down, self._open, self._counts = True, [at_s, at_s], Counter()
        self._open = [min(self._open[0], at_s), max(self._open[1], at_s)]
        self._counts[what] += 1

    def answered(self, at_s: float) -> None:
        """The backend answered a request (any status) at `at_s`: an outage ends."""
        self.answer_s, self._hung = at_s, None
        if self.down:
            self._end(at_s)

    def _end(self, back_s: float | None) -> None:
        start, end = (round(t, 3) for t in self._open)
        self.windows.append(Outage(start, end, None if back_s is None else round(back_s, 3),
                                   self._counts["refused"], self._counts["closed"],
                                   timed_out=self._counts["timed_out"]))
        self.down = False

    def close(self) -> list[Outage]:
        """Every outage; one still going at the end has no `back_s`."""
        if self.down:
            self._end(None)
        return list(self.windows)


@dataclass(frozen=True)
class ErrorBody:
    """A sample of what the app answered to a failed request: the record's `error_bodies[]`."""

    route: str
    status: str
    body: str

    def to_json(self) -> dict[str, Any]:
        return {"route": self.route, "status": self.status, "body": self.body}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ErrorBody:
        return cls(str(data["route"]), str(data["status"]), str(data["body"]))


def error_bodies(seen: Seen) -> list[ErrorBody]:
    return [ErrorBody(route, status, body) for (route, status), body in seen.bodies.items()]


def merge_bodies(lists: list[list[ErrorBody]]) -> list[ErrorBody]:
    """One sample per (route, status): the first run's wins."""
    out: dict[tuple[str, str], ErrorBody] = {}
    for items in lists:
        for item in items:
            out.setdefault((item.route, item.status), item)
    return list(out.values())


def split_target_url(target: str) -> tuple[str, str] | None:
    """`http(s)://host:port/path?query` as (base URL, path with its query), as hey and k6
    users type a target; None when `target` is not such a URL."""
    if not target.lower().startswith(("http://", "https://")):
        return None
    parts = urlsplit(target)
    if not parts.hostname:
        return None
    base = f"{parts.scheme}://{parts.netloc}"
    path = parts.path or "/"
    return base, path + (f"?{parts.query}" if parts.query else "")


async def tcp_connect(base_url: str, timeout_s: float) -> None:
    """Open and close a TCP connection to the base URL's host and port: the target listens,
    and no request of perfkit's own lands in its logs or metrics. OSError or TimeoutError
    when it does not."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname or "localhost", port), timeout=timeout_s)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
