"""The live core: one feed per room, one read and one render per room version, the same bytes for
every screen of a room; heartbeats that read and render nothing; a fragment small enough for a
tablet on clinic Wi-Fi; an overview whose cost does not grow with the clinic's past."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.store import people
from app.store.db import unit_of_work
from app.store.tables import CareSession, OpenItem
from app.web.live import next_change, overview_lists, overview_rooms
from tests.conftest import Clock
from tests.integration.helpers import (
    NORMAL_VITALS,
    SESSION_COOKIE,
    add_participant,
    dosed_participant,
    ok,
    open_session,
    part,
    phase,
    sess,
    state,
)

Clients = Callable[[str], TestClient]
ROOM = "/ws/rooms/cedar-room"


@pytest.fixture
def live(client_for: Clients) -> Iterator[TestClient]:
    client = client_for("farah")
    with client:
        yield client


def as_cookie(client: TestClient) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"}


@contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement run on `engine` inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def feed_of(client: TestClient, room_id: str = "cedar-room") -> Any:
    return client.app.state.hub.feeds[room_id]  # type: ignore[attr-defined]


# ------------------------------------------------------------------ one render, the same bytes


def test_every_screen_of_a_room_gets_the_same_bytes_from_one_render(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo, doc, lena = client_for("theo"), client_for("dr.ade"), client_for("lena")
    pid = add_participant(theo, session_id, "Ada")
    with (
        live.websocket_connect(ROOM) as facilitator,
        live.websocket_connect(ROOM, headers=as_cookie(doc)) as prescriber,
        live.websocket_connect(ROOM, headers=as_cookie(lena)) as lead,
    ):
        snapshots = {facilitator.receive_text(), prescriber.receive_text(), lead.receive_text()}
        assert len(snapshots) == 1, "a role must not change the pushed fragment"
        feed = feed_of(live)
        assert snapshots.pop() == feed.version.frame
        for ws in (facilitator, prescriber, lead):  # then the time now, a small frame
            assert ws.receive_text().startswith('<div id="live-status"')
        renders = feed.renders
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 1}))
        pushed = {facilitator.receive_text(), prescriber.receive_text(), lead.receive_text()}
        assert len(pushed) == 1
        assert "1 · processing" in pushed.pop()
        assert feed.renders == renders + 1
        assert len(feed.html) == 3


def test_the_role_is_the_page_shells_business(live: TestClient, client_for: Clients, session_id: str) -> None:
    theo = client_for("theo")
    add_participant(theo, session_id, "Ada")
    with live.websocket_connect(ROOM) as ws:
        fragment = ws.receive_text()
    # The prescriber's dose form is in the fragment for everyone and hidden by the page for others.
    assert 'class="grid-form only-prescriber"' in fragment
    page = live.get("/rooms/cedar-room").text
    assert "role-facilitator" in page
    doc_page = client_for("dr.ade").get("/rooms/cedar-room").text
    assert "role-prescriber" in doc_page


def test_the_entry_forms_live_in_the_page_not_in_the_fragment(live: TestClient, session_id: str) -> None:
    page = live.get("/rooms/cedar-room").text
    for form in ("form-vitals", "form-observation", "form-note", "form-transfer", "form-propose"):
        assert f'<template id="{form}">' in page
    fragment = live.get("/rooms/cedar-room/live").text
    assert '<template id="form-' not in fragment
    assert 'data-dialog="form-add-participant"' in fragment


def test_a_room_of_eight_participants_pushes_under_40_kb(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo, doc = client_for("theo"), client_for("dr.ade")
    pids = [dosed_participant(theo, doc, session_id, f"Participant {i}") for i in range(8)]
    for pid in pids[:4]:
        phase(theo, session_id, pid, "journeying")
        ok(theo.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
    ok(theo.post(part(session_id, pids[0], "/observations"), json={"distress": 3}))
    for pid in pids[4:6]:
        phase(theo, session_id, pid, "journeying")
        phase(theo, session_id, pid, "re_entry")
        phase(theo, session_id, pid, "grounding")
    with live.websocket_connect(ROOM) as ws:
        fragment = ws.receive_text()
    assert fragment.count('class="card ') == 8
    assert "alarm prio-medium" in fragment
    size = len(fragment.encode())
    assert size < 40_000, size


def test_a_room_of_four_journeying_and_four_arrived_pushes_under_40_kb(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    """The benchmark's room: an arrived card carries its before-dosing forms, so it is the larger."""
    theo, doc = client_for("theo"), client_for("dr.ade")
    for i in range(4):
        pid = dosed_participant(theo, doc, session_id, f"Participant {i}")
        phase(theo, session_id, pid, "journeying")
        ok(theo.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
    for i in range(4, 8):
        add_participant(theo, session_id, f"Participant {i}")
    with live.websocket_connect(ROOM) as ws:
        fragment = ws.receive_text()
    assert fragment.count('class="card ') == 8 and fragment.count("Before dosing") == 4
    size = len(fragment.encode())
    assert size < 40_000, size


# ------------------------------------------------------------------ heartbeats, time


def test_a_heartbeat_reads_nothing_renders_nothing_and_is_small(live: TestClient, session_id: str) -> None:
    services = live.app.state.services  # type: ignore[attr-defined]
    hub = live.app.state.hub  # type: ignore[attr-defined]
    seq = state(live, session_id)["seq"]
    with live.websocket_connect(ROOM) as ws:
        snapshot = ws.receive_text()
        assert ws.receive_text().startswith('<div id="live-status"')  # the time at connect
        renders = feed_of(live).renders
        with statements(services.engine) as reads, statements(services.write_engine) as writes:
            live.portal.call(hub.beat)  # type: ignore[union-attr]
            beat = ws.receive_text()
        assert reads == [] and writes == []
        assert feed_of(live).renders == renders
    assert beat.startswith('<div id="live-status"') and f'data-seq="{seq}"' in beat
    assert "room-live" not in beat and len(beat.encode()) < 300
    assert 'id="room-live"' in snapshot


def test_relative_times_are_absolute_in_the_fragment(
    live: TestClient, client_for: Clients, session_id: str, clock: Clock
) -> None:
    theo, doc = client_for("theo"), client_for("dr.ade")
    pid = dosed_participant(theo, doc, session_id, "Ada")
    dosed_at = state(theo, session_id)["participants"][0]["dosed_at"]
    ok(theo.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
    fragment = live.get("/rooms/cedar-room/live").text
    assert f'<time datetime="{dosed_at}" data-rel="since">' in fragment


def test_the_next_time_switch_is_named_for_one_re_render(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo, doc = client_for("theo"), client_for("dr.ade")
    dosed_participant(theo, doc, session_id, "Ada")
    with live.websocket_connect(ROOM) as ws:
        ws.receive_text()
        version = feed_of(live).version
    view = version.view
    [p] = view["participants"]
    due = [p["checkin_due_at"], p["earliest_discharge_at"]]
    expected = min(t for t in due if t)
    assert version.next_change_at is not None and version.next_change_at.isoformat() == expected
    assert next_change(view, version.next_change_at + timedelta(days=1), timedelta(minutes=15)) is None


# ------------------------------------------------------------------ the overview


def _close_past_session(client: TestClient, name: str) -> str:
    sid = open_session(client)
    pid = add_participant(client, sid, name)
    ok(client.post(part(sid, pid, "/discharge")))
    ok(client.post(sess(sid, "/close")))
    return sid


def test_the_overview_reads_the_same_with_no_past_and_with_many_past_sessions(
    live: TestClient, client_for: Clients
) -> None:
    theo, lena = client_for("theo"), client_for("lena")
    services = live.app.state.services  # type: ignore[attr-defined]
    with unit_of_work(services.engine) as db:
        user = people.get_user(db, "lena")
    assert user is not None
    rooms = overview_rooms(services, user)

    def count() -> int:
        services.forget()
        with statements(services.engine) as seen:
            overview_lists(services, user, rooms, {}, services.clock())
        return len(seen)

    empty = count()
    for i in range(12):
        _close_past_session(theo, f"Past {i}")
    assert count() == empty
    assert services.cached_sessions == 0  # nothing folded: the projection answered
    assert lena.get("/overview").status_code == 200


def test_open_follow_ups_come_from_the_projection_kept_with_the_append(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo, lena = client_for("theo"), client_for("lena")
    services = live.app.state.services  # type: ignore[attr-defined]
    pid = add_participant(theo, session_id, "Ada")
    ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 3}))
    followups = services.open_items("followup", room_ids=["cedar-room"])
    escalations = services.open_items("escalation", room_ids=["cedar-room"])
    assert len(followups) == 1 and len(escalations) == 1
    with unit_of_work(services.engine) as db:
        row = db.get(CareSession, session_id)
        assert row is not None and row.projected_seq == row.head_seq
    fid = followups[0].item_id
    ok(lena.post(f"/api/v1/followups/{fid}/close", json={"contact_note": "called, all well"}))
    assert services.open_items("followup", room_ids=["cedar-room"]) == []


def test_a_session_recorded_before_the_projection_is_caught_up_once(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo = client_for("theo")
    services = live.app.state.services  # type: ignore[attr-defined]
    pid = add_participant(theo, session_id, "Ada")
    ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 3}))
    with unit_of_work(services.write_engine) as db:  # as a database migrated to 0005 holds it
        db.exec(sa.delete(OpenItem))  # type: ignore[call-overload]
        db.exec(sa.update(CareSession).values(projected_seq=0))  # type: ignore[call-overload]
        db.commit()
    assert len(services.open_items("followup", room_ids=["cedar-room"])) == 1
    with unit_of_work(services.engine) as db:
        row = db.get(CareSession, session_id)
        assert row is not None and row.projected_seq == row.head_seq


def test_an_overview_update_sends_only_the_changed_tile_and_the_lists(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo, lena = client_for("theo"), client_for("lena")
    services = live.app.state.services  # type: ignore[attr-defined]
    with unit_of_work(services.write_engine) as db:  # lena oversees a second room
        willow = people.find_room(db, "willow-room")
        assert willow is not None
        people.assign(db, willow, "lena")
        db.commit()
    pid = add_participant(theo, session_id, "Ada")
    with live.websocket_connect("/ws/overview", headers=as_cookie(lena)) as ws:
        snapshot = ws.receive_text()
        assert 'id="room-cedar-room"' in snapshot and 'id="room-willow-room"' in snapshot
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 3}))
        update = ws.receive_text()
    assert 'id="room-cedar-room"' in update and 'id="room-willow-room"' not in update
    assert 'id="overview-alarms"' in update and "Open alarms (1)" in update
    assert 'id="overview-followups"' in update
    assert len(update) < len(snapshot) + 4000


# ------------------------------------------------------------------ bounded cache, compression


def test_the_state_cache_is_bounded(live: TestClient, client_for: Clients) -> None:
    theo = client_for("theo")
    services = live.app.state.services  # type: ignore[attr-defined]
    services.cache_size = 3
    sids = [_close_past_session(theo, f"Past {i}") for i in range(5)]
    for sid in sids:
        services.state(sid)
    assert services.cached_sessions == 3
    assert state(theo, sids[0])["closed_at"] is not None  # an evicted session is rebuilt from its log


def test_pages_are_gzipped(live: TestClient, session_id: str) -> None:
    response = live.get("/rooms/cedar-room", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") == "gzip"
    assert "room-socket" in response.text
    raw = live.get("/rooms/cedar-room", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert len(gzip.compress(raw.content)) < len(raw.content) / 3


def test_a_stream_of_no_room_still_hears_the_heartbeat(live: TestClient, client_for: Clients) -> None:
    hub = live.app.state.hub  # type: ignore[attr-defined]
    admin = client_for("admin")
    with live.websocket_connect("/api/v1/stream", headers=as_cookie(admin)) as ws:
        assert ws.receive_text() == '{"type": "snapshot", "sessions": [], "seq": {}}'
        assert hub._heart is not None and not hub._heart.done()
        live.portal.call(hub.beat)  # type: ignore[union-attr]
        assert '"type": "heartbeat"' in ws.receive_text()


def test_a_room_only_json_streams_follow_is_read_but_not_rendered(
    live: TestClient, client_for: Clients, session_id: str
) -> None:
    theo = client_for("theo")
    with live.websocket_connect("/api/v1/stream?room=cedar-room") as stream:
        stream.receive_text()
        add_participant(theo, session_id, "Ada")
        assert '"participant_added"' in stream.receive_text()
        feed = feed_of(live)
        assert feed.version.frame is None and feed.renders == 0
        with live.websocket_connect(ROOM) as ws:  # the first room screen gets it rendered
            assert "Ada" in ws.receive_text()
        assert feed.renders == 1


def test_the_sign_ins_of_open_sockets_are_checked_together(live: TestClient) -> None:
    services = live.app.state.services  # type: ignore[attr-defined]
    with unit_of_work(services.write_engine) as db:
        users = {name: people.get_user(db, name) for name in ("farah", "theo", "mika")}
        ids = {name: people.start_sign_in(db, user) for name, user in users.items() if user is not None}
        people.end_sign_in(db, ids["theo"])
        old = people.start_sign_in(db, users["mika"])  # type: ignore[arg-type]
        db.exec(sa.text("UPDATE sign_in SET created_at = '2000-01-01 00:00:00' WHERE id = :id").bindparams(id=old))  # type: ignore[call-overload]
        db.commit()
    with unit_of_work(services.engine) as db, statements(services.engine) as seen:
        valid = people.valid_sign_ins(db, [*ids.values(), old, "no-such-sign-in"])
    assert valid == {ids["farah"], ids["mika"]}
    assert len([s for s in seen if s.startswith("SELECT")]) == 1  # one query for any number of them


def test_heartbeats_go_on_after_the_app_is_started_a_second_time(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    for _ in range(2):
        with farah:  # each `with` runs the app's lifespan: start, then shutdown
            hub = farah.app.state.hub  # type: ignore[attr-defined]
            with farah.websocket_connect(ROOM) as ws:
                ws.receive_text()
                ws.receive_text()
                heart = hub._heart
                assert heart is not None and not heart.done()
                same_loop = farah.portal.call(lambda h=heart: h.get_loop() is asyncio.get_running_loop())  # type: ignore[union-attr]
                assert same_loop


# ------------------------------------------------------------------ the JSON stream reads nothing


def test_a_local_change_reaches_the_json_stream_with_no_read(
    live: TestClient, client_for: Clients, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    theo = client_for("theo")
    pid = add_participant(theo, session_id, "Ada")
    renderer = live.app.state.hub.renderer  # type: ignore[attr-defined]
    read_back = renderer.event_frames
    asked: list[str] = []
    monkeypatch.setattr(renderer, "event_frames", lambda *a: asked.append("events") or read_back(*a))
    with live.websocket_connect("/api/v1/stream?room=cedar-room") as stream:
        seq = json.loads(stream.receive_text())["seq"][session_id]
        feed = feed_of(live)
        reads = feed.reads
        ok(theo.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 3}))
        got = [stream.receive_text() for _ in range(5)]
        assert feed.reads == reads and asked == [], "a local commit's events are sent without a read"
        # The very frames a read of the log would have made, alarm message included.
        assert got == [f.text for f in read_back(session_id, seq)]
    kinds = [json.loads(m).get("kind", json.loads(m)["type"]) for m in got]
    assert kinds == ["vitals_recorded", "observation_recorded", "escalation_raised", "followup_opened", "escalation"]


def test_a_room_screen_still_gets_one_render_while_the_stream_reads_nothing(
    live: TestClient, client_for: Clients, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    theo = client_for("theo")
    pid = add_participant(theo, session_id, "Ada")
    renderer = live.app.state.hub.renderer  # type: ignore[attr-defined]
    read_back = renderer.event_frames
    asked: list[str] = []
    monkeypatch.setattr(renderer, "event_frames", lambda *a: asked.append("events") or read_back(*a))
    with live.websocket_connect(ROOM) as room, live.websocket_connect("/api/v1/stream?room=cedar-room") as stream:
        room.receive_text(), room.receive_text(), stream.receive_text()
        feed = feed_of(live)
        renders = feed.renders
        ok(theo.post(part(session_id, pid, "/observations"), json={"distress": 1}))
        assert json.loads(stream.receive_text())["kind"] == "observation_recorded"
        assert "1 · processing" in room.receive_text()
        assert feed.renders == renders + 1 and asked == []


def test_a_hint_that_does_not_continue_the_stream_is_read_and_one_already_shown_is_not(
    live: TestClient, client_for: Clients, session_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    theo = client_for("theo")
    add_participant(theo, session_id, "Ada")
    services = live.app.state.services  # type: ignore[attr-defined]
    with live.websocket_connect("/api/v1/stream?room=cedar-room") as stream:
        seq = json.loads(stream.receive_text())["seq"][session_id]
        feed = feed_of(live)
        reads = feed.reads
        # Our own commit heard again through the database (PostgreSQL's NOTIFY): nothing to do.
        hint = {"type": "session", "session_id": session_id, "room_id": "cedar-room", "seq": seq}
        live.portal.call(feed.hint, hint)  # type: ignore[union-attr]
        assert feed.reads == reads
        # Two commits whose hints are lost; then a hint carrying only the second one's events: it
        # does not continue where the stream is, so the log is read from there, nothing missed.
        with monkeypatch.context() as quiet:
            quiet.setattr(services.broker, "publish", lambda *a: None)
            add_participant(theo, session_id, "Bo")
            add_participant(theo, session_id, "Cy")
        [last] = services.events(session_id, after=seq + 1)
        message = {**hint, "seq": seq + 2, "events": [last], "state": services.state(session_id)}
        live.portal.call(feed.hint, message)  # type: ignore[union-attr]
        got = [json.loads(stream.receive_text()) for _ in range(2)]
        assert [(m["seq"], m["data"]["display_name"]) for m in got] == [(seq + 1, "Bo"), (seq + 2, "Cy")]
        assert feed.reads == reads + 1


def test_what_the_app_built_at_start_is_kept_out_of_the_collectors_full_passes(live: TestClient) -> None:
    import gc

    # A full pass over every object of a started app took about 100 ms here: long enough to stall
    # every live screen of the process in the middle of a fan-out.
    assert gc.get_freeze_count() > 100_000


def test_a_process_skips_its_own_notify_and_hears_the_others() -> None:
    from app.live.broker import MemoryBroker
    from app.live.pg_notify import PgListener, notify_statement

    broker, other = MemoryBroker(), MemoryBroker()
    heard: list[dict[str, object]] = []
    broker.publish = lambda channels, message: heard.append(message)  # type: ignore[method-assign]
    listener = PgListener("postgresql+psycopg://u@127.0.0.1/db", broker)
    for origin in (broker.origin, other.origin):
        _statement, params = notify_statement(["room:cedar-room"], {"type": "session", "seq": 3, "origin": origin})
        listener._deliver(params["payload"])
    # Its own commit reached its screens at once, with the events; another process's is news.
    assert heard == [{"type": "session", "seq": 3, "origin": other.origin}]
