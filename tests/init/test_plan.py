"""`perfkit init`'s plan from OpenAPI documents of several shapes: which routes run, where
their ids come from, what stays commented, and that the scenario parses as written."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from perfkit.bench.scenario import parse_scenario
from perfkit.errors import UsageError
from perfkit.init.auth import login_path
from perfkit.init.openapi import load_spec, read_spec
from perfkit.init.plan import StepState, plan_init, singular
from perfkit.init.scaffold import scenario_text
from tests.support.openapi_docs import CONDUIT_API, OAUTH2_API, REFSERVER_API, SHOP_API


def _plan(document: dict[str, object], origin: str | None = None):  # type: ignore[no-untyped-def]
    return plan_init(read_spec(document, origin), "api.json")


def _steps(plan) -> dict[str, tuple[StepState, str, dict[str, str]]]:  # type: ignore[no-untyped-def]
    return {s.operation.route: (s.state, s.path, s.extract) for s in plan.steps}


def test_a_path_id_comes_from_the_list_route_placed_before_it() -> None:
    plan = _plan(REFSERVER_API)
    steps = _steps(plan)
    assert steps["GET /items"] == (StepState.RUNS, "/items", {"item_id": "$[*].id"})
    assert steps["GET /items/{id}"][:2] == (StepState.RUNS, "/items/{item_id}")
    assert steps["GET /sleep/{ms}"][:2] == (StepState.RUNS, "/sleep/2")  # the example
    assert steps["GET /status/{code}"][0] is StepState.COMMENTED
    assert steps["POST /echo"][0] is StepState.COMMENTED
    order = [s.operation.route for s in plan.steps if s.state is StepState.RUNS]
    assert order.index("GET /items") < order.index("GET /items/{id}")
    assert plan.auth.headers == {"Authorization": "Bearer {token}"}


def test_the_scenario_parses_as_written_with_only_gets_and_server_route_names() -> None:
    plan = _plan(REFSERVER_API)
    scenario = parse_scenario(scenario_text(plan), environ={})
    assert {s.method for s in scenario.steps} == {"GET"}  # never a write uncommented
    assert [s.route for s in scenario.steps] == [
        "GET /fast", "GET /items", "GET /items/{id}", "GET /sleep/{ms}"]
    text = scenario_text(plan)
    assert "#  - path: \"/echo\"" in text and "#    method: POST" in text
    assert "replace {code} with a value" in text
    assert "PERFKIT_TOKEN" in text and "--tokens-file" in text
    tail = text.split("# Not run as written")[1].splitlines()[1:]
    body = "\n".join(line[1:] for line in tail if not line.startswith("#   #"))
    uncommented = yaml.safe_load("steps:\n" + body)["steps"]  # removing the # gives YAML
    assert [s.get("method", "GET") for s in uncommented] == ["GET", "POST"]


def test_paginated_lists_other_id_fields_chains_and_an_api_key() -> None:
    plan = _plan(SHOP_API)
    steps = _steps(plan)
    # the first user, as its orders list feeds a later route; a random order of it
    assert steps["GET /users"][2] == {"user_id": "$.items[0].user_id"}
    assert steps["GET /users/{user_id}"][:2] == (StepState.RUNS, "/users/{user_id}")
    # GET /orders matches best but needs ?q=: the next list route of orders is used
    assert steps["GET /users/{user_id}/orders"][2] == {"order_id": "$[*].id"}
    assert steps["GET /orders/{order_id}"][0] is StepState.RUNS
    assert steps["GET /orders"][0] is StepState.COMMENTED
    assert steps["GET /reports"][1] == "/reports?period=day"  # the first enum value
    assert steps["GET /things/{thing_id}"][0] is StepState.COMMENTED
    assert steps["DELETE /users/{user_id}"][0] is StepState.COMMENTED
    assert plan.auth.headers == {"X-API-Key": "{token}"}
    assert plan.base_url == "https://shop.example.com/api/v2" and plan.name == "shop_orders_users"
    scenario = parse_scenario(scenario_text(plan), environ={})
    routes = [s.route for s in scenario.steps]
    assert routes.index("GET /users") < routes.index("GET /users/{user_id}/orders") < (
        routes.index("GET /orders/{order_id}"))
    assert all(s.headers == {"X-API-Key": "{token}"} for s in scenario.steps)


def test_an_api_key_in_the_query_and_no_security_at_all() -> None:
    in_query = copy.deepcopy(SHOP_API)
    in_query["components"]["securitySchemes"]["key"] = {"type": "apiKey", "in": "query",
                                                        "name": "api_key"}
    steps = _steps(_plan(in_query))
    assert steps["GET /reports"][1] == "/reports?period=day&api_key={token}"
    public = copy.deepcopy(REFSERVER_API)
    del public["security"], public["components"]["securitySchemes"]
    plan = _plan(public)
    assert plan.auth.headers == {} and "headers: {}" in scenario_text(plan)
    assert parse_scenario(scenario_text(plan), environ={}).steps[0].headers == {}


def test_documents_it_cannot_read(tmp_path: Path) -> None:
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0", "paths": {}}')
    with pytest.raises(UsageError, match="only OpenAPI 3"):
        load_spec(str(swagger))
    with pytest.raises(UsageError, match="not an OpenAPI document"):
        (tmp_path / "x.yaml").write_text("a: 1\n")
        load_spec(str(tmp_path / "x.yaml"))
    with pytest.raises(UsageError, match="cannot read"):
        load_spec(str(tmp_path / "missing.json"))


@pytest.mark.parametrize(("word", "one"), [("items", "item"), ("categories", "category"),
                                           ("addresses", "address"), ("boxes", "box"),
                                           ("status", "statu"), ("data", "data")])
def test_singular(word: str, one: str) -> None:
    assert singular(word) == one


def test_an_oauth2_password_flow_becomes_a_login_step_at_its_token_url() -> None:
    plan = _plan(OAUTH2_API)
    assert plan.auth.login_path == "/token" and plan.to_json()["login"] == "/token"
    assert "POST /token" not in _steps(plan)  # the login, not a write
    scenario = parse_scenario(scenario_text(plan), environ={})
    assert scenario.login is not None and scenario.login.route == "POST /token"
    assert scenario.steps[0].headers == {"Authorization": "Bearer {token}"}


@pytest.mark.parametrize(("token_url", "base", "path"), [
    ("token", None, "/token"), ("/auth/token", "http://h", "/auth/token"),
    ("https://h/api/v1/token?x=1", "https://h/api/v1", "/token?x=1"),
])
def test_a_token_url_is_a_path_on_the_base_url(token_url: str, base: str | None,
                                               path: str) -> None:
    assert login_path(token_url, base) == path


def test_nested_list_items_give_ids_and_instrumentation_is_left_out() -> None:
    plan = _plan(CONDUIT_API)
    steps = _steps(plan)
    assert steps["GET /articles"] == (StepState.RUNS, "/articles", {
        "article_slug": "$.articles[*].slug", "username": "$.articles[*].author.username"})
    assert steps["GET /articles/{slug}"][:2] == (StepState.RUNS, "/articles/{article_slug}")
    assert steps["GET /profiles/{username}"][:2] == (StepState.RUNS, "/profiles/{username}")
    assert plan.left_out == ("GET /metrics", "GET /healthz")
    assert not {"GET /metrics", "GET /healthz"} & set(steps)
    text = scenario_text(plan)
    assert "# Left out (instrumentation, not the app's traffic): GET /metrics, GET /healthz" in (
        text)
    scenario = parse_scenario(text, environ={})
    assert "GET /metrics" not in [s.route for s in scenario.steps]


def test_an_api_key_header_says_its_form_is_the_users_to_give() -> None:
    plan = _plan(CONDUIT_API)
    # the scheme's description shows `Token xxxxxx...`: that form is written, and said
    assert plan.auth.headers == {"Authorization": "Token {token}"}
    assert "an API key in the Authorization header" in plan.auth.described
    text = scenario_text(plan)
    assert "perfkit bench conduit_api -H 'Authorization: Token {token}'" in text
    assert parse_scenario(text, environ={}).steps[0].headers == {
        "Authorization": "Token {token}"}
    bare = copy.deepcopy(CONDUIT_API)
    del bare["components"]["securitySchemes"]["Token"]["description"]
    plan = _plan(bare)
    assert plan.auth.headers == {"Authorization": "{token}"}  # no prefix guessed
    assert "takes the key in the form your app wants" in scenario_text(plan)
    assert "-H 'Authorization: Token {token}'" in scenario_text(plan)  # shown as the example
