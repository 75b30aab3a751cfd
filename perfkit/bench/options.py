"""What a bench run is asked to do (BenchOptions) and what it reports while running."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from perfkit.errors import UsageError

DEFAULT_REQUESTS = 200
MAX_REQUESTS = 10_000_000


@dataclass(frozen=True)
class BenchOptions:
    """What to send and for how long. At least one of requests/duration_s bounds the run."""

    base_url: str
    requests: int | None = None
    duration_s: float | None = None
    concurrency: int | None = None
    rate_per_s: float | None = None
    timeout_s: float = 10.0
    warmup: int = 0
    tokens: tuple[str, ...] = ()
    flush_cmd: str | None = None
    flush_every: int = 5
    cache_header: str | None = None
    max_time_s: float = 600.0
    seed: int = 1

    @property
    def open_loop(self) -> bool:
        return self.rate_per_s is not None

    def validate(self) -> None:
        if self.requests is not None and self.requests <= 0:
            raise UsageError("-n/--requests must be >= 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UsageError("--duration must be > 0")
        if self.rate_per_s is not None and self.rate_per_s <= 0:
            raise UsageError("--rate must be > 0")
        if self.concurrency is not None and self.concurrency < 1:
            raise UsageError("--concurrency must be >= 1")
        if self.timeout_s <= 0:
            raise UsageError("--timeout must be > 0")
        if self.flush_cmd and (self.open_loop or (self.concurrency or 1) > 1):
            raise UsageError("--flush-cmd needs a closed loop with --concurrency 1",
                             hint="a flush between requests would stall the other workers")


@dataclass(frozen=True)
class ProgressInfo:
    done: int
    errors: int
    elapsed_s: float
    rate_per_s: float
    p99_ms: float | None
    planned: int | None


def public_url(url: str) -> str:
    """The base URL without user info (no credentials in records)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
