from __future__ import annotations

import io
import threading
import time
from pathlib import Path

from perfkit.logs import count_cache_lines, follow_lines, parse_line

SEED_LINES = [
    "2026-11-25 10:00:00,001 INFO app.cache: Cache MISS: auth_user:a1b2c3d4e5f6...",
    "2026-11-25 10:00:00,002 INFO app.cache: Cache HIT: auth_user:a1b2c3d4e5f6...",
    "backend-1  | INFO:     Cache HIT: conversation:550e8400-e29b-41d4-a716-446655440000",
    'backend-1  | {"level": "info", "message": "Cache HIT: bot_profile:account_123"}',
    '{"ts": "2026-11-25T10:00:00Z", "msg": "Cache MISS: bot_profile:account_7"}',
    "backend_1  | 2026-11-25 10:00:01 INFO Cache HIT: session:xyz",
    "INFO: 127.0.0.1:5000 - GET /auth/me 200 OK",
    "Cache HITCH is not a cache line",
]


def test_seed_formats_with_prefixes_and_json_are_counted_per_family() -> None:
    stats = count_cache_lines(SEED_LINES).to_json()
    families = {f["family"]: f for f in stats["families"]}  # type: ignore[attr-defined]
    assert families["auth_user"]["hits"] == 1 and families["auth_user"]["misses"] == 1
    assert families["auth_user"]["hit_ratio"] == 0.5
    assert families["conversation"]["hits"] == 1
    assert families["bot_profile"]["hits"] == 1 and families["bot_profile"]["misses"] == 1
    assert families["session"]["hits"] == 1  # any other prefix is a family of its own
    assert stats["total"] == {"hits": 4, "misses": 2, "lookups": 6,  # type: ignore[comparison-overlap]
                              "hit_ratio": round(4 / 6, 4)}
    assert stats["lines"] == len(SEED_LINES)


def test_json_key_does_not_swallow_quotes() -> None:
    lookup = parse_line('{"message": "Cache MISS: conversation:42"}')
    assert lookup is not None and lookup.key == "conversation:42" and not lookup.hit


def test_follow_counts_only_new_lines_and_stops_in_time(tmp_path: Path) -> None:
    log = tmp_path / "backend.log"
    log.write_text("Cache HIT: old:1\n")

    def writer() -> None:
        time.sleep(0.3)
        with log.open("a") as out:
            out.write("Cache MISS: auth_user:abc...\nCache HIT: auth_user:abc...\n")

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.monotonic()
    with log.open() as stream:
        stats = count_cache_lines(follow_lines(stream, 1.0, poll_s=0.05))
    thread.join()
    assert time.monotonic() - started < 3
    assert set(stats.families) == {"auth_user"}
    assert stats.total.lookups == 2


def test_follow_on_an_empty_stream_ends() -> None:
    assert list(follow_lines(io.StringIO(""), 0.2, poll_s=0.05)) == []
