"""The words and ranges the record accepts: one home for each, which the rules check and the edges
(the API's request models, the pages' forms, the chart record) derive from."""

from __future__ import annotations

from collections.abc import Mapping

SESSION_KINDS = ("individual", "group", "dyad_training")
STAFF_ROLES = ("facilitator", "lead", "prescriber", "admin")
SUPPORT_KINDS = ("staff", "participant")
ROUTES = ("sublingual", "intramuscular", "intravenous", "intranasal")
TOUCH_AREAS = ("hand", "shoulder", "feet", "hug")
WITHDRAWABLE = ("touch", "music", "eyeshades") + tuple(f"touch:{a}" for a in TOUCH_AREAS)
# Who asked for a pause or a stop, and the participant's answer when staff propose one.
REQUESTERS = ("participant", "staff")
PARTICIPANT_RESPONSES = ("agrees", "declines", "cannot_answer")
PROTECTIVE_PARTS = ("critic", "perfectionist", "isolator", "numbing", "other")
NOTE_KINDS = ("intention", "observation", "integration")
# The forward moves of the phase machine a facilitator makes directly; every other move has its
# own command (pause, resume, stop, dose, discharge, transfer).
FORWARD_PHASES = ("journeying", "re_entry", "grounding")

# Accepted values, inclusive: anything outside is a typing slip, not a reading.
VITAL_RANGES: Mapping[str, tuple[int, int]] = {
    "sbp": (40, 300),
    "dbp": (20, 200),
    "hr": (20, 250),
    "spo2": (50, 100),
    "rr": (2, 60),
}
SCALE_RANGES: Mapping[str, tuple[int, int]] = {"distress": (0, 4), "moaa_s": (0, 5), "rass": (-5, 4), "suds": (0, 10)}
# What each distress level means, from 0 up (the one-tap buttons on the room tablet say these).
DISTRESS_WORDS = ("settled", "processing", "distressed", "acute", "emergency")


def scale_values(name: str, descending: bool = False) -> list[int]:
    """Every value a scale can take, lowest first (or highest first)."""
    low, high = SCALE_RANGES[name]
    values = list(range(low, high + 1))
    return values[::-1] if descending else values


DOSE_MG_MAX = 1000  # a dose is more than 0 mg and at most this
INFUSION_MINUTES = (1, 600)

# The longest text each free-text field of a command may hold (characters, after trimming).
# The largest event number the API takes: the largest whole number every JSON reader holds exactly
# (JavaScript's Number.MAX_SAFE_INTEGER), so a client never sends one it cannot have read.
SEQ_MAX = 2**53 - 1

# What the screening asks about, as (key, words): the tablet's form and the demo ask these. The API
# takes any other key a clinic screens for too (`{key: bool}`); any one marked present is flagged.
CONTRAINDICATIONS: tuple[tuple[str, str], ...] = (
    ("uncontrolled_hypertension", "Uncontrolled hypertension"),
    ("psychosis_history", "Psychosis history"),
    ("pregnancy", "Pregnancy"),
    ("recent_cardiac_event", "Recent cardiac event"),
    ("active_substance_use", "Active substance use"),
)

TEXT_LIMITS: Mapping[str, int] = {
    "display_name": 80,
    "chart_id": 64,
    "clearance_note": 4000,
    "note_text": 8000,
    "reason": 2000,
    "destination": 200,
    "correction": 4000,
    "action": 2000,
    "outcome": 2000,
    "contact_note": 4000,
    "account": 8000,  # the participant's own account, in their words, on a follow-up
}
