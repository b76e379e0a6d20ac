"""Shared fixtures: an app on a fresh SQLite file, a settable clock, and signed-in clients."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from app.config import Settings
from app.store import people
from app.store.db import make_engine, unit_of_work

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def create_schema(url: str) -> None:
    try:
        from app.store.migrate import upgrade
    except ImportError:  # pragma: no cover - before migrations exist
        engine = make_engine(url)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        return
    upgrade(url)


def seed_clinic(url: str) -> None:
    """Two rooms: Cedar (lead lena; farah, theo, dr.ade) and Willow (lead lena; mika)."""
    engine = make_engine(url)
    with unit_of_work(engine) as db:
        for username, role in [
            ("lena", "lead"),
            ("lou", "lead"),
            ("farah", "facilitator"),
            ("theo", "facilitator"),
            ("mika", "facilitator"),
            ("dr.ade", "prescriber"),
            ("admin", "admin"),
        ]:
            people.create_user(db, username, role, PASSWORD)
        cedar = people.create_room(db, "Cedar Room", lead="lena")
        willow = people.create_room(db, "Willow Room", lead="lou")
        for username in ("farah", "theo", "dr.ade"):
            people.assign(db, cedar, username)
        people.assign(db, willow, "mika")
        db.commit()
    engine.dispose()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'holdspace.db'}"
    create_schema(url)
    seed_clinic(url)
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-0123456789", demo=False, secure_cookies=False)


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Iterator[object]:
    from app.main import create_app

    application = create_app(settings, clock=clock, run_clock_task=False)
    yield application
    services = application.state.services
    services.engine.dispose()
    services.write_engine.dispose()


@pytest.fixture(autouse=True)
def _clinic_time_zone_back_to_utc() -> Iterator[None]:
    """The clinic's zone is set per process at start-up; a test that sets another is undone."""
    yield
    from app import localtime

    localtime.configure(localtime.DEFAULT_ZONE)
