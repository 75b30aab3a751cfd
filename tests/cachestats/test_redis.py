"""Redis INFO windows against a real redis-server: exact hits and misses, restarts refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perfkit.cachestats.redis import read_counters, redis_window
from perfkit.errors import Unreachable, UsageError
from tests.support.redis import RedisServer, running_redis


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with running_redis(tmp_path_factory.mktemp("redis")) as running:
        yield running


def lookups(server: RedisServer, hits: int, misses: int) -> None:
    """Exactly `hits` GETs of existing keys and `misses` GETs of missing ones."""
    with server.client() as client:
        client.mset({f"user:{i}": i for i in range(5)})
        for i in range(hits):
            assert client.get(f"user:{i % 5}") is not None
        for i in range(misses):
            assert client.get(f"absent:{i}") is None


def test_the_window_counts_exactly_the_lookups_made_in_it(server: RedisServer) -> None:
    lookups(server, 4, 2)  # before the window: not counted
    start = read_counters(server.url)
    lookups(server, 37, 11)
    with server.client() as client:  # a key that expires before it is read: a miss
        client.set("session:1", "x", px=20)
        time.sleep(0.1)
        assert client.get("session:1") is None
    window = redis_window(server.url, start, read_counters(server.url))
    assert (window.total.hits, window.total.misses) == (37, 12)
    assert window.delta("expired_keys") == 1 and window.delta("evicted_keys") == 0
    data = window.to_json()
    assert data["schema"] == "perfkit.cache-stats/1" and data["source"] == "redis"
    assert data["total"] == {"hits": 37, "misses": 12, "lookups": 49,
                             "hit_ratio": round(37 / 49, 4)}


def test_counters_that_go_back_give_no_figure(server: RedisServer) -> None:
    lookups(server, 3, 1)
    start = read_counters(server.url)
    with server.client() as client:
        client.config_resetstat()
    with pytest.raises(Unreachable, match="went back during the window"):
        redis_window(server.url, start, read_counters(server.url))


def test_a_password_is_used_and_never_shown(tmp_path: Path) -> None:
    with running_redis(tmp_path, password="s3cret-pass") as guarded:
        counters = read_counters(guarded.url)
        window = redis_window(guarded.url, counters, counters)
        assert "s3cret-pass" not in str(window.to_json())
        wrong = guarded.url.replace("s3cret-pass", "wrong-pass")
        with pytest.raises(Unreachable) as refused:
            read_counters(wrong)
        assert "wrong-pass" not in str(refused.value) and "password" in str(refused.value)
        with pytest.raises(Unreachable, match=r"NOAUTH|password"):
            read_counters(guarded.url.replace(":s3cret-pass@", ""))


def test_unreachable_and_malformed_urls() -> None:
    with pytest.raises(Unreachable, match="unreachable"):
        read_counters("redis://127.0.0.1:1/0")
    with pytest.raises(UsageError, match="not a Redis URL"):
        read_counters("redis://127.0.0.1:6379/notadb")
