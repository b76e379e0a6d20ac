"""The Alembic migrations build exactly the schema of app/store/tables.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import app.store.tables  # noqa: F401  (registers the tables)
from app.store import migrate
from tests.integration.conftest import postgres_database


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'holdspace.db'}"


def _inspect(url: str) -> dict[str, dict[str, tuple[str, bool]]]:
    """table -> column -> (type class name, nullable), as the database reports them."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {col["name"]: (type(col["type"]).__name__, col["nullable"]) for col in inspector.get_columns(table)}
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def _diff(url: str) -> list:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def test_upgrade_of_an_empty_sqlite_file_creates_every_table_with_the_same_columns(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path)
    assert migrate.current_revision(url) is None

    migrate.upgrade(url)

    assert migrate.current_revision(url) == migrate.head_revision() == "0006"
    found = _inspect(url)
    expected_tables = set(SQLModel.metadata.tables)
    assert expected_tables == {
        "app_user",
        "room",
        "room_assignment",
        "care_session",
        "event",
        "idempotency_key",
        "sign_in",
        "access_log",
        "open_item",
        "report_session",
        "report_alarm",
        "report_followup",
    }
    assert set(found) == expected_tables | {"alembic_version"}
    for name, table in SQLModel.metadata.tables.items():
        assert set(found[name]) == {c.name for c in table.columns}, name
        for column in table.columns:
            assert found[name][column.name][1] == column.nullable, f"{name}.{column.name} nullable"
    # Autogenerate sees nothing left to do: types, indexes and constraints match too.
    assert _diff(url) == []


def test_upgrade_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path)
    migrate.upgrade(url)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO app_user (username, role, password_hash, active, created_at) "
                    "VALUES ('farah', 'facilitator', 'x', 1, '2024-01-01 00:00:00')"
                )
            )
        before = _inspect(url)

        migrate.upgrade(url)
        migrate.upgrade(url)

        assert _inspect(url) == before
        assert migrate.is_up_to_date(url)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT username FROM app_user")).scalars().all() == ["farah"]
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0006"]
    finally:
        engine.dispose()


def test_downgrade_to_base_and_up_again(tmp_path: Path) -> None:
    url = _sqlite_url(tmp_path)
    migrate.upgrade(url)
    command.downgrade(migrate.alembic_config(url), "base")
    assert set(_inspect(url)) == {"alembic_version"}
    migrate.upgrade(url)
    assert _diff(url) == []


def test_url_set_on_the_config_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_db = tmp_path / "from_env.db"
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", f"sqlite:///{env_db}")
    config = migrate.alembic_config()
    config.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path / 'from_config.db'}")
    command.upgrade(config, "head")
    assert (tmp_path / "from_config.db").exists()
    assert not env_db.exists()

    # Without one, HOLDSPACE_DATABASE_URL is used.
    command.upgrade(migrate.alembic_config(), "head")
    assert migrate.current_revision(f"sqlite:///{env_db}") == "0006"


def test_migrations_are_plain_portable_sqlalchemy() -> None:
    versions = sorted((migrate.MIGRATIONS / "versions").glob("*.py"))
    assert versions, "no migration files"
    for path in versions:
        code = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        imports = [line for line in code if line.startswith(("import ", "from "))]
        assert not [line for line in imports if "sqlmodel" in line], f"{path.name} imports sqlmodel"
        assert not [line for line in code if "sqlite_" in line or "dialects" in line], (
            f"{path.name} uses something dialect-specific"
        )


def test_offline_sql_for_postgresql(tmp_path: Path) -> None:
    """`alembic upgrade head --sql` renders PostgreSQL DDL (no server needed)."""
    config = migrate.alembic_config("postgresql://holdspace@localhost/holdspace")
    config.output_buffer = io.StringIO()
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()
    for table in SQLModel.metadata.tables:
        assert f"CREATE TABLE {table} (" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "BOOLEAN" in sql
    assert "CONSTRAINT uq_event_session_seq UNIQUE (session_id, seq)" in sql
    assert "CREATE UNIQUE INDEX ix_app_user_username" in sql


def test_upgrade_on_postgresql() -> None:
    with postgres_database(seeded=False) as url:
        migrate.upgrade(url)
        migrate.upgrade(url)
        assert migrate.current_revision(url) == "0006"
        assert _diff(url) == []
        found = _inspect(url)
        for table_name, table in SQLModel.metadata.tables.items():
            assert set(found[table_name]) == {c.name for c in table.columns}


def test_the_session_head_is_taken_from_the_log_for_sessions_recorded_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = migrate.alembic_config(url)
    command.upgrade(config, "0001")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO room (id, name, created_at) VALUES ('r', 'Room', CURRENT_TIMESTAMP);"))
        connection.execute(
            sa.text(
                "INSERT INTO care_session (id, room_id, kind, lead, opened_at) "
                "VALUES ('s', 'r', 'group', 'lee', CURRENT_TIMESTAMP)"
            )
        )
        for seq, digest in ((1, "a" * 64), (2, "b" * 64)):
            connection.execute(
                sa.text(
                    "INSERT INTO event (session_id, seq, kind, at, actor, data, prev_hash, hash) "
                    "VALUES ('s', :seq, 'x', CURRENT_TIMESTAMP, 'lee', '{}', :prev, :hash)"
                ),
                {"seq": seq, "prev": "0" * 64, "hash": digest},
            )
    migrate.upgrade(url)
    with engine.connect() as connection:
        head = connection.execute(sa.text("SELECT head_seq, head_hash FROM care_session WHERE id = 's'")).one()
    engine.dispose()
    assert tuple(head) == (2, "b" * 64)
