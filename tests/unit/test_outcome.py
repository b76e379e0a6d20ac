"""How a participant's stay ended: one domain rule for every summary of the record."""

from __future__ import annotations

from app.domain import commands as c
from app.domain.outcome import Outcome, outcome_of

from .conftest import SessionBuilder, screening_cmd


def test_outcome_follows_the_phase_and_whether_a_dose_was_given() -> None:
    s = SessionBuilder(kind="group")
    s.run(c.OpenSession(room_id="r1", kind="group", facilitators=("fay", "finn"), lead="lee"))
    for pid in ("p1", "p2", "p3"):
        s.run(c.AddParticipant(pid, pid.upper(), f"C-{pid}"))
    s.run(screening_cmd("p1"))
    assert outcome_of(s.state.participants["p1"]) is Outcome.IN_SESSION
    s.run(c.Discharge("p1"))
    s.run(c.Transfer("p2", reason="fainted in the waiting room", destination="ED"))
    left, transferred, here = (s.state.participants[p] for p in ("p1", "p2", "p3"))
    assert outcome_of(left) is Outcome.LEFT_BEFORE_DOSING and outcome_of(left).label == "left before dosing"
    assert outcome_of(transferred) is Outcome.TRANSFERRED_BEFORE_DOSING
    assert outcome_of(here) is Outcome.IN_SESSION and not outcome_of(here).final
