from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from perfkit.cachestats.logs import (
    DEMO_PATTERN,
    NO_KEY_FAMILY,
    CacheLookup,
    choose_pattern,
    count_cache_lines,
    follow_lines,
    parse_line,
    with_flags,
)
from perfkit.errors import UsageError

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


# -- other caches: a regex with named groups, presets, JSON fields ---------------------------------
def test_custom_regex_maps_its_words_and_reports_unknown_ones() -> None:
    pattern = with_flags(DEMO_PATTERN, regex=r"cache\.(?P<result>hit|miss|bypass) (?P<key>\S+)",
                         hit=["HIT"], miss=["miss"])
    stats = count_cache_lines([
        "web-1  | 12:00:01 DEBUG cache.hit user:1",
        "web-1  | 12:00:02 DEBUG cache.miss user:2",
        "12:00:03 DEBUG cache.hit session:9",
        "12:00:04 DEBUG cache.bypass user:3",
        "Cache HIT: auth_user:1",  # the demo's line is not this app's
    ], pattern)
    assert {n: (s.hits, s.misses) for n, s in stats.families.items()} == {
        "user": (1, 1), "session": (1, 0)}
    assert stats.unknown_results == {"bypass": 1}
    assert stats.to_json()["pattern"] == "custom"


def test_a_regex_without_a_result_group_is_refused_with_the_fix() -> None:
    with pytest.raises(UsageError, match="no group named `result`"):
        with_flags(DEMO_PATTERN, regex=r"cache (hit|miss)")
    with pytest.raises(UsageError, match="invalid regex"):
        with_flags(DEMO_PATTERN, regex=r"cache (?P<result>hit")


def test_a_regex_without_a_key_counts_one_family() -> None:
    pattern = with_flags(DEMO_PATTERN, regex=r"(?P<result>HIT|MISS) from cache")
    stats = count_cache_lines(["HIT from cache", "MISS from cache", "HIT from cache"], pattern)
    assert list(stats.families) == [NO_KEY_FAMILY]
    assert stats.total.hits == 2 and stats.total.misses == 1


def test_json_lines_with_configured_fields_behind_compose_prefixes() -> None:
    pattern = with_flags(DEMO_PATTERN, json_result="cache.status", json_key="cache.key")
    stats = count_cache_lines([
        '{"level": "debug", "cache": {"status": "HIT", "key": "org:1"}}',
        'api-1  | {"cache": {"status": "miss", "key": "org:2"}}',
        '{"cache": {"status": "hit", "key": "plan:7"}}',
        '{"level": "info", "msg": "request done"}',  # no cache field: not a lookup
        "not json at all",
    ], pattern)
    assert {n: (s.hits, s.misses) for n, s in stats.families.items()} == {
        "org": (1, 1), "plan": (1, 0)}
    boolean = with_flags(DEMO_PATTERN, json_result="cached")
    assert parse_line('{"cached": true, "path": "/a"}', boolean) == CacheLookup(True, "")
    assert parse_line('{"cached": false}', boolean) == CacheLookup(False, "")


def test_json_message_field_is_configurable() -> None:
    config = {"cache": {"presets": {"structlog": {"json_message": "event"}}}}
    pattern = choose_pattern(config)
    line = '{"event": "Cache HIT: org:1", "message": "unrelated"}'
    assert parse_line(line, pattern) == CacheLookup(True, "org:1")


def test_presets_from_perfkit_yaml_the_default_and_errors() -> None:
    config = {"cache": {"preset": "app", "presets": {
        "app": {"pattern": r"(?P<result>HIT|MISS|STALE) (?P<key>\S+)", "hit": ["hit", "stale"]},
        "other": {"json_result": "cache_hit"}}}}
    app = choose_pattern(config)
    assert app.name == "app" and parse_line("STALE org:1", app) == CacheLookup(True, "org:1")
    assert choose_pattern(config, preset="other").json_result == "cache_hit"
    assert choose_pattern(config, preset="demo") is DEMO_PATTERN
    only = {"cache": {"presets": {"solo": {"pattern": r"(?P<result>hit) (?P<key>\w+)"}}}}
    assert choose_pattern(only).name == "solo"  # the only preset is the default
    assert choose_pattern({}) is DEMO_PATTERN
    with pytest.raises(UsageError, match=r"no cache preset named 'nope'.*known: demo, app"):
        choose_pattern(config, preset="nope")
    with pytest.raises(UsageError, match=r"cache.presets.bad.pattern: invalid regex"):
        choose_pattern({"cache": {"presets": {"bad": {"pattern": "(?P<result>"}}}})
    with pytest.raises(UsageError, match="unknown key 'regex'"):
        choose_pattern({"cache": {"presets": {"bad": {"regex": "x"}}}})
