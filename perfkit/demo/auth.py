"""The seed's remote auth provider (Supabase `auth.get_user`), as the demo backend simulates it.

A lookup costs a network round trip unless the auth cache has the user; cache keys carry a
digest of the token, never the token, and the log shows only its first 12 hex digits. Kept
free of web-framework imports: the CLI reads its default at start-up.
"""

from __future__ import annotations

import hashlib

#: The round trip to the remote provider without the cache (the seed measured ~150 ms).
DEFAULT_AUTH_LATENCY_MS = 145.0
#: How long the auth cache keeps a user (the seed's 2 minutes).
AUTH_TTL_S = 120.0
CACHE_FAMILY = "auth_user"
SHOWN_DIGITS = 12
USER_BY_TOKEN_SQL = "SELECT id, email, full_name FROM users WHERE token = %s"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cache_key(token: str) -> tuple[str, str]:
    """(key, shown): the cache key of a token and its loggable form `auth_user:<12 hex>...`."""
    digest = token_digest(token)
    return f"{CACHE_FAMILY}:{digest}", f"{CACHE_FAMILY}:{digest[:SHOWN_DIGITS]}..."
