"""Two pure ASGI middlewares that guard every HTTP answer: a bound on request bodies, and the
headers a clinic's security review expects."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Every body this app takes is a small JSON command or the login form; a participant's longest
# note is 8,000 characters. 256 KiB leaves room for all of them and nothing else.
MAX_BODY_BYTES = 256 * 1024
TOO_LARGE_MESSAGE = f"The request body is larger than {MAX_BODY_BYTES // 1024} KiB; nothing was recorded."


def too_large_body() -> bytes:
    error = {"code": "payload_too_large", "message": TOO_LARGE_MESSAGE, "details": {"limit_bytes": MAX_BODY_BYTES}}
    return json.dumps({"error": error}).encode()


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without (or beyond) its Content-Length grows past the limit."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE_MESSAGE)


class BodyLimit:
    """413 `payload_too_large` before reading more than `limit` bytes of a request body: at once
    when Content-Length says so, else as soon as the streamed bytes pass the limit."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)  # a socket: no frame of ours kept while it is open
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await _send_too_large(send)
            return
        received = 0
        limit = self.limit

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, bounded_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send) -> None:
    body = too_large_body()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# No inline script, no eval: htmx's own settings come from a meta tag (base.html).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """CSP, nosniff, same-origin referrers and no framing on every answer; `Cache-Control:
    no-store` on everything but the static files (pages and API answers carry patient data);
    HSTS when the app is served over HTTPS (HOLDSPACE_SECURE_COOKIES)."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http":
            return self.app(scope, receive, send)  # a socket: no frame of ours kept while it is open
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = scope.get("path", "").startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                if self.hsts:
                    extra.append((b"strict-transport-security", HSTS.encode()))
                headers.extend((name, value) for name, value in extra if name not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HttpGZip(GZipMiddleware):
    """Starlette's gzip for HTTP answers; a websocket passes straight through (sockets compress
    with permessage-deflate), keeping no frame of this middleware for as long as it is open."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:  # type: ignore[override]
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return super().__call__(scope, receive, send)
