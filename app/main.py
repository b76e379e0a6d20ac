"""create_app and its lifespan: the clock that sends Tick, and a clean shutdown of live screens."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from app import localtime
from app.config import Settings
from app.live.broker import MemoryBroker
from app.live.clock import run_clock
from app.live.feeds import Hub
from app.live.pg_notify import PgListener
from app.live.presence import Presence
from app.services import Services, utcnow
from app.store.db import make_engine
from app.web import api, audit, errors, exports, health, openapi, pages, review, sockets, stream, ws
from app.web.attempts import AttemptThrottle
from app.web.deps import CurrentUser
from app.web.guards import BodyLimit, HttpGZip, SecurityHeaders
from app.web.live import LiveRenderer
from app.web.logs import AccessLog
from app.web.throttle import LoginThrottle

log = logging.getLogger("holdspace")
STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "holdspace_session"
CLOSE_RESTARTING = 1012


def keep_startup_out_of_the_collector() -> None:
    """Everything built until the app starts (modules, the app, its templates and tables) lives as
    long as the process. Frozen once, it is left out of the cyclic collector's full passes, which
    otherwise walk some 165,000 objects and stall the event loop, and with it every live screen,
    for tens of milliseconds at a time. Once per process (a test run builds many apps)."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def create_app(
    settings: Settings | None = None, clock: Callable[[], datetime] = utcnow, run_clock_task: bool = True
) -> FastAPI:
    settings = settings or Settings()
    policy = settings.clinic_policy
    localtime.configure(settings.clinic_zone)
    secret = settings.checked_secret()
    broker = MemoryBroker()
    services = Services(
        engine=make_engine(settings.database_url),
        write_engine=make_engine(settings.database_url, for_writes=True),
        policy=policy,
        broker=broker,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        broker.bind(asyncio.get_running_loop())
        keep_startup_out_of_the_collector()
        # A fresh event for every start: one set at the last shutdown must not close new sockets.
        app.state.shutting_down = asyncio.Event()
        task = asyncio.create_task(run_clock(services)) if run_clock_task else None
        listener = None
        if services.write_engine.dialect.name == "postgresql":
            listener = PgListener(settings.database_url, broker)
            listener.start()
        app.state.listener = listener
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            app.state.shutting_down.set()
            hub.close_all(CLOSE_RESTARTING)
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
            services.engine.dispose()
            services.write_engine.dispose()

    # The OpenAPI description is served by a route of our own, behind sign-in like every route
    # but login, static files and /healthz. (No Swagger page: it would load from a CDN.)
    app = FastAPI(
        title="Holdspace", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.settings = settings
    app.state.services = services
    app.state.broker = broker
    presence = Presence(forget_after=timedelta(minutes=policy.offline_tablet_forget_minutes))
    app.state.presence = presence
    # One feed per room in this process: every socket of a room shares its reads and renders.
    hub = Hub(broker, LiveRenderer(services, presence), clock)
    app.state.hub = hub
    app.state.sign_in_watch = sockets.SignInWatch(services, broker)
    app.state.socket_counts = sockets.SocketCounts()
    app.state.login_throttle = LoginThrottle()
    # Wrong PINs or passwords typed on a room tablet to check someone in or out, per user.
    app.state.presence_attempts = AttemptThrottle(limit=5, window_seconds=600)
    app.state.shutting_down = asyncio.Event()
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=12 * 3600,
        same_site="strict",
        https_only=settings.https,
    )
    # Pages, fragments and JSON are compressed for clients that accept it (sockets use
    # permessage-deflate, negotiated by the server's websocket implementation).
    app.add_middleware(HttpGZip, minimum_size=1024)
    # Outermost: an oversized body is refused before anything reads it; every answer, the
    # refusal included, carries the security headers.
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders, hsts=settings.https)
    errors.install(app)
    app.include_router(api.router)
    app.include_router(exports.router)
    app.include_router(audit.router)
    app.include_router(pages.router)
    app.include_router(review.api)
    app.include_router(review.pages)
    app.include_router(ws.router)
    app.include_router(stream.router)

    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_document(_user: CurrentUser) -> JSONResponse:
        return JSONResponse(app.openapi())

    app.include_router(health.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Added last, so it is the outermost layer: one log line per request and per live connection.
    app.add_middleware(AccessLog)
    return app
