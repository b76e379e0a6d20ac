"""Run the Alembic migrations programmatically (`holdspace migrate`, and `serve` before it starts).

The migrations travel inside the package (app/migrations), so an installed wheel can migrate.
alembic.ini at the repository root is only for developers running `alembic` there.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import app

MIGRATIONS = Path(app.__file__).resolve().parent / "migrations"


class MigrationSetupError(RuntimeError):
    """The migrations are missing from the installed package."""


def alembic_config(url: str | None = None) -> Config:
    """The project's Alembic Config, for `url` when given (else HOLDSPACE_DATABASE_URL)."""
    if not (MIGRATIONS / "env.py").is_file() or not (MIGRATIONS / "versions").is_dir():
        raise MigrationSetupError(f"cannot find the migrations in {MIGRATIONS} (the package is incomplete)")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Keep the caller's logging as it is (env.py configures logging only for the alembic command).
    config.attributes["configure_logger"] = False
    if url:
        config.attributes["url"] = url
    return config


@functools.cache
def head_revision() -> str | None:
    """The latest migration the package carries (read once: the files do not change while running)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision_of(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None for an empty database)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return revision_of(connection)
    finally:
        engine.dispose()


def is_up_to_date(url: str) -> bool:
    return current_revision(url) == head_revision()


def upgrade(url: str, revision: str = "head") -> None:
    """`alembic upgrade head` on the database at `url`. Safe to run again: it does nothing then."""
    command.upgrade(alembic_config(url), revision)
