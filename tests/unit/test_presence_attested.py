"""Invariant 4, presence is real: each person checks themselves in (their own sign-in, or their own
PIN or password on a shared room tablet); nobody checks in someone else, and the check-out rule
counts only people who checked themselves in."""

from __future__ import annotations

from dataclasses import replace

from app.domain import commands as c
from app.domain import evolve, upcast
from app.domain.model import Event

from .conftest import FAY, FINN, LEE, SessionBuilder, kinds, staff


def _fay_alone_with_two_journeying() -> SessionBuilder:
    """A group session: fay is the only one checked in; p1 and p2 are journeying."""
    b = SessionBuilder(kind="group").opened().checked_in("fay")
    for pid in ("p1", "p2"):
        b.with_participant(pid).ready(pid, by=staff("fay")).dosed(pid)
        b.run(c.ChangePhase(pid, "journeying"))
    assert b.state.covering_present == ("fay",)
    return b


def test_a_facilitator_alone_cannot_make_the_room_read_covered_by_checking_in_an_absent_colleague() -> None:
    b = _fay_alone_with_two_journeying()
    # On the room tablet signed in as fay, she taps "check in finn": finn is not there.
    events = b.refused_on_record(c.CheckIn("finn", "facilitator"), FAY, code="presence_not_attested")
    assert kinds(events) == ["command_refused"]
    assert events[0].data["attempt"]["username"] == "finn" and events[0].actor == "fay"
    assert "finn" not in b.state.present and b.state.covering_present == ("fay",)
    # So she is still the last facilitator in the room and cannot step out.
    b.refuse(c.CheckOut("fay"), FAY, code="room_uncovered")


def test_with_the_colleagues_own_pin_the_check_in_counts_and_the_first_may_step_out() -> None:
    b = _fay_alone_with_two_journeying()
    events = b.run(c.CheckIn("finn", "facilitator", attested_by="pin", credential_matched=True), FAY)
    assert events[0].data == {"username": "finn", "role": "facilitator", "attested_by": "pin"}
    assert events[0].actor == "fay", "the tablet's sign-in is on the record as who carried the tablet"
    assert b.state.covering_present == ("fay", "finn")
    # fay supports both journeyers, so handing them over comes first; then she may step out.
    for pid in ("p1", "p2"):
        b.run(c.HandOverSupport(pid, staff("finn"), "fay goes off shift", replaces="fay"), LEE)
    assert kinds(b.run(c.CheckOut("fay"), FAY)) == ["facilitator_checked_out"]
    assert b.state.covering_present == ("finn",)


def test_a_wrong_pin_or_password_is_refused_and_on_record() -> None:
    b = _fay_alone_with_two_journeying()
    events = b.refused_on_record(c.CheckIn("finn", "facilitator", attested_by="pin"), FAY, code="wrong_pin")
    assert events[0].data["code"] == "wrong_pin" and "finn" not in b.state.present
    b.refuse(c.CheckIn("finn", "facilitator", attested_by="password"), FAY, code="wrong_password")


def test_ones_own_sign_in_checks_oneself_in_and_a_password_typed_on_the_tablet_does_too() -> None:
    b = _fay_alone_with_two_journeying()
    assert b.run(c.CheckIn("finn", "facilitator"), FINN)[0].data["attested_by"] == "sign_in"
    b.run(c.CheckOut("finn"), FINN)
    b.run(c.CheckIn("finn", "facilitator", attested_by="password", credential_matched=True), FAY)
    assert "finn" in b.state.covering_present


def test_an_unknown_attestation_is_malformed_input() -> None:
    b = _fay_alone_with_two_journeying()
    b.invalid(c.CheckIn("finn", "facilitator", attested_by="badge", credential_matched=True), FAY)


def test_a_colleague_checked_in_here_may_record_that_someone_left_but_nobody_outside_may() -> None:
    b = _fay_alone_with_two_journeying()
    b.run(c.CheckIn("finn", "facilitator"), FINN)
    # lee is not checked in to the room: lee cannot say who is in it.
    b.refuse(c.CheckOut("finn"), LEE, code="presence_not_attested")
    # fay is in the room and sees finn has gone without checking out.
    events = b.run(c.CheckOut("finn"), FAY)
    assert events[0].data == {"username": "finn", "attested_by": "colleague"}
    assert b.state.covering_present == ("fay",)


def test_a_colleague_cannot_check_out_the_last_facilitator_either() -> None:
    b = _fay_alone_with_two_journeying()
    b.refuse(c.CheckOut("fay"), FINN, code="presence_not_attested")
    b.run(c.CheckIn("lee", "lead"), LEE)
    # lee is checked in: checking fay out leaves lee covering, but fay still supports the journeyers.
    b.refuse(c.CheckOut("fay"), LEE, code="dyad_locked")


def test_a_check_in_by_someone_else_in_an_older_log_does_not_count_as_covering_the_room() -> None:
    b = _fay_alone_with_two_journeying()
    legacy = Event(
        session_id=b.state.session_id,
        seq=b.state.seq + 1,
        at=b.now,
        actor="fay",
        payload=upcast("facilitator_checked_in", {"username": "finn", "role": "facilitator"}),
    )
    state = evolve(b.state, legacy)
    assert "finn" in state.present and state.covering_present == ("fay",)
    b.state = state
    b.refuse(c.CheckOut("fay"), FAY, code="room_uncovered")
    # finn checking in themselves makes it real.
    b.run(c.CheckIn("finn", "facilitator"), FINN)
    assert b.state.covering_present == ("fay", "finn")
    own = replace(legacy, actor="finn", seq=legacy.seq)
    assert "finn" not in evolve(replace(b.state, unattested=frozenset()), own).unattested
