"""Nobody is left alone: a journeyer's support person stays until discharge (`dyad_locked`);
the only way out is a lead's emergency handover naming the replacement."""

from __future__ import annotations

import pytest

from app.domain import commands as c
from app.domain.model import Phase, SupportRef

from .conftest import ALTERED, DOC, FAY, FINN, LEE, SessionBuilder, kinds, partner, staff

# ---------------------------------------------------------------- assigning


def test_a_facilitator_can_be_assigned_as_support_person(session: SessionBuilder) -> None:
    events = session.run(c.AssignSupport("p1", staff("finn")))
    assert kinds(events) == ["support_assigned"]
    assert events[0].data == {"support": {"kind": "staff", "id": "finn"}}
    assert session.p().support == (SupportRef("staff", "finn"),)
    assert session.state.supported_by("finn") == (session.p(),)


def test_a_partner_participant_can_support_a_journeyer_in_a_training_dyad(dyad: SessionBuilder) -> None:
    assert dyad.p("p1").support == (SupportRef("participant", "p2"),)
    assert [p.id for p in dyad.state.supported_by("p2")] == ["p1"]


def test_the_same_support_person_cannot_be_assigned_twice(session: SessionBuilder) -> None:
    session.supported("p1", staff("fay"))
    session.refuse(c.AssignSupport("p1", staff("fay")), code="already_assigned")


def test_someone_outside_the_sessions_staff_cannot_be_a_support_person(session: SessionBuilder) -> None:
    err = session.refuse(c.AssignSupport("p1", staff("stranger")), code="not_found")
    assert err.details == {"support_id": "stranger"}


def test_a_staff_member_checked_in_to_the_room_can_support_even_if_not_on_the_roster(session: SessionBuilder) -> None:
    session.checked_in("doc")
    assert kinds(session.run(c.AssignSupport("p1", staff("doc")))) == ["support_assigned"]


def test_a_participant_cannot_be_their_own_support_person() -> None:
    b = SessionBuilder(kind="dyad_training").opened().checked_in("fay").with_participant("p1")
    err = b.refuse(c.AssignSupport("p1", partner("p1")), code="support_unavailable")
    assert "own support person" in err.message


def test_a_partner_who_is_not_in_the_session_cannot_support(session: SessionBuilder) -> None:
    err = session.refuse(c.AssignSupport("p1", partner("p9")), code="not_found")
    assert err.details == {"support_id": "p9"}


@pytest.mark.parametrize("partner_phase", ["dosed", "journeying", "grounding", "stopped"])
def test_a_partner_in_an_altered_phase_cannot_be_assigned_as_support(partner_phase: str) -> None:
    b = SessionBuilder(kind="dyad_training").opened().checked_in("fay").with_participant("p1").with_participant("p2")
    b.ready("p2", by=staff("fay")).to_phase("p2", partner_phase)
    err = b.refuse(c.AssignSupport("p1", partner("p2")), code="support_unavailable")
    assert err.details == {"support_id": "p2", "phase": partner_phase}


def test_a_partner_who_has_left_cannot_be_assigned_as_support() -> None:
    b = SessionBuilder(kind="dyad_training").opened().checked_in("fay").with_participant("p1").with_participant("p2")
    b.run(c.Discharge("p2"))
    err = b.refuse(c.AssignSupport("p1", partner("p2")), code="support_unavailable")
    assert err.details["phase"] == "discharged"


def test_a_support_person_of_an_unknown_kind_is_invalid_input(session: SessionBuilder) -> None:
    err = session.invalid(c.AssignSupport("p1", SupportRef("volunteer", "sam")))
    assert err.details == {"field": "kind"}


# ---------------------------------------------------------------- removing


def test_removing_the_support_of_a_participant_before_the_dose_is_allowed(ready_session: SessionBuilder) -> None:
    events = ready_session.run(c.RemoveSupport("p1", "fay"))
    assert kinds(events) == ["support_removed"] and events[0].data == {"support_id": "fay"}
    assert ready_session.p().support == ()


def test_removing_someone_who_is_not_a_support_person_is_refused_as_not_found(ready_session: SessionBuilder) -> None:
    err = ready_session.refuse(c.RemoveSupport("p1", "finn"), code="not_found")
    assert err.details == {"support_id": "finn"}


@pytest.mark.parametrize("phase", ALTERED)
def test_removing_the_support_of_a_dosed_participant_is_refused_with_dyad_locked(
    ready_session: SessionBuilder, phase: str
) -> None:
    b = ready_session.to_phase("p1", phase)
    for actor in (FAY, FINN, LEE, DOC):
        err = b.refuse(c.RemoveSupport("p1", "fay"), actor, code="dyad_locked")
        assert err.details == {"support_id": "fay", "phase": phase}
    assert b.p().support == (SupportRef("staff", "fay"),)


@pytest.mark.parametrize("phase", ALTERED)
def test_removing_the_partner_of_a_journeyer_in_a_training_dyad_is_refused_with_dyad_locked(
    dyad: SessionBuilder, phase: str
) -> None:
    dyad.to_phase("p1", phase)
    err = dyad.refuse(c.RemoveSupport("p1", "p2"), LEE, code="dyad_locked")
    assert err.details == {"support_id": "p2", "phase": phase}
    assert dyad.p("p1").support == (SupportRef("participant", "p2"),)


def test_even_a_second_support_person_stays_while_the_journeyer_is_altered(ready_session: SessionBuilder) -> None:
    b = ready_session.supported("p1", staff("finn")).to_phase("p1", "journeying")
    b.refuse(c.RemoveSupport("p1", "finn"), code="dyad_locked")
    assert len(b.p().support) == 2


def test_after_discharge_the_support_person_is_released(ready_session: SessionBuilder) -> None:
    b = ready_session.grounded_and_ready_to_leave("p1")
    b.run(c.Discharge("p1"))
    assert kinds(b.run(c.RemoveSupport("p1", "fay"))) == ["support_removed"]


# ---------------------------------------------------------------- leaving while someone depends on you


def test_the_sole_support_person_of_an_altered_participant_cannot_check_out(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("finn").to_phase("p1", "journeying")
    err = b.refuse(c.CheckOut("fay"), FAY, code="dyad_locked")
    assert err.details == {"support_id": "fay", "participants": ["p1"]}
    assert "fay" in b.state.present


def test_a_support_person_may_check_out_when_the_journeyer_has_another_support_person(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.checked_in("finn").supported("p1", staff("finn")).to_phase("p1", "journeying")
    assert kinds(b.run(c.CheckOut("fay"), FAY)) == ["facilitator_checked_out"]
    assert "fay" not in b.state.present


@pytest.mark.parametrize("phase", ["arrived", "screened"])
def test_a_partner_who_is_sole_support_of_an_altered_journeyer_cannot_be_discharged(
    dyad: SessionBuilder, phase: str
) -> None:
    if phase == "screened":
        dyad.screened("p2")
    dyad.to_phase("p1", "journeying")
    err = dyad.refuse(c.Discharge("p2"), code="dyad_locked")
    assert err.details == {"support_id": "p2", "participants": ["p1"]}
    assert dyad.phase("p2").value == phase


def test_a_partner_who_is_sole_support_of_an_altered_journeyer_cannot_be_transferred(dyad: SessionBuilder) -> None:
    dyad.to_phase("p1", "re_entry")
    err = dyad.refuse(c.Transfer("p2", reason="panic", destination="ED"), LEE, code="dyad_locked")
    assert err.details == {"support_id": "p2", "participants": ["p1"]}


def test_a_partner_may_leave_when_the_journeyer_also_has_a_facilitator_as_support(dyad: SessionBuilder) -> None:
    dyad.supported("p1", staff("fay")).to_phase("p1", "journeying")
    events = dyad.run(c.Discharge("p2"))
    assert kinds(events) == ["discharged"] and dyad.phase("p2") is Phase.DISCHARGED


def test_a_partner_may_leave_once_the_journeyer_has_been_discharged(dyad: SessionBuilder) -> None:
    dyad.grounded_and_ready_to_leave("p1")
    dyad.run(c.Discharge("p1"))
    assert kinds(dyad.run(c.Discharge("p2"))) == ["discharged"]


# ---------------------------------------------------------------- the lead's emergency handover


def test_a_leads_emergency_handover_replaces_the_support_person_in_the_same_event(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.checked_in("finn").to_phase("p1", "journeying")
    events = b.run(c.HandOverSupport("p1", replacement=staff("finn"), reason="  fay is unwell  "), LEE)

    assert kinds(events) == ["support_handed_over", "followup_opened"], "every emergency handover opens a follow-up"
    assert events[0].actor == "lee"
    assert events[1].data["source_seq"] == events[0].seq and events[1].data["owner"] == "lee"
    assert events[0].data == {
        "replacement": {"kind": "staff", "id": "finn"},
        "released": ["fay"],
        "reason": "fay is unwell",
    }
    assert b.p().support == (SupportRef("staff", "finn"),)
    # fay is no longer anyone's sole support and can now step out.
    assert kinds(b.run(c.CheckOut("fay"), FAY)) == ["facilitator_checked_out"]


def test_a_handover_naming_whom_it_replaces_keeps_the_other_support_people(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("finn").supported("p1", staff("lee")).to_phase("p1", "dosed")
    events = b.run(c.HandOverSupport("p1", replacement=staff("finn"), reason="swap", replaces="fay"), LEE)
    assert events[0].data["released"] == ["fay"]
    assert b.p().support == (SupportRef("staff", "lee"), SupportRef("staff", "finn"))


def test_a_handover_without_naming_whom_it_replaces_releases_every_support_person(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.checked_in("finn").supported("p1", staff("lee")).to_phase("p1", "dosed")
    events = b.run(c.HandOverSupport("p1", replacement=staff("finn"), reason="room change"), LEE)
    assert events[0].data["released"] == ["fay", "lee"]
    assert b.p().support == (SupportRef("staff", "finn"),)


def test_a_handover_in_a_training_dyad_can_replace_the_partner_with_a_facilitator(dyad: SessionBuilder) -> None:
    dyad.to_phase("p1", "journeying")
    dyad.run(c.HandOverSupport("p1", replacement=staff("fay"), reason="partner overwhelmed", replaces="p2"), LEE)
    assert dyad.p("p1").support == (SupportRef("staff", "fay"),)
    assert kinds(dyad.run(c.Discharge("p2"))) == ["discharged"]


@pytest.mark.parametrize("actor", [FAY, FINN, DOC], ids=["facilitator", "facilitator2", "prescriber"])
def test_a_handover_by_anyone_but_a_lead_is_forbidden(ready_session: SessionBuilder, actor) -> None:
    b = ready_session.checked_in("finn").to_phase("p1", "journeying")
    b.refuse(c.HandOverSupport("p1", replacement=staff("finn"), reason="fay needs a break"), actor, code="forbidden")
    assert b.p().support == (SupportRef("staff", "fay"),)


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_handover_without_a_reason_is_invalid_input(ready_session: SessionBuilder, reason: str) -> None:
    b = ready_session.to_phase("p1", "journeying")
    err = b.invalid(c.HandOverSupport("p1", replacement=staff("finn"), reason=reason), LEE)
    assert err.details == {"field": "reason"}


def test_a_handover_to_someone_already_supporting_is_refused(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.refuse(c.HandOverSupport("p1", replacement=staff("fay"), reason="again"), LEE, code="already_assigned")


def test_a_handover_replacing_someone_who_is_not_a_support_person_is_refused(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    err = b.refuse(
        c.HandOverSupport("p1", replacement=staff("finn"), reason="x", replaces="lee"), LEE, code="not_found"
    )
    assert err.details == {"support_id": "lee"}


def test_a_handover_to_an_altered_partner_is_refused() -> None:
    b = SessionBuilder(kind="dyad_training").opened().checked_in("fay").with_participant("p1").with_participant("p2")
    b.ready("p2", by=staff("fay")).to_phase("p2", "journeying")
    b.ready("p1", by=staff("fay")).to_phase("p1", "journeying")
    b.refuse(c.HandOverSupport("p1", replacement=partner("p2"), reason="x"), LEE, code="support_unavailable")


def test_a_handover_to_someone_outside_the_staff_is_refused(ready_session: SessionBuilder) -> None:
    b = ready_session.to_phase("p1", "journeying")
    b.refuse(c.HandOverSupport("p1", replacement=staff("stranger"), reason="x"), LEE, code="not_found")
    assert b.p().support == (SupportRef("staff", "fay"),)


# ---------------------------------------------------------------- regressions (defects found by this suite)


def test_dosing_a_partner_who_is_the_sole_support_of_an_altered_journeyer_is_refused(dyad: SessionBuilder) -> None:
    dyad.to_phase("p1", "journeying")
    dyad.ready("p2", by=staff("fay"))
    err = dyad.refuse(c.AdministerDose("p2", "sublingual", 50.0), DOC)
    assert err.code in ("dyad_locked", "support_unavailable")


def test_dosing_a_participant_whose_only_support_is_an_altered_partner_is_refused() -> None:
    b = SessionBuilder(kind="dyad_training").opened().checked_in("fay").with_participant("p1").with_participant("p2")
    b.screened("p1").consented("p1").screened("p2").consented("p2")
    b.supported("p1", partner("p2")).supported("p2", partner("p1"))
    b.dosed("p1")
    err = b.refuse(c.AdministerDose("p2", "sublingual", 50.0), DOC)
    assert err.code in ("no_support_assigned", "support_unavailable", "dyad_locked")


def test_the_last_support_person_still_in_the_room_cannot_check_out(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("finn").checked_in("lee").supported("p1", staff("finn")).to_phase("p1", "journeying")
    b.run(c.CheckOut("fay"), FAY)  # finn still supports p1 in the room
    err = b.refuse(c.CheckOut("finn"), FINN)
    assert err.code == "dyad_locked"


def test_an_emergency_handover_to_someone_not_in_the_room_is_refused(ready_session: SessionBuilder) -> None:
    b = ready_session.checked_in("lee").to_phase("p1", "journeying")
    assert "finn" not in b.state.present and "finn" in b.state.staff
    err = b.refuse(c.HandOverSupport("p1", replacement=staff("finn"), reason="fay is unwell"), LEE)
    assert err.code == "support_unavailable" and err.details == {"support_id": "finn"}
    assert b.p().support == (SupportRef("staff", "fay"),)


@pytest.mark.parametrize("kind", ["group", "individual"])
def test_a_fellow_participant_can_be_a_support_person_only_in_a_training_dyad(kind: str) -> None:
    b = SessionBuilder(kind=kind).opened().checked_in("fay").with_participant("p1").with_participant("p2")
    err = b.refuse(c.AssignSupport("p1", partner("p2")), code="support_unavailable")
    assert err.details == {"support_id": "p2"}
