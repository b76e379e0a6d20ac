"""A refused dose explains itself (invariant 5): the code is the first unmet condition's, and
`details.missing` lists every unmet one (screening, prescriber clearance, agreement, support,
facilitator present), in plain words in the message too, as discharge lists its checklist."""

from __future__ import annotations

import itertools

import pytest

from app.domain import commands as c
from app.domain.decide import dose_gates_unmet
from app.domain.model import Phase

from .conftest import DOC, FAY, SessionBuilder, dose_cmd, kinds, partner, staff

WORDS = {
    "screening": "a screening",
    "prescriber_clearance": "a prescriber's clearance",
    "agreement": "pre-session agreement",
    "support": "a support person",
    "facilitator_present": "a facilitator checked in to the room",
}
CODES = {
    "screening": "screening_not_cleared",
    "prescriber_clearance": "screening_not_cleared",
    "agreement": "consent_incomplete",
    "support": "no_support_assigned",
    "facilitator_present": "room_uncovered",
}


def test_an_unscreened_participant_is_refused_as_screening_not_cleared_with_everything_missing() -> None:
    b = SessionBuilder().opened().with_participant("p1", name="Rowan")
    err = b.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")
    assert err.details == {"missing": ["screening", "agreement", "support", "facilitator_present"]}
    assert err.message.startswith("Rowan cannot be dosed yet. Still missing: a screening")
    for key in err.details["missing"]:
        assert WORDS[key] in err.message, key
    assert "Arrived" not in err.message and "Dosed" not in err.message
    assert b.phase() is Phase.ARRIVED


@pytest.mark.parametrize(
    "screening, agreement, support, present",
    list(itertools.product(("none", "flagged", "cleared", "clear"), (False, True), (False, True), (False, True))),
)
def test_every_unmet_condition_is_listed_and_the_first_one_gives_the_code(
    screening: str, agreement: bool, support: bool, present: bool
) -> None:
    b = SessionBuilder().opened().with_participant("p1")
    if screening != "none":
        b.screened("p1", 150 if screening in ("flagged", "cleared") else 120, 80)
    if screening == "cleared":
        b.run(c.ClearScreening("p1", "rechecked 138/88"), DOC)
    if agreement:
        b.consented("p1")
    if support:
        b.supported("p1", staff("fay"))
    if present:
        b.checked_in("fay")

    expected = [
        *(["screening"] if screening == "none" else []),
        *(["prescriber_clearance"] if screening == "flagged" else []),
        *([] if agreement else ["agreement"]),
        *([] if support else ["support"]),
        *([] if present else ["facilitator_present"]),
    ]
    assert [g.key for g in dose_gates_unmet(b.state, b.p())] == expected
    if not expected:
        assert kinds(b.run(dose_cmd("p1"), DOC)) == ["dose_administered"]
        return
    err = b.refuse(dose_cmd("p1"), DOC, code=CODES[expected[0]])
    assert err.details["missing"] == expected
    assert ("flags" in err.details) == (screening == "flagged")
    for key in expected:
        assert WORDS[key] in err.message, key
    for key in set(WORDS) - set(expected):
        assert WORDS[key] not in err.message, key


def test_a_flagged_screening_names_its_flags_in_the_words_and_the_details() -> None:
    b = SessionBuilder().opened().with_participant("p1")
    b.screened("p1", 152, 96, cardiac_history=True)
    err = b.refuse(dose_cmd("p1"), DOC, code="screening_not_cleared")
    assert err.details["flags"] == ["contraindication:cardiac_history", "bp_above_140/90"]
    assert "contraindication:cardiac_history, bp_above_140/90" in err.message


def test_a_partner_who_cannot_be_with_them_is_an_unmet_support_condition() -> None:
    b = SessionBuilder(kind="dyad_training").opened().checked_in("fay").with_participant("p1").with_participant("p2")
    b.ready("p2", by=staff("fay")).ready("p1", by=partner("p2"))
    b.dosed("p2")
    err = b.refuse(dose_cmd("p1"), DOC, code="no_support_assigned")
    assert err.details == {"missing": ["support"]}
    assert "can be with them now" in err.message


def test_a_dose_refused_on_record_keeps_the_words_that_list_everything() -> None:
    b = SessionBuilder().opened().with_participant("p1", name="Rowan").screened("p1")
    [event] = b.refused_on_record(dose_cmd("p1"), DOC, code="consent_incomplete")
    assert event.kind == "command_refused" and event.data["code"] == "consent_incomplete"
    assert event.data["message"] == (
        "Rowan cannot be dosed yet. Still missing: the complete pre-session agreement, signed by the participant; "
        "a support person assigned; a facilitator checked in to the room."
    )
    assert b.state.refusals[-1].message == event.data["message"]


def test_a_participant_already_dosed_is_still_an_invalid_transition(ready_session: SessionBuilder) -> None:
    ready_session.dosed("p1")
    err = ready_session.refuse(dose_cmd("p1"), DOC, code="invalid_transition")
    assert err.details["current"] == "dosed"


def test_a_dose_refused_for_a_non_prescriber_says_forbidden_before_anything_else() -> None:
    b = SessionBuilder().opened().with_participant("p1")
    err = b.refuse(dose_cmd("p1"), FAY, code="forbidden")
    assert "missing" not in err.details
