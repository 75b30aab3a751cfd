"""`perfkit bench` says what it saw (issue 25): the app's reply to a failure, the N+1 of a
route, the iterations the run's end cut short; it sends nothing the user did not plan.

The target is tests/thirdapp (an N+1 list route, a bearer login read on every request, an
access log of every request it received) or the reference server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bench.support import RefServer
from tests.support import CliResult

Cli = Callable[..., CliResult]
LIST = "/articles?tag=tag3"


def test_the_n_plus_one_of_a_route_is_named_with_its_calls_per_request(
        cli: Cli, third_stack: Any, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    result = cli("bench", LIST, "--base-url", third_stack.base_url,
                 "--tokens-file", str(third_stack.tokens_file), "-n", "10",
                 "--dsn", third_stack.dsn, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert ("N+1: 20.0 calls per request of GET /articles of `SELECT count(*) FROM "
            "favorites WHERE article_id = $1`") in result.stdout
    (found,) = json.loads(out.read_text())["db"]["n_plus_one"]
    assert found["calls_per_request"] == 20.0 and found["route"] == "GET /articles"
    assert found["query"] == "SELECT count(*) FROM favorites WHERE article_id = $1"
    assert "one route" in found["method"]
    # the login's lookup runs once a request: not an N+1
    assert "FROM users" not in result.stdout.split("N+1:", 1)[1].split("\n")[0]
    assert third_stack.token_secret not in result.output + out.read_text()


def test_several_routes_are_attributed_by_a_pass_after_the_run(cli: Cli, third_stack: Any,
                                                               tmp_path: Path) -> None:
    plan = tmp_path / "two.yaml"
    plan.write_text("name: two\nheaders:\n  Authorization: \"Bearer {token}\"\nsteps:\n"
                    f"  - path: {LIST}\n  - path: /articles/article-7\n")
    out = tmp_path / "run.json"
    result = cli("bench", str(plan), "--base-url", third_stack.base_url,
                 "--tokens-file", str(third_stack.tokens_file), "-n", "10",
                 "--dsn", third_stack.dsn, "--out", str(out))
    assert result.exit_code == 0, result.output
    db = json.loads(out.read_text())["db"]
    assert db["attribution"]["method"] == "pass"
    routes = {r["route"]: r for r in db["routes"]}
    # the list: the login's lookup, the list, one count per listed article (20)
    assert routes["GET /articles"]["calls_per_request"] == 22.0
    assert routes["GET /articles/article-7"]["calls_per_request"] == 2.0
    (found,) = db["n_plus_one"]
    assert found["route"] == "GET /articles" and found["calls_per_request"] == 20.0
    assert "N+1: 20.0 calls per request of GET /articles" in result.stdout


def test_a_wrong_auth_header_shows_the_apps_reply(cli: Cli, third_stack: Any,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    result = cli("bench", LIST, "--base-url", third_stack.base_url,
                 "--tokens-file", str(third_stack.tokens_file), "-n", "5",
                 "-H", "Authorization: Token {token}", "--out", str(out))
    assert result.exit_code == 1
    assert ('GET /articles answered 403: {"errors":["unsupported authorization '
            'type"]}') in result.stdout
    assert json.loads(out.read_text())["error_bodies"] == [
        {"route": "GET /articles", "status": "403",
         "body": '{"errors":["unsupported authorization type"]}'}]


def test_the_target_receives_only_the_planned_requests(cli: Cli, third_stack: Any) -> None:
    before = len(third_stack.access_lines())
    result = cli("bench", "/articles/article-42", "--base-url", third_stack.base_url,
                 "--tokens-file", str(third_stack.tokens_file), "-n", "12", "--warmup", "0")
    assert result.exit_code == 0, result.output
    # no reachability probe (GET /) of perfkit's own: a TCP connect does not reach the app
    assert third_stack.access_lines()[before:] == ["GET /articles/article-42 200"] * 12


def test_a_url_target_gives_the_base_and_the_path(cli: Cli, ref: RefServer,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    result = cli("bench", f"{ref.url}/sleep/5", "-n", "5", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["base_url"] == ref.url
    assert [r["route"] for r in data["routes"] if r["phase"] == "all"] == ["GET /sleep/5"]
    other = cli("bench", f"{ref.url}/fast", "--base-url", "http://127.0.0.1:1", "-n", "1")
    assert other.exit_code == 2 and other.stderr.startswith("error: TARGET is a URL")


CUT = """
name: cut
steps:
  - path: /fast
  - path: /sleep/150
  - path: /sleep/250
"""


def test_iterations_the_runs_end_cut_short_are_counted_and_named(
        cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    plan, out = tmp_path / "cut.yaml", tmp_path / "run.json"
    plan.write_text(CUT)
    result = cli("bench", str(plan), "--base-url", ref.url, "--rate", "20",
                 "--duration", "1s", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    cut = data["generator"]["cut_iterations"]
    # a step is not sent after the end (1 s): an iteration starting at t sends its last step
    # at t + ~0.15 s, so those of t = 0.85, 0.90, 0.95 are cut, the first on the edge (2 or 3;
    # more when the machine is slow)
    assert 2 <= cut <= 12, data["generator"]
    assert set(data["cut_routes"]) <= {"GET /sleep/150", "GET /sleep/250"}
    assert data["cut_routes"]["GET /sleep/250"] == cut
    assert f"{cut} of 20 iterations were cut short by the end of the run" in result.stdout
    sent = {r["route"]: r["count"] for r in data["routes"] if r["phase"] == "all"}
    assert f"GET /sleep/250 ({sent['GET /sleep/250']} sent, {cut} cut)" in result.stdout


def test_more_users_than_tokens_is_an_error(cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"tok-{i}-abcdef\n" for i in range(20)))
    result = cli("bench", "/fast", "--base-url", ref.url, "--tokens-file", str(tokens),
                 "--users", "25", "-n", "5")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --users 25 but {tokens} has 20 token(s): one token a virtual user: add "
        "tokens or lower --users"] or result.stderr.startswith("error: --users 25 but")
    assert len(result.stderr.strip().splitlines()) == 1
