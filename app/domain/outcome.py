"""How a participant's time in the session ended, in the clinic's words: the one rule every
summary of the record (the chart record's JSON, CSV, PDF and FHIR Encounter) says it from."""

from __future__ import annotations

import enum

from .model import ParticipantState, Phase


class Outcome(str, enum.Enum):  # noqa: UP042 - the value is what the record stores
    IN_SESSION = "in_session"
    LEFT_BEFORE_DOSING = "left_before_dosing"
    DISCHARGED_AFTER_GROUNDING = "discharged_after_grounding"
    TRANSFERRED_BEFORE_DOSING = "transferred_before_dosing"
    TRANSFERRED = "transferred"

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]

    @property
    def final(self) -> bool:
        return self is not Outcome.IN_SESSION


OUTCOME_LABELS = {
    Outcome.IN_SESSION: "still in the session",
    Outcome.LEFT_BEFORE_DOSING: "left before dosing",
    # Discharge after a dose is allowed only once every required checklist item is done
    # (rules.discharge, checklist.missing_items); a summary says so from the checklist itself.
    Outcome.DISCHARGED_AFTER_GROUNDING: "discharged after grounding",
    Outcome.TRANSFERRED_BEFORE_DOSING: "transferred to emergency care before dosing",
    Outcome.TRANSFERRED: "transferred to emergency care",
}


def outcome_of(p: ParticipantState) -> Outcome:
    """What happened to the participant: still here, left (before or after a dose), or transferred."""
    dosed = p.dosed_at is not None
    if p.phase is Phase.TRANSFERRED:
        return Outcome.TRANSFERRED if dosed else Outcome.TRANSFERRED_BEFORE_DOSING
    if p.phase is Phase.DISCHARGED:
        return Outcome.DISCHARGED_AFTER_GROUNDING if dosed else Outcome.LEFT_BEFORE_DOSING
    return Outcome.IN_SESSION
