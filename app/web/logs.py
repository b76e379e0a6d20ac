"""Logs an operator can use: one JSON line per request and per live connection, and warnings and
errors as JSON lines too.

A request line holds the time, method, route pattern (`/api/v1/sessions/{sid}/participants/{pid}`,
never the ids in the path or the query), status, duration, request id and the signed-in user's
name; a live connection's line is written when it closes, with its close code. Nothing a
participant is (name, chart id, notes) ever reaches a log: bodies and queries are not logged.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access = logging.getLogger("holdspace.access")

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class AccessLog:
    """Pure ASGI middleware (HTTP and websockets alike); outermost, so it also sees 500s."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        sent = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = sent
        outcome: dict[str, Any] = {"status": None}

        async def send_logged(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                outcome["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), sent.encode()))
                message = {**message, "headers": headers}
            elif kind == "websocket.accept":
                outcome["status"] = 101
            elif kind == "websocket.close":
                outcome.setdefault("close_code", message.get("code", 1000))
                if outcome["status"] is None:
                    outcome["status"] = 403  # refused before the handshake completed
            await send(message)

        async def receive_logged() -> Message:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                outcome.setdefault("close_code", message.get("code", 1000))
            return message

        try:
            await self.app(scope, receive_logged, send_logged)
        except Exception:
            outcome["status"] = outcome["status"] or 500
            raise
        finally:
            _write(scope, outcome, sent, time.perf_counter() - start)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
    return secrets.token_hex(8)


def _write(scope: Scope, outcome: dict[str, Any], request_id: str, seconds: float) -> None:
    route = getattr(scope.get("route"), "path", None)
    state = scope.get("state", {})
    line: dict[str, Any] = {
        "kind": "request" if scope["type"] == "http" else "live",
        "method": scope.get("method", "WS"),
        "route": route or "(no route)",
        "status": outcome["status"],
        "duration_ms": round(seconds * 1000, 1),
        "request_id": request_id,
        "user": state.get("username"),
    }
    if "close_code" in outcome:
        line["close_code"] = outcome["close_code"]
    access.info("%s %s %s", line["method"], line["route"], line["status"], extra={"fields": line})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, any `fields`, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """logging.config.dictConfig for `holdspace serve` (uvicorn's own access log is off: ours replaces it)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "holdspace": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }
