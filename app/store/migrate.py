"""Run the Alembic migrations programmatically (`holdspace migrate`, and `serve` before it starts).

alembic.ini and migrations/ live at the repository root, beside the `app` package.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import app

ROOT = Path(app.__file__).resolve().parent.parent
ALEMBIC_INI = ROOT / "alembic.ini"
MIGRATIONS = ROOT / "migrations"


class MigrationSetupError(RuntimeError):
    """alembic.ini or migrations/ cannot be found next to the app package."""


def alembic_config(url: str | None = None) -> Config:
    """The project's Alembic Config, for `url` when given (else HOLDSPACE_DATABASE_URL)."""
    if not ALEMBIC_INI.is_file() or not MIGRATIONS.is_dir():
        raise MigrationSetupError(f"cannot find alembic.ini and migrations/ in {ROOT}")
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    # Keep the caller's logging as it is (env.py configures logging only for the alembic command).
    config.attributes["configure_logger"] = False
    if url:
        config.attributes["url"] = url
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None for an empty database)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def is_up_to_date(url: str) -> bool:
    return current_revision(url) == head_revision()


def upgrade(url: str, revision: str = "head") -> None:
    """`alembic upgrade head` on the database at `url`. Safe to run again: it does nothing then."""
    command.upgrade(alembic_config(url), revision)
