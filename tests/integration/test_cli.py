"""The `holdspace` command, run in-process against a temporary SQLite database."""

from __future__ import annotations

import io
import random
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import cli, demo
from app.domain import DEFAULT_POLICY, Phase, SessionState, fold
from app.live.broker import MemoryBroker
from app.services import Services
from app.store import events as event_store
from app.store import people
from app.store.db import make_engine, unit_of_work
from app.store.migrate import head_revision, is_up_to_date
from app.store.tables import CareSession, Room

DEMO_PASSWORD = "demo-password-42"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'holdspace.db'}"
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", url)
    for name in ("HOLDSPACE_POLICY", "HOLDSPACE_DEMO_PASSWORD", "HOLDSPACE_SECRET_KEY", "HOLDSPACE_DEMO"):
        monkeypatch.delenv(name, raising=False)
    return url


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def _run(*argv: str, stdin: str = "") -> Result:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:  # argparse's own errors
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return _run


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _one_line_error(result: Result) -> str:
    assert result.code == 2, result
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("holdspace: error: ")
    return lines[0]


# ---------------------------------------------------------------- migrate, users, rooms


def test_migrate_is_repeatable(run, db_url: str) -> None:  # type: ignore[no-untyped-def]
    first = run("migrate")
    assert first.code == 0 and f"upgraded from empty to {head_revision()}" in first.out
    again = run("migrate")
    assert again.code == 0 and "already up to date" in again.out


def test_user_pin_reads_the_pin_from_stdin_and_stores_only_its_hash(run, db_url, engine) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate").code == 0
    assert run("user", "add", "farah", "--role", "facilitator", "--password-stdin", stdin="correct horse 9\n").code == 0
    result = run("user", "pin", "Farah", "--pin-stdin", stdin="4821\n")
    assert result.code == 0, result
    assert "set the check-in PIN of farah" in result.out and "4821" not in result.out
    with unit_of_work(engine) as db:
        user = people.get_user(db, "farah")
        assert user is not None and user.pin_hash and "4821" not in user.pin_hash
        assert people.pin_matches(user, "4821") and not people.pin_matches(user, "4822")
    for bad in ("12\n", "12ab\n", "123456789\n"):
        refused = run("user", "pin", "farah", "--pin-stdin", stdin=bad)
        assert refused.code == 2 and "4 to 8 digits" in refused.err
    assert run("user", "pin", "nobody", "--pin-stdin", stdin="4821\n").code == 2
    assert "--pin-stdin" in run("user", "pin", "farah").err


def test_user_add_reads_the_password_from_stdin_and_it_authenticates(run, db_url, engine) -> None:  # type: ignore[no-untyped-def]
    assert run("migrate").code == 0
    result = run("user", "add", "Farah", "--role", "facilitator", "--password-stdin", stdin="correct horse 9\n")
    assert result.code == 0, result
    assert "added user farah (facilitator)" in result.out
    assert "correct horse" not in result.out + result.err  # never echoed

    with unit_of_work(engine) as db:
        user = people.authenticate(db, "farah", "correct horse 9")
        assert user is not None and user.role == "facilitator"
        assert people.authenticate(db, "farah", "correct horse 9\n") is None
        assert people.authenticate(db, "farah", "wrong password") is None


def test_user_add_refuses_a_bad_role(run, db_url, engine) -> None:  # type: ignore[no-untyped-def]
    run("migrate")
    line = _one_line_error(run("user", "add", "bob", "--role", "nurse", "--password-stdin", stdin="long enough 1\n"))
    assert "role must be one of facilitator, lead, prescriber, admin" in line
    with unit_of_work(engine) as db:
        assert people.get_user(db, "bob") is None


def test_user_add_without_password_stdin_is_refused(run, db_url) -> None:  # type: ignore[no-untyped-def]
    run("migrate")
    line = _one_line_error(run("user", "add", "bob", "--role", "lead"))
    assert "--password-stdin" in line


def test_user_add_refuses_duplicates_short_passwords_and_empty_stdin(run, db_url) -> None:  # type: ignore[no-untyped-def]
    run("migrate")
    assert run("user", "add", "bob", "--role", "lead", "--password-stdin", stdin="long enough 1\n").code == 0
    assert "already exists" in _one_line_error(
        run("user", "add", "BOB", "--role", "lead", "--password-stdin", stdin="long enough 2\n")
    )
    assert "at least 8 characters" in _one_line_error(
        run("user", "add", "al", "--role", "lead", "--password-stdin", stdin="short\n")
    )
    assert "no password" in _one_line_error(run("user", "add", "cy", "--role", "lead", "--password-stdin", stdin=""))


def test_commands_on_an_unmigrated_database_say_to_migrate(run, db_url) -> None:  # type: ignore[no-untyped-def]
    for argv in (["user", "add", "bob", "--role", "lead", "--password-stdin"], ["room", "add", "Oak"], ["verify"]):
        assert "holdspace migrate" in _one_line_error(run(*argv, stdin="long enough 1\n"))


def test_room_add_and_assign(run, db_url, engine) -> None:  # type: ignore[no-untyped-def]
    run("migrate")
    run("user", "add", "lena", "--role", "lead", "--password-stdin", stdin="lead password\n")
    run("user", "add", "theo", "--role", "facilitator", "--password-stdin", stdin="facilitator pw\n")
    run("user", "add", "root", "--role", "admin", "--password-stdin", stdin="admin password\n")

    added = run("room", "add", "Oak Room", "--lead", "lena")
    assert added.code == 0 and "added room Oak Room (id oak-room, led by lena)" in added.out
    assert run("room", "add", "Birch").code == 0
    assigned = run("room", "assign", "Oak Room", "theo")
    assert assigned.code == 0 and "assigned theo to Oak Room" in assigned.out
    assert run("room", "assign", "oak-room", "theo").code == 0  # by id, and again: no change

    with unit_of_work(engine) as db:
        oak = people.find_room(db, "Oak Room")
        assert oak is not None and oak.lead == "lena"
        theo = people.get_user(db, "theo")
        assert theo is not None and people.works_in(db, oak, theo)
        assert [s.username for s in people.room_staff(db, oak)] == ["lena", "theo"]

    assert "no room 'Pine'" in _one_line_error(run("room", "assign", "Pine", "theo"))
    assert "no user zed" in _one_line_error(run("room", "assign", "Oak Room", "zed"))
    assert "admins" in _one_line_error(run("room", "assign", "Oak Room", "root"))
    assert "theo is not a lead" in _one_line_error(run("room", "add", "Elm", "--lead", "theo"))
    assert "already exists" in _one_line_error(run("room", "add", "Oak Room"))


def test_a_group_without_an_action_prints_help_and_exits_2(run, db_url) -> None:  # type: ignore[no-untyped-def]
    result = run("room")
    assert result.code == 2 and "assign" in result.err


# ---------------------------------------------------------------- configuration errors, serve


def test_bad_policy_file_stops_serve_with_one_line(run, db_url, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.toml"
    policy.write_text("checkin_interval_minutes = 20\nvitals_every = 3\n")
    monkeypatch.setenv("HOLDSPACE_POLICY", str(policy))
    monkeypatch.setenv("HOLDSPACE_SECRET_KEY", "a-real-secret-of-enough-length")
    monkeypatch.setattr(cli.common, "serve", lambda *a, **k: pytest.fail("must not serve"))
    line = _one_line_error(run("serve"))
    assert "vitals_every" in line
    assert not Path(db_url.removeprefix("sqlite:///")).exists()  # nothing touched before the check

    assert "vitals_every" in _one_line_error(run("demo", "--no-serve"))


def test_serve_without_a_secret_key_is_refused(run, db_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli.common, "serve", lambda *a, **k: pytest.fail("must not serve"))
    assert "HOLDSPACE_SECRET_KEY" in _one_line_error(run("serve"))


def test_serve_migrates_then_runs_the_app_factory(run, db_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOLDSPACE_SECRET_KEY", "a-real-secret-of-enough-length")
    calls = []
    monkeypatch.setattr(cli.common, "serve", lambda app, host, port, **kw: calls.append((app, host, port, kw)))
    result = run("serve", "--host", "0.0.0.0", "--port", "8123")
    assert result.code == 0, result
    assert calls == [("app.main:create_app", "0.0.0.0", 8123, {"factory": True, "workers": 1})]
    assert is_up_to_date(db_url)


# ---------------------------------------------------------------- demo


def _states(engine: sa.Engine) -> dict[str, SessionState]:
    """Room name -> the folded state of its live session."""
    out = {}
    with unit_of_work(engine) as db:
        rows = db.exec(sa.select(CareSession, Room).join(Room, Room.id == CareSession.room_id)).all()
        for row, room in rows:
            out[room.name] = fold(row.id, event_store.read_events(db, row.id))
    return out


@pytest.fixture
def seeded(run, db_url, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOLDSPACE_DEMO_PASSWORD", DEMO_PASSWORD)
    result = run("demo", "--no-serve")
    assert result.code == 0, result
    return result.out


def test_demo_no_serve_seeds_live_sessions(seeded: str, engine) -> None:  # type: ignore[no-untyped-def]
    for username in ("lena", "farah", "theo", "mika", "dr.ade", "admin"):
        assert username in seeded
    assert "http://127.0.0.1:8000/login" in seeded

    with unit_of_work(engine) as db:
        for username, role in demo.USERS:
            user = people.authenticate(db, username, DEMO_PASSWORD)
            assert user is not None and user.role == role
        rooms = {room.name: room for room in db.exec(sa.select(Room)).scalars()}
        assert set(rooms) == {"Cedar Room", "Willow Room", "Juniper Room"}
        assert all(room.lead == "lena" for room in rooms.values())
        staff = {name: [u.username for u in people.room_staff(db, room)] for name, room in rooms.items()}
        assert {"farah", "theo"} <= set(staff["Cedar Room"])
        assert {"mika", "farah"} <= set(staff["Willow Room"])

    states = _states(engine)
    assert set(states) == {"Cedar Room", "Willow Room"}  # Juniper is empty

    cedar = states["Cedar Room"]
    assert cedar.kind == "group" and cedar.lead == "lena"
    assert set(cedar.present) == {"farah", "theo"}
    assert len(cedar.participants) == 4
    phases = {p.phase for p in cedar.participants.values()}
    assert {Phase.JOURNEYING, Phase.RE_ENTRY, Phase.GROUNDING} <= phases
    for p in cedar.participants.values():
        assert p.altered and p.support, p.display_name
        assert all(s.kind == "staff" for s in p.support)
        assert p.dose is not None and p.dose.prescriber == "dr.ade"
        assert p.screening_cleared and p.consent is not None
        assert p.vitals and p.checkin_due_at is not None
    flagged = [p for p in cedar.participants.values() if p.screening_flags]
    assert len(flagged) == 1 and flagged[0].screening_cleared_by == "dr.ade"
    assert sorted(p.distress for p in cedar.participants.values() if p.distress is not None)[-1] == 2
    assert not cedar.refusals

    willow = states["Willow Room"]
    assert willow.kind == "dyad_training"
    journeyers = [p for p in willow.participants.values() if p.altered]
    partners = [p for p in willow.participants.values() if not p.altered]
    assert len(journeyers) == 2 and len(partners) == 2
    for p in journeyers:
        assert [s.kind for s in p.support] == ["participant"]
        partner = willow.participants[p.support[0].id]
        assert partner.phase is Phase.SCREENED and partner.dose is None
    assert not willow.refusals


def test_demo_second_run_adds_nothing(seeded: str, run, engine) -> None:  # type: ignore[no-untyped-def]
    before = _states(engine)
    again = run("demo", "--no-serve")
    assert again.code == 0
    assert "already has users, so nothing was added" in again.out and "lena" in again.out
    assert DEMO_PASSWORD not in again.out
    after = _states(engine)
    assert {k: v.seq for k, v in after.items()} == {k: v.seq for k, v in before.items()}


def test_demo_random_passwords_are_printed(run, db_url, engine) -> None:  # type: ignore[no-untyped-def]
    result = run("demo", "--no-serve")
    assert result.code == 0
    lines = {line.split()[0]: line.split() for line in result.out.splitlines() if line.startswith("  ")}
    with unit_of_work(engine) as db:
        for username, role in demo.USERS:
            assert lines[username][1] == role
            user = people.authenticate(db, username, lines[username][2])
            assert user is not None
            if role == "admin":
                assert "PIN" not in lines[username] and user.pin_hash is None
            else:
                assert lines[username][3] == "PIN" and people.pin_matches(user, lines[username][4])
                assert not people.pin_matches(user, "12345")


def test_demo_serves_the_app_with_the_simulation(run, db_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOLDSPACE_DEMO_PASSWORD", DEMO_PASSWORD)
    served, started = [], []
    real_start = demo.start_simulation

    def start(services, **kwargs):  # type: ignore[no-untyped-def]
        thread, stop = real_start(services, interval=(60.0, 60.0))
        started.append((thread, stop))
        return thread, stop

    monkeypatch.setattr(demo, "start_simulation", start)
    monkeypatch.setattr(cli.common, "serve", lambda app, host, port, **kw: served.append((app, host, port)))
    result = run("demo", "--port", "8124")
    assert result.code == 0, result
    [(app, host, port)] = served
    assert (host, port) == ("127.0.0.1", 8124)
    assert app.state.settings.demo is True
    [(thread, stop)] = started
    assert stop.is_set() and not thread.is_alive()  # stopped when the server returned
    for services_engine in (app.state.services.engine, app.state.services.write_engine):
        services_engine.dispose()


def test_simulation_records_plausible_entries(seeded: str, db_url: str) -> None:
    services = Services(make_engine(db_url), make_engine(db_url, for_writes=True), DEFAULT_POLICY, MemoryBroker())
    try:
        sessions = demo.demo_sessions(services)
        assert len(sessions) == 2
        before = {row.id: services.state(row.id).seq for row in sessions}
        rng = random.Random(3)
        done = [demo.simulate_step(services, rng) for _ in range(6)]
        assert all(d is not None and d.endswith(": 200") for d in done), done
        after = {row.id: services.state(row.id) for row in sessions}
        assert sum(after[sid].seq - before[sid] for sid in before) == 6
        for sid, state in after.items():
            assert not state.refusals
            new = services.events(sid, after=before[sid])
            assert all(e.device == demo.SIM_DEVICE for e in new)

        # The loop stops promptly when told to.
        stop = threading.Event()
        thread = threading.Thread(target=demo.simulate, args=(services, stop), kwargs={"interval": (0.01, 0.02)})
        thread.start()
        stop.set()
        thread.join(timeout=5)
        assert not thread.is_alive()
    finally:
        services.engine.dispose()
        services.write_engine.dispose()


# ---------------------------------------------------------------- verify


def _session_ids(engine: sa.Engine) -> dict[str, str]:
    with unit_of_work(engine) as db:
        return {row.room_id: row.id for row in db.exec(sa.select(CareSession)).scalars()}


def _execute(engine: sa.Engine, sql: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)


def test_verify_passes_on_an_empty_and_a_seeded_database(run, db_url) -> None:  # type: ignore[no-untyped-def]
    run("migrate")
    empty = run("verify")
    assert empty.code == 0 and "0 session(s)" in empty.out
    run("demo", "--no-serve")
    result = run("verify")
    assert result.code == 0, result
    assert "verified 2 session(s)" in result.out


def test_verify_names_the_session_and_event_after_tampering(seeded, run, engine) -> None:  # type: ignore[no-untyped-def]
    ids = _session_ids(engine)
    cedar = ids["cedar-room"]
    _execute(
        engine,
        "UPDATE event SET data = :data WHERE session_id = :sid AND seq = 10",
        data='{"vitals": {"sbp": 120}}',
        sid=cedar,
    )
    result = run("verify")
    assert result.code == 1
    lines = result.out.strip().splitlines()
    assert len(lines) == 1
    assert cedar in lines[0] and "event 10" in lines[0] and "edited" in lines[0]
    assert ids["willow-room"] not in result.out
    assert "1 broken" in result.err


def test_verify_finds_a_deleted_event(seeded, run, engine) -> None:  # type: ignore[no-untyped-def]
    willow = _session_ids(engine)["willow-room"]
    _execute(engine, "DELETE FROM event WHERE session_id = :sid AND seq = 12", sid=willow)
    result = run("verify")
    assert result.code == 1
    assert willow in result.out and "event 13" in result.out and "removed" in result.out


def test_verify_finds_unreadable_data_and_a_removed_log(seeded, run, engine) -> None:  # type: ignore[no-untyped-def]
    ids = _session_ids(engine)
    _execute(engine, "UPDATE event SET data = 'not json' WHERE session_id = :sid AND seq = 3", sid=ids["cedar-room"])
    _execute(engine, "DELETE FROM event WHERE session_id = :sid", sid=ids["willow-room"])
    result = run("verify")
    assert result.code == 1
    out = result.out
    assert f"session {ids['cedar-room']}" in out and "event 3" in out and "not valid JSON" in out
    assert f"session {ids['willow-room']}" in out and "event 1" in out and "no events" in out


def test_verify_finds_events_removed_from_the_end_of_a_log(seeded, run, engine) -> None:  # type: ignore[no-untyped-def]
    """The hash chain alone cannot show a shortened log; the session's recorded head can."""
    cedar = _session_ids(engine)["cedar-room"]
    with engine.connect() as connection:
        last = connection.execute(
            sa.text("SELECT MAX(seq) FROM event WHERE session_id = :sid"), {"sid": cedar}
        ).scalar()
    _execute(engine, "DELETE FROM event WHERE session_id = :sid AND seq >= :from_seq", sid=cedar, from_seq=last - 1)
    result = run("verify")
    assert result.code == 1
    assert f"session {cedar}" in result.out and f"event {last - 1}" in result.out
    assert "removed from its end" in result.out
