"""The afterwards in the domain: seen is a fact, the review's figures are folds of the log, follow-ups
climb to the clinic's admins, and a lead never owns the repair of her own conduct."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.domain import commands as c
from app.domain.errors import PolicyError
from app.domain.events import FacilitatorCheckedIn, FacilitatorCheckedOut, Payload
from app.domain.followups import climbs_at, followup_owners, followup_state, reached_admins
from app.domain.model import CLINIC_ADMINS, Actor, Event
from app.domain.policy import DEFAULT_POLICY, policy_from_mapping
from app.domain.report import percentile, response_report, session_figures
from app.domain.review import fold_to, review, seq_at
from tests.unit.conftest import ADA, FINN, LEE, T0, SessionBuilder, kinds, staff

LOU = Actor("lou", "lead")


def distressed(session: SessionBuilder) -> str:
    """p1 dosed at T0 with fay as support; at T0+1 min fay records distress 2 (a low alarm)."""
    session.ready("p1").dosed("p1")
    session.advance(minutes=1)
    [raised] = [e for e in session.run(c.RecordObservation("p1", distress=2)) if e.kind == "escalation_raised"]
    return str(raised.data["escalation_id"])


# ---------------------------------------------------------------- seen


def test_the_first_sighting_per_person_is_recorded_with_its_device_and_repeats_record_nothing(
    session: SessionBuilder,
) -> None:
    eid = distressed(session)
    session.advance(seconds=7)
    [first] = session.run(c.MarkAlarmsSeen((eid, eid)), device="cedar-tablet")
    assert (first.kind, first.actor, first.device, first.data) == (
        "escalation_seen",
        "fay",
        "cedar-tablet",
        {"escalation_id": eid},
    )
    session.advance(seconds=30)
    assert session.run(c.MarkAlarmsSeen((eid,)), device="another-tablet") == []
    assert session.run(c.MarkAlarmsSeen(("s1-e999",))) == []  # not an alarm of this session
    [lead] = session.run(c.MarkAlarmsSeen((eid,)), LEE, device="laptop")
    sightings = session.state.escalations[eid].seen
    assert [(s.username, s.at, s.device) for s in sightings] == [
        ("fay", T0 + timedelta(minutes=1, seconds=7), "cedar-tablet"),
        ("lee", T0 + timedelta(minutes=1, seconds=37), "laptop"),
    ]
    assert lead.actor == "lee"
    # A sighting is not a step of the alarm: its history (what the screens show) is unchanged.
    assert [h.kind for h in session.state.escalations[eid].history] == ["escalation_raised"]
    session.run(c.ResolveEscalation(eid, "sat with her", "settled"))
    assert session.run(c.MarkAlarmsSeen((eid,)), FINN) == []  # no longer on any screen
    assert session.refold() == session.state


# ---------------------------------------------------------------- the review's figures


def test_unattended_distress_counts_until_acknowledged_again_after_a_raise_and_not_after_a_resolve(
    session: SessionBuilder,
) -> None:
    eid = distressed(session)  # distress 2 from 1:00
    session.advance(minutes=3)
    session.run(c.AcknowledgeEscalation(eid), LEE)  # 4:00: three minutes unanswered
    session.advance(minutes=2)
    session.run(c.RecordObservation("p1", distress=3))  # 6:00: raised to medium, unanswered again
    session.advance(minutes=2)
    session.run(c.AcknowledgeEscalation(eid), LEE)  # 8:00: two more
    session.advance(minutes=2)
    session.run(c.ResolveEscalation(eid, "quiet corner with finn", "settling"))  # 10:00
    session.advance(minutes=2)
    session.run(c.RecordObservation("p1", distress=1))  # 12:00
    now = session.now + timedelta(minutes=5)

    found = review("s1", session.log, now, DEFAULT_POLICY)
    [p] = found.participants
    assert p.unattended_distress_seconds == 300.0
    assert [(s.value, s.start - T0, s.end - T0) for s in p.distress] == [
        ("2", timedelta(minutes=1), timedelta(minutes=6)),
        ("3", timedelta(minutes=6), timedelta(minutes=12)),
        ("1", timedelta(minutes=12), timedelta(minutes=17)),
    ]
    [alarm] = found.alarms
    assert (alarm.raised_priority, alarm.priority, alarm.raised_by) == ("low", "medium", "fay")
    assert [s.kind for s in alarm.steps] == ["raised", "acknowledged", "updated", "acknowledged", "resolved"]
    # Time to acknowledge is to the first acknowledgement.
    assert (alarm.seconds_to_acknowledge, alarm.seconds_to_resolve, alarm.seconds_to_first_seen) == (180, 540, None)
    assert found.until == now and found.unattended_distress_seconds == 300.0


def test_a_log_without_a_facilitator_in_the_room_counts_uncovered_and_unsupported_minutes(
    session: SessionBuilder,
) -> None:
    """A log written before presence had to be attested can hold a check-out that left the room
    empty: the review counts exactly the time it lasted, and the time the journeyer had nobody."""
    session.ready("p1").dosed("p1")
    log = list(session.log)

    def legacy(payload: Payload, minutes: int) -> Event:
        return Event("s1", log[-1].seq + 1, T0 + timedelta(minutes=minutes), "fay", payload)

    log.append(legacy(FacilitatorCheckedOut(username="fay"), 10))
    log.append(legacy(FacilitatorCheckedIn(username="fay", role="facilitator"), 17))
    found = review("s1", log, T0 + timedelta(minutes=30), DEFAULT_POLICY)
    assert found.room.uncovered_seconds == 420.0 and found.room.under_ratio_seconds == 0.0
    assert found.participants[0].without_support_seconds == 420.0
    assert found.participants[0].unattended_distress_seconds == 0.0


def test_a_closed_session_counts_to_its_close_and_replay_folds_to_any_event(session: SessionBuilder) -> None:
    session.advance(minutes=5)
    session.run(c.Transfer("p1", reason="left before dosing", destination="home"))
    session.advance(minutes=5)
    session.run(c.CloseSession(), LEE)
    found = review("s1", session.log, T0 + timedelta(days=3), DEFAULT_POLICY)
    assert found.closed_at == T0 + timedelta(minutes=10) and found.until == found.closed_at
    assert [(s.value, s.end - s.start) for s in found.participants[0].phases] == [
        ("arrived", timedelta(minutes=5)),
        ("transferred", timedelta(minutes=5)),
    ]
    assert fold_to("s1", session.log, 2) == fold_to("s1", session.log[:2])
    assert fold_to("s1", session.log) == session.state
    assert fold_to("s1", session.log, 0).seq == 0
    assert seq_at(session.log, T0 - timedelta(seconds=1)) == 0
    assert seq_at(session.log, T0 + timedelta(minutes=7)) == session.log[-2].seq


# ---------------------------------------------------------------- follow-ups that cannot be buried


def test_an_overdue_follow_up_climbs_to_the_admins_after_the_policy_time(session: SessionBuilder) -> None:
    session.ready("p1").dosed("p1")
    session.advance(minutes=1)
    session.run(c.RecordObservation("p1", distress=3))  # reaches the lead: a follow-up opens
    [followup] = session.state.followups.values()
    policy = replace(DEFAULT_POLICY, followup_escalate_hours=6)
    due = followup.due_at
    assert due == session.now + timedelta(hours=48) and climbs_at(followup, policy) == due + timedelta(hours=6)
    assert followup_state(followup, due, policy) == "open"
    assert followup_state(followup, due + timedelta(seconds=1), policy) == "overdue"
    assert followup_owners(followup, due + timedelta(hours=5), policy) == ("lee",)
    at_climb = due + timedelta(hours=6)
    assert followup_state(followup, at_climb, policy) == "escalated"
    assert followup_owners(followup, at_climb, policy) == ("lee", CLINIC_ADMINS)
    assert not reached_admins(followup, at_climb - timedelta(seconds=1), policy)
    assert reached_admins(followup, at_climb, policy)

    # An admin may close it only once it is theirs.
    session.policy = policy
    session.now = at_climb - timedelta(seconds=1)
    session.refuse(c.CloseFollowup(followup.id, "called"), ADA, code="forbidden")
    session.now = at_climb
    [closed] = session.run(c.CloseFollowup(followup.id, "Called her; she is well"), ADA)
    assert closed.kind == "followup_closed" and closed.actor == "ada"
    assert followup_state(session.state.followups[followup.id], at_climb, policy) == "closed"
    # Closed after it climbed: it stays on the admins' record of what was theirs.
    assert reached_admins(session.state.followups[followup.id], at_climb + timedelta(days=30), policy)


def test_the_lead_never_owns_the_repair_of_her_own_attempt_to_break_a_dyad(dyad: SessionBuilder) -> None:
    dyad.dosed("p1")
    # fay tries to take the partner away: the lead owns the repair.
    [by_fay] = dyad.refused_on_record(c.RemoveSupport("p1", "p2"), code="dyad_locked")
    assert by_fay.data["followup"]["owner"] == "lee"
    # The lead tries it herself: the clinic's admins own it.
    [by_lead] = dyad.refused_on_record(c.RemoveSupport("p1", "p2"), LEE, code="dyad_locked")
    assert by_lead.data["followup"]["owner"] == CLINIC_ADMINS
    # An emergency handover is the sanctioned way out, not a breach: its repair stays the lead's.
    dyad.checked_in("finn")
    handover = dyad.run(c.HandOverSupport("p1", staff("finn"), "partner unwell"), LEE)
    assert [e.data["owner"] for e in handover if e.kind == "followup_opened"] == ["lee"]


def test_a_follow_up_about_the_leads_conduct_is_never_hers(session: SessionBuilder) -> None:
    concern = c.OpenFollowup("p1", "The lead ignored her", account="Nobody came.", concerns_lead=True)
    session.refuse(replace(concern, owner="lee"), FINN, code="owner_is_subject")
    [opened] = session.run(concern, FINN)
    assert kinds([opened]) == ["followup_opened"]
    item = session.state.followups[opened.data["followup_id"]]
    assert (item.owner, item.opened_by, item.account, item.concerns_lead) == (
        CLINIC_ADMINS,
        "finn",
        "Nobody came.",
        True,
    )
    assert item.source_seq == opened.seq and item.id == f"s1-f{opened.seq}"
    [plain] = session.run(c.OpenFollowup("p1", "Wants to talk about the music"))
    assert session.state.followups[plain.data["followup_id"]].owner == "lee"
    session.invalid(c.OpenFollowup("p1", "  "))
    # Opened after the session is closed, too (a concern raised the next day).
    session.run(c.Transfer("p1", reason="went home", destination="home"))
    session.run(c.CloseSession(), LEE)
    assert kinds(session.run(c.OpenFollowup("p1", "Called the next day"), ADA)) == ["followup_opened"]
    assert session.refold() == session.state


# ---------------------------------------------------------------- policy and the report


@pytest.mark.parametrize("value", [0, 721, "24", True])
def test_followup_escalate_hours_is_validated(value: object) -> None:
    with pytest.raises(PolicyError, match="followup_escalate_hours"):
        policy_from_mapping({"followup_escalate_hours": value})
    assert policy_from_mapping({"followup_escalate_hours": 720}).followup_escalate_hours == 720
    assert DEFAULT_POLICY.followup_escalate_hours == 24


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([float(v) for v in range(10, 0, -1)], 0.9) == 9.0
    assert percentile([1.0, 2.0, 3.0, 100.0], 0.9) == 100.0


def test_the_report_sums_per_lead_and_per_room(session: SessionBuilder) -> None:
    eid = distressed(session)
    session.advance(seconds=30)
    session.run(c.AcknowledgeEscalation(eid), LEE)
    other = SessionBuilder(session_id="s2", lead="lou").opened().checked_in("fay").with_participant("p1")
    other_eid = distressed(other)
    other.advance(seconds=90)
    other.run(c.AcknowledgeEscalation(other_eid), LOU)
    now = T0 + timedelta(hours=1)
    reviews = [review("s1", session.log, now, DEFAULT_POLICY), review("s2", other.log, now, DEFAULT_POLICY)]
    found = response_report([session_figures(r) for r in reviews], T0, now, now, DEFAULT_POLICY)
    assert [(r.key, r.sessions, r.times["acknowledge"]) for r in found.by_lead] == [
        ("lee", 1, [30.0]),
        ("lou", 1, [90.0]),
    ]
    [room] = found.by_room
    assert (room.key, room.sessions, room.alarms, room.median("acknowledge"), room.p90("acknowledge")) == (
        "room-1",
        2,
        {"high": 0, "medium": 0, "low": 2},
        60.0,
        90.0,
    )
    assert room.unattended_distress_seconds == 120.0
