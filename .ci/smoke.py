"""Smoke test of a running Holdspace (the container CI starts): wait for /readyz, sign in, open a
session, read it back, and check a live socket answers. Standard library only; loopback only.

    python3 .ci/smoke.py http://127.0.0.1:PORT USERNAME PASSWORD ROOM_ID
"""

from __future__ import annotations

import http.cookiejar
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def main(base: str, username: str, password: str, room_id: str) -> None:
    assert base.startswith(("http://127.0.0.1:", "http://localhost:")), "loopback targets only"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=3) as answer:
                ready = json.load(answer)
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            if time.monotonic() > deadline:
                sys.exit(f"{base}/readyz never answered 200: {err}")
            time.sleep(0.5)
    print(f"ready: schema {ready['schema']}")

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{base}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-Requested-With": "holdspace",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
        try:
            with opener.open(request, timeout=10) as answer:
                return answer.status, json.load(answer)
        except urllib.error.HTTPError as err:
            sys.exit(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}")

    status, me = call("POST", "/api/v1/auth/login", {"username": username, "password": password})
    assert me["username"] == username, me
    print(f"signed in as {me['username']} ({me['role']})")
    status, opened = call(
        "POST", "/api/v1/sessions", {"room_id": room_id, "kind": "group", "facilitators": [username], "lead": username}
    )
    assert status == 201, (status, opened)
    sid = opened["id"]
    status, state = call("GET", f"/api/v1/sessions/{sid}")
    assert status == 200 and state["id"] == sid and state["seq"] >= 1, state
    print(f"opened session {sid} and read it back at seq {state['seq']}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
