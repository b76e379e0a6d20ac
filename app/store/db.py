"""Engine and unit of work. SQLite runs in WAL mode with synchronous=FULL and a busy timeout."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, *, for_writes: bool = False) -> Engine:
    """An engine for `url`. On SQLite, `for_writes` makes every transaction BEGIN IMMEDIATE so two
    writers queue on the busy timeout instead of failing when a read lock is upgraded."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy issue BEGIN itself so a transaction really is one transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE" if for_writes else "BEGIN")

        return engine
    # A server that does not answer fails a request within seconds (a 503 the client retries)
    # instead of holding it, and a worker thread, for the operating system's TCP timeout.
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if url.startswith("postgresql") else {}
    return sa.create_engine(url, pool_pre_ping=True, pool_timeout=CONNECT_TIMEOUT_SECONDS, connect_args=connect_args)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """A transaction that rolls back unless the block commits explicitly."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        # Detach what was read first, so objects loaded here stay readable after the rollback.
        session.expunge_all()
        session.rollback()
        session.close()
