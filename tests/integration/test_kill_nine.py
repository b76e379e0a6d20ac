"""Kill -9 under load: the server dies mid-write while four tablets keep recording.

Every entry a tablet was told is recorded is in the log after a restart; a tablet that retries
everything it sent (answered or not) with the same Idempotency-Key gets the first answer for
what was recorded and a record for what was not; nothing is recorded twice; the hash chain of
the log still verifies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PASSWORD

JSON = {"X-Requested-With": "holdspace"}
TABLETS = 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, db_url: str, cwd: Path) -> None:
        self.port = _free_port()
        self.env = {
            **os.environ,
            "HOLDSPACE_DATABASE_URL": db_url,
            "HOLDSPACE_SECRET_KEY": "kill-nine-secret-0123456789",
            "HOLDSPACE_SECURE_COOKIES": "false",  # plain HTTP on the loopback
        }
        self.env.pop("HOLDSPACE_POLICY", None)
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)

    def kill_nine(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    served = Server(db_url, tmp_path)
    served.start()
    yield served
    served.stop()


def _login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, headers=JSON, timeout=5)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


def _key(tablet: int, n: int) -> str:
    return f"kill-nine-{tablet}-{n:04d}"


def _body(tablet: int, n: int) -> dict[str, Any]:
    return {"distress": (tablet + n) % 3, "note": f"tablet {tablet} entry {n}"}


def test_a_server_killed_mid_write_loses_nothing_it_acknowledged_and_duplicates_nothing_on_retry(
    server: Server, db_url: str, tmp_path: Path
) -> None:
    farah = _login(server.base, "farah")
    created = farah.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    pids = []
    for name in ("Ada", "Bo", "Cy", "Di"):
        body = {"display_name": name, "chart_id": f"KN-{name}"}
        added = farah.post(f"/api/v1/sessions/{sid}/participants", json=body)
        assert added.status_code == 201, added.text
        pids.append(added.json()["id"])
    cookies = dict(farah.cookies)
    farah.close()

    sent: list[list[int]] = [[] for _ in range(TABLETS)]
    acknowledged: list[dict[int, Any]] = [{} for _ in range(TABLETS)]
    stop = threading.Event()

    def tablet(index: int) -> None:
        with httpx.Client(base_url=server.base, headers=JSON, cookies=cookies, timeout=3) as client:
            n = 0
            while not stop.is_set():
                path = f"/api/v1/sessions/{sid}/participants/{pids[index]}/observations"
                sent[index].append(n)
                try:
                    answer = client.post(path, json=_body(index, n), headers={"Idempotency-Key": _key(index, n)})
                except httpx.HTTPError:
                    return  # the server is gone: this entry is in doubt, the tablet will retry it
                if answer.status_code in (200, 201):
                    acknowledged[index][n] = answer.json()
                n += 1

    threads = [threading.Thread(target=tablet, args=(i,)) for i in range(TABLETS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(len(a) for a in acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill_nine()  # mid-write: the tablets are still posting
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert sum(len(a) for a in acknowledged) >= 60, "the load never reached the server"

    in_doubt = sum(len(sent[i]) - len(acknowledged[i]) for i in range(TABLETS))
    print(f"acknowledged {sum(len(a) for a in acknowledged)}, in doubt {in_doubt}")
    server.start()
    with httpx.Client(base_url=server.base, headers=JSON, cookies=cookies, timeout=5) as client:
        for index in range(TABLETS):
            path = f"/api/v1/sessions/{sid}/participants/{pids[index]}/observations"
            for n in sent[index]:
                again = client.post(path, json=_body(index, n), headers={"Idempotency-Key": _key(index, n)})
                assert again.status_code in (200, 201), again.text
                if n in acknowledged[index]:
                    assert again.json() == acknowledged[index][n], "a retry of a recorded entry is the first answer"
        log = client.get(f"/api/v1/sessions/{sid}/events", params={"limit": 5000}).json()
    events = log["events"] if isinstance(log, dict) else log
    notes = [json.dumps(event, sort_keys=True) for event in events]
    for index in range(TABLETS):
        for n in sent[index]:
            text = f"tablet {index} entry {n}"
            found = [line for line in notes if f'"{text}"' in line]
            assert len(found) == 1, f"{text!r} recorded {len(found)} times"

    verified = subprocess.run(
        [sys.executable, "-m", "app.cli", "verify"],
        env=server.env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
