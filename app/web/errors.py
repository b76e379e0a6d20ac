"""Errors in one place: every 4xx is `{"error": {"code", "message", "details"}}` for the API,
and a page or a redirect to the login page for the HTML routes."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.domain import InvalidInput, RuleViolation
from app.services import ServiceError, error_body, status_for

log = logging.getLogger("holdspace.web")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_attempts",
}
# A refused body may have thousands of bad fields: the answer names the first few, briefly.
MAX_ERROR_FIELDS = 20
MAX_ERROR_TEXT = 200

# How long a client waits before retrying after the database did not answer.
RETRY_AFTER_SECONDS = 2
UNAVAILABLE_MESSAGE = (
    "The database is not answering just now; nothing was recorded. "
    "Send the same request again (with the same Idempotency-Key) in a moment."
)


def database_unavailable(exc: BaseException) -> bool:
    """An error that means the database could not be reached or dropped the connection (an outage,
    a restart, a lock held too long), as opposed to a bug: worth a retry, never a 500."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


def _route(request: Request) -> str:
    """The route's pattern (`/api/v1/sessions/{sid}`), never the ids in the path."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "(no route)"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers


def not_found(what: str = "That") -> ApiError:
    return ApiError(404, "not_found", f"{what} was not found, or you do not work in its room.")


def _is_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/ws/")) or path.endswith(".json") or request.headers.get("hx-request"):
        return False
    return "application/json" not in request.headers.get("accept", "")


def _respond(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if _is_page(request) and request.method == "GET":
        if status == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        from app.web.templating import templates

        return templates.TemplateResponse(
            request, "pages/error.html", {"status": status, "message": message}, status_code=status, headers=headers
        )
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def unavailable(request: Request, exc: BaseException) -> Response:
    """503 `unavailable` with Retry-After: the database did not answer, nothing was recorded."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    log.warning(
        "database unavailable: %s %s answered 503 (%s: %s)",
        request.method,
        _route(request),
        type(exc).__name__,
        reason[0] if reason else "",
    )
    return _respond(
        request,
        503,
        "unavailable",
        UNAVAILABLE_MESSAGE,
        {"retry_after_seconds": RETRY_AFTER_SECONDS},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _validation_details(err: RequestValidationError) -> dict[str, Any]:
    fields = []
    errors = err.errors()
    for item in errors[:MAX_ERROR_FIELDS]:
        loc = [str(x) for x in item.get("loc", ()) if x not in ("body", "query", "path")]
        field = ".".join(loc)[:MAX_ERROR_TEXT] or "body"
        fields.append({"field": field, "problem": str(item.get("msg", "invalid"))[:MAX_ERROR_TEXT]})
    # `field` names the first one, as the domain's own validation errors do.
    details: dict[str, Any] = {"field": fields[0]["field"] if fields else "body", "fields": fields}
    if len(errors) > MAX_ERROR_FIELDS:
        details["more_fields"] = len(errors) - MAX_ERROR_FIELDS
    return details


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return _respond(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        return _respond(request, exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(RuleViolation)
    async def _rule(request: Request, exc: RuleViolation) -> Response:
        return _respond(request, status_for(exc.code), exc.code, exc.message, exc.details)

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput) -> Response:
        return _respond(request, 422, "validation_error", exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        details = _validation_details(exc)
        first = details["fields"][0] if details["fields"] else {"field": "body", "problem": "invalid"}
        message = f"{first['field']}: {first['problem']}"
        return _respond(request, 422, "validation_error", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:
            # A body that cannot be parsed at all (not UTF-8, not JSON) is malformed input like any other.
            return _respond(request, 422, "validation_error", "body: the body is not valid JSON", {"fields": []})
        code = HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        details = {"allow": exc.headers["Allow"]} if exc.status_code == 405 and exc.headers else None
        # 405 keeps its Allow header.
        return _respond(request, exc.status_code, code, message, details, exc.headers)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def _database(request: Request, exc: sa.exc.SQLAlchemyError) -> Response:
        if database_unavailable(exc):
            return unavailable(request, exc)
        raise exc  # a bug, not an outage: the 500 below

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, _route(request))
        return JSONResponse(
            error_body("internal_error", "Something went wrong on the server; nothing was recorded."), 500
        )
