"""`perfkit bench --users-file`: virtual users who log in, end to end against the reference
server's Supabase-shaped (JSON) and FastAPI-shaped (form) logins, and every bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bench.support import RefServer, password, users_csv
from tests.support import CliResult

Cli = Callable[..., CliResult]

JSON_LOGIN = """\
name: supabase
login:
  path: /auth/v1/token?grant_type=password{query}
  headers: {{apikey: "${{SUPABASE_ANON_KEY}}"}}
  json: {{email: "{{email}}", password: "{{password}}"}}
  extract: {{token: "$.access_token"}}
steps:
  - path: /me
"""
FORM_LOGIN = """\
name: fastapi
login:
  path: /token
  form: {username: "{email}", password: "{password}", grant_type: password}
  extract: {token: "$.access_token"}
steps:
  - path: /me
"""


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def _no_secrets(ref: RefServer, *texts: str) -> None:
    issued = [e["token"] for e in ref.auth_log()["logins"]]
    joined = "".join(texts)
    assert not any(password(i) in joined for i in range(40)), "a password was printed"
    assert not any(token in joined for token in issued), "a token was printed"


def _one_error_line(result: CliResult) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


def test_twenty_users_log_in_with_json_and_stay_apart_from_the_measured_routes(
        cli: Cli, ref: RefServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_ANON_KEY", "anon-key")
    scenario = _scenario(tmp_path, JSON_LOGIN.format(query=""))
    out = tmp_path / "run.json"
    result = cli("bench", str(scenario), "--base-url", ref.url, "--users-file",
                 str(users_csv(tmp_path / "users.csv", 20)), "-n", "200", "-c", "4",
                 "--out", str(out))
    assert result.exit_code == 0, result.output
    assert ("logins POST /auth/v1/token (apart from the measured routes): 20 for 20 user(s)"
            in result.stdout)
    record = json.loads(out.read_text())
    assert {r["route"] for r in record["routes"]} == {"GET /me"}
    assert [(r["route"], r["phase"], r["count"]) for r in record["logins"]] == [
        ("POST /auth/v1/token", "login", 20)]
    assert record["settings"]["login_users"] == 20
    log = ref.auth_log()
    assert len({e["token"] for e in log["logins"]}) == 20  # distinct per user
    assert len({e["email"] for e in log["logins"]}) == 20
    _no_secrets(ref, result.stdout, result.stderr, out.read_text())


def test_form_logins_split_over_worker_processes(cli: Cli, ref: RefServer,
                                                 tmp_path: Path) -> None:
    result = cli("bench", str(_scenario(tmp_path, FORM_LOGIN)), "--base-url", ref.url,
                 "--users-file", str(users_csv(tmp_path / "users.csv", 10)), "--rate", "40",
                 "--duration", "1s", "--workers", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(r["route"], r["count"]) for r in data["logins"]] == [("POST /token", 10)]
    log = ref.auth_log()
    assert {e["kind"] for e in log["logins"]} == {"form"} and len(log["logins"]) == 10
    assert len({e["token"] for e in log["logins"]}) == 10
    assert all(r["status"] == 200 for r in log["requests"])
    _no_secrets(ref, result.stdout, result.stderr)


def test_a_malformed_users_file_line_is_named_exit_2(cli: Cli, ref: RefServer,
                                                      tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user0@test.local,pw-0-S3cret\nuser1@test.local pw-1-S3cret\n")
    result = cli("bench", str(_scenario(tmp_path, FORM_LOGIN)), "--base-url", ref.url,
                 "--users-file", str(users), "-n", "5")
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert f"{users}:2: expected email,password" in line
    _no_secrets(ref, result.output)
    assert ref.auth_log() == {"logins": [], "requests": []}


def test_a_login_answering_401_names_the_route_exit_2_before_the_run(
        cli: Cli, ref: RefServer, tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user0@test.local,pw-0-S3cret\nuser1@test.local,pw-2-S3cret\n")
    result = cli("bench", str(_scenario(tmp_path, FORM_LOGIN)), "--base-url", ref.url,
                 "--users-file", str(users), "-n", "5")
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert f"login POST /token answered 401 for the user of {users}:2" in line
    assert "Incorrect username or password" in line  # a sample of the app's answer
    assert "pw-2-S3cret" not in result.output
    assert ref.auth_log()["requests"] == []  # nothing measured


def test_a_login_answer_without_the_token_exit_2(cli: Cli, ref: RefServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_ANON_KEY", "anon-key")
    result = cli("bench", str(_scenario(tmp_path, JSON_LOGIN.format(query="&field=jwt"))),
                 "--base-url", ref.url, "--users-file",
                 str(users_csv(tmp_path / "users.csv", 3)), "-n", "5")
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "login POST /auth/v1/token: the answer has no $.access_token" in line
    _no_secrets(ref, result.output)
    assert ref.auth_log()["requests"] == []


def test_users_file_and_login_step_must_come_together_exit_2(cli: Cli, ref: RefServer,
                                                              tmp_path: Path) -> None:
    users = str(users_csv(tmp_path / "users.csv", 3))
    alone = cli("bench", "/me", "--base-url", ref.url, "--users-file", users, "-n", "3")
    assert alone.exit_code == 2 and "needs a scenario with a login" in _one_error_line(alone)
    scenario = str(_scenario(tmp_path, FORM_LOGIN))
    missing = cli("bench", scenario, "--base-url", ref.url, "-n", "3")
    assert missing.exit_code == 2 and "--users-file" in _one_error_line(missing)
    too_many = cli("bench", scenario, "--base-url", ref.url, "--users-file", users,
                   "--users", "4", "-n", "3")
    assert too_many.exit_code == 2 and "--users 4 but" in _one_error_line(too_many)
    assert ref.auth_log() == {"logins": [], "requests": []}
