"""API fixtures: TestClient sessions signed in as the demo staff."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD

JSON = {"X-Requested-With": "holdspace"}


def login(app: Any, username: str) -> TestClient:
    client = TestClient(app, headers=JSON)
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return client


@pytest.fixture
def client_for(app: Any) -> Iterator[Callable[[str], TestClient]]:
    clients: list[TestClient] = []

    def make(username: str) -> TestClient:
        client = login(app, username)
        clients.append(client)
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
