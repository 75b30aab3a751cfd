"""`perfkit init`: a scenario and a commented perfkit.yaml for the user's backend.

From an OpenAPI document: one step per GET route whose values are known; a route whose path
(or a required query parameter) needs an id reads it from a list route that returns those
objects (matched by response schema, then by names; an item's own field or a field of an object it
holds: `articles[].author.username`), placed before it; a route whose values cannot be
found, and every write (POST, PUT, PATCH, DELETE), is written commented out with what to
fill in; instrumentation (/metrics, health checks) is left out. Credentials are auth.py's:
the bench's `{token}`, or a login step at an OAuth2 password flow's `tokenUrl`. The files
are written by scaffold.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from urllib.parse import quote

from perfkit.init.auth import Auth, plan_auth
from perfkit.init.openapi import (
    LIST_FIELDS,
    ApiSpec,
    Operation,
    Param,
    Schema,
)

SCHEMA = "perfkit.init/1"
GENERIC_IDS = ("id", "uuid", "pk", "key", "slug")
ID_SUFFIXES = ("_id", "id", "_uuid", "_key", "_slug", "_pk")
MIN_MATCH = 2  # a list route must match a parameter at least by name to provide it
_SLUG = re.compile(r"[^a-z0-9]+")
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
# Instrumentation, not the app's traffic: never benched (a probe in the user's own metrics).
INSTRUMENTATION = frozenset({"metrics", "health", "healthz", "healthcheck", "health-check",
                             "ready", "readyz", "readiness", "live", "livez", "liveness",
                             "ping", "openapi.json", "docs", "redoc"})
class StepState(StrEnum):
    RUNS = "runs"
    COMMENTED = "commented"


@dataclass(frozen=True)
class Provider:
    """A list route and the JSON path of the value it gives (`$[*].id`)."""

    operation: Operation
    expr: str
    assumed: bool  # the items' schema is unknown: `id` is a guess


@dataclass(frozen=True)
class PlannedStep:
    operation: Operation
    path: str  # the scenario's path: {variables} and literal values filled in
    state: StepState
    why: str
    extract: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"route": self.operation.route, "path": self.path, "state": self.state.value,
                "extract": dict(self.extract), "why": self.why}


@dataclass(frozen=True)
class InitPlan:
    name: str
    title: str
    source: str
    base_url: str | None
    auth: Auth
    steps: tuple[PlannedStep, ...]
    left_out: tuple[str, ...] = ()  # instrumentation routes (/metrics, health checks)

    def to_json(self) -> dict[str, object]:
        return {"schema": SCHEMA, "scenario": self.name, "title": self.title,
                "source": self.source, "base_url": self.base_url,
                "auth": self.auth.described or None, "steps": [s.to_json() for s in self.steps],
                "login": self.auth.login_path, "left_out": list(self.left_out)}


# -- names ---------------------------------------------------------------------------------------
def _norm(text: str) -> str:
    return _SLUG.sub("", text.lower())


def singular(word: str) -> str:
    low = word.lower()
    if low.endswith("ies") and len(low) > 3:
        return low[:-3] + "y"
    if low.endswith(("sses", "xes", "ches", "shes")):
        return low[:-2]
    return low[:-1] if low.endswith("s") and not low.endswith("ss") else low


def _segment_before(path: str, name: str) -> str:
    parts = [p for p in path.split("/") if p]
    marker = "{" + name + "}"
    index = parts.index(marker) if marker in parts else len(parts)
    static = [p for p in parts[:index] if not p.startswith("{")]
    return static[-1] if static else "item"


def resource_stem(op: Operation, param: Param) -> str:
    """What a parameter names: `conversation` of conversation_id, `item` of /items/{id}."""
    if param.name.lower() in GENERIC_IDS:
        return _norm(singular(_segment_before(op.path, param.name)))
    name = param.name
    for suffix in ID_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return _norm(name[: -len(suffix)])
    return _norm(singular(name))


def variable_name(op: Operation, param: Param) -> str:
    if param.name.lower() in GENERIC_IDS:
        return f"{_SLUG.sub('_', singular(_segment_before(op.path, param.name)))}_{param.name}"
    return _SLUG.sub("_", param.name.lower()).strip("_") or "value"


def scenario_name(title: str) -> str:
    return _SLUG.sub("_", title.lower()).strip("_") or "api"


# -- list routes and who provides what ----------------------------------------------------
def list_shape(spec: ApiSpec, op: Operation) -> tuple[str, Schema, str | None] | None:
    """(the JSON path of the list, its items' schema, their component) of a list route."""
    if op.method != "GET" or op.response is None:
        return None
    response = op.response
    if response.get("type") == "array" or ("items" in response and "properties" not in response):
        items, ref = spec.resolve(response.get("items"))
        return ("$", items or {}, ref) if _objects(items) else None
    properties = response.get("properties") or {}
    # the usual envelopes first, then any array of objects (`{"articles": [...]}`)
    for name in (*(n for n in LIST_FIELDS if n in properties), *properties):
        inner, _ = spec.resolve(properties.get(name))
        if inner and inner.get("type") == "array":
            items, ref = spec.resolve(inner.get("items"))
            if items and _objects(items):
                return f"$.{name}", items, ref
    return None


def _objects(items: Schema | None) -> bool:
    return items is None or items.get("type") in (None, "object") or "properties" in items


def _field(spec: ApiSpec, items: Schema, param: Param, stem: str
           ) -> tuple[str, bool] | None:
    """Where an item carries the parameter's value: its own field (`slug`), or a field of
    an object it holds (`author.username`); (`id`, assumed) when the items are not described."""
    properties = items.get("properties") or {}
    if not properties:
        return "id", True
    if param.name in properties:
        return param.name, False
    nested = _nested_field(spec, properties, param)
    if nested is not None:
        return nested
    for name in ("id", f"{stem}_id", "uuid", "key", "slug"):
        if name in properties:
            return name, False
    return None


def _nested_field(spec: ApiSpec, properties: Schema, param: Param) -> tuple[str, bool] | None:
    if param.name.lower() in GENERIC_IDS:
        return None  # `author.id` for an `{id}`: too loose a match
    for outer, schema in properties.items():
        inner, _ = spec.resolve(schema if isinstance(schema, dict) else None)
        if inner and param.name in (inner.get("properties") or {}):
            return f"{outer}.{param.name}", False
    return None


def _carries(spec: ApiSpec, items: Schema, param: Param) -> int:
    """A bonus for items that carry the parameter by its own, specific name (`username` in
    `author.username`): a match by name alone, as good as a matching list path."""
    if param.name.lower() in GENERIC_IDS or not items.get("properties"):
        return 0
    found = _field(spec, items, param, "")
    return 2 if found is not None and found[0].rsplit(".", 1)[-1] == param.name else 0


def _score(consumer: Operation, param: Param, candidate: Operation, item_ref: str | None) -> int:
    stem = resource_stem(consumer, param)
    static = [p for p in candidate.path.split("/") if p and not p.startswith("{")]
    score = 0
    if item_ref and item_ref == consumer.response_ref and param.location == "path":
        score += 4
    if static and _norm(singular(static[-1])) == stem:
        score += 3
    elif item_ref and _norm(item_ref) == stem:
        score += 2
    prefix = consumer.path.split("{" + param.name + "}", 1)[0].rstrip("/")
    return score + (1 if score and candidate.path.rstrip("/") == prefix else 0)


def providers(spec: ApiSpec, consumer: Operation, param: Param) -> list[Provider]:
    """The list routes that can give a parameter its value, best match first."""
    found: list[tuple[int, int, Provider]] = []
    for order, candidate in enumerate(spec.operations):
        shape = None if candidate is consumer else list_shape(spec, candidate)
        if shape is None:
            continue
        prefix, items, ref = shape
        score = _score(consumer, param, candidate, ref) + _carries(spec, items, param)
        field_ = _field(spec, items, param, resource_stem(consumer, param))
        if score >= MIN_MATCH and field_ is not None:
            found.append((-score, order, Provider(candidate, f"{prefix}[*].{field_[0]}",
                                                  field_[1])))
    return [provider for *_, provider in sorted(found, key=lambda f: (f[0], f[1]))]


# -- the plan --------------------------------------------------------------------------------
def needed(op: Operation, auth_fields: set[str]) -> list[Param]:
    """Required path and query parameters the document gives no value for."""
    return [p for p in op.params if p.required and p.location in ("path", "query")
            and p.literal is None and p.name not in auth_fields]


def _blocked(op: Operation, auth_fields: set[str]) -> str | None:
    """A required header or cookie perfkit cannot fill (other than the credentials)."""
    for param in op.params:
        if (param.required and param.location in ("header", "cookie")
                and param.literal is None and param.name.lower() not in auth_fields
                and param.name.lower() != "authorization"):
            return f"the {param.location} {param.name} is required: set it under `headers:`"
    return None


@dataclass
class _Planner:
    spec: ApiSpec
    auth_fields: set[str]
    resolving: set[str] = field(default_factory=set)
    resolved: dict[str, dict[str, Provider]] = field(default_factory=dict)

    def resolve(self, op: Operation) -> dict[str, Provider] | None:
        """Each needed parameter's provider (whose own needs resolve too), or None."""
        if op.route in self.resolved:
            return self.resolved[op.route]
        if op.route in self.resolving or _blocked(op, self.auth_fields):
            return None
        self.resolving.add(op.route)
        try:
            found: dict[str, Provider] = {}
            for param in needed(op, self.auth_fields):
                usable = (p for p in providers(self.spec, op, param)
                          if self.resolve(p.operation) is not None)
                provider = next(usable, None)
                if provider is None:
                    return None
                found[param.name] = provider
            self.resolved[op.route] = found
            return found
        finally:
            self.resolving.discard(op.route)


def instrumentation(op: Operation) -> bool:
    """/metrics, health and readiness checks, API docs: not the app's traffic."""
    parts = [p.lower() for p in op.path.split("/") if p]
    return bool(parts) and not any(p.startswith("{") for p in parts) and (
        parts[-1] in INSTRUMENTATION or parts[0] == "metrics")


def _value(param: Param, variables: Mapping[str, str]) -> str:
    if param.name in variables:
        return "{" + variables[param.name] + "}"
    if param.literal is not None:
        return quote(str(param.literal), safe="")
    return "{" + param.name + "}"


def step_path(op: Operation, variables: Mapping[str, str], auth: Auth) -> str:
    """The scenario's path: variables and the document's examples filled in, the required
    query parameters (and an API key in the query) appended."""
    path = op.path
    query = []
    for param in op.params:
        if param.location == "path":
            path = path.replace("{" + param.name + "}", _value(param, variables))
        elif param.location == "query" and param.required and param.name not in auth.query:
            query.append(f"{param.name}={_value(param, variables)}")
    query += [f"{name}={value}" for name, value in auth.query.items()]
    return path + ("?" + "&".join(query) if query else "")


def _literal_notes(op: Operation, auth_fields: set[str]) -> list[str]:
    return [f"{p.name}={p.literal} (the document's example)" for p in op.params
            if p.required and p.location in ("path", "query") and p.literal is not None
            and p.name not in auth_fields]


@dataclass
class _Steps:
    """Runnable steps in dependency order: a list route before the routes that use it."""

    planner: _Planner
    auth: Auth
    order: list[tuple[Operation, dict[str, str], list[str]]] = field(default_factory=list)
    extract: dict[str, dict[str, str]] = field(default_factory=dict)
    bound: dict[str, str] = field(default_factory=dict)  # variable -> its JSON path's route
    consumers: dict[str, list[str]] = field(default_factory=dict)  # variable -> routes

    def visit(self, op: Operation) -> None:
        if any(done is op for done, _, _ in self.order):
            return
        providers = self.planner.resolve(op) or {}
        variables: dict[str, str] = {}
        notes = _literal_notes(op, self.planner.auth_fields)
        for param in op.params:
            provider = providers.get(param.name)
            if provider is None:
                continue
            self.visit(provider.operation)
            var = self._bind(variable_name(op, param), provider)
            variables[param.name] = var
            self.consumers.setdefault(var, []).append(op.route)
            guess = " (assumed: its objects have an id)" if provider.assumed else ""
            notes.append(f"{{{var}}} from {provider.operation.route}{guess}")
        self.order.append((op, variables, notes))

    def _bind(self, var: str, provider: Provider) -> str:
        name, n = var, 1
        key = f"{provider.operation.route} {provider.expr}"
        while self.bound.get(name, key) != key:
            n += 1
            name = f"{var}_{n}"
        self.bound[name] = key
        self.extract.setdefault(provider.operation.route, {})[name] = provider.expr
        return name

    def _expr(self, var: str, expr: str) -> str:
        """A random element (`[*]`) spreads the load; the first (`[0]`) where a later list
        route needs the value: a random parent with no children would break the chain."""
        feeds_a_list = any(route in self.extract for route in self.consumers.get(var, []))
        return expr.replace("[*]", "[0]", 1) if feeds_a_list else expr

    def planned(self) -> list[PlannedStep]:
        return [PlannedStep(op, step_path(op, variables, self.auth), StepState.RUNS,
                            "; ".join(notes),
                            {var: self._expr(var, expr) for var, expr in
                             self.extract.get(op.route, {}).items()})
                for op, variables, notes in self.order]


def _commented(op: Operation, auth: Auth, auth_fields: set[str]) -> PlannedStep:
    if op.method != "GET":
        why = f"a write ({op.method}): uncomment to send it" + (
            ", with a json: body" if op.has_body else "")
    else:
        why = _blocked(op, auth_fields) or "replace " + ", ".join(
            f"{{{p.name}}}" for p in needed(op, auth_fields)) + (
            " with a value: no list route returns it")
    return PlannedStep(op, step_path(op, {}, auth), StepState.COMMENTED, why)


def plan_init(spec: ApiSpec, source: str, name: str | None = None) -> InitPlan:
    """Which steps the scenario gets, in which order, and how each finds its values."""
    left_out = tuple(op.route for op in spec.operations if instrumentation(op))
    spec = replace(spec, operations=tuple(op for op in spec.operations
                                          if op.route not in left_out))
    auth, auth_fields = plan_auth(spec)
    steps = _Steps(_Planner(spec, auth_fields), auth)
    for op in spec.operations:
        if op.method == "GET" and steps.planner.resolve(op) is not None:
            steps.visit(op)
    running = steps.planned()
    done = {s.operation.route for s in running}
    if auth.login_path:  # the login step, not a write to comment out
        done.add("POST " + auth.login_path.split("?", 1)[0])
    commented = [_commented(op, auth, auth_fields) for op in spec.operations
                 if op.route not in done]
    return InitPlan(name or scenario_name(spec.title), spec.title, source, spec.base_url, auth,
                    tuple(running + commented), left_out)


def skeleton_plan(base_url: str | None, name: str | None, why: str) -> InitPlan:
    """No API document: one step to start from."""
    root = Operation("GET", "/", (), None, None, ())
    step = PlannedStep(root, "/", StepState.RUNS, why)
    return InitPlan(name or "api", "your backend", "no API document", base_url,
                    Auth({"Authorization": "Bearer {token}"}, {}, "assumed: a bearer token, "
                         "if your API takes one"), (step,))
