"""Live-update latency and write throughput, measured against a real uvicorn server on loopback.

For each write, the time from sending `POST .../vitals` on one tablet to the room fragment
showing the new value on every other connected tablet's websocket. Bounded: a fixed number of
writes, a fixed number of sockets, a timeout on every wait; it stops by itself.

    .venv/bin/python bench/run.py [--tablets 10] [--writes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from tests.conftest import PASSWORD, create_schema, seed_clinic  # noqa: E402


def _serve(url: str, port: int) -> uvicorn.Server:
    app = create_app(Settings(database_url=url, secret_key="bench-secret-0123456789abcdef"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def _login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, headers={"X-Requested-With": "holdspace"}, timeout=10)
    client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).raise_for_status()
    return client


async def _measure(base: str, cookie: str, writer: httpx.Client, path: str, tablets: int, writes: int) -> list[float]:
    ws_url = base.replace("http", "ws") + "/ws/rooms/cedar-room"
    sockets = [
        await websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": base}) for _ in range(tablets)
    ]
    for sock in sockets:
        await asyncio.wait_for(sock.recv(), 10)  # the snapshot
    latencies = []
    for i in range(writes):
        sbp = 100 + i % 60
        marker = f"BP {sbp}/7{i % 10}"
        started = time.perf_counter()
        await asyncio.to_thread(writer.post, path, json={"sbp": sbp, "dbp": 70 + i % 10})

        async def seen(sock: websockets.ClientConnection, marker: str = marker) -> None:
            while marker not in await asyncio.wait_for(sock.recv(), 5):
                pass

        await asyncio.gather(*(seen(sock) for sock in sockets))
        latencies.append((time.perf_counter() - started) * 1000)
    for sock in sockets:
        await sock.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tablets", type=int, default=10)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        create_schema(url)
        seed_clinic(url)
        port = 18000 + os.getpid() % 1000
        base = f"http://127.0.0.1:{port}"
        server = _serve(url, port)
        try:
            farah = _login(base, "farah")
            sid = farah.post(
                "/api/v1/sessions",
                json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"},
            ).json()["id"]
            pids = [
                farah.post(
                    f"/api/v1/sessions/{sid}/participants", json={"display_name": f"P{i}", "chart_id": f"C-{i}"}
                ).json()["id"]
                for i in range(8)
            ]
            path = f"/api/v1/sessions/{sid}/participants/{pids[0]}/vitals"
            cookie = "; ".join(f"{k}={v}" for k, v in farah.cookies.items())
            latencies = asyncio.run(_measure(base, cookie, farah, path, args.tablets, args.writes))

            started = time.perf_counter()
            for i in range(args.writes):
                farah.post(f"/api/v1/sessions/{sid}/participants/{pids[i % 8]}/observations", json={"suds": i % 11})
            throughput = args.writes / (time.perf_counter() - started)
        finally:
            server.should_exit = True
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(f"tablets={args.tablets} writes={args.writes} participants=8")
    median = statistics.median(latencies)
    print(f"write -> every tablet updated: median {median:.1f} ms, p95 {p(0.95):.1f} ms, max {latencies[-1]:.1f} ms")
    print(f"sequential appends over HTTP: {throughput:.0f} per second")


if __name__ == "__main__":
    main()
