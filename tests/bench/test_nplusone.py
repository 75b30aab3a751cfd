"""N+1 and what a bench saw, in the record: found from the run's requests per route and its
statements, kept through JSON and merges."""

from __future__ import annotations

from perfkit.bench.evidence import ErrorBody, body_sample, split_target_url
from perfkit.bench.nplusone import find_n_plus_one
from perfkit.bench.provenance import Generator
from perfkit.bench.record import Phase, Run
from perfkit.db.workload import DbStats, StatementStats

COUNT = StatementStats(1, "SELECT count(*) FROM favorites WHERE article_id = $1", 200, None,
                       50.0, 0.25, 200, 0, 0)
LOGIN = StatementStats(2, "SELECT id, username FROM users WHERE id = $1", 10, None, 1.0, 0.1,
                       10, 0, 0)
DB = DbStats((COUNT, LOGIN))


def test_one_route_names_it_with_its_calls_per_request() -> None:
    (found,) = find_n_plus_one(DB, {"GET /articles": 10})
    assert (found.queryid, found.calls_per_request, found.route) == (1, 20.0, "GET /articles")
    assert find_n_plus_one(DB, {"GET /articles": 41}) == []  # 4.9 a request: under 5


def test_several_routes_are_per_request_of_the_run_and_name_none() -> None:
    (found,) = find_n_plus_one(DB, {"GET /articles": 10, "GET /articles/{slug}": 10})
    assert found.route is None and found.calls_per_request == 10.0
    assert "per request of the run" in found.method and "2 routes" in found.method
    assert find_n_plus_one(DB, {}) == []


def test_the_record_keeps_what_the_bench_saw() -> None:
    run = Run(base_url="http://127.0.0.1:1", generator=Generator(iterations=20,
                                                                 cut_iterations=3))
    run.record("GET /articles", Phase.ALL).add_error("403")
    run.db = DB
    run.n_plus_one = find_n_plus_one(DB, run.requests_by_route())
    run.error_bodies = [ErrorBody("GET /articles", "403", '{"errors":["nope"]}')]
    run.cut_routes = {"GET /b": 3}
    back = Run.from_json(run.to_json())
    assert back.n_plus_one == run.n_plus_one and back.error_bodies == run.error_bodies
    assert back.cut_routes == {"GET /b": 3} and back.generator.cut_iterations == 3
    merged = run.merge(back)
    assert merged.cut_routes == {"GET /b": 6} and merged.generator.cut_iterations == 6
    assert merged.error_bodies == run.error_bodies  # one sample per route and status


def test_a_body_sample_is_short_and_keeps_no_secret() -> None:
    import gzip

    body = b'{"detail": "bad token tok-123456", "access_token": "abc"}' + b"x" * 500
    sample = body_sample(gzip.compress(body), "gzip", ["tok-123456"])
    assert len(sample) == 200 and "tok-123456" not in sample and '"abc"' not in sample
    assert sample.startswith('{"detail": "bad token ***", "access_token": "***"}')


def test_a_url_target_splits_into_base_and_path() -> None:
    assert split_target_url("http://127.0.0.1:8080/sleep?ms=5") == (
        "http://127.0.0.1:8080", "/sleep?ms=5")
    assert split_target_url("https://api.example.test") == ("https://api.example.test", "/")
    assert split_target_url("/auth/me") is None and split_target_url("runbook") is None
