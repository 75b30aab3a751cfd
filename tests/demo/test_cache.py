from __future__ import annotations

import logging

import pytest

from perfkit.demo.cache import TTLCache


def test_ttl_cache_hits_until_expiry_and_logs_like_the_seed(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    cache: TTLCache[str] = TTLCache(60, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="app.cache")
    assert cache.get("conversation:1") is None
    cache.put("conversation:1", "row")
    now[0] = 59.0
    assert cache.get("conversation:1") == "row"
    now[0] = 61.0
    assert cache.get("conversation:1") is None
    assert [r.getMessage() for r in caplog.records] == [
        "Cache MISS: conversation:1", "Cache HIT: conversation:1", "Cache MISS: conversation:1"]


def test_disabled_cache_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    cache: TTLCache[str] = TTLCache(60, enabled=False)
    caplog.set_level(logging.INFO, logger="app.cache")
    cache.put("k", "v")
    assert cache.get("k") is None
    assert caplog.records == []
