from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfkit.config import resolve_settings
from perfkit.errors import UsageError


def test_precedence_flag_env_yaml_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state" / "demo").mkdir(parents=True)
    (tmp_path / "state" / "demo" / "state.json").write_text(json.dumps({
        "backend": {"url": "http://demo"}, "postgres": {"dsn": "postgresql://demo"},
        "prometheus": {"url": "http://demo-prom"}}))
    config = tmp_path / "perfkit.yaml"
    config.write_text("base_url: http://yaml\nprometheus_url: http://yaml-prom\n")
    settings = resolve_settings(config_path=config, environ={"PROMETHEUS_URL": "http://env-prom"},
                                dsn="postgresql://flag")
    assert settings.dsn == "postgresql://flag"
    assert settings.prometheus_url == "http://env-prom"
    assert settings.base_url == "http://yaml"
    empty = resolve_settings(environ={})
    assert empty.base_url == "http://demo" and "base_url" in empty.from_demo


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "perfkit.yaml"
    config.write_text("base_url: http://x\nthresholds: [unclosed\n")
    with pytest.raises(UsageError) as info:
        resolve_settings(config_path=config, environ={})
    assert f"{config}:" in str(info.value)


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        resolve_settings(config_path=tmp_path / "nope.yaml", environ={})


def test_demo_defaults_never_leak_into_another_target(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state" / "demo").mkdir(parents=True)
    (tmp_path / "state" / "demo" / "state.json").write_text(json.dumps({
        "backend": {"url": "http://demo"}, "postgres": {"dsn": "postgresql://demo"},
        "token": "demo-secret", "tokens_file": "/demo/tokens.txt", "log_file": "/demo/log"}))
    prod = resolve_settings(environ={"PERFKIT_BASE_URL": "https://prod.example.com"})
    assert prod.base_url == "https://prod.example.com"
    assert prod.token is None and prod.tokens_file is None and prod.backend_log is None
    assert prod.dsn is None and not prod.from_demo
    demo = resolve_settings(environ={})
    assert demo.token == "demo-secret" and demo.dsn == "postgresql://demo"


def test_naming_the_demo_s_own_prometheus_keeps_the_demo_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERFKIT_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state" / "demo").mkdir(parents=True)
    (tmp_path / "state" / "demo" / "state.json").write_text(json.dumps({
        "backend": {"url": "http://demo"}, "postgres": {"dsn": "postgresql://demo"},
        "prometheus": {"url": "http://demo-prom"}, "token": "demo-secret"}))
    same = resolve_settings(environ={"PROMETHEUS_URL": "http://demo-prom/"})
    assert same.dsn == "postgresql://demo" and same.token == "demo-secret"
