"""Event payloads: one frozen dataclass per kind, a schema version each, one place that reads
old payloads (`upcast`), and `evolve` dispatching on the type."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest

from app.domain import commands as c
from app.domain import events as ev
from app.domain.events import PAYLOAD_TYPES, SCHEMA_KEY, UnreadablePayload, upcast
from app.domain.evolve import evolve
from app.domain.model import Event, SessionState

from .conftest import T0, SessionBuilder, kinds, staff

LATER = T0 + timedelta(minutes=20)


def test_every_payload_class_is_registered_once_under_its_kind() -> None:
    def concrete(cls: type) -> list[type]:
        out = []
        for sub in cls.__subclasses__():
            if "KIND" in vars(sub):
                out.append(sub)
            out.extend(concrete(sub))
        return out

    classes = concrete(ev.Payload)
    assert sorted(cls.KIND for cls in classes) == sorted(PAYLOAD_TYPES)
    assert len({cls.KIND for cls in classes}) == len(classes) == 41
    for kind, cls in PAYLOAD_TYPES.items():
        assert cls.KIND == kind and isinstance(cls.SCHEMA, int) and cls.SCHEMA >= 1
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


# One example of every kind, as decide would write it.
EXAMPLES: list[ev.Payload] = [
    ev.SessionOpened(room_id="room-1", kind="group", facilitators=("fay",), lead="lee"),
    ev.SessionClosed(),
    ev.FacilitatorCheckedIn(username="fay", role="facilitator", attested_by="pin"),
    ev.FacilitatorCheckedOut(username="fay", attested_by="colleague"),
    ev.CommandRefused(
        command="check_out",
        code="dyad_locked",
        message="no",
        attempt={"username": "fay"},
        followups=(
            ev.FollowupItem(participant_id="p1", reason="r", owner="lee", due_at=LATER),
            ev.FollowupItem(participant_id="p2", reason="r", owner="lee", due_at=LATER),
        ),
    ),
    ev.ParticipantAdded(id="p1", display_name="Robin T.", chart_id="KAP-1"),
    ev.ScreeningRecorded(
        contraindications={"pregnancy": False},
        bp=ev.BloodPressure(sbp=150, dbp=85),
        concomitant_sedatives=("lorazepam",),
        notes="",
        flags=("bp_above_140/90",),
        observed_at=T0 - timedelta(hours=12),
        late=True,
    ),
    ev.ScreeningCleared(note="reviewed", flags=("bp_above_140/90",)),
    ev.ConsentRecorded(
        agreement=ev.Agreement(
            touch=("hand",),
            pause_signal="palm",
            stop_signal="enough",
            music=True,
            eyeshades=False,
            emergency_contact="Sam",
            transport_plan="Sam drives",
            signed_by_participant=True,
        ),
        attested_by="fay",
    ),
    ev.ConsentWithdrawn(items=("music",)),
    ev.SupportAssigned(support=ev.SupportRef("staff", "fay")),
    ev.SupportRemoved(support_id="fay"),
    ev.SupportHandedOver(replacement=ev.SupportRef("staff", "finn"), released=("fay",), reason="unwell"),
    ev.DoseAdministered(
        route="intravenous",
        dose_mg=35.5,
        administered_at=T0,
        prescriber="doc",
        checkin_due_at=LATER,
        infusion_minutes=20,
        vitals_due_at=T0 + timedelta(minutes=10),
    ),
    ev.PhaseChanged(from_="dosed", to="journeying"),
    ev.Paused(from_="journeying", requested_by="staff", reason="", participant_response="agrees"),
    ev.Resumed(to="journeying", reason="ready"),
    ev.Stopped(from_="paused", requested_by="participant", reason="enough"),
    ev.PauseOrStopDeclined(
        from_="journeying", requested_by="staff", proposal="stop", reason="", participant_response="declines"
    ),
    ev.ConsentCheckinAnswered(ok=True, next_due_at=LATER, note="fine", due_at=T0),
    ev.ConsentCheckinMissed(due_at=T0, next_due_at=LATER),
    ev.VitalsRecorded(vitals={"sbp": 120, "spo2": 97.5}, observed_at=T0, late=True, next_vitals_due_at=LATER),
    ev.ObservationRecorded(observed_at=T0, distress=2, rass=-1, signs=("tearful",), note="n", parts=("critic",)),
    ev.ChecklistItemTicked(item="oriented", note="yes"),
    ev.NoteRecorded(kind="integration", text="t", observed_at=T0, parts=("critic",), somatic="warm hands"),
    ev.Amended(event_seq=7, correction="c", reason="r"),
    ev.DedicatedFacilitatorAssigned(username="finn"),
    ev.ParticipantSteppedOut(accompanied_by="finn"),
    ev.ParticipantReturned(accompanied_by="finn"),
    ev.Discharged(
        from_="grounding",
        checklist=(ev.ItemResult("oriented", "Oriented", True, True, False, "yes", by="fay", at=T0),),
    ),
    ev.Transferred(from_="journeying", reason="chest pain", destination="ED"),
    ev.EscalationRaised(escalation_id="s1-e9", condition="distress", priority="low", step=1, reason="r"),
    ev.EscalationUpdated(escalation_id="s1-e9", priority="high", step=3, reason="r", deadline=LATER),
    ev.EscalationClimbed(escalation_id="s1-e9", step=3, deadline=LATER),
    ev.EscalationResounded(escalation_id="s1-e9", deadline=LATER),
    ev.EscalationAcknowledged(escalation_id="s1-e9", step=3),
    ev.EscalationResolved(escalation_id="s1-e9", action="a", outcome="o", automatic=True),
    ev.AlarmMuted(escalation_id="s1-e9", until=LATER),
    ev.EscalationSeen(escalation_id="s1-e9"),
    ev.FollowupOpened(
        followup_id="s1-f3",
        reason="r",
        owner="@admins",
        due_at=LATER,
        source_seq=3,
        account="in her words",
        concerns_lead=True,
    ),
    ev.FollowupClosed(followup_id="s1-f3", contact_note="called"),
]


def test_the_examples_cover_every_kind() -> None:
    assert sorted(p.KIND for p in EXAMPLES) == sorted(PAYLOAD_TYPES)


@pytest.mark.parametrize("payload", EXAMPLES, ids=[p.KIND for p in EXAMPLES])
def test_a_payload_reads_back_from_its_stored_json_as_it_was(payload: ev.Payload) -> None:
    stored = json.loads(json.dumps(payload.stored()))
    assert stored[SCHEMA_KEY] == payload.SCHEMA
    assert upcast(payload.KIND, stored) == payload
    # The API's `data` is the same JSON without the version.
    assert {k: v for k, v in stored.items() if k != SCHEMA_KEY} == payload.to_data()
    # A payload written before versions existed (the same fields, no version) reads the same.
    assert upcast(payload.KIND, payload.to_data()) == payload


@pytest.mark.parametrize(
    "kind, stored, expected",
    [
        (  # before infusions and the vitals schedule
            "dose_administered",
            {
                "route": "sublingual",
                "dose_mg": 50,
                "administered_at": T0.isoformat(),
                "prescriber": "doc",
                "checkin_due_at": LATER.isoformat(),
            },
            ev.DoseAdministered(
                route="sublingual", dose_mg=50, administered_at=T0, prescriber="doc", checkin_due_at=LATER
            ),
        ),
        (  # before late entries were marked
            "vitals_recorded",
            {"vitals": {"hr": 70}, "observed_at": T0.isoformat()},
            ev.VitalsRecorded(vitals={"hr": 70}, observed_at=T0, late=False),
        ),
        (  # before the agreement named who attested it
            "consent_recorded",
            {"agreement": EXAMPLES[8].to_data()["agreement"]},
            dataclasses.replace(EXAMPLES[8], attested_by=None),  # type: ignore[type-var]
        ),
        (  # before presence had to be attested
            "facilitator_checked_in",
            {"username": "fay", "role": "facilitator"},
            ev.FacilitatorCheckedIn(username="fay", role="facilitator", attested_by=None),
        ),
        (  # before late entries of a screening
            "screening_recorded",
            {"contraindications": {}, "bp": {"sbp": 120, "dbp": 80}},
            ev.ScreeningRecorded(contraindications={}, bp=ev.BloodPressure(120, 80), observed_at=None, late=False),
        ),
        (  # a refusal before refused attempts kept their fields
            "command_refused",
            {"command": "remove_support", "code": "dyad_locked", "message": "no", "followup": None},
            ev.CommandRefused(command="remove_support", code="dyad_locked", message="no"),
        ),
    ],
)
def test_an_older_payload_is_upcast_with_the_defaults_of_what_it_lacks(
    kind: str, stored: dict[str, Any], expected: ev.Payload
) -> None:
    assert upcast(kind, stored) == expected


@pytest.mark.parametrize(
    "kind, stored, why",
    [
        ("made_up_kind", {}, "unknown event kind"),
        ("session_closed", {SCHEMA_KEY: 99}, "schema 99"),
        ("session_closed", {SCHEMA_KEY: "1"}, "schema '1'"),
        ("facilitator_checked_out", {}, "has no username"),
        ("facilitator_checked_out", {"username": 7}, "not a text"),
        ("alarm_muted", {"escalation_id": "e", "until": "soon"}, "not a time"),
        ("amended", {"event_seq": "7", "correction": "c", "reason": "r"}, "not a whole number"),
        ("escalation_acknowledged", {"escalation_id": "e", "step": 2.5}, "not a whole number"),
        ("dose_administered", {**EXAMPLES[13].to_data(), "dose_mg": "35"}, "not a number"),
        ("consent_withdrawn", {"items": "music"}, "not a list"),
        ("screening_recorded", {"contraindications": {}, "bp": [1, 2]}, "not a mapping"),
        ("session_opened", [], "not a mapping"),
    ],
)
def test_a_payload_that_fits_no_event_is_unreadable_not_guessed(kind: str, stored: Any, why: str) -> None:
    with pytest.raises(UnreadablePayload, match=why):
        upcast(kind, stored)


def test_evolve_dispatches_on_the_payload_type_not_a_kind_string() -> None:
    b = SessionBuilder().opened().checked_in("fay").with_participant("p1")
    opened = b.log[0]
    assert isinstance(opened.payload, ev.SessionOpened) and opened.kind == "session_opened"
    # The kind is the payload's: an envelope cannot name one kind and carry another.
    assert "kind" not in {f.name for f in dataclasses.fields(Event)}
    state = evolve(SessionState("s2"), dataclasses.replace(opened, session_id="s2"))
    assert (state.room_id, state.lead, state.opened_at) == ("room-1", "lee", T0)


def test_one_refused_attempt_opens_a_follow_up_for_every_journeyer_it_would_have_left() -> None:
    """Two journeyers whose only support is fay: her check-out is refused once, and each of them
    gets a follow-up from that one record (a second one used to be written where it was not read)."""
    b = SessionBuilder(kind="group").opened().checked_in("fay").checked_in("finn")
    b.with_participant("p1").with_participant("p2").ready("p1", staff("fay")).ready("p2", staff("fay"))
    b.dosed("p1").dosed("p2")
    [refused] = b.refused_on_record(c.CheckOut("fay"), code="dyad_locked")
    assert kinds([refused]) == ["command_refused"] and isinstance(refused.payload, ev.CommandRefused)
    assert [f.participant_id for f in refused.payload.followups] == ["p1", "p2"]
    opened = {f.participant_id: f for f in b.state.followups.values()}
    assert set(opened) == {"p1", "p2"} and {f.source_seq for f in opened.values()} == {refused.seq}
    # Stored and read back, the second follow-up is still there.
    back = upcast(refused.kind, json.loads(json.dumps(refused.payload.stored())))
    assert back == refused.payload
