"""Keep secrets out of everything perfkit prints or writes: DSN passwords, URL userinfo, tokens."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
# A JSON answer or body quoted in an error (a login's): the values of its secret keys.
_JSON_SECRET = re.compile(r'("(?:password|access_token|refresh_token|id_token|token)"\s*:\s*)'
                          r'"(?:[^"\\]|\\.)*"', re.IGNORECASE)
_URL_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)([^/@\s:]*)(:[^/@\s]*)?@", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL or URI-form DSN without its password (the user name stays: it helps debugging)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.password is None and "@" not in parts.netloc:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}" if parts.password is not None else (
            f"{parts.username}@{netloc}"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redact_dsn(dsn: str) -> str:
    """A libpq DSN (URI or key=value form) with the password replaced by ***."""
    if "://" in dsn:
        return redact_url(dsn)
    return _KV_PASSWORD.sub(r"\1***", dsn)


def redact_text(text: str, secrets: list[str] | None = None) -> str:
    """Free text (an error message) with URL credentials, password=…, the JSON values of
    password and token keys, and known secrets masked."""
    text = _URL_USERINFO.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{':***' if m.group(3) else ''}@", text)
    text = _KV_PASSWORD.sub(r"\1***", text)
    text = _JSON_SECRET.sub(r'\1"***"', text)
    for secret in secrets or []:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
