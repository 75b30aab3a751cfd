"""The seed backend's TTL caches, logging `Cache HIT: key` / `Cache MISS: key` as it does."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")
log = logging.getLogger("app.cache")


class TTLCache(Generic[V]):
    """A dict with per-entry expiry; `enabled=False` is the seed's "before" (no cache, no logs)."""

    def __init__(self, ttl_s: float, *, enabled: bool = True, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.enabled = enabled
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str, shown: str | None = None) -> V | None:
        """The cached value or None; logs HIT/MISS with `shown` (a safe form of the key)."""
        if not self.enabled:
            return None
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and entry[0] > now:
            log.info("Cache HIT: %s", shown or key)
            return entry[1]
        if entry is not None:
            del self._entries[key]
        log.info("Cache MISS: %s", shown or key)
        return None

    def put(self, key: str, value: V) -> None:
        if not self.enabled:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (self._clock() + self.ttl_s, value)

    def clear(self) -> None:
        self._entries.clear()
