"""Hand-written OpenAPI documents for the `perfkit init` tests (shapes FastAPI does not make)."""

from __future__ import annotations

from typing import Any


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _path_param(name: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", **schema}}


# The reference server's routes (tests/bench/refserver.py), described as a bearer-protected API
# whose item route comes before its list route.
REFSERVER_API: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Items API", "version": "1.0"},
    "components": {
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Item": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": "string"}}}},
    },
    "security": [{"bearerAuth": []}],
    "paths": {
        "/fast": {"get": {"responses": {"200": {"description": "ok"}}}},
        "/items/{id}": {"get": {"parameters": [_path_param("id")],
                                "responses": _json(_ref("Item"))}},
        "/items": {"get": {"responses": _json({"type": "array", "items": _ref("Item")})}},
        "/sleep/{ms}": {"get": {"parameters": [_path_param("ms", example=2)],
                                "responses": {"200": {"description": "ok"}}}},
        "/status/{code}": {"get": {"parameters": [_path_param("code")],
                                   "responses": {"200": {"description": "ok"}}}},
        "/echo": {"post": {"requestBody": {"content": {"application/json": {"schema": {}}}},
                           "responses": _json({})}},
    },
}

# Paginated lists, ids that are not `id`, a chain of two list routes, an API key, an enum
# query parameter, and routes with nothing to fill them with.
SHOP_API: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Shop: orders & users", "version": "2"},
    "servers": [{"url": "https://shop.example.com/api/v2"}],
    "components": {
        "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        "schemas": {
            "User": {"type": "object", "properties": {"user_id": {"type": "string"},
                                                      "email": {"type": "string"}}},
            "UserPage": {"type": "object", "properties": {
                "items": {"type": "array", "items": _ref("User")}, "total": {"type": "integer"}}},
            "Order": {"type": "object", "properties": {"id": {"type": "integer"}}},
        },
    },
    "security": [{"key": []}],
    "paths": {
        "/orders/{order_id}": {"get": {"parameters": [
            {"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": _json(_ref("Order"))}},
        "/users/{user_id}/orders": {"get": {"parameters": [
            {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": _json({"type": "array", "items": _ref("Order")})}},
        "/users": {"get": {"parameters": [
            {"name": "page", "in": "query", "schema": {"type": "integer"}}],
            "responses": _json(_ref("UserPage"))}},
        "/users/{user_id}": {"get": {"parameters": [
            {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": _json(_ref("User"))},
            "delete": {"parameters": [{"name": "user_id", "in": "path", "required": True}],
                       "responses": {"204": {"description": "gone"}}}},
        "/reports": {"get": {"parameters": [{"name": "period", "in": "query", "required": True,
                                             "schema": {"enum": ["day", "week"]}}],
                             "responses": _json({"type": "object"})}},
        "/orders": {"get": {"parameters": [{"name": "q", "in": "query", "required": True,
                                            "schema": {"type": "string"}}],
                            "responses": _json({"type": "array", "items": _ref("Order")})}},
        "/things/{thing_id}": {"get": {"parameters": [
            {"name": "thing_id", "in": "path", "required": True}], "responses": _json({})}},
        "/health": {"get": {"security": [], "responses": _json({"type": "object"})}},
    },
}

# FastAPI's OAuth2PasswordBearer(tokenUrl="token") in front of the reference server's login
# routes: the password flow's tokenUrl is where each virtual user logs in.
OAUTH2_API: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Accounts", "version": "1"},
    "components": {"securitySchemes": {"OAuth2PasswordBearer": {
        "type": "oauth2", "flows": {"password": {"scopes": {}, "tokenUrl": "token"}}}}},
    "paths": {
        "/token": {"post": {"requestBody": {"content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object"}}}},
            "responses": _json({"type": "object"})}},
        "/me": {"get": {"security": [{"OAuth2PasswordBearer": []}],
                        "responses": _json({"type": "object"})}},
    },
}

# A RealWorld ("Conduit") API as its document describes it: an API key in the Authorization
# header whose form (`Token <jwt>`) only the scheme's description shows, lists in an envelope
# of their own name (`{"articles": [...]}`) whose items carry the ids of other routes, nested
# too (`articles[].author.username`), and instrumentation routes.
_PROFILE = {"type": "object", "properties": {"username": {"type": "string"},
                                             "bio": {"type": "string"}}}
CONDUIT_API: dict[str, Any] = {
    "openapi": "3.0.1",
    "info": {"title": "Conduit API", "version": "1.0.0"},
    "components": {
        "securitySchemes": {"Token": {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "The following format must be in the 'Authorization' header:\n\n"
                           "    Token xxxxxx.yyyyyyy.zzzzzz\n"}},
        "schemas": {
            "Profile": _PROFILE,
            "ProfileResponse": {"type": "object", "properties": {"profile": _ref("Profile")}},
            "Article": {"type": "object", "properties": {
                "slug": {"type": "string"}, "title": {"type": "string"},
                "author": _ref("Profile")}},
            "SingleArticleResponse": {"type": "object",
                                      "properties": {"article": _ref("Article")}},
            "MultipleArticlesResponse": {"type": "object", "properties": {
                "articles": {"type": "array", "items": _ref("Article")},
                "articlesCount": {"type": "integer"}}},
        },
    },
    "security": [{"Token": []}],
    "paths": {
        "/articles": {"get": {"responses": _json(_ref("MultipleArticlesResponse"))}},
        "/articles/{slug}": {"get": {"parameters": [
            {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": _json(_ref("SingleArticleResponse"))}},
        "/profiles/{username}": {"get": {"parameters": [
            {"name": "username", "in": "path", "required": True,
             "schema": {"type": "string"}}], "responses": _json(_ref("ProfileResponse"))}},
        "/users/login": {"post": {"security": [], "requestBody": {"content": {
            "application/json": {"schema": {"type": "object"}}}},
            "responses": _json({"type": "object"})}},
        "/metrics": {"get": {"security": [], "responses": {"200": {"description": "ok"}}}},
        "/healthz": {"get": {"security": [], "responses": _json({"type": "object"})}},
    },
}
