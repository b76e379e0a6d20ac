"""Presence is real, through the API: `POST .../facilitators/{username}/check-in` checks in only
`username` themselves (their own sign-in, or their PIN or password typed on a shared room tablet)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from app.store import people
from app.store.db import unit_of_work
from app.store.tables import IdempotencyRecord
from tests.conftest import PASSWORD
from tests.integration.helpers import (
    assert_error,
    assign_support,
    dosed_participant,
    events,
    ok,
    phase,
    refused,
    sess,
    state,
)

THEO_PIN = "2468"


def _set_pin(app: Any, username: str, pin: str) -> None:
    with unit_of_work(app.state.services.write_engine) as db:
        people.set_pin(db, username, pin)
        db.commit()


def _farah_alone_with_two_journeying(farah: TestClient, doc: TestClient, sid: str) -> list[str]:
    pids = [dosed_participant(farah, doc, sid, name) for name in ("Ada", "Bo")]
    for pid in pids:
        phase(farah, sid, pid, "journeying")
    assert state(farah, sid)["facilitators_present"] == ["farah"]
    return pids


def test_a_facilitator_alone_cannot_check_in_an_absent_colleague_and_leave_the_room_uncovered(
    app: Any, client_for: Any, session_id: str
) -> None:
    farah, doc = client_for("farah"), client_for("dr.ade")
    pids = _farah_alone_with_two_journeying(farah, doc, session_id)
    _set_pin(app, "theo", THEO_PIN)

    # "check in theo" from farah's sign-in: theo is not there. Refused, on record, nothing changed.
    refused(
        farah,
        session_id,
        lambda: farah.post(sess(session_id, "/facilitators/theo/check-in")),
        403,
        "presence_not_attested",
        "farah",
    )
    # So farah is still the last facilitator in a room of journeyers.
    refused(
        farah,
        session_id,
        lambda: farah.post(sess(session_id, "/facilitators/farah/check-out")),
        409,
        "room_uncovered",
        "farah",
    )
    # A wrong PIN is refused and on the record too.
    refused(
        farah,
        session_id,
        lambda: farah.post(sess(session_id, "/facilitators/theo/check-in"), json={"pin": "1111"}),
        403,
        "wrong_pin",
        "farah",
    )

    # theo, at the tablet, types his own PIN: now he is in the room.
    out = ok(farah.post(sess(session_id, "/facilitators/theo/check-in"), json={"pin": THEO_PIN}))
    assert out["facilitators_present"] == ["farah", "theo"]
    checked_in = [e for e in events(farah, session_id) if e["kind"] == "facilitator_checked_in"]
    assert checked_in[-1]["data"] == {"username": "theo", "role": "facilitator", "attested_by": "pin"}
    assert checked_in[-1]["actor"] == "farah"
    assert all(THEO_PIN not in str(e["data"]) for e in events(farah, session_id))

    # With theo supporting both journeyers as well, farah may step out; the room stays covered.
    for pid in pids:
        assign_support(farah, session_id, pid, "theo")
    assert ok(farah.post(sess(session_id, "/facilitators/farah/check-out")))["facilitators_present"] == ["theo"]


def test_a_password_typed_on_the_tablet_checks_in_its_owner_and_a_wrong_one_does_not(
    client_for: Any, session_id: str
) -> None:
    farah = client_for("farah")
    wrong = assert_error(
        farah.post(sess(session_id, "/facilitators/theo/check-in"), json={"password": "not theo's"}),
        403,
        "wrong_password",
    )
    assert "theo" in wrong["message"]
    assert ok(farah.post(sess(session_id, "/facilitators/theo/check-in"), json={"password": PASSWORD}))[
        "facilitators_present"
    ] == ["theo"]


def test_no_pin_set_both_secrets_or_a_stranger_are_clear_4xx(client_for: Any, session_id: str) -> None:
    farah = client_for("farah")
    url = sess(session_id, "/facilitators/theo/check-in")
    assert_error(farah.post(url, json={"pin": "1234"}), 409, "no_pin")
    assert_error(farah.post(url, json={"pin": "1234", "password": PASSWORD}), 422, "validation_error")
    assert_error(farah.post(url, json={"pin": 1234}), 422, "validation_error")
    assert_error(farah.post(sess(session_id, "/facilitators/mika/check-in"), json={"pin": "1234"}), 404, "not_found")
    assert state(farah, session_id)["facilitators_present"] == []


def test_five_wrong_pins_in_ten_minutes_are_throttled_with_retry_after(
    app: Any, client_for: Any, session_id: str
) -> None:
    farah, theo = client_for("farah"), client_for("theo")
    _set_pin(app, "theo", THEO_PIN)
    url = sess(session_id, "/facilitators/theo/check-in")
    for guess in ("0000", "1111", "2222", "3333", "4444"):
        assert_error(farah.post(url, json={"pin": guess}), 403, "wrong_pin")
    before = len(events(farah, session_id))
    throttled = farah.post(url, json={"pin": THEO_PIN})
    error = assert_error(throttled, 429, "too_many_attempts")
    assert 0 < int(throttled.headers["Retry-After"]) <= 600
    assert error["details"]["retry_after"] == int(throttled.headers["Retry-After"])
    # Even the right PIN waits, nothing is recorded, and theo is not in the room.
    assert len(events(farah, session_id)) == before
    assert state(farah, session_id)["facilitators_present"] == []
    # theo's own sign-in is not throttled: he can always check himself in from it.
    assert ok(theo.post(url))["facilitators_present"] == ["theo"]


def test_checking_out_is_by_oneself_or_recorded_by_a_colleague_who_is_in_the_room(
    app: Any, client_for: Any, session_id: str
) -> None:
    farah, theo, lena = client_for("farah"), client_for("theo"), client_for("lena")
    _set_pin(app, "theo", THEO_PIN)
    ok(theo.post(sess(session_id, "/facilitators/theo/check-in")))
    # lena is not checked in to the room: she cannot say theo has left.
    assert_error(lena.post(sess(session_id, "/facilitators/theo/check-out")), 403, "presence_not_attested")
    # On farah's tablet, theo checks himself out with his PIN (a wrong one is refused).
    assert_error(farah.post(sess(session_id, "/facilitators/theo/check-out"), json={"pin": "9999"}), 403, "wrong_pin")
    out = ok(farah.post(sess(session_id, "/facilitators/theo/check-out"), json={"pin": THEO_PIN}))
    assert out["facilitators_present"] == []
    # farah, checked in, records that theo left again without checking out.
    ok(theo.post(sess(session_id, "/facilitators/theo/check-in")))
    ok(farah.post(sess(session_id, "/facilitators/farah/check-in")))
    assert ok(farah.post(sess(session_id, "/facilitators/theo/check-out")))["facilitators_present"] == ["farah"]
    last = [e for e in events(farah, session_id) if e["kind"] == "facilitator_checked_out"][-1]
    assert last["data"] == {"username": "theo", "attested_by": "colleague"} and last["actor"] == "farah"


def test_a_pin_leaves_no_guessable_trace_in_the_idempotency_record(app: Any, client_for: Any, session_id: str) -> None:
    farah = client_for("farah")
    _set_pin(app, "theo", THEO_PIN)
    path = sess(session_id, "/facilitators/theo/check-in")
    body = json.dumps({"pin": THEO_PIN}).encode()
    headers = {"Idempotency-Key": "tap-1", "Content-Type": "application/json"}
    first = ok(farah.post(path, content=body, headers=headers))
    assert first["facilitators_present"] == ["theo"]
    # A repeat of the same tap is answered from the record and appends nothing.
    seq = state(farah, session_id)["seq"]
    assert ok(farah.post(path, content=body, headers=headers)) == first
    assert state(farah, session_id)["seq"] == seq
    with unit_of_work(app.state.services.engine) as db:
        rows = list(db.exec(select(IdempotencyRecord)))
    assert rows and all(THEO_PIN not in row.body for row in rows)
    # The stored fingerprint is not a hash of the body, which 10,000 guesses would reverse.
    guessable = {
        hashlib.sha256(f"POST {path}\n".encode() + json.dumps({"pin": f"{n:04d}"}).encode()).hexdigest()
        for n in range(10_000)
    }
    assert not any(row.fingerprint in guessable for row in rows)
