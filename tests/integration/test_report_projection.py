"""The response report reads projections kept in the same transaction as the log (issue 14, item 5).

A closed session's figures are written beside its log by every append to it; the report reads
them and folds only the sessions still open. These tests hold the projection to the review's own
fold of the log: over random command sequences (Hypothesis), over PRODUCT.md's two stories, after
events a closed session still gets (a follow-up opened or closed later), after `holdspace migrate`
on a database written before the projection existed, and on PostgreSQL. They also show that the
report over closed sessions folds no log and costs the same number of statements however many
sessions it covers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import reviews as reviews_module
from app.cli import main as cli_main
from app.config import Settings
from app.domain import commands as c
from app.domain.errors import InvalidInput
from app.domain.model import Actor, SupportRef
from app.domain.report import SessionFigures, response_report, session_figures
from app.domain.review import review
from app.main import create_app
from app.reviews import Reviews
from app.services import ServiceError, Services
from app.store import migrate, people
from app.store import report as report_store
from app.store.db import unit_of_work
from app.store.tables import ReportAlarm, ReportFollowup, ReportSession, Room, User
from app.web.review_views import report_view
from tests.conftest import Clock
from tests.integration.helpers import (
    API,
    dose,
    ok,
    open_session,
    part,
    ready_participant,
    refused,
    sess,
    state,
)
from tests.integration.test_session_review import disrupted  # noqa: F401 - the room nobody held

Clients = Callable[[str], TestClient]

FARAH = Actor("farah", "facilitator")
THEO = Actor("theo", "facilitator")
LENA = Actor("lena", "lead")
DOC = Actor("dr.ade", "prescriber")
ACTORS = {"farah": FARAH, "theo": THEO, "lena": LENA, "dr.ade": DOC}
DEVICES = {"farah": "cedar-tablet", "theo": "cedar-tablet-2", "lena": "lead-laptop", "dr.ade": "doc-phone"}
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


# ------------------------------------------------------------------ what the projection must equal


def folded(services: Services, sid: str) -> SessionFigures:
    """The session's figures as the review derives them from its whole log, now."""
    return session_figures(review(sid, services.events(sid), services.clock(), services.policy))


def projected(services: Services, sid: str) -> SessionFigures | None:
    with unit_of_work(services.engine) as db:
        return report_store.read(db, *EVER).get(sid)


def assert_projection_is_the_fold(services: Services, sid: str) -> SessionFigures:
    found = projected(services, sid)
    assert found is not None, "a closed session has no report figures"
    assert found == folded(services, sid)
    head = services.care_session(sid)
    assert head is not None and found.seq == head.head_seq
    return found


# ------------------------------------------------------------------ sessions driven through the services


class Driver:
    """One session in Cedar Room, driven command by command through `Services.execute` (load state,
    decide, append in one unit of work), as every request is; the clock moves only when told."""

    def __init__(self, services: Services, clock: Clock, kind: str = "group") -> None:
        self.services, self.clock = services, clock
        outcome = services.open_session(
            LENA, _room(services), kind, ["farah", "theo"], "lena", answer=lambda s, e: (201, {"id": s.session_id})
        )
        self.sid: str = outcome.body["id"]
        self.kind = kind
        self.pids: list[str] = []

    def run(self, actor: str, cmd: c.Command) -> int:
        """Send a command; a refusal goes on the record as it does for a request. Returns the status."""
        try:
            return self.services.execute(self.sid, cmd, ACTORS[actor], device=DEVICES[actor]).status
        except (InvalidInput, ServiceError):
            return 422

    @property
    def state(self) -> Any:
        return self.services.state(self.sid)

    def participant(self, name: str, support: SupportRef) -> str:
        pid = f"{self.sid}-{name.lower()}"
        assert self.run("farah", c.AddParticipant(pid, name, f"C-{name}")) < 400
        screening = c.RecordScreening(pid, {"psychosis_history": False}, sbp=118, dbp=76)
        assert self.run("farah", screening) < 400
        consent = c.RecordConsent(
            pid,
            touch=("hand",),
            pause_signal="hand on heart",
            stop_signal="red card",
            music=True,
            eyeshades=False,
            emergency_contact="Sam, +1 555 0100",
            transport_plan="Partner drives",
            signed_by_participant=True,
        )
        assert self.run("farah", consent) < 400
        assert self.run("farah", c.AssignSupport(pid, support)) < 400
        self.pids.append(pid)
        return pid

    def start(self) -> None:
        """farah checks in; Cam (supported by farah) and Bea (supported by Cam in a dyad, else by
        theo); Bea is dosed, and in a group Cam too."""
        assert self.run("farah", c.CheckIn("farah", "facilitator")) < 400
        cam = self.participant("Cam", SupportRef("staff", "farah"))
        partner = SupportRef("participant", cam) if self.kind == "dyad_training" else SupportRef("staff", "theo")
        bea = self.participant("Bea", partner)
        assert self.run("dr.ade", c.AdministerDose(bea, "sublingual", 200)) < 400
        if self.kind == "group":
            assert self.run("dr.ade", c.AdministerDose(cam, "sublingual", 200)) < 400

    def open_alarms(self) -> list[str]:
        return [e.id for e in self.state.open_escalations]

    def wind_down(self) -> None:
        """Resolve every open alarm, transfer everyone still in the session, and close it."""
        for _ in range(3):
            for eid in self.open_alarms():
                assert self.run("lena", c.ResolveEscalation(eid, "sat with them", "settled")) < 400
            for pid, p in reversed(self.state.participants.items()):  # a journeyer before her partner
                if not p.phase.final:
                    self.run("farah", c.Transfer(pid, "went home with a friend", "home"))
        status = self.run("lena", c.CloseSession())
        assert status < 400 and self.state.closed_at is not None, self.services.events(self.sid)[-1]


def _room(services: Services) -> Room:
    """A room of its own for each driven session (the rules never ask which room it is)."""
    with unit_of_work(services.write_engine) as db:
        room = people.create_room(db, f"Room {secrets.token_hex(4)}", lead="lena")
        db.commit()
        db.refresh(room)
        return room


POSTGRES = os.environ.get("HOLDSPACE_TEST_POSTGRES_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=pytest.mark.skipif(not POSTGRES, reason="set HOLDSPACE_TEST_POSTGRES_URL (.ci/postgres.sh)")
    ),
]


def make_app(url: str, clock: Clock) -> Any:
    return create_app(
        Settings(database_url=url, secret_key="report-test-secret-0123456789", secure_cookies=False),
        clock=clock,
        run_clock_task=False,
    )


def dispose(app: Any) -> None:
    app.state.services.engine.dispose()
    app.state.services.write_engine.dispose()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest) -> str:
    """The database a test runs on: the seeded SQLite file, or one on the PostgreSQL server."""
    found: str = request.getfixturevalue("db_url" if request.param == "sqlite" else "pg_url")
    return found


@pytest.fixture
def services(url: str, clock: Clock) -> Iterator[Services]:
    app = make_app(url, clock)
    yield app.state.services
    dispose(app)


# ------------------------------------------------------------------ random use


def _pick(items: list[str], index: int) -> str | None:
    return items[index % len(items)] if items else None


SEEN = st.tuples(st.just("seen"), st.integers(0, 3), st.sampled_from(["lena", "farah", "theo"]))
DISTRESS = st.tuples(st.just("distress"), st.integers(0, 1), st.integers(0, 4), st.sampled_from(["farah", "theo"]))
STEP = st.one_of(
    st.tuples(st.just("advance"), st.integers(5, 1200)),
    DISTRESS,
    DISTRESS,
    DISTRESS,
    st.tuples(st.just("ack"), st.integers(0, 3), st.sampled_from(["lena", "farah"])),
    st.tuples(st.just("resolve"), st.integers(0, 3), st.sampled_from(["lena", "theo"])),
    SEEN,
    SEEN,
    st.tuples(st.just("mute"), st.integers(0, 3), st.just("lena")),
    st.tuples(st.just("tick")),
    st.tuples(st.just("remove_support"), st.integers(0, 1), st.sampled_from(["farah", "lena"])),
    st.tuples(st.just("check_in"), st.sampled_from(["theo", "lena"])),
    st.tuples(st.just("check_out"), st.sampled_from(["farah", "theo", "lena"])),
    st.tuples(st.just("phase"), st.integers(0, 1), st.sampled_from(["journeying", "re_entry", "grounding"])),
    st.tuples(st.just("followup"), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("close_followup"), st.integers(0, 3)),
)
AFTER_CLOSE = st.one_of(
    st.tuples(st.just("advance"), st.integers(60, 4 * 24 * 3600)),
    st.tuples(st.just("followup"), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("close_followup"), st.integers(0, 3)),
    st.tuples(st.just("seen"), st.integers(0, 3), st.just("lena")),
)


def play(d: Driver, step: tuple[Any, ...]) -> None:
    what, *args = step
    alarms = [e.id for e in sorted(d.state.escalations.values(), key=lambda e: e.raised_at)]
    followups = [f.id for f in d.state.followups.values() if f.open]
    if what == "advance":
        d.clock.advance(seconds=args[0])
    elif what == "distress":
        d.run(args[2], c.RecordObservation(d.pids[args[0]], distress=args[1]))
    elif what in ("ack", "resolve", "seen", "mute") and (eid := _pick(alarms, args[0])):
        cmd: c.Command = {
            "ack": lambda: c.AcknowledgeEscalation(eid),
            "resolve": lambda: c.ResolveEscalation(eid, "sat with them", "settled"),
            "seen": lambda: c.MarkAlarmsSeen((eid,)),
            "mute": lambda: c.MuteAlarm(eid),
        }[what]()
        d.run(args[1], cmd)
    elif what == "tick":
        d.run("farah", c.Tick())
    elif what == "remove_support":
        support = d.state.participants[d.pids[args[0]]].support
        if support:
            d.run(args[1], c.RemoveSupport(d.pids[args[0]], support[0].id))
    elif what == "check_in":
        d.run(args[0], c.CheckIn(args[0], ACTORS[args[0]].role))
    elif what == "check_out":
        d.run(args[0], c.CheckOut(args[0]))
    elif what == "phase":
        d.run("farah", c.ChangePhase(d.pids[args[0]], args[1]))
    elif what == "followup":
        d.run("theo", c.OpenFollowup(d.pids[args[0]], "Ask how she is", account="I felt alone", concerns_lead=args[1]))
    elif what == "close_followup" and (fid := _pick(followups, args[0])):
        d.run("lena" if args[0] % 2 else "theo", c.CloseFollowup(fid, "Called her; she is well"))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    kind=st.sampled_from(["group", "dyad_training"]),
    first=st.tuples(st.just("distress"), st.integers(0, 1), st.integers(2, 4), st.sampled_from(["farah", "theo"])),
    steps=st.lists(STEP, min_size=4, max_size=30),
    afterwards=st.lists(AFTER_CLOSE, max_size=4),
)
def test_the_projection_is_the_reviews_fold_over_random_use(
    services: Services,
    clock: Clock,
    kind: str,
    first: tuple[Any, ...],
    steps: list[tuple[Any, ...]],
    afterwards: list[tuple[Any, ...]],
) -> None:
    d = Driver(services, clock, kind)
    d.start()
    for step in [first, *steps]:
        play(d, step)
        # While the session is open nothing is projected: the report folds it live.
        assert projected(services, d.sid) is None
    d.wind_down()
    assert_projection_is_the_fold(services, d.sid)
    for step in afterwards:
        play(d, step)
        assert_projection_is_the_fold(services, d.sid)


# ------------------------------------------------------------------ the stories of PRODUCT.md


def close_via_api(client_for: Clients, sid: str) -> None:
    """Everyone still in the session goes home (transferred; the last added first, so a journeyer
    goes before her training partner), and the lead closes it."""
    farah, lena = client_for("farah"), client_for("lena")
    for p in reversed(state(lena, sid)["participants"]):
        if p["phase"] not in ("discharged", "transferred"):
            ok(farah.post(part(sid, p["id"], "/transfer"), json={"reason": "went home", "destination": "home"}))
    ok(lena.post(sess(sid, "/close")))


def report(client: TestClient, start: datetime, end: datetime) -> dict[str, Any]:
    found: dict[str, Any] = ok(
        client.get(f"{API}/reports/response", params={"from": start.isoformat(), "to": end.isoformat()})
    )
    return found


def no_folding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's fold is not to be called by the report from here on (a closed session's figures
    come from the projection)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the report folded a session's log")

    monkeypatch.setattr(reviews_module, "review", refuse)


def test_the_room_nobody_held_is_reported_from_the_projection_once_closed(
    disrupted: dict[str, Any],  # noqa: F811 - the fixture imported above
    client_for: Clients,
    app: Any,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sid, t0 = disrupted["sid"], disrupted["t0"]
    services: Services = app.state.services
    close_via_api(client_for, sid)
    found = assert_projection_is_the_fold(services, sid)
    [alarm] = found.alarms
    assert (alarm.first_seen_by, alarm.first_seen_device, alarm.acknowledged_by) == ("farah", "cedar-tablet", "lena")
    assert (found.unattended_distress_seconds, found.missed_checkins, found.closed_at) == (
        600.0,
        1,
        t0 + timedelta(minutes=40),
    )

    no_folding(monkeypatch)
    admin = client_for("admin")
    window = (t0 - timedelta(days=1), t0 + timedelta(days=1))
    figures = report(admin, *window)
    assert figures["sessions"] == 1
    for row in (*figures["by_lead"], *figures["by_room"]):
        assert row["alarms"] == {"high": 0, "medium": 1, "low": 0}
        assert row["seconds_to_first_seen"] == {"median": 5.0, "p90": 5.0}
        assert row["seconds_to_acknowledge"] == {"median": 600.0, "p90": 600.0}
        assert row["seconds_to_resolve"] == {"median": 900.0, "p90": 900.0}
        assert row["unattended_distress_minutes"] == 10.0
        assert (row["dyad_lock_refusals"], row["followups_opened"], row["followups_closed"]) == (0, 1, 0)
        assert row["followups_overdue"] == 0
    assert admin.get("/reports", params={"from": t0.date().isoformat()}).status_code == 200

    # Overdue is worked out when the report is read, never stored: three days on it has climbed.
    clock.advance(hours=72)
    assert report(admin, *window)["by_lead"][0]["followups_overdue"] == 1
    # Closing it after the session is an append to a closed session: its figures move with it.
    [followup] = ok(admin.get(f"{API}/followups"))
    ok(admin.post(f"{API}/followups/{followup['id']}/close", json={"contact_note": "Called Ada; she is well"}))
    later = assert_projection_is_the_fold(services, sid)
    assert later.seq == found.seq + 1 and later.followups[0].closed_at == clock.now
    no_folding(monkeypatch)
    done = report(admin, *window)["by_lead"][0]
    assert (done["followups_opened"], done["followups_closed"], done["followups_overdue"]) == (1, 1, 0)


def test_the_broken_dyad_is_reported_from_the_projection_once_closed(
    client_for: Clients, app: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    farah, lena, doc = (client_for(u) for u in ("farah", "lena", "dr.ade"))
    t0 = clock.now
    sid = open_session(farah, kind="dyad_training", facilitators=["farah"])
    partner = ready_participant(farah, sid, "Cam")
    bea = ready_participant(farah, sid, "Bea", support=partner, support_kind="participant")
    dose(doc, sid, bea)
    clock.advance(minutes=50)
    ok(farah.post(part(sid, bea, "/phase"), json={"to": "journeying"}))
    clock.advance(minutes=40)
    ok(farah.post(part(sid, bea, "/phase"), json={"to": "re_entry"}))
    clock.advance(minutes=2)
    refused(farah, sid, lambda: farah.delete(part(sid, bea, f"/support/{partner}")), 409, "dyad_locked", "farah")
    clock.advance(minutes=2)
    refused(lena, sid, lambda: lena.delete(part(sid, bea, f"/support/{partner}")), 409, "dyad_locked", "lena")
    clock.advance(minutes=10)
    close_via_api(client_for, sid)

    found = assert_projection_is_the_fold(app.state.services, sid)
    assert (found.dyad_lock_refusals, found.refusals, found.without_support_seconds, found.alarms) == (2, 2, 0.0, ())
    assert [(f.owner, f.participant_id) for f in found.followups] == [("lena", bea), ("@admins", bea)]

    no_folding(monkeypatch)
    [row] = report(lena, t0 - timedelta(hours=1), t0 + timedelta(days=1))["by_lead"]
    assert (row["key"], row["sessions"], row["dyad_lock_refusals"]) == ("lena", 1, 2)
    assert (row["followups_opened"], row["followups_closed"], row["followups_overdue"]) == (2, 0, 0)
    assert row["alarms"] == {"high": 0, "medium": 0, "low": 0} and row["unattended_distress_minutes"] == 0.0


# ------------------------------------------------------------------ cost, and the release before


ADMIN = User(username="admin", role="admin", password_hash="-")


def closed_sessions(services: Services, clock: Clock, count: int) -> list[str]:
    """`count` sessions in rooms of their own, each with an alarm seen, acknowledged and resolved,
    a refused attempt to break a dyad and follow-ups, closed."""
    made = []
    for i in range(count):
        d = Driver(services, clock, "dyad_training" if i % 2 else "group")
        d.start()
        clock.advance(minutes=1)
        for step in [("distress", 1, 2 + i % 3, "farah"), ("advance", 20 + i), ("seen", 0, "lena"), ("advance", 40)]:
            play(d, step)
        play(d, ("ack", 0, "lena"))
        play(d, ("remove_support", 1, "farah"))
        clock.advance(minutes=5)
        d.wind_down()
        made.append(d.sid)
    return made


def statements(services: Services, action: Callable[[], Any]) -> tuple[int, Any]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    for engine in {services.engine, services.write_engine}:
        sa.event.listen(engine, "before_cursor_execute", count)
    try:
        result = action()
    finally:
        for engine in {services.engine, services.write_engine}:
            sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen), result


def test_the_report_over_closed_sessions_folds_no_log_and_costs_the_same_for_one_or_many(
    services: Services, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    reviews = Reviews(services)
    start = clock.now - timedelta(hours=1)
    first = closed_sessions(services, clock, 1)
    end = clock.now + timedelta(days=1)
    expected_one = response_report([folded(services, sid) for sid in first], start, end, clock(), services.policy)

    no_folding(monkeypatch)
    one, found = statements(services, lambda: reviews.report(ADMIN, start, end))
    assert found == expected_one and found.sessions == 1

    monkeypatch.undo()
    more = first + closed_sessions(services, clock, 5)
    expected = response_report([folded(services, sid) for sid in more], start, end, clock(), services.policy)
    no_folding(monkeypatch)
    many, found = statements(services, lambda: reviews.report(ADMIN, start, end))
    assert found == expected and found.sessions == 6
    assert found.by_lead[0].dyad_lock_refusals == 6 and sum(found.by_lead[0].alarms.values()) == 6
    # The same statements for six closed sessions as for one: the sessions in the range, and the
    # projection's three tables.
    assert many == one


def test_a_session_open_in_the_range_is_folded_live_beside_the_projected_ones(services: Services, clock: Clock) -> None:
    start = clock.now - timedelta(hours=1)
    closed = closed_sessions(services, clock, 2)
    live = Driver(services, clock)
    live.start()
    clock.advance(minutes=1)
    play(live, ("distress", 0, 3, "farah"))
    clock.advance(minutes=3)
    end = clock.now + timedelta(days=1)
    found = Reviews(services).report(ADMIN, start, end)
    expected = response_report(
        [folded(services, sid) for sid in [*closed, live.sid]], start, end, clock(), services.policy
    )
    assert found == expected and found.sessions == 3
    assert projected(services, live.sid) is None
    # Three minutes at distress 3 with nobody answering, run to now while the session is open.
    assert found.by_lead[0].unattended_distress_seconds == expected.by_lead[0].unattended_distress_seconds
    assert folded(services, live.sid).unattended_distress_seconds == 180.0


def test_a_closed_session_missing_from_the_projection_or_behind_its_log_is_caught_up_once(
    services: Services, clock: Clock
) -> None:
    """As after a restore of an older backup's rows, or an append by a process of the release
    before during an upgrade: the report projects the session from its log, once."""
    start = clock.now - timedelta(hours=1)
    missing, behind = closed_sessions(services, clock, 2)
    end = clock.now + timedelta(days=1)
    with unit_of_work(services.write_engine) as db:
        for table in (ReportAlarm, ReportFollowup, ReportSession):
            db.exec(sa.delete(table).where(table.session_id == missing))  # type: ignore[call-overload, attr-defined]
        db.exec(sa.update(ReportSession).where(ReportSession.session_id == behind).values(seq=3))  # type: ignore[call-overload, arg-type]
        db.commit()
    assert projected(services, missing) is None
    figures = [folded(services, sid) for sid in (missing, behind)]
    expected = response_report(figures, start, end, clock(), services.policy)
    reviews = Reviews(services)
    assert reviews.report(ADMIN, start, end) == expected
    for sid in (missing, behind):
        assert_projection_is_the_fold(services, sid)
    writes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            writes.append(statement)

    sa.event.listen(services.write_engine, "before_cursor_execute", count)
    try:
        assert reviews.report(ADMIN, start, end) == expected
    finally:
        sa.event.remove(services.write_engine, "before_cursor_execute", count)
    assert writes == []


def _report_everything(app: Any) -> dict[str, Any]:
    reviews = Reviews(app.state.services)
    view: dict[str, Any] = report_view(reviews.report(ADMIN, *EVER), reviews.room_names())
    return view


def _projected_ids(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return set(connection.execute(sa.text("SELECT session_id FROM report_session")).scalars())
    finally:
        engine.dispose()


def _written_by_the_release_before(url: str, clock: Clock) -> tuple[dict[str, Any], list[str]]:
    """Sessions recorded and closed, then the database taken back to 0005: the event log, the
    session rows and open_item exactly as the release before wrote them (0006 only adds the
    projection's tables and an index), with no report figures anywhere."""
    app = make_app(url, clock)
    services: Services = app.state.services
    try:
        closed = closed_sessions(services, clock, 3)
        live = Driver(services, clock)
        live.start()
        play(live, ("distress", 0, 4, "theo"))
        clock.advance(minutes=2)
        # A follow-up opened after one closed (an append to a closed session).
        services.execute(closed[0], c.OpenFollowup(f"{closed[0]}-bea", "Check in", account="I was scared"), THEO)
        for sid in closed:
            assert_projection_is_the_fold(services, sid)
        before = _report_everything(app)
        assert before["sessions"] == 4
    finally:
        dispose(app)
    command.downgrade(migrate.alembic_config(url), "0005")
    return before, closed


def _reported_after_migrate(url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("HOLDSPACE_DATABASE_URL", url)
    assert cli_main(["migrate"]) == 0
    assert migrate.current_revision(url) == "0006"
    # The migration projected every closed session from its log, before any report asked.
    closed = _projected_ids(url)
    app = make_app(url, clock)
    try:
        assert closed == {row.id for row in app.state.services.all_sessions() if row.closed_at is not None}
        for sid in closed:
            assert_projection_is_the_fold(app.state.services, sid)
        return _report_everything(app)
    finally:
        dispose(app)


def test_a_database_written_before_the_projection_reports_the_same_after_migrate(
    url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, closed = _written_by_the_release_before(url, clock)
    assert "report_session" not in sa.inspect(sa.create_engine(url, poolclass=sa.pool.NullPool)).get_table_names()
    after = _reported_after_migrate(url, clock, monkeypatch)
    assert after == before
    assert _projected_ids(url) == set(closed)


def test_the_report_page_reads_only_sessions_with_an_open_follow_up(
    app: Any, client_for: Clients, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    services: Services = app.state.services
    start = clock.now - timedelta(hours=1)
    done, pending = closed_sessions(services, clock, 2)
    for followup in services.state(done).followups.values():
        services.execute(done, c.CloseFollowup(followup.id, "Called; she is well"), LENA)
    clock.advance(hours=80)  # the other's follow-ups have climbed to the clinic's admins
    loaded: list[str] = []
    real_state = Services.state

    def state_of(self: Services, session_id: str) -> Any:
        loaded.append(session_id)
        return real_state(self, session_id)

    monkeypatch.setattr(Services, "state", state_of)
    no_folding(monkeypatch)
    page = client_for("admin").get("/reports", params={"from": start.date().isoformat()})
    assert page.status_code == 200
    climbed = [f.id for f in real_state(services, pending).followups.values()]
    assert climbed and all(fid in page.text for fid in climbed)
    assert done not in loaded and pending in loaded
