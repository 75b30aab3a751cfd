"""Cache HIT/MISS log lines (the seed's `Cache HIT: auth_user:a1b2…`) counted per key family.

Tolerates what real log pipelines add around the message: docker-compose prefixes
(`backend-1  | …`), timestamps and levels, and JSON log lines (`{"message": "Cache HIT: …"}`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_CACHE_LINE = re.compile(r"Cache (?P<outcome>HIT|MISS)\s*:\s*(?P<key>[^\s\"',}]+)")
_JSON_MESSAGE_FIELDS = ("message", "msg", "log", "event", "text")


@dataclass(frozen=True)
class CacheLookup:
    hit: bool
    key: str

    @property
    def family(self) -> str:
        """`auth_user` of `auth_user:a1b2…`; keys without a colon are their own family."""
        return self.key.split(":", 1)[0] if ":" in self.key else self.key


@dataclass
class FamilyStats:
    hits: int = 0
    misses: int = 0
    keys: set[str] = field(default_factory=set)

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float:
        return self.hits / self.lookups if self.lookups else float("nan")


@dataclass
class CacheStats:
    """Accumulator: add() each line, then read families/total."""

    families: dict[str, FamilyStats] = field(default_factory=dict)
    lines: int = 0

    def add(self, line: str) -> None:
        self.lines += 1
        lookup = parse_line(line)
        if lookup is None:
            return
        family = self.families.setdefault(lookup.family, FamilyStats())
        family.keys.add(lookup.key)
        if lookup.hit:
            family.hits += 1
        else:
            family.misses += 1

    @property
    def total(self) -> FamilyStats:
        total = FamilyStats()
        for stats in self.families.values():
            total.hits += stats.hits
            total.misses += stats.misses
        return total

    def to_json(self) -> dict[str, object]:
        def one(name: str, stats: FamilyStats) -> dict[str, object]:
            ratio = stats.hit_ratio
            return {"family": name, "hits": stats.hits, "misses": stats.misses,
                    "lookups": stats.lookups, "keys": len(stats.keys),
                    "hit_ratio": None if ratio != ratio else round(ratio, 4)}

        total = self.total
        return {"schema": "perfkit.cache-stats/1", "lines": self.lines,
                "families": [one(n, s) for n, s in sorted(self.families.items())],
                "total": {k: v for k, v in one("total", total).items()
                          if k not in ("family", "keys")}}


def parse_line(line: str) -> CacheLookup | None:
    """The cache lookup a log line reports, or None."""
    text = line.strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict):
            text = next((str(record[f]) for f in _JSON_MESSAGE_FIELDS if f in record), text)
    match = _CACHE_LINE.search(text)
    if match is None:
        return None
    return CacheLookup(hit=match.group("outcome") == "HIT", key=match.group("key"))


def count_cache_lines(lines: Iterable[str]) -> CacheStats:
    stats = CacheStats()
    for line in lines:
        stats.add(line)
    return stats


def follow_lines(stream: IO[str], duration_s: float, poll_s: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """Lines appended to a file from now on, until duration_s has passed (tail -f, bounded)."""
    deadline = clock() + duration_s
    stream.seek(0, 2)
    buffer = ""
    while clock() < deadline:
        chunk = stream.readline()
        if not chunk:
            time.sleep(poll_s)
            continue
        buffer += chunk
        if buffer.endswith("\n"):
            yield buffer
            buffer = ""
    if buffer:
        yield buffer


def read_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as stream:
        yield from stream
