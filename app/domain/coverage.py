"""Room coverage: how many facilitators the room has against what the policy asks for."""

from __future__ import annotations

import math

from .model import SessionState
from .policy import Policy


def facilitators_needed(state: SessionState, policy: Policy) -> int:
    active = len(state.active_participants)
    if active == 0:
        return 0
    if state.kind != "group":
        return 1
    return max(1, math.ceil(active / policy.participants_per_facilitator))


def coverage_warnings(state: SessionState, policy: Policy) -> list[dict[str, object]]:
    """Plain-words warnings for the room: too few facilitators for the ratio, or none at all."""
    needed = facilitators_needed(state, policy)
    present = len(state.covering_present)
    if needed == 0 or present >= needed:
        return []
    active = len(state.active_participants)
    if present == 0:
        message = "No facilitator is checked in to this room."
    else:
        message = (
            f"{present} facilitator{'s' if present != 1 else ''} for {active} participants: this clinic asks for "
            f"at least one per {policy.participants_per_facilitator}, so {needed} are needed."
        )
    return [{"code": "coverage_below_ratio", "message": message, "needed": needed, "present": present}]
