"""Virtual users log in (bench/login.py) against the reference server's login endpoints: a
Supabase-Auth-shaped JSON one and a FastAPI-OAuth2-shaped form one, over real HTTP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from perfkit.bench.credentials import Credential, read_users_file
from perfkit.bench.engine import BenchOptions
from perfkit.bench.record import Phase, Run
from perfkit.bench.scenario import Scenario, parse_scenario
from perfkit.bench.scheduler import run_bench_sync
from perfkit.errors import UsageError
from tests.bench.support import RefServer, password, users_csv

pytestmark = pytest.mark.usefixtures("engine")  # on h1 and aiohttp: tests/bench/conftest.py

SUPABASE = """
name: supabase
login:
  path: /auth/v1/token?grant_type=password{ttl}
  headers: {{apikey: "{apikey}"}}
  json: {{email: "{{email}}", password: "{{password}}"}}
  extract: {{token: "$.access_token"}}
steps:
  - path: /me
"""
OAUTH2 = """
name: fastapi
login:
  path: /token
  form: {username: "{email}", password: "{password}", grant_type: password}
  extract: {token: "$.access_token"}
steps:
  - path: /me
"""


def supabase(ttl_ms: int | None = None, apikey: str = "anon-key") -> Scenario:
    ttl = f"&ttl_ms={ttl_ms}" if ttl_ms else ""
    return parse_scenario(SUPABASE.format(ttl=ttl, apikey=apikey), environ={})


def credentials(tmp_path: Path, count: int) -> tuple[Credential, ...]:
    return tuple(read_users_file(users_csv(tmp_path / "users.csv", count)))


def _assert_own_tokens(ref: RefServer, users: int, kind: str) -> None:
    """Each user logged in once with its own credentials, got its own token, and every
    measured request carried one of them (accepted), after the last login."""
    log = ref.auth_log()
    logins = log["logins"]
    assert len(logins) == users and {entry["kind"] for entry in logins} == {kind}
    assert len({entry["email"] for entry in logins}) == users
    issued = {entry["token"]: entry["email"] for entry in logins}
    assert len(issued) == users  # distinct per user
    carried = [r["token"] for r in log["requests"]]
    assert carried and all(r["status"] == 200 for r in log["requests"])
    assert set(carried) <= set(issued)
    assert len({issued[t] for t in carried}) >= users * 3 // 4  # the users took turns


def test_twenty_users_log_in_with_json_each_with_its_own_token(ref: RefServer,
                                                               tmp_path: Path) -> None:
    run = run_bench_sync(supabase(), BenchOptions(
        base_url=ref.url, requests=200, concurrency=4, credentials=credentials(tmp_path, 20)))
    _assert_own_tokens(ref, 20, "json")
    assert run.routes() == ["GET /me"] and run.total_errors == 0 and run.total_count == 200
    login = run.logins["POST /auth/v1/token"]
    assert login.phase is Phase.LOGIN and login.count == 20 and not login.errors
    assert run.settings.login_route == "POST /auth/v1/token" and run.settings.login_users == 20
    saved = run.dumps()
    again = Run.from_json(__import__("json").loads(saved))
    assert again.logins["POST /auth/v1/token"].count == 20 and again.routes() == ["GET /me"]
    assert not any(password(i) in saved for i in range(20))
    assert not any(e["token"] in saved for e in ref.auth_log()["logins"])


def test_form_logins_in_an_open_loop(ref: RefServer, tmp_path: Path) -> None:
    run = run_bench_sync(parse_scenario(OAUTH2, environ={}), BenchOptions(
        base_url=ref.url, rate_per_s=60, duration_s=1.0, credentials=credentials(tmp_path, 6)))
    _assert_own_tokens(ref, 6, "form")
    assert run.total_errors == 0 and run.logins["POST /token"].count == 6
    # the logins were over before the schedule started: no send was late because of them
    assert (run.generator.late_sends or 0) <= 2


def test_an_expired_token_is_renewed_once_and_the_request_sent_again(ref: RefServer,
                                                                     tmp_path: Path) -> None:
    ttl_s = 0.4
    run = run_bench_sync(supabase(ttl_ms=int(ttl_s * 1000)), BenchOptions(
        base_url=ref.url, rate_per_s=30, duration_s=1.5, credentials=credentials(tmp_path, 3)))
    log = ref.auth_log()
    per_user = Counter(entry["email"] for entry in log["logins"])
    assert len(per_user) == 3 and max(per_user.values()) >= 2  # renewed mid-run
    # once per expiry, not once per request: at most one login per ttl and user
    assert all(n <= 2 + 1.5 / ttl_s for n in per_user.values()), per_user
    expired = sum(1 for r in log["requests"] if r["status"] == 401)
    assert expired >= 1 and run.total_errors == 0  # every 401 was renewed and sent again
    assert run.logins["POST /auth/v1/token"].count == sum(per_user.values())
    assert any("renewed mid-run" in note for note in run.notes)


def test_a_route_that_refuses_every_token_costs_one_relogin_a_user_not_one_a_request(
        ref: RefServer, tmp_path: Path) -> None:
    scenario = parse_scenario(SUPABASE.format(ttl="", apikey="anon-key")
                              + "  - path: /refused\n", environ={})
    run = run_bench_sync(scenario, BenchOptions(
        base_url=ref.url, requests=40, concurrency=1, credentials=credentials(tmp_path, 3)))
    refused = run.get("GET /refused", Phase.ALL)
    assert refused is not None and refused.errors == {"401": refused.error_count}
    assert refused.error_count >= 10
    # one renewal a user proved the 401 is the route's: the later ones cost no login
    assert len(ref.auth_log()["logins"]) <= 3 + 3


def test_a_refused_login_stops_the_run_before_any_measured_request(ref: RefServer,
                                                                   tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        run_bench_sync(supabase(apikey="wrong"), BenchOptions(
            base_url=ref.url, requests=20, credentials=credentials(tmp_path, 3)))
    message = str(caught.value)
    assert "login POST /auth/v1/token answered 401" in message and "users.csv:2" in message
    assert "apikey" in message and "pw-" not in message
    assert ref.auth_log()["requests"] == []


def test_a_login_answer_without_the_token_names_the_route_and_the_path(
        ref: RefServer, tmp_path: Path) -> None:
    scenario = parse_scenario(SUPABASE.format(ttl="&field=jwt", apikey="anon-key"),
                              environ={})
    with pytest.raises(UsageError) as caught:
        run_bench_sync(scenario, BenchOptions(base_url=ref.url, requests=5,
                                              credentials=credentials(tmp_path, 2)))
    message = str(caught.value)
    assert "login POST /auth/v1/token: the answer has no $.access_token" in message
    assert "(it has: expires_in, jwt, token_type)" in message  # the keys, never a value
    assert not any(e["token"] in message for e in ref.auth_log()["logins"])
    assert ref.auth_log()["requests"] == []


def test_a_login_step_and_a_users_file_go_together(ref: RefServer, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no users file"):
        run_bench_sync(supabase(), BenchOptions(base_url=ref.url, requests=5))
    with pytest.raises(UsageError, match="needs a scenario with a login"):
        run_bench_sync(Scenario.for_path("/me"), BenchOptions(
            base_url=ref.url, requests=5, credentials=credentials(tmp_path, 2)))


@pytest.mark.parametrize(("login", "where", "says"), [
    ('  path: /token\n  extract: {token: "$.t"}\n', "3: login:",
     "json:` (Supabase Auth) or `form:`"),
    ('  path: /token\n  form: {username: "{email}"}\n  extract: {token: "$.t"}\n',
     "4: login.form:", "must send {password}"),
    ('  path: /token\n  form: {username: "{email}", password: "{password}"}\n',
     "3: login.extract:", "must extract `token`"),
    ('  path: /token?user={email}\n  json: {password: "{password}"}\n'
     '  extract: {token: "$.t"}\n', "3: login.path:", "no placeholder in a login path"),
    ('  path: /token\n  json: {password: "{password}", id: "{user_id}"}\n'
     '  extract: {token: "$.t"}\n', "4: login.json:", "placeholder {user_id}: a login knows"),
])
def test_a_bad_login_step_is_named_by_file_line_and_field(login: str, where: str,
                                                          says: str) -> None:
    text = "name: x\nlogin:\n" + login + "steps:\n  - path: /me\n"
    with pytest.raises(UsageError) as caught:
        parse_scenario(text, file="s.yaml", environ={})
    assert str(caught.value).startswith(f"s.yaml:{where}"), str(caught.value)
    assert says in str(caught.value)


def test_values_a_login_extracts_feed_the_later_steps() -> None:
    scenario = parse_scenario(
        "login:\n  path: /token\n  json: {email: '{email}', password: '{password}'}\n"
        "  extract: {token: '$.access_token', user_id: '$.user.id'}\n"
        "steps:\n  - path: /users/{user_id}\n", environ={})
    assert scenario.login is not None and scenario.login.method == "POST"
    assert set(scenario.login.extract) == {"token", "user_id"}


def test_each_repeat_logs_in_the_next_users_of_the_file(ref: RefServer, tmp_path: Path) -> None:
    users = credentials(tmp_path, 6)
    run = run_bench_sync(supabase(), BenchOptions(
        base_url=ref.url, requests=12, concurrency=2, repeat=2, credentials=users[:3],
        spare_credentials=users[3:]))
    assert len(run.repeats) == 2 and run.total_errors == 0
    assert run.logins["POST /auth/v1/token"].count == 6  # the repeats' logins add up
    assert sorted(e["email"] for e in ref.auth_log()["logins"]) == sorted(u.email for u in users)


def test_a_step_extracts_from_a_compressed_answer(ref: RefServer) -> None:
    """The engine reads answers as sent and asks for gzip like any client: a step's extract
    reads the JSON inside (the reference server gzips its token answers)."""
    scenario = parse_scenario("""
name: extract-gzip
steps:
  - path: /auth/v1/token?grant_type=password
    method: POST
    headers: {apikey: anon-key}
    json: {email: user1@test.local, password: pw-1-S3cret}
    extract: {t: "$.access_token"}
  - path: /me
    headers: {Authorization: "Bearer {t}"}
""", environ={})
    run = run_bench_sync(scenario, BenchOptions(base_url=ref.url, requests=4, concurrency=1,
                                                tokens=("unused",)))
    assert run.total_errors == 0, run.to_json()["routes"]
    assert [r["status"] for r in ref.auth_log()["requests"]] == [200, 200]
