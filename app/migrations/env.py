"""Alembic environment for Holdspace.

The target is SQLModel.metadata as app/store/tables.py defines it. The database URL is, in order:
`config.attributes["url"]`, `sqlalchemy.url` set on the Config (app.store.migrate does this),
`alembic -x url=...`, and finally HOLDSPACE_DATABASE_URL through app.config.Settings.

The whole upgrade runs in one transaction: on SQLite it starts with BEGIN IMMEDIATE, on PostgreSQL
it takes a transaction-scoped advisory lock, so two processes starting at once migrate one after
the other instead of racing.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import app.store.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from app.config import Settings

config = context.config

# Configure logging only when run as the `alembic` command; `holdspace` keeps its own logging.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata

# Any number that is the same for every Holdspace database: the key of the migration lock.
PG_LOCK_KEY = 0x486F6C64  # "Hold"


def database_url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        url = context.get_x_argument(as_dictionary=True).get("url")
    return url or Settings().database_url


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render sqlmodel's AutoString as a plain sa.String, so migrations never import sqlmodel."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_as_batch=True,  # ALTER TABLE through copy-and-move on SQLite; plain ALTER elsewhere
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    _configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # SQLAlchemy issues BEGIN itself (below) so the upgrade really is one transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # a caller's connection (and transaction): use it as it is
        _run(connection)
        return
    engine = _engine(database_url())
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
