"""Scenario files: typed steps, ${ENV}, placeholders, extraction; errors name file:line."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from perfkit.bench.scenario import (
    Extractor,
    Scenario,
    find_scenario,
    load_scenario,
    parse_scenario,
    render,
    render_body,
)
from perfkit.errors import UsageError

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios"

GOOD = """\
name: demo
headers:
  Authorization: "Bearer {token}"
  X-Env: "${PERFKIT_TEST_ENV:-fallback}"
cache: {key: "{token}", ttl: 90s}
steps:
  - path: /accounts
    once: true
    extract: {account_id: "$[0].id"}
    cache: none
  - path: /conversations?account_id={account_id}
    extract: {conversation_id: "$[*].id"}
    think: 20ms
  - method: post
    path: /messages/{conversation_id}
    json: {account: "{account_id}", text: "hi {account_id}"}
    expect: [200, 201]
"""


def _error(text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(UsageError) as info:
        parse_scenario(text, file="s.yaml", environ=environ or {})
    return str(info.value)


def test_a_scenario_is_typed() -> None:
    sc = parse_scenario(GOOD, file="s.yaml", environ={})
    assert [s.route for s in sc.steps] == ["GET /accounts", "GET /conversations",
                                           "POST /messages/{conversation_id}"]
    first, second, third = sc.steps
    assert first.once and first.cache.key is None
    assert second.cache.key == "{token}" and second.cache.ttl_s == 90.0
    assert second.think_s == pytest.approx(0.02)
    assert third.expect == (200, 201) and third.ok(201) and not third.ok(204)
    assert third.headers["X-Env"] == "fallback"
    assert third.line == 14
    assert sc.uses_token


def test_environment_substitution() -> None:
    sc = parse_scenario(GOOD, file="s.yaml", environ={"PERFKIT_TEST_ENV": "from-env"})
    assert sc.steps[0].headers["X-Env"] == "from-env"
    text = "headers: {Authorization: 'Bearer ${MY_TOKEN}'}\nsteps:\n  - path: /auth/me\n"
    assert "s.yaml:1: headers.Authorization: environment variable MY_TOKEN is not set" in (
        _error(text))


@pytest.mark.parametrize(("text", "expected"), [
    ("steps:\n  - path: /a\n  - path: /b\n    method: GTE\n",
     "s.yaml:4: steps[1].method: unknown method 'GTE'"),
    ("steps:\n  - path: /a\n  - path: /messages/{conversation_id}\n",
     "s.yaml:3: steps[1]: placeholder {conversation_id} is not extracted by an earlier step"),
    ("steps:\n  - path: /a\n    extract:\n      id: \"0.id\"\n",
     "s.yaml:4: steps[0].extract.id: bad path '0.id'"),
    ("steps:\n  - path: a\n", "s.yaml:2: steps[0].path: required, a string starting with /"),
    ("steps:\n  - path: /a\n    think: soon\n", "s.yaml:3: steps[0].think: invalid duration"),
    ("steps:\n  - path: /a\n    expect: 999\n", "s.yaml:3: steps[0].expect:"),
    ("steps:\n  - path: /a\n    colour: red\n", "s.yaml:3: steps[0].colour: unknown field"),
    ("name: x\n", "s.yaml:1: steps: required"),
    ("steps: [\n", "s.yaml:2: invalid YAML"),
    ("steps:\n  - path: /a\n    cache: {ttl: 5 minutes}\n", "s.yaml:3: steps[0].cache.ttl"),
])
def test_validation_errors_name_file_line_and_field(text: str, expected: str) -> None:
    assert expected in _error(text)


def test_extractor() -> None:
    doc = {"items": [{"id": 1}, {"id": 2}, {"id": 3}]}
    rng = random.Random(1)
    assert Extractor.parse("$.items[0].id").apply(doc, rng) == 1
    assert Extractor.parse("$.items[-1].id").apply(doc, rng) == 3
    assert Extractor.parse("$.items[*].id").apply(doc, rng) in (1, 2, 3)
    assert Extractor.parse("$[0]").apply(["a"], rng) == "a"
    with pytest.raises(KeyError):
        Extractor.parse("$.nope").apply(doc, rng)
    with pytest.raises(IndexError):
        Extractor.parse("$[0]").apply([], rng)
    with pytest.raises(ValueError):
        Extractor.parse("items[0]")


def test_rendering() -> None:
    assert render("/m/{id}?q={q}", {"id": "a b", "q": 1}, url=True) == "/m/a%20b?q=1"
    assert render("Bearer {token}", {"token": "t"}) == "Bearer t"
    body = render_body({"n": "{n}", "s": "n={n}", "l": ["{n}"]}, {"n": 7})
    assert body == {"n": 7, "s": "n=7", "l": [7]}


def test_path_target_scenario() -> None:
    sc = Scenario.for_path("/auth/me?x=1")
    assert sc.steps[0].route == "GET /auth/me"
    assert sc.steps[0].headers == {"Authorization": "Bearer {token}"}
    with pytest.raises(UsageError):
        Scenario.for_path("auth/me")


@pytest.mark.parametrize("name", ["auth_me", "conversations", "messages", "webhook", "runbook"])
def test_shipped_scenarios_load(name: str) -> None:
    path = find_scenario(name)
    assert path is not None and path.resolve() == (SHIPPED / f"{name}.yaml").resolve()
    sc = load_scenario(path, environ={})
    assert sc.name == name and sc.steps
    assert not re.search(r"demo-[0-9a-f]{8}", path.read_text())  # no literal token


def test_runbook_replays_the_seed_mix() -> None:
    sc = load_scenario(SHIPPED / "runbook.yaml", environ={})
    assert [s.route for s in sc.steps] == [
        "GET /auth/me", "GET /accounts", "GET /conversations",
        "GET /messages/{conversation_id}", "POST /webhooks/whatsapp"]


def test_extra_headers_go_on_every_step_and_a_token_header_replaces_the_bearer_one() -> None:
    from perfkit.bench.scenario import DEFAULT_HEADERS, Scenario

    path = Scenario.for_path("/notes")
    assert path.steps[0].headers == DEFAULT_HEADERS
    keyed = path.with_headers({"X-API-Key": "{token}"})
    assert keyed.steps[0].headers == {"X-API-Key": "{token}"} and keyed.uses_token
    both = path.with_headers({"X-Tenant": "acme"})
    assert both.steps[0].headers == {**DEFAULT_HEADERS, "X-Tenant": "acme"}
    assert path.with_headers({}) is path
