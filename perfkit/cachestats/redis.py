"""A Redis cache's hit ratio over a window, from INFO's counters read at its start and end.

`keyspace_hits` / `keyspace_misses` count every key lookup the server answered (GET, HGET,
MGET per key...), over all its databases, since it started or since CONFIG RESETSTAT;
`evicted_keys` and `expired_keys` say why keys went missing. A window is two readings: the
difference is what happened in between. A restart (or RESETSTAT) in the window makes the
counters go back: then there is no honest figure, and perfkit says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import redis

from perfkit.cachestats.logs import SCHEMA, FamilyStats
from perfkit.errors import Unreachable, UsageError
from perfkit.redact import redact_text, redact_url

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
COUNTERS = ("keyspace_hits", "keyspace_misses", "evicted_keys", "expired_keys")
TIMEOUT_S = 5.0
_DB_PATH = re.compile(r"^/?\d*$")


def is_redis_url(source: str) -> bool:
    return source.startswith(REDIS_SCHEMES)


@dataclass(frozen=True)
class RedisCounters:
    """One reading of INFO: the counters, and who answered (run_id changes on a restart)."""

    at: datetime
    run_id: str
    keyspace_hits: int
    keyspace_misses: int
    evicted_keys: int
    expired_keys: int

    @classmethod
    def from_info(cls, info: dict[str, Any], at: datetime) -> RedisCounters:
        missing = [name for name in COUNTERS if name not in info]
        if missing:
            raise Unreachable(f"Redis INFO has no {', '.join(missing)}",
                              hint="is this a Redis server (or a proxy hiding INFO stats)?")
        return cls(at, str(info.get("run_id", "")), *(int(info[name]) for name in COUNTERS))


def _client(url: str) -> Any:
    """A client for the URL; redis-py ignores a database it cannot read: perfkit refuses it."""
    problem = None
    try:
        parts = urlsplit(url)
        if parts.scheme != "unix" and not _DB_PATH.match(parts.path):
            problem = f"the database {parts.path.lstrip('/')!r} is not a number"
        else:
            return redis.Redis.from_url(url, socket_timeout=TIMEOUT_S,
                                        socket_connect_timeout=TIMEOUT_S)
    except ValueError as exc:
        problem = redact_text(str(exc))
    raise UsageError(f"{redact_url(url)} is not a Redis URL: {problem}",
                     hint="e.g. redis://127.0.0.1:6379/0, redis://:PASSWORD@host:6379")


def read_counters(url: str) -> RedisCounters:
    """INFO now; one line naming the server (never its password) when it cannot be read."""
    client = _client(url)
    where = redact_url(url)
    try:
        info = client.info()
    except redis.AuthenticationError as exc:
        raise Unreachable(f"Redis at {where} refused the password: {redact_text(str(exc))}",
                          hint="put the user and password in the URL: "
                               "redis://USER:PASSWORD@host:port") from None
    except redis.ResponseError as exc:
        raise Unreachable(f"Redis at {where} answered INFO with an error: "
                          f"{redact_text(str(exc))}",
                          hint="NOAUTH: put the password in the URL (redis://:PASSWORD@host)"
                          ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise Unreachable(f"Redis at {where} is unreachable: {redact_text(str(exc))}",
                          hint="check the host and port, and that Redis is running") from None
    finally:
        client.close()
    return RedisCounters.from_info(info, datetime.now(UTC))


@dataclass(frozen=True)
class RedisWindow:
    """What Redis did between two readings (`perfkit.cache-stats/1`, source redis)."""

    url: str  # without credentials
    start: RedisCounters
    end: RedisCounters
    ended_by: str = "time"  # "time" | "event <id>"

    def delta(self, name: str) -> int:
        return int(getattr(self.end, name)) - int(getattr(self.start, name))

    @property
    def seconds(self) -> float:
        return (self.end.at - self.start.at).total_seconds()

    @property
    def total(self) -> FamilyStats:
        return FamilyStats(hits=self.delta("keyspace_hits"),
                           misses=self.delta("keyspace_misses"))

    def to_json(self) -> dict[str, object]:
        return {"schema": SCHEMA, "source": "redis", "redis": self.url,
                "window": {"start": self.start.at.isoformat(), "end": self.end.at.isoformat(),
                           "seconds": round(self.seconds, 3), "ended_by": self.ended_by},
                "families": [], "total": self.total.to_json(),
                "evicted_keys": self.delta("evicted_keys"),
                "expired_keys": self.delta("expired_keys")}


def redis_window(url: str, start: RedisCounters, end: RedisCounters,
                 ended_by: str = "time") -> RedisWindow:
    """The window between two readings; counters that went back mean a restart or a
    CONFIG RESETSTAT inside it: no figure rather than a wrong one."""
    where = redact_url(url)
    if start.run_id and end.run_id and start.run_id != end.run_id:
        raise Unreachable(f"Redis at {where} restarted during the window: its counters "
                           "started again from zero", hint="measure again without a restart")
    went_back = [name for name in COUNTERS if getattr(end, name) < getattr(start, name)]
    if went_back:
        raise Unreachable(f"Redis at {where}: {', '.join(went_back)} went back during the "
                           "window (CONFIG RESETSTAT?)", hint="measure again")
    return RedisWindow(where, start, end, ended_by)
