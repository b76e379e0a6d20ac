"""API fixtures: a seeded database per test (copied from one made once per run), and TestClient
sessions of the demo staff carrying a standing sign-in's cookie (signing in verifies an argon2 hash,
which would dominate the run time; `login` signs in through the API where a test needs that)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
from base64 import b64encode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from tests.conftest import PASSWORD, create_schema, seed_clinic

JSON = {"X-Requested-With": "holdspace"}


def login(app: Any, username: str) -> TestClient:
    client = TestClient(app, headers=JSON)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


_TEMPLATE: list[Path] = []


@pytest.fixture
def db_url(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> str:
    """The conftest's fresh, seeded SQLite file, migrated and seeded once per run and copied for
    each test (seeding hashes seven passwords, which would dominate the run time)."""
    if not _TEMPLATE:
        template = tmp_path_factory.mktemp("template") / "holdspace.db"
        url = f"sqlite:///{template}"
        create_schema(url)
        seed_clinic(url)
        with sqlite3.connect(template) as raw:
            # A standing sign-in per user, so tests can carry a cookie without re-hashing passwords.
            names = [name for (name,) in raw.execute("SELECT username FROM app_user").fetchall()]
            raw.executemany(
                "INSERT INTO sign_in (id, username, created_at) VALUES (?, ?, CURRENT_TIMESTAMP)",
                [(f"test-{name}", name) for name in names],
            )
            raw.commit()
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()
        _TEMPLATE.append(template)
    target = tmp_path / "holdspace.db"
    shutil.copyfile(_TEMPLATE[0], target)
    return f"sqlite:///{target}"


SESSION_COOKIE = "holdspace_session"


def signed_cookie(app: Any, username: str) -> str:
    """The session cookie the app would set for the template's standing sign-in of `username`."""
    secret = app.state.settings.checked_secret()
    payload = b64encode(json.dumps({"sign_in": f"test-{username}"}).encode())
    return TimestampSigner(secret).sign(payload).decode()


@pytest.fixture
def client_for(app: Any) -> Iterator[Callable[[str], TestClient]]:
    """The conftest's `client_for`, signing each user in through the API once per run and reusing
    the signed cookie afterwards (every test's app shares the secret key; a sign-in verifies an
    argon2 hash, which would dominate the run time)."""
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = TestClient(app, headers=JSON, cookies={SESSION_COOKIE: signed_cookie(app, username)})
        clients.append(client)
        me = client.get("/api/v1/me")
        assert me.status_code == 200 and me.json()["username"] == username, me.text
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def farah(client_for: Callable[[str], TestClient]) -> TestClient:
    return client_for("farah")


@pytest.fixture
def lena(client_for: Callable[[str], TestClient]) -> TestClient:
    return client_for("lena")


@pytest.fixture
def doc(client_for: Callable[[str], TestClient]) -> TestClient:
    return client_for("dr.ade")


@pytest.fixture
def session_id(farah: TestClient) -> str:
    response = farah.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


# ---------------------------------------------------------------- PostgreSQL, when a server is given

POSTGRES_SERVER = os.environ.get("HOLDSPACE_TEST_POSTGRES_URL")


@contextmanager
def postgres_database(*, seeded: bool = True) -> Iterator[str]:
    """A database of its own on the PostgreSQL server (.ci/postgres.sh starts one), dropped after:
    migrated and seeded, or left empty with `seeded=False`."""
    if not POSTGRES_SERVER:
        pytest.skip("set HOLDSPACE_TEST_POSTGRES_URL (see .ci/postgres.sh)")
    server = sa.create_engine(POSTGRES_SERVER, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    name = f"holdspace_test_{secrets.token_hex(4)}"
    url = sa.make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    with server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        if seeded:
            create_schema(url)
            seed_clinic(url)
        yield url
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A migrated, seeded database of its own on the PostgreSQL server."""
    with postgres_database() as url:
        yield url
