"""Not before you are grounded: the grounding checklist, decided partly by the record and partly by
people, and the discharge it gates (invariant 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain import commands as c
from app.domain.checklist import earliest_discharge, evaluate_checklist, vitals_out_of_range
from app.domain.model import Phase
from app.domain.policy import DEFAULT_POLICY, ChecklistItem, ObservationMinutes, Policy, policy_from_mapping

from .conftest import DOC, FINN, LEE, SessionBuilder, kinds

MANUAL = (
    "oriented",
    "steady_gait",
    "nausea_settled",
    "transport_confirmed",
    "followup_scheduled",
    "belongings_returned",
)
GOOD_VITALS = {"sbp": 128, "dbp": 82, "hr": 74, "spo2": 98}


def _item(b: SessionBuilder, key: str, pid: str = "p1"):
    results = {r.key: r for r in evaluate_checklist(b.p(pid), b.policy, b.now)}
    return results[key]


def _in_grounding(policy: Policy = DEFAULT_POLICY, route: str = "sublingual") -> SessionBuilder:
    b = SessionBuilder(policy=policy).opened().checked_in("fay").with_participant("p1").ready("p1")
    b.run(c.AdministerDose("p1", route, 40.0), actor=DOC)
    for to in ("journeying", "re_entry", "grounding"):
        b.advance(minutes=10).run(c.ChangePhase("p1", to))
    return b


def test_before_anything_is_recorded_no_item_of_the_checklist_is_done(ready_session: SessionBuilder) -> None:
    b = ready_session.dosed()
    results = evaluate_checklist(b.p(), DEFAULT_POLICY, b.now)
    assert [r.key for r in results] == [item.key for item in DEFAULT_POLICY.checklist]
    assert not any(r.done for r in results)
    assert all(r.required for r in results)
    assert {r.key for r in results if r.automatic} == {
        "observation_time",
        "vitals_in_range",
        "sedation_clear",
        "distress_settled",
    }


# ---------------------------------------------------------------- observation time


@pytest.mark.parametrize("route, minutes", [("intravenous", 60), ("intramuscular", 90), ("sublingual", 120)])
def test_the_minimum_observation_time_follows_the_route_in_the_policy(route: str, minutes: int) -> None:
    policy = Policy(observation_minutes=ObservationMinutes(intravenous=60, intramuscular=90))
    b = _in_grounding(policy, route)
    dosed_at = b.p().dosed_at
    assert earliest_discharge(b.p(), policy) == dosed_at + timedelta(minutes=minutes)

    b.now = dosed_at + timedelta(minutes=minutes) - timedelta(seconds=1)
    item = _item(b, "observation_time")
    assert not item.done and item.detail.startswith("1 min to go")
    b.now = dosed_at + timedelta(minutes=minutes)
    assert _item(b, "observation_time").done


def test_observation_time_counts_from_when_the_dose_was_given_not_when_it_was_recorded(
    ready_session: SessionBuilder,
) -> None:
    b = ready_session.advance(minutes=30)
    b.run(c.AdministerDose("p1", "sublingual", 50.0, administered_at=b.now - timedelta(minutes=20)), DOC)
    assert earliest_discharge(b.p(), DEFAULT_POLICY) == b.now + timedelta(minutes=100)


def test_without_a_dose_there_is_no_earliest_discharge(session: SessionBuilder) -> None:
    assert earliest_discharge(session.p(), DEFAULT_POLICY) is None
    assert _item(session, "observation_time").detail == "no dose recorded"


# ---------------------------------------------------------------- vitals in range


def test_vitals_in_range_needs_bp_hr_and_spo2_from_the_last_fifteen_minutes() -> None:
    b = _in_grounding()
    b.run(c.RecordVitals("p1", {"sbp": 128, "dbp": 82, "hr": 74}))
    item = _item(b, "vitals_in_range")
    assert not item.done and "SPO2" in item.detail

    b.run(c.RecordVitals("p1", {"spo2": 97}))
    assert _item(b, "vitals_in_range").done
    b.advance(minutes=15)
    assert _item(b, "vitals_in_range").done
    b.advance(seconds=1)
    item = _item(b, "vitals_in_range")
    assert not item.done and item.detail.startswith("needs SBP, DBP, HR, SPO2")


def test_a_late_entry_counts_from_when_it_was_observed() -> None:
    b = _in_grounding()
    b.run(c.RecordVitals("p1", GOOD_VITALS, observed_at=b.now - timedelta(minutes=16)))
    assert not _item(b, "vitals_in_range").done


@pytest.mark.parametrize(
    "name, in_range, out_of_range",
    [("sbp", 180, 181), ("dbp", 110, 111), ("spo2", 92, 91), ("hr", 130, 131), ("hr", 50, 49)],
)
def test_vitals_in_range_uses_the_alarm_thresholds_of_the_policy(name: str, in_range: int, out_of_range: int) -> None:
    b = _in_grounding()
    b.run(c.RecordVitals("p1", {**GOOD_VITALS, name: in_range}))
    assert _item(b, "vitals_in_range").done
    b.advance(minutes=1).run(c.RecordVitals("p1", {name: out_of_range}))
    item = _item(b, "vitals_in_range")
    assert not item.done and item.detail == f"out of range: {name.upper()}"


def test_vitals_out_of_range_follows_a_clinic_policy() -> None:
    strict = policy_from_mapping({"vitals": {"medium": {"sbp_above": 160}, "high": {"spo2_below": 94}}})
    assert vitals_out_of_range({"sbp": 165, "dbp": 80, "hr": 70, "spo2": 93}, strict) == ["sbp", "spo2"]
    assert vitals_out_of_range({"sbp": 165, "dbp": 80, "hr": 70, "spo2": 93}, DEFAULT_POLICY) == []


# ---------------------------------------------------------------- sedation and distress


@pytest.mark.parametrize(
    "moaa_s, rass, done",
    [(5, 0, True), (4, 0, False), (5, 1, False), (5, -1, False), (None, 0, False), (5, None, False)],
)
def test_sedation_is_clear_only_at_moaa_s_5_and_rass_0(moaa_s, rass, done: bool) -> None:
    b = _in_grounding()
    if moaa_s is not None or rass is not None:
        b.run(c.RecordObservation("p1", moaa_s=moaa_s, rass=rass))
    assert _item(b, "sedation_clear").done is done


@pytest.mark.parametrize("distress, done", [(0, True), (1, True), (2, False), (4, False)])
def test_distress_is_settled_at_level_0_or_1(distress: int, done: bool) -> None:
    b = _in_grounding()
    b.run(c.RecordObservation("p1", distress=distress))
    item = _item(b, "distress_settled")
    assert item.done is done and item.detail == f"distress {distress}"


def test_distress_settled_needs_a_recorded_level() -> None:
    assert not _item(_in_grounding(), "distress_settled").done


# ---------------------------------------------------------------- ticks by people


def test_a_manual_item_is_ticked_with_who_when_and_a_note() -> None:
    b = _in_grounding()
    events = b.run(c.TickChecklistItem("p1", "transport_confirmed", note=" partner Sam driving "), FINN)
    assert kinds(events) == ["checklist_item_ticked"]
    assert events[0].data == {"item": "transport_confirmed", "note": "partner Sam driving"}
    item = _item(b, "transport_confirmed")
    assert item.done and not item.automatic and item.by == "finn" and item.at == b.now
    assert item.detail == "partner Sam driving"


@pytest.mark.parametrize("key", ["observation_time", "vitals_in_range", "sedation_clear", "distress_settled"])
def test_an_item_the_record_decides_cannot_be_ticked_by_hand(key: str) -> None:
    b = _in_grounding()
    err = b.invalid(c.TickChecklistItem("p1", key))
    assert err.details == {"field": "item"}
    assert not _item(b, key).done


def test_ticking_an_item_not_on_the_checklist_is_refused_as_not_found() -> None:
    b = _in_grounding()
    err = b.refuse(c.TickChecklistItem("p1", "hydrated"), code="not_found")
    assert err.details == {"item": "hydrated"}


def test_the_checklist_applies_only_after_the_dose(session: SessionBuilder) -> None:
    session.screened("p1")
    session.refuse(c.TickChecklistItem("p1", "oriented"), code="invalid_transition")


# ---------------------------------------------------------------- discharge


def test_discharge_with_nothing_done_lists_every_missing_item() -> None:
    b = _in_grounding()
    err = b.refuse(c.Discharge("p1"), code="checklist_incomplete")
    assert err.details == {"missing": [item.key for item in DEFAULT_POLICY.checklist]}
    assert b.phase() is Phase.GROUNDING


def test_discharge_lists_only_what_is_still_missing_and_then_is_allowed() -> None:
    b = _in_grounding()
    for key in MANUAL[:4]:
        b.run(c.TickChecklistItem("p1", key))
    b.run(c.RecordObservation("p1", distress=1, moaa_s=5, rass=0))
    err = b.refuse(c.Discharge("p1"), code="checklist_incomplete")
    assert err.details == {
        "missing": ["observation_time", "vitals_in_range", "followup_scheduled", "belongings_returned"]
    }
    assert "Minimum observation time" in err.message

    b.now = earliest_discharge(b.p(), DEFAULT_POLICY)
    b.run(c.RecordVitals("p1", GOOD_VITALS))
    b.run(c.TickChecklistItem("p1", "followup_scheduled"))
    err = b.refuse(c.Discharge("p1"), code="checklist_incomplete")
    assert err.details == {"missing": ["belongings_returned"]}

    b.run(c.TickChecklistItem("p1", "belongings_returned"))
    events = b.run(c.Discharge("p1"), LEE)
    assert kinds(events) == ["discharged"]
    assert events[0].data["from"] == "grounding"
    assert [item["key"] for item in events[0].data["checklist"]] == [i.key for i in DEFAULT_POLICY.checklist]
    assert all(item["done"] for item in events[0].data["checklist"])
    assert b.phase() is Phase.DISCHARGED and b.p().ended_at == b.now and b.p().checkin_due_at is None


def test_vitals_going_out_of_range_again_block_a_discharge_that_was_ready(ready_session: SessionBuilder) -> None:
    b = ready_session.grounded_and_ready_to_leave("p1")
    events = b.advance(minutes=1).run(c.RecordVitals("p1", {"spo2": 90}))
    assert kinds(events) == ["vitals_recorded", "escalation_raised", "followup_opened"]
    escalation_id = events[1].data["escalation_id"]
    err = b.refuse(c.Discharge("p1"), code="escalations_open")
    assert err.details == {"escalations": [escalation_id]}

    b.run(c.ResolveEscalation(escalation_id, action="oxygen, repositioned", outcome="SpO2 recovering"), LEE)
    err = b.refuse(c.Discharge("p1"), code="checklist_incomplete")
    assert err.details == {"missing": ["vitals_in_range"]}


def test_an_item_the_clinic_marks_optional_does_not_block_discharge() -> None:
    policy = Policy(
        checklist=(
            ChecklistItem("observation_time", "Observed long enough"),
            ChecklistItem("oriented", "Oriented"),
            ChecklistItem("snack", "Had a snack", required=False),
        )
    )
    b = _in_grounding(policy)
    b.run(c.TickChecklistItem("p1", "oriented"))
    assert b.refuse(c.Discharge("p1"), code="checklist_incomplete").details == {"missing": ["observation_time"]}
    b.now = earliest_discharge(b.p(), policy)
    events = b.run(c.Discharge("p1"))
    assert kinds(events) == ["discharged"]
    snack = [i for i in events[0].data["checklist"] if i["key"] == "snack"][0]
    assert snack == {
        "key": "snack",
        "label": "Had a snack",
        "required": False,
        "done": False,
        "automatic": False,
        "detail": "",
        "by": None,
        "at": None,
    }


def test_a_clinic_checklist_item_can_be_ticked_and_a_default_one_it_dropped_cannot() -> None:
    policy = Policy(checklist=(ChecklistItem("snack", "Had a snack"),))
    b = _in_grounding(policy)
    assert kinds(b.run(c.TickChecklistItem("p1", "snack"))) == ["checklist_item_ticked"]
    b.refuse(c.TickChecklistItem("p1", "oriented"), code="not_found")
    assert kinds(b.run(c.Discharge("p1"))) == ["discharged"]
