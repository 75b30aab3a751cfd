"""One request of the engine: what goes on the wire for a user, which phase a cache header
names, and the budget that bounds a segment in count and time."""

from __future__ import annotations

import random
import time

from perfkit.bench.pacer import Segment
from perfkit.bench.record import Phase
from perfkit.bench.scenario import parse_scenario
from perfkit.bench.users import Budget, VirtualUser, extract, header_phase, prepare, segment_limit

SCENARIO = """
name: users
headers: {Authorization: "Bearer {token}"}
steps:
  - path: /items
    extract: {item: "$[0].id"}
  - path: /items/{item}
    method: PUT
    json: {note: "for {item}"}
"""


def test_a_step_is_prepared_with_the_users_token_and_extracted_values() -> None:
    listing, update = parse_scenario(SCENARIO, environ={}).steps
    user = VirtualUser("tok-1", random.Random(1))
    first = prepare("http://127.0.0.1:8000", listing, user)
    assert str(first.url) == "http://127.0.0.1:8000/items"
    assert first.headers["Authorization"] == "Bearer tok-1" and first.body is None
    assert extract(listing, user, b'[{"id": "a b"}, {"id": "c"}]')
    assert user.variables["item"] == "a b"
    second = prepare("http://127.0.0.1:8000", update, user)
    assert str(second.url) == "http://127.0.0.1:8000/items/a%20b"  # a path value is escaped
    assert second.body == b'{"note": "for a b"}'
    assert second.headers["Content-Type"] == "application/json"


def test_no_token_sends_no_bare_bearer_header_and_bad_json_extracts_nothing() -> None:
    listing, _ = parse_scenario(SCENARIO, environ={}).steps
    user = VirtualUser("", random.Random(1))
    assert "Authorization" not in prepare("http://h", listing, user).headers
    assert not extract(listing, user, b"not json") and "item" not in user.variables


def test_a_cache_header_names_a_phase_only_when_it_says_hit_or_miss() -> None:
    assert header_phase("HIT") is Phase.WARM and header_phase("cache-miss") is Phase.COLD
    assert header_phase("BYPASS") is None and header_phase(None) is None


def test_the_budget_stops_at_its_count_and_at_its_deadline_but_not_a_scheduled_request() -> None:
    budget = Budget(2, time.perf_counter() + 60)
    assert budget.take() and budget.take() and not budget.take() and budget.started == 2
    late = Budget(None, time.perf_counter() - 1)
    assert not late.take() and late.take(scheduled=True)  # due before the end: sent however late
    assert [segment_limit(10, Segment(i, 3)) for i in range(3)] == [4, 3, 3]
    assert segment_limit(None, Segment(0, 2)) is None
