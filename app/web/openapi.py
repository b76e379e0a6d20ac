"""The OpenAPI document says which status codes each route really answers, every error in
API.md's shape `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
UNSAFE = {"post", "put", "patch", "delete"}
PUBLIC = {"/api/v1/auth/login", "/api/v1/auth/logout"}
# GET routes that refuse a signed-in user for their role (403), beyond the unsafe methods (CSRF).
# A PIN or password typed on a shared room tablet is throttled like a sign-in.
THROTTLED = {
    "/api/v1/sessions/{session_id}/facilitators/{username}/check-in",
    "/api/v1/sessions/{session_id}/facilitators/{username}/check-out",
}
ROLE_CHECKED = {"/api/v1/sessions/{session_id}/export.zip", "/api/v1/access-log"}

WHY = {
    401: "Not signed in (or the sign-in ended), or wrong username and password.",
    403: "The CSRF token (or X-Requested-With: holdspace) is missing, or the caller's role may not do this.",
    404: "No such thing, or it is in a room the caller does not work in.",
    409: "A rule of the clinic refused the command (the refusal is recorded).",
    413: "The request body is larger than 256 KiB.",
    422: "The request is malformed (a field, a type, a range, an unknown field).",
    429: (
        "Too many failed attempts (sign-ins, or PINs and passwords on a shared tablet); "
        "`Retry-After` says when to try again."
    ),
}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    params = operation.get("parameters", [])
    has_path = any(p.get("in") == "path" for p in params)
    has_input = bool(params) or "requestBody" in operation
    statuses: set[int] = set()
    if path == "/api/v1/auth/login":
        return {401, 403, 413, 422, 429}
    if path not in PUBLIC:
        statuses.add(401)
    if method in UNSAFE:
        statuses |= {403, 413}
        if path not in PUBLIC:
            statuses |= {404, 409, 422}
    if has_path:
        statuses.add(404)
    if has_input:
        statuses.add(422)
    if path in ROLE_CHECKED:
        statuses.add(403)
    if path in THROTTLED:
        statuses.add(429)
    return statuses


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once, with the error answers of every operation."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in UNSAFE | {"get", "head"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(_statuses(path, method, operation)):
                entry = responses.setdefault(str(status), {})
                entry["description"] = entry.get("description") or WHY[status]
                if status in (413, 422) or "content" not in entry:
                    entry["content"] = error
                if status == 429:
                    entry["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    # FastAPI's own 422 shape is not what this app answers.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
