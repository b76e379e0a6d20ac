"""The server side of the live benchmarks, always in its own process (never the clients').

    python bench/server.py app  --tree DIR --db URL --port N   # Holdspace from source tree DIR
    python bench/server.py bare --port N                       # the reference: a bare FastAPI broadcast
    python bench/server.py schema --tree DIR --db URL          # create and seed a database with DIR's code
    python bench/server.py overview-cost --tree DIR --db URL   # SQL statements and ms of one overview update

`--tree` names a checkout of the project (this one, or an older commit exported with `git archive`)
so that the same client measures the code before and after a change in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect


def _use_tree(tree: str) -> None:
    sys.path.insert(0, str(Path(tree).resolve()))
    # A module already imported from another tree would shadow it.
    for name in [m for m in sys.modules if m == "app" or m.startswith(("app.", "tests"))]:
        del sys.modules[name]


def serve_app(tree: str, db: str, port: int) -> None:
    _use_tree(tree)
    import uvicorn

    from app.config import Settings
    from app.main import create_app

    # Loopback over plain HTTP: the cookie may not be Secure-only.
    settings = Settings(database_url=db, secret_key="bench-secret-0123456789abcdef", demo=False, secure_cookies=False)
    app = create_app(settings)
    if hasattr(app.state, "socket_counts"):
        # The clients here are hundreds of tablets under one sign-in; a clinic's are one or two each.
        from app.web.sockets import SocketCounts

        app.state.socket_counts = SocketCounts(per_sign_in=100_000, per_user=100_000)
    try:  # as `holdspace serve` runs it
        from app.web.socket_protocol import LiveWebSocketProtocol

        ws: Any = LiveWebSocketProtocol
    except ImportError:  # the code before: uvicorn's default
        ws = "auto"
    # proxy_headers off, as `holdspace serve` runs it (no proxy middleware kept per socket).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws=ws, proxy_headers=False)


def serve_bare(port: int, ws_protocol: str = "auto") -> None:
    """What a broadcast costs with nothing of ours in the way: the sockets in a set, and one POST
    that sends the message it is given to every one of them, one after another."""
    import uvicorn

    app = FastAPI()
    sockets: set[WebSocket] = set()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(websocket)

    @app.post("/broadcast")
    async def broadcast(request: Request) -> dict[str, int]:
        message = (await request.json())["message"]
        for websocket in list(sockets):
            try:
                await websocket.send_text(message)
            except Exception:  # a client that went away
                sockets.discard(websocket)
        return {"sent": len(sockets)}

    ws: Any = ws_protocol
    if ws_protocol == "live":  # the transport as `holdspace serve` sets it up, with nothing of ours on top
        from app.web.socket_protocol import LiveWebSocketProtocol

        ws = LiveWebSocketProtocol
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws=ws)


def schema(tree: str, db: str) -> None:
    _use_tree(tree)
    from tests.conftest import create_schema, seed_clinic

    create_schema(db)
    seed_clinic(db)


def overview_cost(tree: str, db: str, repeats: int = 20) -> dict[str, Any]:
    """In process, like the issue's figures: statements and milliseconds for what one overview
    socket does after a change (before: the whole overview context and render; after: the alarm
    and follow-up lists plus the changed tile)."""
    _use_tree(tree)
    import sqlalchemy as sa

    from app.config import Settings
    from app.live.broker import MemoryBroker
    from app.live.presence import Presence
    from app.services import Services
    from app.store import people
    from app.store.db import make_engine, unit_of_work

    settings = Settings(database_url=db, secret_key="bench-secret-0123456789abcdef", demo=False, secure_cookies=False)
    services = Services(make_engine(db), make_engine(db, for_writes=True), settings.clinic_policy, MemoryBroker())
    presence = Presence()
    with unit_of_work(services.engine) as session:
        user = people.get_user(session, "lena")
    assert user is not None
    try:
        from app.live.feeds import RoomVersion
        from app.web import live as web_live  # after: rendering lives in app/web

        rooms = web_live.overview_rooms(services, user)
        renderer = web_live.LiveRenderer(services, presence)
        views: dict[str, Any] = {}
        for room in rooms:  # what the rooms' feeds hold in memory
            with unit_of_work(services.engine) as session:
                row = people.live_session(session, room.id)
            views[room.id] = (
                web_live.session_view(services.state(row.id), services.policy, services.clock()) if row else None
            )
        changed = rooms[0].id

        def update() -> None:
            context = web_live.overview_lists(services, user, rooms, views, services.clock())
            web_live.render_overview_lists(context)
            renderer.tile(changed, RoomVersion(None, 0, "", views[changed]))

        kind = "after"
    except ImportError:
        from app.live import fragments  # before

        def update() -> None:
            context = fragments.overview_context(services, user, presence)
            fragments.render_overview_live(context)

        kind = "before"
    counted: list[str] = []
    sa.event.listen(services.engine, "before_cursor_execute", lambda *a: counted.append(a[2]))
    update()  # warm: the state cache holds the live sessions as a running server's would
    counted.clear()
    started = time.perf_counter()
    for _ in range(repeats):
        update()
    ms = (time.perf_counter() - started) * 1000 / repeats
    return {"code": kind, "statements": len(counted) // repeats, "ms": round(ms, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["app", "bare", "schema", "overview-cost"])
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--db")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ws", default="auto", help="bare: 'live' for the app's websocket protocol")
    args = parser.parse_args()
    if args.mode == "app":
        serve_app(args.tree, args.db, args.port)
    elif args.mode == "bare":
        serve_bare(args.port, args.ws)
    elif args.mode == "schema":
        schema(args.tree, args.db)
    else:
        print(json.dumps(overview_cost(args.tree, args.db)))


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
