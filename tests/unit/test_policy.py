"""The clinic policy file: a key left out keeps its default; a bad key, type or value is named."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from typing import Any

import pytest

from app.domain import commands as c
from app.domain.errors import PolicyError
from app.domain.policy import DEFAULT_CHECKLIST, DEFAULT_POLICY, ChecklistItem, Policy, policy_from_mapping

from .conftest import DOC, SessionBuilder, kinds, screening_cmd


def test_an_empty_policy_file_gives_the_documented_defaults() -> None:
    policy = policy_from_mapping({})
    assert policy == DEFAULT_POLICY
    assert (policy.checkin_interval_minutes, policy.vitals_interval_minutes, policy.participants_per_facilitator) == (
        20,
        15,
        4,
    )
    assert {
        r: policy.observation_minutes.for_route(r) for r in ("sublingual", "intramuscular", "intravenous", "intranasal")
    } == dict.fromkeys(("sublingual", "intramuscular", "intravenous", "intranasal"), 120)
    assert (policy.vitals.predose_clearance.sbp, policy.vitals.predose_clearance.dbp) == (140, 90)
    assert (policy.vitals.medium.sbp_above, policy.vitals.medium.dbp_above) == (180, 110)
    high = policy.vitals.high
    assert (high.sbp_above, high.dbp_above, high.spo2_below, high.hr_above, high.hr_below) == (200, 120, 92, 130, 50)
    assert (policy.ack_timeout_seconds.medium, policy.ack_timeout_seconds.high) == (60, 30)
    assert policy.checklist == DEFAULT_CHECKLIST and len(policy.checklist) == 10


def test_a_partial_file_changes_only_what_it_names() -> None:
    text = """
    checkin_interval_minutes = 15

    [observation_minutes]
    intravenous = 60

    [vitals.high]
    hr_above = 140
    """
    policy = policy_from_mapping(tomllib.loads(text))
    assert policy.checkin_interval_minutes == 15
    assert policy.observation_minutes.intravenous == 60
    assert policy.observation_minutes.sublingual == 120 and policy.observation_minutes.intranasal == 120
    assert policy.vitals.high.hr_above == 140
    assert policy.vitals.high.hr_below == 50 and policy.vitals.high.spo2_below == 92
    assert policy.vitals.medium == DEFAULT_POLICY.vitals.medium
    assert policy.checklist == DEFAULT_CHECKLIST
    assert DEFAULT_POLICY.checkin_interval_minutes == 20, "the defaults themselves are left as they were"


@pytest.mark.parametrize(
    "data, key",
    [
        ({"checkin_minutes": 10}, "checkin_minutes"),
        ({"vitals": {"low": {}}}, "vitals.low"),
        ({"vitals": {"high": {"spo2_max": 95}}}, "vitals.high.spo2_max"),
        ({"observation_minutes": {"oral": 60}}, "observation_minutes.oral"),
    ],
)
def test_an_unknown_key_is_a_policy_error_naming_it(data: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_mapping(data)
    assert info.value.key == key
    assert str(info.value) == f"policy key '{key}': unknown key"


@pytest.mark.parametrize(
    "data, key",
    [
        ({"vitals": {"high": {"spo2_below": "92"}}}, "vitals.high.spo2_below"),
        ({"vitals": {"high": {"spo2_below": 91.5}}}, "vitals.high.spo2_below"),
        ({"checkin_interval_minutes": True}, "checkin_interval_minutes"),
        ({"ack_timeout_seconds": {"high": [30]}}, "ack_timeout_seconds.high"),
        ({"vitals": 5}, "vitals"),
        ({"vitals": {"medium": "strict"}}, "vitals.medium"),
    ],
)
def test_a_value_of_the_wrong_type_is_a_policy_error_naming_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_mapping(data)
    assert info.value.key == key
    assert str(info.value).startswith(f"policy key '{key}': ")


@pytest.mark.parametrize(
    "data, key",
    [
        ({"checkin_interval_minutes": 0}, "checkin_interval_minutes"),
        ({"participants_per_facilitator": -2}, "participants_per_facilitator"),
        ({"observation_minutes": {"sublingual": 0}}, "observation_minutes.sublingual"),
        ({"vitals": {"high": {"spo2_below": 101}}}, "vitals.high.spo2_below"),
        ({"vitals": {"high": {"sbp_above": 170}}}, "vitals.high.sbp_above"),
        ({"vitals": {"medium": {"dbp_above": 125}}}, "vitals.high.dbp_above"),
        ({"vitals": {"high": {"hr_below": 130}}}, "vitals.high.hr_below"),
        ({"vitals": {"high": {"hr_above": 45}}}, "vitals.high.hr_below"),
    ],
)
def test_an_impossible_value_is_a_policy_error_naming_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_mapping(data)
    assert info.value.key == key


def test_a_checklist_in_the_file_replaces_the_whole_default_list() -> None:
    text = """
    [[checklist]]
    key = "oriented"
    label = "  Oriented to person, place and time  "

    [[checklist]]
    key = "observation_time"
    label = "Observed long enough"

    [[checklist]]
    key = "tea"
    label = "Had some tea"
    required = false
    """
    policy = policy_from_mapping(tomllib.loads(text))
    assert policy.checklist == (
        ChecklistItem("oriented", "Oriented to person, place and time", True),
        ChecklistItem("observation_time", "Observed long enough", True),
        ChecklistItem("tea", "Had some tea", False),
    )


@pytest.mark.parametrize(
    "checklist, key",
    [
        ([], "checklist"),
        ("oriented", "checklist"),
        (["oriented"], "checklist[0]"),
        ([{"key": "a b", "label": "x"}], "checklist[0].key"),
        ([{"label": "x"}], "checklist[0].key"),
        ([{"key": "a", "label": "x"}, {"key": "a", "label": "y"}], "checklist[1].key"),
        ([{"key": "a", "label": "  "}], "checklist[0].label"),
        ([{"key": "a", "label": "x", "required": "yes"}], "checklist[0].required"),
        ([{"key": "a", "label": "x", "mandatory": True}], "checklist[0].mandatory"),
    ],
)
def test_a_malformed_checklist_is_a_policy_error_naming_the_item(checklist: Any, key: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy_from_mapping({"checklist": checklist})
    assert info.value.key == key


def test_a_policy_error_is_a_value_error_for_start_up_to_report() -> None:
    with pytest.raises(ValueError, match=r"policy key 'vitals\.high\.spo2_below'"):
        policy_from_mapping({"vitals": {"high": {"spo2_below": 200}}})


# ---------------------------------------------------------------- the policy in the rules


def test_a_clinics_pre_dose_clearance_threshold_decides_what_is_flagged() -> None:
    policy = policy_from_mapping({"vitals": {"predose_clearance": {"sbp": 150, "dbp": 95}}})
    b = SessionBuilder(policy=policy).opened().checked_in("fay").with_participant("p1").with_participant("p2")
    assert b.run(screening_cmd("p1", 150, 95))[0].data["flags"] == []
    assert b.run(screening_cmd("p2", 151, 80))[0].data["flags"] == ["bp_above_150/95"]
    b.consented("p1").supported("p1")
    assert kinds(b.run(c.AdministerDose("p1", "intranasal", 56.0), DOC)) == ["dose_administered"]


def test_the_same_command_decides_differently_under_a_different_policy(ready_session: SessionBuilder) -> None:
    default_events = ready_session.attempt(c.AdministerDose("p1", "sublingual", 50.0), DOC)
    ready_session.policy = Policy(checkin_interval_minutes=30)
    custom_events = ready_session.attempt(c.AdministerDose("p1", "sublingual", 50.0), DOC)
    assert default_events[0].data["checkin_due_at"] != custom_events[0].data["checkin_due_at"]
    assert custom_events[0].data["checkin_due_at"] == (ready_session.now + timedelta(minutes=30)).isoformat()
