"""How `perfkit init` sends an API's credentials: the security scheme most routes require,
as the bench's `{token}` (a header, a query parameter, a cookie) or a login step at an OAuth2
password flow's tokenUrl. An API key's form (a `Token ` prefix, a bare key) is the app's, so
the user's to give; the document's description fills it in when it shows one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from perfkit.init.openapi import ApiSpec, AuthKind

# How a document shows an API key's form: `Token xxxxxx.yyyyyyy.zzzzzz`, `Bearer <jwt>`.
_KEY_FORM = re.compile(r"\b(Token|Bearer|JWT|Api-Key|ApiKey)\s+(?:x{3,}|<|\{|\.\.\.|eyJ)")


@dataclass(frozen=True)
class Auth:
    headers: Mapping[str, str]
    query: Mapping[str, str]
    described: str  # "" when the API declares no security
    login_path: str | None = None  # the OAuth2 password flow's tokenUrl, on the base URL
    key_header: str | None = None  # an API key's header: the key's form is the user's to give
    key_form: str | None = None  # the form the document shows (`Token {token}`), if any


def login_path(token_url: str, base_url: str | None) -> str:
    """The login step's path on the base URL: OAuth2's tokenUrl is relative to the server
    (FastAPI writes `token`), or absolute (then its path, less the base URL's own)."""
    parts = urlsplit(token_url)
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    prefix = urlsplit(base_url or "").path.rstrip("/")
    if parts.netloc and prefix and path.startswith(prefix + "/"):
        path = path[len(prefix):]
    return path + (f"?{parts.query}" if parts.query else "")


def plan_auth(spec: ApiSpec) -> tuple[Auth, set[str]]:
    """The API's credentials as the bench's `{token}`, and the parameter names they take."""
    used = [name for op in spec.operations for name in op.security if name in spec.schemes]
    name = max(used, key=used.count) if used else next(iter(spec.schemes), None)
    scheme = spec.schemes.get(name) if name else None
    if scheme is None:
        if any(p.name.lower() == "authorization" for op in spec.operations for p in op.params):
            return Auth({"Authorization": "Bearer {token}"}, {}, "an Authorization header "
                        "(assumed: a bearer token)"), {"authorization"}
        return Auth({}, {}, ""), set()
    described = f"{scheme.name} ({scheme.kind.value})"
    fields = {scheme.field, scheme.field.lower()}
    if scheme.kind is AuthKind.BEARER:
        login = login_path(scheme.token_url, spec.base_url) if scheme.token_url else None
        return Auth({"Authorization": "Bearer {token}"}, {}, described, login), {
            "authorization"}
    if scheme.kind is AuthKind.BASIC:
        return Auth({"Authorization": "Basic {token}"}, {}, described + ": the token is "
                    "base64 of user:password"), {"authorization"}
    if scheme.kind is AuthKind.API_KEY_QUERY:
        return Auth({}, {scheme.field: "{token}"}, described), fields
    if scheme.kind is AuthKind.API_KEY_COOKIE:
        return Auth({"Cookie": f"{scheme.field}={{token}}"}, {}, described), fields
    return _api_key_header(scheme.field, described, scheme.description), fields


def _api_key_header(header: str, described: str, description: str) -> Auth:
    """An API key in a header: its form (a `Token ` prefix, a bare key) is the app's, so the
    user's to give; the document's words, when they show one, fill it in."""
    found = _KEY_FORM.search(description)
    form = f"{found.group(1)} {{token}}" if found else None
    shown = f"; the document shows `{found.group(0)}...`" if found else ""
    return Auth({header: form or "{token}"}, {}, f"{described}: an API key in the {header} "
                f"header, in the form your app wants{shown}", key_header=header, key_form=form)
