"""Live-path benchmarks: the server runs in its own process (bench/server.py), the clients here.
Every figure is compared with a reference measured in the same run: the bare FastAPI broadcast of
a message of the same bytes to the same number of sockets, or the same code at another commit.

    .venv/bin/python bench/live.py fanout   [--sockets 50,200,500,1000] [--rounds 15] [--before DIR]
    .venv/bin/python bench/live.py idle     [--sockets 2000] [--seconds 60] [--before DIR]
    .venv/bin/python bench/live.py overview [--past 0,50,200] [--before DIR]
    .venv/bin/python bench/live.py commands [--sockets 0,500] [--rate 100] [--seconds 10] [--before DIR]

`--before DIR` also measures the code in DIR (e.g. `git archive <commit> | tar -x -C DIR`).
Every wait is bounded; every run stops by itself. Results are printed as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import websockets

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
PASSWORD = "correct horse battery"
HEADERS = {"X-Requested-With": "holdspace"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1) if values else float("nan"),
        "p99": round(pct(values, 0.99), 1),
        "max": round(max(values), 1) if values else float("nan"),
    }


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


# ------------------------------------------------------------------ servers


class Server:
    def __init__(self, args: list[str], port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, str(HERE / "server.py"), *args, "--port", str(port)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextlib.contextmanager
def app_server(tree: Path, past: int = 0) -> Iterator[tuple[Server, dict[str, Any]]]:
    """A fresh database made by `tree`'s own code, `past` closed sessions, and a live group session
    in Cedar Room with eight participants (four dosed, journeying, with vitals)."""
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        subprocess.run([sys.executable, str(HERE / "server.py"), "schema", "--tree", str(tree), "--db", db], check=True)
        server = Server(["app", "--tree", str(tree), "--db", db], free_port())
        try:
            setup = prepare(server.base, past)
            setup["db"] = db
            yield server, setup
        finally:
            server.stop()


@contextlib.contextmanager
def bare_server(ws: str = "auto") -> Iterator[Server]:
    server = Server(["bare", "--ws", ws], free_port())
    try:
        yield server
    finally:
        server.stop()


def login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, headers=HEADERS, timeout=60)
    client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).raise_for_status()
    return client


def prepare(base: str, past: int) -> dict[str, Any]:
    farah, doc = login(base, "farah"), login(base, "dr.ade")
    body = {"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"}
    for i in range(past):
        sid = farah.post("/api/v1/sessions", json=body).json()["id"]
        pid = farah.post(
            f"/api/v1/sessions/{sid}/participants", json={"display_name": f"Past {i}", "chart_id": f"H-{i}"}
        )
        farah.post(f"/api/v1/sessions/{sid}/participants/{pid.json()['id']}/discharge").raise_for_status()
        farah.post(f"/api/v1/sessions/{sid}/close").raise_for_status()
    sid = farah.post("/api/v1/sessions", json=body).json()["id"]
    farah.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
    pids = []
    for i in range(8):
        base_p = f"/api/v1/sessions/{sid}/participants"
        pid = farah.post(base_p, json={"display_name": f"Participant {i}", "chart_id": f"C-{i}"}).json()["id"]
        p = f"{base_p}/{pid}"
        if i < 4:
            farah.put(f"{p}/screening", json={"bp": {"sbp": 118, "dbp": 76}, "contraindications": {}})
            farah.put(
                f"{p}/consent",
                json={
                    "touch": ["hand", "shoulder"],
                    "music": True,
                    "eyeshades": False,
                    "pause_signal": "hand on heart",
                    "stop_signal": "red card",
                    "emergency_contact": "next of kin",
                    "transport_plan": "taxi",
                    "signed_by_participant": True,
                },
            ).raise_for_status()
            farah.post(f"{p}/support", json={"kind": "staff", "id": "farah"}).raise_for_status()
            doc.post(f"{p}/dose", json={"route": "sublingual", "dose_mg": 150}).raise_for_status()
            farah.post(f"{p}/phase", json={"to": "journeying"}).raise_for_status()
            farah.post(f"{p}/vitals", json={"sbp": 120, "dbp": 80, "hr": 70, "spo2": 98, "rr": 14})
        pids.append(pid)
    cookie = "; ".join(f"{k}={v}" for k, v in farah.cookies.items())
    lena = login(base, "lena")
    lead_cookie = "; ".join(f"{k}={v}" for k, v in lena.cookies.items())
    return {"sid": sid, "pids": pids, "cookie": cookie, "lead_cookie": lead_cookie}


# ------------------------------------------------------------------ sockets


class Sockets:
    """N client sockets; each records when it first sees the current round's marker."""

    def __init__(self) -> None:
        self.conns: list[Any] = []
        self.marker: str | None = None
        self.started = 0.0
        self.seen: dict[int, float] = {}
        self.done = asyncio.Event()
        self.first: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def open(self, url: str, n: int, headers: dict[str, str], batch: int = 50) -> None:
        for start in range(0, n, batch):
            conns = await asyncio.gather(
                *(
                    websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=120)
                    for _ in range(min(batch, n - start))
                )
            )
            for conn in conns:
                self.first.append(str(await asyncio.wait_for(conn.recv(), 120)))
            self.conns.extend(conns)
        self.tasks = [asyncio.create_task(self._read(i, c)) for i, c in enumerate(self.conns)]

    async def _read(self, index: int, conn: Any) -> None:
        try:
            async for message in conn:
                marker = self.marker
                if marker is not None and index not in self.seen and marker in message:
                    self.seen[index] = (time.perf_counter() - self.started) * 1000
                    if len(self.seen) == len(self.conns):
                        self.done.set()
        except websockets.ConnectionClosed:
            pass

    def arm(self, marker: str) -> None:
        self.marker = marker
        self.seen = {}
        self.done = asyncio.Event()
        self.started = time.perf_counter()

    async def wait(self, timeout: float = 60) -> list[float]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)
        self.marker = None
        return list(self.seen.values())

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*(c.close() for c in self.conns), return_exceptions=True)


@contextlib.asynccontextmanager
async def sockets(url: str, n: int, headers: dict[str, str]) -> AsyncIterator[Sockets]:
    group = Sockets()
    try:
        if n:
            await group.open(url, n, headers)
        yield group
    finally:
        await group.close()


# ------------------------------------------------------------------ fan-out


async def fanout_app(server: Server, setup: dict[str, Any], n: int, rounds: int, stream: bool) -> dict[str, Any]:
    ws = server.base.replace("http", "ws")
    url = f"{ws}/api/v1/stream?room=cedar-room" if stream else f"{ws}/ws/rooms/cedar-room"
    headers = {"Cookie": setup["cookie"], "Origin": server.base}
    path = f"/api/v1/sessions/{setup['sid']}/participants/{setup['pids'][0]}/vitals"
    latencies: list[float] = []
    sample = ""
    async with httpx.AsyncClient(base_url=server.base, headers={**HEADERS, "Cookie": setup["cookie"]}, timeout=60) as c:
        async with sockets(url, n, headers) as group:
            for i in range(rounds + 1):  # the first round warms up (first render, caches) and is not counted
                sbp, dbp = 100 + i % 60, 60 + (i * 7) % 30
                group.arm(f'"sbp": {sbp}' if stream else f"BP {sbp}/{dbp}")
                (await c.post(path, json={"sbp": sbp, "dbp": dbp})).raise_for_status()
                got = await group.wait()
                if i:
                    latencies.extend(got + [60_000.0] * (n - len(got)))
                await asyncio.sleep(0.3)
            sample = group.first[0] if group.first else ""
    return {"latency_ms": summary(latencies), "frame_bytes": len(sample.encode())}


async def fanout_bare(server: Server, message: str, n: int, rounds: int) -> dict[str, Any]:
    url = server.base.replace("http", "ws") + "/ws"
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=server.base, timeout=120) as c:
        async with sockets(url, 0, {}) as group:
            group.conns = [await websockets.connect(url, max_size=None, open_timeout=120) for _ in range(n)]
            group.tasks = [asyncio.create_task(group._read(i, conn)) for i, conn in enumerate(group.conns)]
            for i in range(rounds + 1):  # the same warm-up round, not counted
                marker = f"<!--round {i} {time.time_ns()}-->"
                group.arm(marker)
                (await c.post("/broadcast", json={"message": marker + message})).raise_for_status()
                got = await group.wait()
                if i:
                    latencies.extend(got + [60_000.0] * (n - len(got)))
                await asyncio.sleep(0.3)
    return {"latency_ms": summary(latencies), "frame_bytes": len((message).encode())}


async def sample_frames(server: Server, setup: dict[str, Any]) -> tuple[str, str]:
    """The room's fragment and one JSON event as this code sends them, for the bare reference."""
    ws = server.base.replace("http", "ws")
    headers = {"Cookie": setup["cookie"], "Origin": server.base}
    async with websockets.connect(f"{ws}/ws/rooms/cedar-room", additional_headers=headers, max_size=None) as room:
        fragment = str(await room.recv())
    async with websockets.connect(f"{ws}/api/v1/stream?room=cedar-room", additional_headers=headers) as stream:
        await stream.recv()
        async with httpx.AsyncClient(base_url=server.base, headers={**HEADERS, "Cookie": setup["cookie"]}) as c:
            path = f"/api/v1/sessions/{setup['sid']}/participants/{setup['pids'][0]}/vitals"
            (await c.post(path, json={"sbp": 121, "dbp": 81})).raise_for_status()
        event = ""
        while '"type": "event"' not in event:
            event = str(await asyncio.wait_for(stream.recv(), 30))
    return fragment, event


def run_fanout(args: argparse.Namespace) -> None:
    sizes = [int(x) for x in args.sockets.split(",")]
    trees = [("after", TREE)] + ([("before", Path(args.before))] if args.before else [])
    for label, tree in trees:
        with app_server(tree) as (server, setup):
            fragment, event = asyncio.run(sample_frames(server, setup))
            for stream in (False, True):
                for n in sizes:
                    rounds = args.rounds if (label == "after" or n <= 200) else max(3, args.rounds // 3)
                    result = asyncio.run(fanout_app(server, setup, n, rounds, stream))
                    emit(
                        {
                            "bench": "fanout",
                            "code": label,
                            "socket": "json" if stream else "room",
                            "sockets": n,
                            **result,
                        }
                    )
        if label == "after":
            with bare_server() as bare:
                for stream, message in ((False, fragment), (True, event)):
                    for n in sizes:
                        result = asyncio.run(fanout_bare(bare, message, n, args.rounds))
                        emit(
                            {
                                "bench": "fanout",
                                "code": "bare",
                                "socket": "json" if stream else "room",
                                "sockets": n,
                                **result,
                            }
                        )


# ------------------------------------------------------------------ idle


async def idle_app(server: Server, setup: dict[str, Any], n: int, seconds: float) -> dict[str, Any]:
    url = server.base.replace("http", "ws") + "/ws/rooms/cedar-room"
    rss_before = server.rss_kib()
    async with sockets(url, n, {"Cookie": setup["cookie"], "Origin": server.base}) as group:
        await asyncio.sleep(15)  # connections settled, first heartbeats passed
        rss_after = server.rss_kib()
        cpu0, t0 = server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        alive = sum(1 for c in group.conns if c.state.name == "OPEN")
    return {
        "cpu_percent_of_one_core": round(cpu * 100, 2),
        "rss_kib_per_socket": round((rss_after - rss_before) / n, 1),
        "rss_mib": round(rss_after / 1024, 1),
        "open": alive,
    }


async def idle_bare(server: Server, n: int, seconds: float) -> dict[str, Any]:
    url = server.base.replace("http", "ws") + "/ws"
    rss_before = server.rss_kib()
    conns = []
    for start in range(0, n, 100):
        conns.extend(await asyncio.gather(*(websockets.connect(url) for _ in range(min(100, n - start)))))
    await asyncio.sleep(15)
    rss_after = server.rss_kib()
    cpu0, t0 = server.cpu_seconds(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    return {
        "cpu_percent_of_one_core": round(cpu * 100, 2),
        "rss_kib_per_socket": round((rss_after - rss_before) / n, 1),
    }


def run_idle(args: argparse.Namespace) -> None:
    n = int(args.sockets)
    for label, tree in [("after", TREE)] + ([("before", Path(args.before))] if args.before else []):
        with app_server(tree) as (server, setup):
            emit(
                {"bench": "idle", "code": label, "sockets": n, **asyncio.run(idle_app(server, setup, n, args.seconds))}
            )
    for ws in ("auto", "live"):  # uvicorn's default, and the app's own transport with nothing on top
        with bare_server(ws) as bare:
            result = asyncio.run(idle_bare(bare, n, args.seconds))
            emit({"bench": "idle", "code": "bare" if ws == "auto" else "bare, app's transport", "sockets": n, **result})


# ------------------------------------------------------------------ overview


async def overview_update(server: Server, setup: dict[str, Any], rounds: int) -> dict[str, Any]:
    url = server.base.replace("http", "ws") + "/ws/overview"
    path = f"/api/v1/sessions/{setup['sid']}/participants/{setup['pids'][5]}/observations"
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=server.base, headers={**HEADERS, "Cookie": setup["cookie"]}, timeout=60) as c:
        async with sockets(url, 1, {"Cookie": setup["lead_cookie"], "Origin": server.base}) as group:
            for i in range(rounds):
                distress = i % 2
                group.arm('id="room-cedar-room"')
                (await c.post(path, json={"distress": distress})).raise_for_status()
                latencies.extend(await group.wait(30))
                await asyncio.sleep(0.2)
    return {"update_ms": summary(latencies)}


def run_overview(args: argparse.Namespace) -> None:
    for label, tree in [("after", TREE)] + ([("before", Path(args.before))] if args.before else []):
        for past in [int(x) for x in args.past.split(",")]:
            with app_server(tree, past) as (server, setup):
                result = asyncio.run(overview_update(server, setup, args.rounds))
                cost = subprocess.run(
                    [
                        sys.executable,
                        str(HERE / "server.py"),
                        "overview-cost",
                        "--tree",
                        str(tree),
                        "--db",
                        setup["db"],
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            emit({"bench": "overview", "code": label, "past_sessions": past, **result, "in_process": json.loads(cost)})


# ------------------------------------------------------------------ commands


async def command_latency(server: Server, setup: dict[str, Any], n: int, rate: float, seconds: float) -> dict[str, Any]:
    url = server.base.replace("http", "ws") + "/ws/rooms/cedar-room"
    latencies: list[float] = []
    failures = 0

    async def one(c: httpx.AsyncClient, i: int) -> None:
        nonlocal failures
        pid = setup["pids"][i % 8]
        started = time.perf_counter()
        try:
            r = await c.post(f"/api/v1/sessions/{setup['sid']}/participants/{pid}/observations", json={"suds": i % 11})
            if r.status_code >= 400:
                failures += 1
        except httpx.HTTPError:
            failures += 1
        latencies.append((time.perf_counter() - started) * 1000)

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=server.base, headers={**HEADERS, "Cookie": setup["cookie"]}, timeout=60, limits=limits
    ) as c:
        async with sockets(url, n, {"Cookie": setup["cookie"], "Origin": server.base}):
            tasks = []
            start = time.perf_counter()
            total = int(rate * seconds)
            for i in range(total):  # open loop: a command every 1/rate s whatever the answers
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(c, i)))
            _done, pending = await asyncio.wait(tasks, timeout=120)
            for task in pending:  # unanswered two minutes after the last was sent
                task.cancel()
    return {"latency_ms": summary(latencies), "failures": failures, "unanswered_after_120_s": len(pending)}


def run_commands(args: argparse.Namespace) -> None:
    for label, tree in [("after", TREE)] + ([("before", Path(args.before))] if args.before else []):
        for n in [int(x) for x in args.sockets.split(",")]:
            with app_server(tree) as (server, setup):
                result = asyncio.run(command_latency(server, setup, n, args.rate, args.seconds))
            emit({"bench": "commands", "code": label, "sockets": n, "rate": args.rate, **result})


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    fan = sub.add_parser("fanout")
    fan.add_argument("--sockets", default="50,200,500,1000")
    fan.add_argument("--rounds", type=int, default=15)
    idle = sub.add_parser("idle")
    idle.add_argument("--sockets", default="2000")
    idle.add_argument("--seconds", type=float, default=60)
    ov = sub.add_parser("overview")
    ov.add_argument("--past", default="0,50,200")
    ov.add_argument("--rounds", type=int, default=20)
    cmd = sub.add_parser("commands")
    cmd.add_argument("--sockets", default="0,500")
    cmd.add_argument("--rate", type=float, default=100)
    cmd.add_argument("--seconds", type=float, default=10)
    for p in (fan, idle, ov, cmd):
        p.add_argument("--before", default=None, help="a checkout of the code to compare with")
    args = parser.parse_args()
    {"fanout": run_fanout, "idle": run_idle, "overview": run_overview, "commands": run_commands}[args.what](args)


if __name__ == "__main__":
    main()
