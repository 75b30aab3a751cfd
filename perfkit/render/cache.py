"""cache-stats as Documents: lookups per key family from a log, or a Redis window."""

from __future__ import annotations

from perfkit.cachestats.logs import CacheStats
from perfkit.cachestats.redis import RedisWindow
from perfkit.render.model import Document, Table, name, number
from perfkit.units import fmt_ms, fmt_share

LOG_COLUMNS = (name("family"), number("hits"), number("misses"), number("keys", drop=1),
               number("hit ratio"))
REDIS_COLUMNS = (name("window"), number("hits"), number("misses"), number("lookups", drop=2),
                 number("hit ratio"), number("evicted keys", drop=1),
                 number("expired keys", drop=1))


def log_document(stats: CacheStats, source: str) -> Document:
    rows = [[family, str(s.hits), str(s.misses), str(len(s.keys)), fmt_share(s.hit_ratio)]
            for family, s in sorted(stats.families.items())]
    total = stats.total
    rows.append(["total", str(total.hits), str(total.misses), "", fmt_share(total.hit_ratio)])
    pattern = "" if stats.pattern.name == "demo" else f", pattern {stats.pattern.name}"
    title = f"cache lookups in {source} ({stats.lines} lines{pattern})"
    return Document().table(Table.of(title, LOG_COLUMNS, rows))


def redis_document(window: RedisWindow) -> Document:
    total = window.total
    ended = "" if window.ended_by == "time" else f", ended by {window.ended_by}"
    row = [fmt_ms(window.seconds * 1000, unit=True), str(total.hits), str(total.misses),
           str(total.lookups), fmt_share(total.hit_ratio), str(window.delta("evicted_keys")),
           str(window.delta("expired_keys"))]
    return Document().table(Table.of(f"Redis {window.url}{ended}", REDIS_COLUMNS, [row]))
