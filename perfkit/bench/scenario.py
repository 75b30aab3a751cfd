"""Scenario files (YAML) -> a typed Scenario; every validation error names file:line and field.

A scenario is a list of steps a virtual user runs in order, one user per bearer token:

    name: messages
    headers:                       # ${ENV} / ${ENV:-default} are read from the environment
      Authorization: "Bearer {token}"   # {token}: the user's token (the default header)
    cache: {key: "{token}", ttl: 120s}  # cold/warm per key: first request per route is cold
    steps:
      - path: /accounts
        once: true                 # run on the user's first iteration only
        extract: {account_id: "$[0].id"}
      - path: /conversations?account_id={account_id}
        extract: {conversation_id: "$[*].id"}
        think: 50ms
      - path: /messages/{conversation_id}
        expect: 200

Extraction reads the JSON response: `$` is the document, `.name` a key, `[n]` an index
(negative from the end) and `[*]` a random element, e.g. `$[0].id`, `$.items[-1].id`.
`{name}` placeholders in paths, headers and bodies take extracted values or `token`.

A `login:` step (with `bench --users-file`) logs each virtual user in once before its first
request; `{email}` and `{password}` come from the users file, `extract` must give `token`:

    login:
      path: /auth/v1/token?grant_type=password      # Supabase Auth (a JSON body)
      headers: {apikey: "${SUPABASE_ANON_KEY}"}
      json: {email: "{email}", password: "{password}"}
      extract: {token: "$.access_token"}
    # FastAPI's OAuth2 password flow: path: /token, form: {username: "{email}", ...}
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from perfkit.bench.yamlsource import Path_, YamlSource, duration_at, substitute_env
from perfkit.errors import UsageError
from perfkit.resources import shipped_path

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
DEFAULT_TTL_S = 120.0  # the seed's auth cache: "TTL 2 min"
DEFAULT_HEADERS = {"Authorization": "Bearer {token}"}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+|\*)\]")
_TOP_KEYS = {"name", "description", "base_url", "headers", "cache", "think", "steps", "login"}
_LOGIN_KEYS = {"method", "path", "route", "headers", "json", "form", "extract", "expect"}
CREDENTIAL_FIELDS = frozenset({"email", "password"})
_STEP_KEYS = {"name", "method", "path", "route", "headers", "json", "expect", "extract", "think",
              "cache", "once"}


@dataclass(frozen=True)
class Extractor:
    """A tiny JSON path: `$`, `.key`, `[n]`, `[*]` (random element)."""

    expr: str
    segments: tuple[str | int, ...]

    @classmethod
    def parse(cls, expr: str) -> Extractor:
        if not expr.startswith("$"):
            raise ValueError("must start with $")
        segments: list[str | int] = []
        pos = 1
        while pos < len(expr):
            match = _SEGMENT.match(expr, pos)
            if not match:
                raise ValueError(f"cannot parse {expr[pos:]!r} (use .key, [n] or [*])")
            key, index = match.groups()
            segments.append(key if key is not None else ("*" if index == "*" else int(index)))
            pos = match.end()
        return cls(expr, tuple(segments))

    def apply(self, document: Any, rng: random.Random) -> Any:
        """The value at the path; KeyError/IndexError/TypeError when it is not there."""
        value = document
        for seg in self.segments:
            if isinstance(seg, str) and seg != "*":
                if not isinstance(value, dict):
                    raise TypeError(f"{self.expr}: .{seg} on a non-object")
                value = value[seg]
            else:
                if not isinstance(value, list):
                    raise TypeError(f"{self.expr}: index on a non-array")
                if not value:
                    raise IndexError(f"{self.expr}: empty array")
                value = rng.choice(value) if seg == "*" else value[int(seg)]
        return value


@dataclass(frozen=True)
class CacheSpec:
    """Which requests share a cache entry (`key` template) and for how long it stays warm."""

    key: str | None = "{token}"
    ttl_s: float = DEFAULT_TTL_S


@dataclass(frozen=True)
class Step:
    method: str
    path: str
    route: str
    name: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    expect: tuple[int, ...] = ()
    extract: dict[str, Extractor] = field(default_factory=dict)
    think_s: float = 0.0
    cache: CacheSpec = field(default_factory=CacheSpec)
    once: bool = False
    line: int = 0

    def ok(self, status: int) -> bool:
        return status in self.expect if self.expect else 200 <= status < 300


@dataclass(frozen=True)
class LoginStep:
    """How a virtual user logs in: one request with a JSON (`json_body`) or form body, whose
    answer gives `token` (and any other extracted value) to the user's later steps."""

    method: str
    path: str
    route: str
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    form: dict[str, str] | None = None
    extract: dict[str, Extractor] = field(default_factory=dict)
    expect: tuple[int, ...] = ()
    line: int = 0

    def ok(self, status: int) -> bool:
        return status in self.expect if self.expect else 200 <= status < 300


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    source: str | None = None
    base_url: str | None = None
    description: str = ""
    login: LoginStep | None = None

    @classmethod
    def for_path(cls, path: str, *, method: str = "GET", ttl_s: float = DEFAULT_TTL_S,
                 headers: dict[str, str] | None = None) -> Scenario:
        """The scenario of `perfkit bench /auth/me`: one step, the user's bearer token."""
        if not path.startswith("/"):
            raise UsageError(f"path {path!r} must start with /")
        step = Step(method=method.upper(), path=path, route=route_name(method, path),
                    headers=dict(headers if headers is not None else DEFAULT_HEADERS),
                    cache=CacheSpec(ttl_s=ttl_s))
        return cls(name=path, steps=(step,))

    def with_headers(self, extra: dict[str, str]) -> Scenario:
        """Every step with these headers too (`bench --header`), over the scenario's own. A
        header carrying `{token}` carries the user's credential: the default bearer one goes."""
        if not extra:
            return self
        carries = any("{token}" in v for v in extra.values())
        steps = tuple(replace(s, headers={**{k: v for k, v in s.headers.items() if not (
            carries and (k, v) in DEFAULT_HEADERS.items())}, **extra}) for s in self.steps)
        return replace(self, steps=steps)

    @property
    def uses_token(self) -> bool:
        return any("{token}" in str(v) for s in self.steps for v in (*s.headers.values(), s.path,
                                                                     s.json_body, s.cache.key))


def route_name(method: str, path: str) -> str:
    """'GET /conversations' from a path template (the query string is not part of a route)."""
    return f"{method.upper()} {path.split('?', 1)[0]}"


def placeholders(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def render(template: str, variables: dict[str, Any], *, url: bool = False) -> str:
    """Fill `{name}` placeholders (URL-quoted in paths)."""
    def sub(match: re.Match[str]) -> str:
        text = str(variables[match.group(1)])
        return quote(text, safe="-._~") if url else text

    return _PLACEHOLDER.sub(sub, template)


def render_body(value: Any, variables: dict[str, Any]) -> Any:
    """Fill placeholders in a JSON body; a string that is only "{name}" keeps the value's type."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        return variables[whole.group(1)] if whole else render(value, variables)
    if isinstance(value, dict):
        return {k: render_body(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render_body(v, variables) for v in value]
    return value


def _cache(value: Any, default: CacheSpec, src: YamlSource, path: Path_) -> CacheSpec:
    if value is None:
        return default
    if value is False or value == "none":
        return CacheSpec(key=None, ttl_s=default.ttl_s)
    if not isinstance(value, dict) or set(value) - {"key", "ttl"}:
        raise src.error(path, "expected a mapping with `key` and/or `ttl` (or `none`)")
    key = value.get("key", default.key)
    if key is not None and not isinstance(key, str):
        raise src.error((*path, "key"), "expected a string template such as \"{token}\"")
    ttl = duration_at(value["ttl"], src, (*path, "ttl")) if "ttl" in value else default.ttl_s
    return CacheSpec(key=key, ttl_s=ttl)


def _expect(raw: dict[str, Any], src: YamlSource, path: Path_) -> tuple[int, ...]:
    expect_raw = raw.get("expect", [])
    expect_list = expect_raw if isinstance(expect_raw, list) else [expect_raw]
    if not all(isinstance(s, int) and 100 <= s <= 599 for s in expect_list):
        raise src.error((*path, "expect"), "expected an HTTP status or a list of them")
    return tuple(expect_list)


def _extract(raw: dict[str, Any], src: YamlSource, path: Path_) -> dict[str, Extractor]:
    extract_raw = raw.get("extract", {})
    if not isinstance(extract_raw, dict):
        raise src.error((*path, "extract"), "expected a mapping of name: \"$.json.path\"")
    extract: dict[str, Extractor] = {}
    for name, expr in extract_raw.items():
        try:
            extract[str(name)] = Extractor.parse(str(expr))
        except ValueError as exc:
            raise src.error((*path, "extract", str(name)), f"bad path {expr!r}: {exc}") from None
    return extract


def _login_body(raw: dict[str, Any], src: YamlSource) -> tuple[Any, dict[str, str] | None]:
    """(json body, form fields): exactly one of them, the credentials in it, none elsewhere."""
    path: Path_ = ("login",)
    if ("json" in raw) == ("form" in raw):
        raise src.error(path, "give the credentials in `json:` (Supabase Auth) or `form:` "
                              "(OAuth2 password flow), one of them")
    form = raw.get("form")
    if form is not None and not (isinstance(form, dict) and form):
        raise src.error((*path, "form"), "expected a mapping of field: value, e.g. "
                                         "{username: \"{email}\", password: \"{password}\"}")
    fields = {str(k): str(v) for k, v in form.items()} if form is not None else None
    body = raw.get("json")
    where = (*path, "form" if form is not None else "json")
    unknown = placeholders([body, fields, raw.get("headers")]) - CREDENTIAL_FIELDS
    if unknown:
        raise src.error(where, f"placeholder {{{sorted(unknown)[0]}}}: a login knows only "
                               "{email} and {password} (from --users-file)")
    if "password" not in placeholders([body, fields]):
        raise src.error(where, "the body must send {password} (from --users-file)")
    return body, fields


def _login(raw: Any, src: YamlSource) -> LoginStep:
    path: Path_ = ("login",)
    if not isinstance(raw, dict):
        raise src.error(path, "expected a mapping with `path`, `json:` or `form:`, `extract`")
    unknown = set(raw) - _LOGIN_KEYS
    if unknown:
        raise src.error((*path, sorted(unknown)[0]), f"unknown field (known: "
                        f"{', '.join(sorted(_LOGIN_KEYS))})")
    method = str(raw.get("method", "POST")).upper()
    if method not in METHODS:
        raise src.error((*path, "method"), f"unknown method {raw.get('method')!r}")
    target = raw.get("path")
    if not isinstance(target, str) or not target.startswith("/"):
        raise src.error((*path, "path"), "required, a string starting with /")
    if placeholders(target):  # URLs end up in logs: credentials travel in the body only
        raise src.error((*path, "path"), "no placeholder in a login path: the credentials "
                                         "go in the body")
    headers = raw.get("headers", {})
    if not isinstance(headers, dict):
        raise src.error((*path, "headers"), "expected a mapping of header: value")
    body, form = _login_body(raw, src)
    extract = _extract(raw, src, path)
    if "token" not in extract:
        raise src.error((*path, "extract"), "must extract `token`, e.g. "
                                            "{token: \"$.access_token\"}")
    route = str(raw["route"]) if raw.get("route") else route_name(method, target)
    return LoginStep(method=method, path=target, route=route,
                     headers={str(k): str(v) for k, v in headers.items()}, json_body=body,
                     form=form, extract=extract, expect=_expect(raw, src, path),
                     line=src.lines.get(path, 0))


def _step(raw: Any, index: int, defaults: dict[str, Any], known: set[str], src: YamlSource) -> Step:
    path: Path_ = ("steps", index)
    if not isinstance(raw, dict):
        raise src.error(path, "a step must be a mapping with at least `path`")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise src.error((*path, sorted(unknown)[0]), f"unknown field (known: "
                        f"{', '.join(sorted(_STEP_KEYS))})")
    method = str(raw.get("method", "GET")).upper()
    if method not in METHODS:
        raise src.error((*path, "method"), f"unknown method {raw.get('method')!r}")
    target = raw.get("path")
    if not isinstance(target, str) or not target.startswith("/"):
        raise src.error((*path, "path"), "required, a string starting with /")
    headers_raw = raw.get("headers", {})
    if not isinstance(headers_raw, dict):
        raise src.error((*path, "headers"), "expected a mapping of header: value")
    headers = {**defaults["headers"], **{str(k): str(v) for k, v in headers_raw.items()}}
    expect_list = _expect(raw, src, path)
    extract = _extract(raw, src, path)
    think = (duration_at(raw["think"], src, (*path, "think")) if "think" in raw
             else defaults["think"])
    cache = _cache(raw.get("cache"), defaults["cache"], src, (*path, "cache"))
    missing = placeholders([target, headers_raw, raw.get("json"), cache.key]) - known
    missing |= placeholders(list(defaults["headers"].values())) - known
    if missing:
        raise src.error(path, f"placeholder {{{sorted(missing)[0]}}} is not extracted by an "
                              "earlier step (nor `token`)")
    known.update(extract)
    route = str(raw["route"]) if raw.get("route") else route_name(method, target)
    return Step(method=method, path=target, route=route, name=str(raw.get("name") or route),
                headers=headers, json_body=raw.get("json"), expect=expect_list,
                extract=extract, think_s=think, cache=cache, once=bool(raw.get("once", False)),
                line=src.lines.get(path, 0))


def parse_scenario(text: str, *, file: str = "<scenario>",
                   environ: dict[str, str] | None = None) -> Scenario:
    """Validate and type a scenario document."""
    src = YamlSource(file, text)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise src.error((), "expected a mapping with `steps`")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise src.error((sorted(unknown)[0],), f"unknown field (known: "
                        f"{', '.join(sorted(_TOP_KEYS))})")
    data = substitute_env(data, src, (), dict(os.environ) if environ is None else environ)
    headers = data.get("headers", DEFAULT_HEADERS)
    if not isinstance(headers, dict):
        raise src.error(("headers",), "expected a mapping of header: value")
    defaults = {"headers": {str(k): str(v) for k, v in headers.items()},
                "think": duration_at(data["think"], src, ("think",)) if "think" in data else 0.0,
                "cache": _cache(data.get("cache"), CacheSpec(), src, ("cache",))}
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise src.error(("steps",), "required, a non-empty list of steps")
    login = _login(data["login"], src) if data.get("login") is not None else None
    known = {"token", *(login.extract if login is not None else ())}
    steps = tuple(_step(raw, i, defaults, known, src) for i, raw in enumerate(steps_raw))
    base_url = data.get("base_url")
    if base_url is not None and not (isinstance(base_url, str) and "://" in base_url):
        raise src.error(("base_url",), "expected an absolute URL such as http://127.0.0.1:8000")
    return Scenario(name=str(data.get("name") or Path(file).stem), steps=steps, source=file,
                    base_url=base_url or None, description=str(data.get("description") or ""),
                    login=login)


def load_scenario(path: Path, environ: dict[str, str] | None = None) -> Scenario:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    return parse_scenario(text, file=str(path), environ=environ)


def scenario_dirs() -> list[Path]:
    """Where scenario names are looked up: ./scenarios, then the ones shipped with perfkit."""
    return [Path.cwd() / "scenarios", shipped_path("scenarios")]


def find_scenario(target: str) -> Path | None:
    """A scenario file for TARGET (a file path, or a name in scenarios/), None if none."""
    direct = Path(target)
    if direct.suffix in (".yaml", ".yml") or direct.is_file():
        return direct
    for folder in scenario_dirs():
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{target}{suffix}"
            if candidate.is_file():
                return candidate
    return None
