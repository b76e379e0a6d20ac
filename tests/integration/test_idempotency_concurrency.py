"""Idempotency keys, two tablets writing at once, and a restart on the same database."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.store.db import unit_of_work
from app.store.events import read_records, verify_chain
from app.store.tables import EventRecord
from tests.conftest import Clock
from tests.integration.conftest import JSON
from tests.integration.helpers import (
    API,
    NORMAL_VITALS,
    SESSION_COOKIE,
    add_participant,
    assert_error,
    dosed_participant,
    events,
    ok,
    part,
    phase,
    sess,
    state,
)

Clients = Callable[[str], TestClient]


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def chain_break(app: Any, sid: str) -> tuple[int, str] | None:
    with unit_of_work(app.state.services.engine) as db:
        return verify_chain(read_records(db, sid))


# ------------------------------------------------------------------ idempotency


def test_a_repeat_with_the_same_key_gets_the_first_answer_and_records_nothing(
    client_for: Clients, session_id: str, clock: Clock
) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    before = state(farah, session_id)["seq"]
    first = farah.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS, headers=keyed("vitals-1"))
    assert first.status_code == 200 and "idempotent-replay" not in first.headers
    clock.advance(minutes=3)  # the answer is the first one, not a new reading of the state
    second = farah.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS, headers=keyed("vitals-1"))
    assert second.status_code == 200
    assert second.headers["idempotent-replay"] == "true"
    assert second.json() == first.json()
    new = events(farah, session_id, after=before)
    assert [e["kind"] for e in new] == ["vitals_recorded"]
    assert state(farah, session_id)["seq"] == before + 1
    # Without a key, the same body is a new reading.
    ok(farah.post(part(session_id, pid, "/vitals"), json=NORMAL_VITALS))
    assert len(events(farah, session_id, after=before)) == 2


def test_a_repeated_create_gets_the_same_new_thing(client_for: Clients) -> None:
    farah = client_for("farah")
    body = {"room_id": "cedar-room", "kind": "group", "facilitators": ["farah"], "lead": "lena"}
    first = farah.post(f"{API}/sessions", json=body, headers=keyed("open-1"))
    again = farah.post(f"{API}/sessions", json=body, headers=keyed("open-1"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replay"] == "true"
    sid = first.json()["id"]
    participant = {"display_name": "Ada", "chart_id": "C-1"}
    one = farah.post(sess(sid, "/participants"), json=participant, headers=keyed("add-ada"))
    two = farah.post(sess(sid, "/participants"), json=participant, headers=keyed("add-ada"))
    assert one.status_code == two.status_code == 201 and one.json()["id"] == two.json()["id"]
    assert [e["kind"] for e in events(farah, sid)] == ["session_opened", "participant_added"]
    assert len(state(farah, sid)["participants"]) == 1


def test_the_same_key_with_a_different_request_is_refused(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    ok(farah.post(part(session_id, pid, "/vitals"), json={"sbp": 120}, headers=keyed("k-1")))
    before = state(farah, session_id)
    for attempt in (
        lambda: farah.post(part(session_id, pid, "/vitals"), json={"sbp": 150}, headers=keyed("k-1")),
        lambda: farah.post(part(session_id, pid, "/observations"), json={"distress": 2}, headers=keyed("k-1")),
    ):
        assert_error(attempt(), 422, "idempotency_key_reused")
    assert state(farah, session_id) == before
    assert events(farah, session_id, after=before["seq"]) == []
    assert state(farah, session_id)["participants"][0]["last_vitals"]["sbp"]["value"] == 120


def test_keys_belong_to_their_user(client_for: Clients, session_id: str) -> None:
    farah, theo = client_for("farah"), client_for("theo")
    pid = add_participant(farah, session_id)
    before = state(farah, session_id)["seq"]
    ok(farah.post(part(session_id, pid, "/vitals"), json={"hr": 80}, headers=keyed("shared")))
    answer = theo.post(part(session_id, pid, "/vitals"), json={"hr": 80}, headers=keyed("shared"))
    assert answer.status_code == 200 and "idempotent-replay" not in answer.headers
    assert [e["actor"] for e in events(farah, session_id, after=before)] == ["farah", "theo"]


def test_a_refused_command_replayed_with_its_key_is_refused_once(client_for: Clients, session_id: str) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pid = dosed_participant(farah, doc, session_id)
    before = state(farah, session_id)["seq"]
    first = farah.delete(part(session_id, pid, "/support/farah"), headers=keyed("unassign-1"))
    second = farah.delete(part(session_id, pid, "/support/farah"), headers=keyed("unassign-1"))
    assert first.status_code == second.status_code == 409
    assert first.json()["error"]["code"] == "dyad_locked"
    assert second.json() == first.json() and second.headers["idempotent-replay"] == "true"
    new = events(farah, session_id, after=before)
    assert [(e["kind"], e["data"]["code"]) for e in new] == [("command_refused", "dyad_locked")]
    assert len(state(farah, session_id)["refusals"]) == 1


def test_a_validation_error_is_not_remembered_under_its_key(client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    assert_error(
        farah.post(part(session_id, pid, "/vitals"), json={"sbp": 999}, headers=keyed("v")), 422, "validation_error"
    )
    assert_error(
        farah.post(part(session_id, pid, "/vitals"), json={"sbp": 999}, headers=keyed("v")), 422, "validation_error"
    )
    assert events(farah, session_id)[-1]["kind"] == "participant_added"


# ------------------------------------------------------------------ two tablets at once


def test_two_tablets_recording_at_once_get_a_contiguous_log(app: Any, client_for: Clients, session_id: str) -> None:
    farah, theo = client_for("farah"), client_for("theo")
    doc = client_for("dr.ade")
    ada = dosed_participant(farah, doc, session_id, "Ada")
    start = state(farah, session_id)["seq"]
    jobs = []
    for i in range(14):
        tablet = (farah, "tablet-a") if i % 2 == 0 else (theo, "tablet-b")
        jobs.append((tablet, {"sbp": 110 + i, "hr": 60 + i}))

    def record(job: Any) -> Any:
        (client, device), body = job
        return client.post(part(session_id, ada, "/vitals"), json=body, headers={"X-Holdspace-Device": device})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(record, jobs))
    assert [r.status_code for r in responses] == [200] * len(jobs), [r.text for r in responses if r.status_code != 200]
    new = events(farah, session_id, after=start)
    assert [e["seq"] for e in new] == list(range(start + 1, start + 1 + len(jobs)))
    assert all(e["kind"] == "vitals_recorded" for e in new)
    assert sorted(e["data"]["vitals"]["sbp"] for e in new) == [110 + i for i in range(len(jobs))]
    assert sorted(e["actor"] for e in new) == sorted(["farah"] * 7 + ["theo"] * 7)
    assert {e["device"] for e in new} == {"tablet-a", "tablet-b"}
    assert state(farah, session_id)["seq"] == start + len(jobs)
    assert chain_break(app, session_id) is None


def test_the_same_key_sent_from_many_threads_is_recorded_once(app: Any, client_for: Clients, session_id: str) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id)
    start = state(farah, session_id)["seq"]

    def send(_: int) -> Any:
        return farah.post(
            part(session_id, pid, "/observations"), json={"note": "breathing slowly"}, headers=keyed("one-tap")
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(send, range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert all(r.json() == responses[0].json() for r in responses)
    assert sum(r.headers.get("idempotent-replay") == "true" for r in responses) == 7
    assert [e["kind"] for e in events(farah, session_id, after=start)] == ["observation_recorded"]
    assert chain_break(app, session_id) is None


def test_concurrent_writers_on_different_participants_and_reads_stay_consistent(
    app: Any, client_for: Clients, session_id: str
) -> None:
    farah, theo = client_for("farah"), client_for("theo")
    ada, bo = add_participant(farah, session_id, "Ada"), add_participant(farah, session_id, "Bo")
    start = state(farah, session_id)["seq"]

    def work(i: int) -> Any:
        if i % 3 == 2:
            return theo.get(sess(session_id))
        client, pid = (farah, ada) if i % 3 == 0 else (theo, bo)
        return client.post(part(session_id, pid, "/observations"), json={"distress": i % 2, "note": f"n{i}"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(work, range(15)))
    assert all(r.status_code == 200 for r in responses)
    reads = [r.json()["seq"] for i, r in enumerate(responses) if i % 3 == 2]
    assert all(start <= s <= start + 10 for s in reads)
    new = events(farah, session_id, after=start)
    assert [e["seq"] for e in new] == list(range(start + 1, start + 11))
    view = state(farah, session_id)
    assert view["seq"] == start + 10
    assert {e["data"]["note"] for e in new} == {f"n{i}" for i in range(15) if i % 3 != 2}
    assert chain_break(app, session_id) is None


# ------------------------------------------------------------------ restart


def test_a_restarted_app_rebuilds_the_same_state_from_the_log(
    app: Any, client_for: Clients, session_id: str, settings: Settings, clock: Clock
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    ada = dosed_participant(farah, doc, session_id, "Ada")
    phase(farah, session_id, ada, "journeying")
    ok(farah.post(part(session_id, ada, "/vitals"), json=NORMAL_VITALS))
    ok(farah.post(part(session_id, ada, "/observations"), json={"distress": 2, "parts": ["critic"]}))
    farah.delete(part(session_id, ada, "/support/farah"))  # refused, on the record
    add_participant(farah, session_id, "Bo")
    ok(farah.post(part(session_id, ada, "/vitals"), json={"sbp": 130}, headers=keyed("after-restart")))
    before_state = state(farah, session_id)
    before_events = events(farah, session_id)
    before_rooms = ok(farah.get(f"{API}/rooms"))

    restarted = create_app(settings, clock=clock, run_clock_task=False)
    try:
        client = TestClient(restarted, headers=JSON, cookies={SESSION_COOKIE: farah.cookies[SESSION_COOKIE]})
        assert restarted.state.services is not app.state.services
        assert state(client, session_id) == before_state
        assert events(client, session_id) == before_events
        assert ok(client.get(f"{API}/rooms")) == before_rooms
        assert chain_break(restarted, session_id) is None
        # Idempotency keys survive the restart, and the log goes on where it stopped.
        replay = client.post(part(session_id, ada, "/vitals"), json={"sbp": 130}, headers=keyed("after-restart"))
        assert replay.status_code == 200 and replay.headers["idempotent-replay"] == "true"
        ok(client.post(part(session_id, ada, "/vitals"), json={"sbp": 131}))
        assert [e["seq"] for e in events(client, session_id, after=before_state["seq"])] == [before_state["seq"] + 1]
        assert chain_break(restarted, session_id) is None
        client.close()
    finally:
        restarted.state.services.engine.dispose()
        restarted.state.services.write_engine.dispose()


def test_the_hash_chain_notices_an_edit_made_behind_the_apps_back(
    app: Any, client_for: Clients, session_id: str
) -> None:
    farah = client_for("farah")
    pid = add_participant(farah, session_id, "Ada")
    ok(farah.post(part(session_id, pid, "/vitals"), json={"sbp": 200}))
    assert chain_break(app, session_id) is None
    edit = sa.text(
        f"UPDATE {EventRecord.__tablename__} SET data = replace(data, '200', '120') WHERE session_id = :sid AND seq = 3"
    )
    with app.state.services.write_engine.begin() as conn:
        conn.execute(edit, {"sid": session_id})
    broken = chain_break(app, session_id)
    assert broken is not None and broken[0] == 3
