"""Times a client sends are sane (the domain owns the window), and late entries keep both times
everywhere, screening and the agreement included (invariant 8).

A time is accepted from the session's start less the clinic's late-entry allowance (24 h by
default) up to now plus the clock-skew allowance (2 min). Anything else is invalid input naming the
field, and nothing is recorded: year 0001 or 1970 made the chart exports spin and the participant
page fail when such a time was stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.domain import commands as c
from app.domain.decide import time_window
from app.domain.errors import PolicyError
from app.domain.events import upcast
from app.domain.evolve import evolve, fold
from app.domain.model import Event
from app.domain.policy import DEFAULT_POLICY, Policy, policy_from_mapping

from .conftest import DOC, FAY, T0, SessionBuilder, consent_cmd, dose_cmd, kinds, screening_cmd

PLUS_ONE = timezone(timedelta(hours=1))
MINUS_ONE = timezone(timedelta(hours=-1))
ALLOWANCE = timedelta(hours=DEFAULT_POLICY.late_entry_allowance_hours)  # 24 h
SKEW = timedelta(minutes=2)


def timed(kind: str, when: datetime | None, pid: str = "p1") -> tuple[str, c.Command]:
    """A command of each kind that takes a client's time, with `when` as that time."""
    if kind == "vitals":
        return "observed_at", c.RecordVitals(pid, {"hr": 70}, observed_at=when)
    if kind == "observation":
        return "observed_at", c.RecordObservation(pid, distress=1, observed_at=when)
    if kind == "note":
        return "observed_at", c.RecordNote(pid, "intention", "to stay with what comes", observed_at=when)
    if kind == "screening":
        return "observed_at", c.RecordScreening(pid, {}, 120, 80, observed_at=when)
    if kind == "consent":
        return "observed_at", consent_cmd(pid, observed_at=when)
    if kind == "dose":
        return "administered_at", dose_cmd(pid, administered_at=when)
    raise AssertionError(kind)


KINDS = ["vitals", "observation", "note", "screening", "consent", "dose"]


def actor_for(kind: str) -> Any:
    return DOC if kind == "dose" else FAY


@pytest.fixture
def b(ready_session: SessionBuilder) -> SessionBuilder:
    """p1 ready for a dose, three hours into a session opened at T0."""
    return ready_session.advance(hours=3)


def _insane_times() -> list[tuple[str, datetime]]:
    return [
        ("year 0001", datetime(1, 1, 1, tzinfo=UTC)),
        ("year 0001 at +01:00", datetime(1, 1, 1, tzinfo=PLUS_ONE)),
        ("1970", datetime(1970, 1, 1, tzinfo=UTC)),
        ("year 9999 at -01:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_ONE)),
        ("a day and a second before the session", T0 - ALLOWANCE - timedelta(seconds=1)),
        ("a year ahead", T0 + timedelta(days=365)),
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("label, when", _insane_times(), ids=[label for label, _ in _insane_times()])
def test_a_time_outside_the_window_is_invalid_input_naming_the_field(
    b: SessionBuilder, kind: str, label: str, when: datetime
) -> None:
    field, command = timed(kind, when)
    err = b.invalid(command, actor_for(kind))
    assert err.details["field"] == field, label
    assert field in err.message


@pytest.mark.parametrize("kind", KINDS)
def test_just_beyond_the_clock_skew_is_refused_and_at_it_accepted(b: SessionBuilder, kind: str) -> None:
    field, ahead = timed(kind, b.now + SKEW + timedelta(microseconds=1))
    err = b.invalid(ahead, actor_for(kind))
    assert err.details == {
        "field": field,
        "earliest": (T0 - ALLOWANCE).isoformat(),
        "latest": (b.now + SKEW).isoformat(),
    }
    assert "future" in err.message
    _, at_edge = timed(kind, b.now + SKEW)
    assert b.run(at_edge, actor_for(kind))


@pytest.mark.parametrize("kind", KINDS)
def test_a_late_entry_may_go_back_to_the_allowance_before_the_session_started(b: SessionBuilder, kind: str) -> None:
    field, too_early = timed(kind, T0 - ALLOWANCE - timedelta(microseconds=1))
    err = b.invalid(too_early, actor_for(kind))
    assert err.details["field"] == field and err.details["earliest"] == (T0 - ALLOWANCE).isoformat()
    assert "24 h before the session started" in err.message
    if kind == "dose":
        # A dose follows its screening and agreement, so it cannot be that early in this session.
        return
    _, earliest = timed(kind, T0 - ALLOWANCE)
    events = b.run(earliest, actor_for(kind))
    assert events[0].data[field] == (T0 - ALLOWANCE).isoformat()
    assert events[0].data["late"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_a_time_with_an_offset_is_stored_in_utc(b: SessionBuilder, kind: str) -> None:
    local = (b.now - timedelta(minutes=1)).astimezone(PLUS_ONE)
    field, command = timed(kind, local)
    events = b.run(command, actor_for(kind))
    stored = events[0].data[field]
    assert stored == (b.now - timedelta(minutes=1)).isoformat() and stored.endswith("+00:00")


def test_the_allowance_is_the_clinics_policy() -> None:
    strict = Policy(late_entry_allowance_hours=2)
    b = SessionBuilder(policy=strict).opened().checked_in("fay").with_participant("p1").advance(hours=1)
    assert time_window(b.state, b.ctx()) == (T0 - timedelta(hours=2), b.now + SKEW)
    err = b.invalid(c.RecordVitals("p1", {"hr": 70}, observed_at=T0 - timedelta(hours=2, seconds=1)))
    assert "2 h before the session started" in err.message
    assert kinds(b.run(c.RecordVitals("p1", {"hr": 70}, observed_at=T0 - timedelta(hours=2)))) == ["vitals_recorded"]

    none_before = SessionBuilder(policy=Policy(late_entry_allowance_hours=0)).opened().with_participant("p1")
    none_before.invalid(c.RecordVitals("p1", {"hr": 70}, observed_at=T0 - timedelta(seconds=1)))
    assert kinds(none_before.run(c.RecordVitals("p1", {"hr": 70}, observed_at=T0))) == ["vitals_recorded"]


def test_the_late_entry_allowance_is_a_policy_key_validated_like_the_others() -> None:
    assert DEFAULT_POLICY.late_entry_allowance_hours == 24
    assert policy_from_mapping({"late_entry_allowance_hours": 72}).late_entry_allowance_hours == 72
    assert policy_from_mapping({"late_entry_allowance_hours": 0}).late_entry_allowance_hours == 0
    for value, problem in [
        (-1, "must be at least 0"),
        (721, "must be at most 720"),
        (10**30, "must be at most 720"),
        (True, "must be a whole number, not bool"),
        ("24", "must be a whole number, not str"),
        (1.5, "must be a whole number, not float"),
    ]:
        with pytest.raises(PolicyError) as info:
            policy_from_mapping({"late_entry_allowance_hours": value})
        assert info.value.key == "late_entry_allowance_hours"
        assert str(info.value) == f"policy key 'late_entry_allowance_hours': {problem}"


def test_an_insane_time_in_an_integration_note_after_the_session_closed_is_refused_too() -> None:
    b = SessionBuilder().opened().checked_in("fay").with_participant("p1")
    b.run(c.Discharge("p1"))
    b.run(c.CloseSession(), FAY)
    b.advance(days=3)
    err = b.invalid(
        c.RecordNote("p1", "integration", "anger at her father", observed_at=datetime(1970, 1, 1, tzinfo=UTC))
    )
    assert err.details["field"] == "observed_at"
    week_later = b.run(c.RecordNote("p1", "integration", "anger at her father", observed_at=b.now - timedelta(hours=1)))
    assert week_later[0].data["late"] is True


# ---------------------------------------------------------------- late entries: screening and the agreement


def test_a_screening_typed_in_later_keeps_when_it_was_done_and_when_it_was_recorded(session: SessionBuilder) -> None:
    b = session.advance(minutes=40)
    done = b.now - timedelta(minutes=35)
    events = b.run(c.RecordScreening("p1", {}, 124, 78, observed_at=done))
    assert events[0].at == b.now
    assert (events[0].data["observed_at"], events[0].data["late"]) == (done.isoformat(), True)
    p = b.p()
    assert (p.screened_at, p.screening_recorded_at, p.screening_late) == (done, b.now, True)


def test_a_screening_entered_at_the_time_is_not_late(session: SessionBuilder) -> None:
    events = session.run(screening_cmd("p1"))
    assert (events[0].data["observed_at"], events[0].data["late"]) == (session.now.isoformat(), False)
    assert session.p().screened_at == session.p().screening_recorded_at == session.now
    assert session.p().screening_late is False


def test_an_agreement_typed_in_later_keeps_when_it_was_signed_and_when_it_was_recorded(
    session: SessionBuilder,
) -> None:
    b = session.screened("p1").advance(minutes=30)
    signed = b.now - timedelta(minutes=20)
    events = b.run(consent_cmd("p1", observed_at=signed))
    assert kinds(events) == ["consent_recorded"]
    data = events[0].data
    assert (data["observed_at"], data["late"], data["attested_by"]) == (signed.isoformat(), True, "fay")
    assert "observed_at" not in data["agreement"], "the agreement itself is what was agreed, not when"
    p = b.p()
    assert (p.consented_at, p.consent_recorded_at, p.consent_late) == (signed, b.now, True)


def test_paper_first_then_typed_the_dose_follows_the_observed_times_and_is_not_blocked(
    session: SessionBuilder,
) -> None:
    """A clinic screens at 09:00, signs the agreement at 09:05, doses at 09:20 on paper, and types it
    all in from 09:40. The dose follows the screening and the agreement in what happened."""
    b = session.supported("p1")
    screened, signed, given = T0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=20)
    b.advance(minutes=40).run(c.RecordScreening("p1", {}, 120, 80, observed_at=screened))
    b.advance(minutes=2).run(consent_cmd("p1", observed_at=signed))
    b.advance(minutes=3)
    events = b.run(dose_cmd("p1", administered_at=given), DOC)
    assert kinds(events) == ["dose_administered"]
    assert events[0].data["administered_at"] == given.isoformat()
    assert b.p().dosed_at == given


def test_a_dose_before_the_observed_screening_is_still_refused(session: SessionBuilder) -> None:
    b = session.supported("p1").consented("p1")
    b.advance(minutes=40).run(c.RecordScreening("p1", {}, 120, 80, observed_at=T0 + timedelta(minutes=30)))
    err = b.invalid(dose_cmd("p1", administered_at=T0 + timedelta(minutes=20)), DOC)
    assert err.details == {"field": "administered_at", "earliest": (T0 + timedelta(minutes=30)).isoformat()}


def test_a_dose_before_the_observed_agreement_is_still_refused(session: SessionBuilder) -> None:
    b = session.supported("p1").screened("p1")
    b.advance(minutes=40).run(consent_cmd("p1", observed_at=T0 + timedelta(minutes=25)))
    err = b.invalid(dose_cmd("p1", administered_at=T0 + timedelta(minutes=24)), DOC)
    assert err.details["earliest"] == (T0 + timedelta(minutes=25)).isoformat()


def test_entries_from_before_observed_times_existed_fold_with_their_recorded_time(session: SessionBuilder) -> None:
    """Screening and agreement events written before they carried `observed_at` read as observed
    when recorded, and not late."""
    base = session.state
    at = T0 + timedelta(minutes=5)
    old = [
        Event(
            "s1",
            base.seq + 1,
            at,
            "fay",
            upcast(
                "screening_recorded",
                {
                    "contraindications": {},
                    "bp": {"sbp": 120, "dbp": 80},
                    "concomitant_sedatives": [],
                    "notes": "",
                    "flags": [],
                },
            ),
            "p1",
        ),
        Event(
            "s1",
            base.seq + 2,
            at,
            "fay",
            upcast(
                "consent_recorded", {"agreement": dict(consent_cmd().__dict__, touch=["hand"]), "attested_by": "fay"}
            ),
            "p1",
        ),
    ]
    state = base
    for event in old:
        state = evolve(state, event)
    p = state.participants["p1"]
    assert (p.screened_at, p.screening_recorded_at, p.screening_late) == (at, at, False)
    assert (p.consented_at, p.consent_recorded_at, p.consent_late) == (at, at, False)
    assert fold("s1", [*session.log, *old]).participants["p1"] == p
