"""Vitals, scales and notes: validated, timed when observed and when recorded, never rewritten;
corrections are amendments pointing at what they correct."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain import commands as c
from app.domain.model import Reading

from .conftest import FINN, SessionBuilder, kinds

VITALS = {"sbp": 122, "dbp": 78, "hr": 70, "spo2": 98, "rr": 14}


def test_vitals_taken_now_are_recorded_with_the_time_observed_and_not_late(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed().advance(minutes=40)
    events = b.run(c.RecordVitals("p1", VITALS), FINN)

    assert kinds(events) == ["vitals_recorded"] and events[0].actor == "finn"
    assert events[0].data == {
        "vitals": VITALS,
        "observed_at": b.now.isoformat(),
        "late": False,
        "next_vitals_due_at": (b.now + timedelta(minutes=15)).isoformat(),
    }
    assert b.p().vitals_due_at == b.now + timedelta(minutes=15)
    assert b.p().vitals["sbp"] == Reading(122.0, b.now, b.now)
    assert b.p().vitals_history == ((b.now, {k: float(v) for k, v in VITALS.items()}),)


def test_vitals_may_be_recorded_before_the_dose_as_the_baseline(session: SessionBuilder) -> None:
    events = session.run(c.RecordVitals("p1", {"sbp": 130, "dbp": 85}))
    assert kinds(events) == ["vitals_recorded"]
    assert session.p().vitals["dbp"].value == 85.0


def test_a_late_entry_carries_both_the_time_observed_and_the_time_recorded(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed().advance(minutes=30)
    observed = b.now - timedelta(minutes=10)
    events = b.run(c.RecordVitals("p1", {"hr": 88}, observed_at=observed))
    assert events[0].data["observed_at"] == observed.isoformat() and events[0].data["late"] is True
    assert events[0].at == b.now
    assert b.p().vitals["hr"] == Reading(88.0, observed, b.now)


def test_an_entry_within_the_clock_skew_is_not_late(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed().advance(minutes=30)
    events = b.run(c.RecordVitals("p1", {"hr": 88}, observed_at=b.now - timedelta(minutes=2)))
    assert events[0].data["late"] is False


def test_a_late_entry_older_than_the_latest_reading_goes_into_history_but_not_over_the_latest(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.dosed().advance(minutes=30)
    b.run(c.RecordVitals("p1", {"hr": 90, "spo2": 97}))
    latest_at = b.now
    b.advance(minutes=1)
    b.run(c.RecordVitals("p1", {"hr": 120}, observed_at=latest_at - timedelta(minutes=15)))

    assert b.p().vitals["hr"].value == 90.0 and b.p().vitals["hr"].observed_at == latest_at
    assert [when for when, _ in b.p().vitals_history] == [latest_at - timedelta(minutes=15), latest_at]


def test_vitals_observed_more_than_two_minutes_in_the_future_are_invalid_input(ready_session: SessionBuilder) -> None:
    b = ready_session
    err = b.invalid(c.RecordVitals("p1", {"hr": 70}, observed_at=b.now + timedelta(minutes=2, seconds=1)))
    assert err.details["field"] == "observed_at"
    assert err.details["latest"] == (b.now + timedelta(minutes=2)).isoformat()
    assert kinds(b.run(c.RecordVitals("p1", {"hr": 70}, observed_at=b.now + timedelta(minutes=2)))) == [
        "vitals_recorded"
    ]


def test_a_vitals_time_without_a_time_zone_is_invalid_input(session: SessionBuilder) -> None:
    err = session.invalid(c.RecordVitals("p1", {"hr": 70}, observed_at=session.now.replace(tzinfo=None)))
    assert err.details == {"field": "observed_at"}


@pytest.mark.parametrize(
    "name, value",
    [
        ("sbp", 39),
        ("sbp", 301),
        ("dbp", 19),
        ("dbp", 201),
        ("hr", 19),
        ("hr", 251),
        ("spo2", 49),
        ("spo2", 101),
        ("rr", 1),
        ("rr", 61),
    ],
)
def test_a_vital_sign_no_living_body_shows_is_invalid_input(session: SessionBuilder, name: str, value: int) -> None:
    err = session.invalid(c.RecordVitals("p1", {name: value}))
    assert err.details == {"field": name}


@pytest.mark.parametrize("name, value", [("sbp", 40), ("sbp", 300), ("spo2", 100), ("hr", 20), ("rr", 60)])
def test_the_edges_of_each_vital_range_are_accepted(session: SessionBuilder, name: str, value: int) -> None:
    session.run(c.RecordVitals("p1", {name: value}))
    assert session.p().vitals[name].value == value


def test_an_unknown_vital_or_an_empty_reading_is_invalid_input(session: SessionBuilder) -> None:
    assert session.invalid(c.RecordVitals("p1", {"temp": 37})).details == {"field": "temp"}
    assert session.invalid(c.RecordVitals("p1", {})).details == {"field": "vitals"}


# ---------------------------------------------------------------- scales and notes


def test_an_observation_records_the_scales_given_with_signs_parts_and_note(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    events = b.run(
        c.RecordObservation(
            "p1",
            distress=2,
            moaa_s=4,
            rass=1,
            suds=6,
            signs=("tearful",),
            parts=("critic",),
            note="  crying, wants hand held  ",
        )
    )
    assert kinds(events) == ["observation_recorded", "escalation_raised"], "distress 2 raises a low alarm"
    assert (events[1].data["condition"], events[1].data["priority"], events[1].data["step"]) == ("distress", "low", 1)
    assert events[0].data == {
        "distress": 2,
        "moaa_s": 4,
        "rass": 1,
        "suds": 6,
        "signs": ["tearful"],
        "parts": ["critic"],
        "note": "crying, wants hand held",
        "observed_at": b.now.isoformat(),
        "late": False,
    }
    p = b.p()
    assert p.distress == 2 and p.scales["moaa_s"].value == 4 and p.scales["rass"].value == 1
    assert p.scales["suds"] == Reading(6.0, b.now, b.now)


def test_scales_left_out_of_an_observation_keep_their_last_value(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.run(c.RecordObservation("p1", distress=3, rass=2))
    b.advance(minutes=5)
    events = b.run(c.RecordObservation("p1", distress=1))
    assert "rass" not in events[0].data
    assert b.p().distress == 1 and b.p().scales["rass"].value == 2


def test_a_late_observation_does_not_overwrite_a_newer_one(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.run(c.RecordObservation("p1", distress=1))
    b.advance(minutes=10)
    events = b.run(c.RecordObservation("p1", distress=3, observed_at=b.now - timedelta(minutes=20)))
    assert events[0].data["late"] is True
    assert b.p().distress == 1


def test_a_note_alone_is_an_observation(session: SessionBuilder) -> None:
    events = session.run(c.RecordObservation("p1", note="arrived early, calm"))
    assert events[0].data["note"] == "arrived early, calm" and "distress" not in events[0].data
    assert session.p().distress is None


@pytest.mark.parametrize(
    "scale, value",
    [("distress", -1), ("distress", 5), ("moaa_s", 6), ("moaa_s", -1), ("rass", -6), ("rass", 5), ("suds", 11)],
)
def test_a_scale_value_outside_its_range_is_invalid_input(session: SessionBuilder, scale: str, value: int) -> None:
    err = session.invalid(c.RecordObservation("p1", **{scale: value}))
    assert err.details == {"field": scale}


def test_an_observation_naming_an_unknown_protective_part_is_invalid_input(session: SessionBuilder) -> None:
    assert session.invalid(c.RecordObservation("p1", parts=("critic", "manager"))).details == {"field": "parts"}


def test_an_empty_observation_is_invalid_input(session: SessionBuilder) -> None:
    assert session.invalid(c.RecordObservation("p1", note="   ")).details == {"field": "note"}


# ---------------------------------------------------------------- amendments


def test_a_correction_is_an_amendment_pointing_at_the_entry_it_corrects(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    entry = b.run(c.RecordVitals("p1", {"hr": 170}))[0]
    vitals_before = b.p().vitals

    events = b.run(c.Amend("p1", entry.seq, correction="HR was 107", reason=" typo ", target_participant_id="p1"))
    assert kinds(events) == ["amended"]
    assert events[0].data == {"event_seq": entry.seq, "correction": "HR was 107", "reason": "typo"}
    assert b.p().vitals == vitals_before, "the original entry stays as it was"
    assert b.log[entry.seq - 1] is entry


def test_amending_an_entry_that_does_not_exist_or_belongs_to_someone_else_is_refused(session: SessionBuilder) -> None:
    session.with_participant("p2")
    entry = session.run(c.RecordObservation("p2", note="x"))[0]
    err = session.refuse(c.Amend("p1", entry.seq + 1, "c", "r", target_participant_id="p1"), code="not_found")
    assert err.details == {"event_seq": entry.seq + 1}
    session.refuse(c.Amend("p1", 0, "c", "r", target_participant_id="p1"), code="not_found")
    session.refuse(c.Amend("p1", entry.seq, "c", "r", target_participant_id="p2"), code="not_found")


@pytest.mark.parametrize("correction, reason", [("", "typo"), ("HR 107", "  ")])
def test_an_amendment_needs_a_correction_and_a_reason(session: SessionBuilder, correction: str, reason: str) -> None:
    entry = session.run(c.RecordObservation("p1", note="x"))[0]
    err = session.invalid(c.Amend("p1", entry.seq, correction, reason, target_participant_id="p1"))
    assert err.details["field"] in ("correction", "reason")
