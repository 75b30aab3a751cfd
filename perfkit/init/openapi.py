"""An OpenAPI 3 document (FastAPI serves one at /openapi.json) read into typed operations.

Only what `perfkit init` needs: each operation's method, path, parameters and the JSON
schema of its success response (local `$ref`s resolved), and the security schemes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from perfkit.errors import Unreachable, UsageError
from perfkit.redact import redact_text, redact_url

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
LIST_FIELDS = ("items", "data", "results", "records", "content", "value", "rows")
FETCH_TIMEOUT_S = 10.0
REF_PREFIX = "#/components/schemas/"
Schema = Mapping[str, Any]


class AuthKind(StrEnum):
    BEARER = "bearer"          # http bearer, oauth2, openIdConnect: Authorization: Bearer …
    BASIC = "basic"
    API_KEY_HEADER = "api-key-header"
    API_KEY_QUERY = "api-key-query"
    API_KEY_COOKIE = "api-key-cookie"


@dataclass(frozen=True)
class SecurityScheme:
    name: str
    kind: AuthKind
    field: str = "Authorization"  # the header, query parameter or cookie name
    token_url: str | None = None  # OAuth2's password flow: where users log in
    description: str = ""  # the document's words (an API key's form is often only there)


@dataclass(frozen=True)
class Param:
    name: str
    location: str  # path | query | header | cookie
    required: bool
    schema: Schema

    @property
    def literal(self) -> object | None:
        """A value the document itself offers: an example, the default or the first enum."""
        for key in ("example", "default"):
            value: object = self.schema.get(key)
            if value is not None:
                return value
        for key in ("examples", "enum"):
            values = self.schema.get(key)
            if isinstance(values, list) and values:
                first: object = values[0]
                return first
        return None


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    path: str
    params: tuple[Param, ...]
    response: Schema | None  # the success response's JSON schema, refs resolved once
    response_ref: str | None  # the component it names (`Item`), if any
    security: tuple[str, ...]  # scheme names required (empty: public)
    has_body: bool = False
    summary: str = ""

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class ApiSpec:
    title: str
    operations: tuple[Operation, ...]
    schemes: Mapping[str, SecurityScheme]
    base_url: str | None  # where the API is served, when the document says or was fetched
    components: Mapping[str, Schema]

    def resolve(self, schema: Schema | None) -> tuple[Schema | None, str | None]:
        """A schema with its top-level `$ref` followed: (the schema, the component name)."""
        if not schema:
            return None, None
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            name = ref[len(REF_PREFIX):]
            return self.components.get(name), name
        return schema, None


def fetch_document(source: str) -> tuple[dict[str, Any], str | None]:
    """The document at a URL or in a file, and the origin of a URL (scheme://host:port)."""
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=FETCH_TIMEOUT_S) as resp:
                text = resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            raise UsageError(f"{redact_url(source)} answered HTTP {exc.code}",
                             hint="FastAPI serves it at /openapi.json (unless openapi_url "
                                  "was changed)") from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(f"{redact_url(source)} is unreachable: "
                              f"{redact_text(str(getattr(exc, 'reason', exc)))}",
                              hint="is the backend running?") from None
        parts = urlsplit(source)
        return _parse(text, redact_url(source)), urlunsplit((parts.scheme, parts.netloc, "", "",
                                                             ""))
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}",
                         hint="pass a URL (http://host/openapi.json) or a file") from None
    return _parse(text, source), None


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{where} is neither JSON nor YAML: {str(exc).splitlines()[0]}") \
            from None
    if not isinstance(data, dict) or not isinstance(data.get("paths"), dict):
        raise UsageError(f"{where} is not an OpenAPI document (no `paths`)",
                         hint="FastAPI serves one at /openapi.json")
    if not str(data.get("openapi", "")).startswith("3"):
        raise UsageError(f"{where}: only OpenAPI 3 is read (found "
                         f"{data.get('openapi') or data.get('swagger') or 'no version'})")
    return data


def _schemes(data: Mapping[str, Any]) -> dict[str, SecurityScheme]:
    raw = (data.get("components") or {}).get("securitySchemes") or {}
    schemes: dict[str, SecurityScheme] = {}
    for name, scheme in raw.items():
        kind = str(scheme.get("type", "")).lower()
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
            schemes[name] = SecurityScheme(name, AuthKind.BASIC)
        elif kind in ("http", "oauth2", "openidconnect"):
            password = ((scheme.get("flows") or {}).get("password") or {}) if (
                kind == "oauth2") else {}
            token_url = password.get("tokenUrl") if isinstance(password, dict) else None
            schemes[name] = SecurityScheme(name, AuthKind.BEARER, token_url=str(
                token_url) if token_url else None)
        elif kind == "apikey":
            where = {"query": AuthKind.API_KEY_QUERY, "cookie": AuthKind.API_KEY_COOKIE}.get(
                str(scheme.get("in")), AuthKind.API_KEY_HEADER)
            schemes[name] = SecurityScheme(name, where, str(scheme.get("name") or "X-API-Key"),
                                           description=str(scheme.get("description") or ""))
    return schemes


def _requirements(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(name for requirement in value if isinstance(requirement, dict)
                 for name in requirement)


def _params(path_item: Mapping[str, Any], op: Mapping[str, Any],
            components: Mapping[str, Any]) -> tuple[Param, ...]:
    merged: dict[tuple[str, str], Param] = {}
    for raw in [*path_item.get("parameters", []), *op.get("parameters", [])]:
        if "$ref" in raw:  # a shared parameter
            raw = (components.get("parameters") or {}).get(raw["$ref"].rsplit("/", 1)[-1], {})
        if not raw.get("name"):
            continue
        location = str(raw.get("in", "query"))
        schema = {**(raw.get("schema") or {}), **({"example": raw["example"]}
                                                  if "example" in raw else {})}
        merged[(raw["name"], location)] = Param(str(raw["name"]), location,
                                                bool(raw.get("required")) or location == "path",
                                                schema)
    return tuple(merged.values())


def _success_schema(op: Mapping[str, Any]) -> Schema | None:
    responses = op.get("responses") or {}
    for code in sorted(str(c) for c in responses):
        if code.startswith("2"):
            content = (responses[code] or {}).get("content") or {}
            for media, body in content.items():
                if "json" in media:
                    schema = (body or {}).get("schema")
                    return schema if isinstance(schema, dict) else None
    return None


def read_spec(data: Mapping[str, Any], origin: str | None = None) -> ApiSpec:
    """The typed operations of an OpenAPI 3 document, in its order."""
    components = data.get("components") or {}
    schemas = components.get("schemas") or {}
    spec = ApiSpec(str((data.get("info") or {}).get("title") or "api"), (), _schemes(data),
                   _base_url(data, origin), schemas)
    default_security = _requirements(data.get("security")) or ()
    operations = []
    for path, item in data["paths"].items():
        for method in HTTP_METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if not isinstance(op, dict):
                continue
            response, ref = spec.resolve(_success_schema(op))
            own = _requirements(op.get("security"))
            operations.append(Operation(
                method.upper(), str(path), _params(item, op, components), response, ref,
                default_security if own is None else own, "requestBody" in op,
                str(op.get("summary") or "")))
    return ApiSpec(spec.title, tuple(operations), spec.schemes, spec.base_url, schemas)


def _base_url(data: Mapping[str, Any], origin: str | None) -> str | None:
    """servers[0] (relative to where the document came from), else that origin."""
    servers = data.get("servers")
    url = str(servers[0].get("url", "")) if isinstance(servers, list) and servers else ""
    if url.startswith(("http://", "https://")):
        return url.rstrip("/")
    if origin is not None:
        return (origin + url).rstrip("/") if url.startswith("/") else origin
    return None


def load_spec(source: str) -> ApiSpec:
    data, origin = fetch_document(source)
    return read_spec(data, origin)
