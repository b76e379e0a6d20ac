"""Selection: which events belong on one participant's record, and how a structured reference to
another participant is given (by role, never by name). Free text is never searched or changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.domain import Event
from app.domain import events as ev

from .snapshot import SESSION_EVENTS_ON_TIMELINE

# Keys of event data whose string values name a participant by id (a support person, the target
# of an attempt, the participants a dyad lock protects, the participant a follow-up is for).
PARTICIPANT_KEYS = frozenset(
    {"participant_id", "target_participant_id", "support_id", "replaces", "released", "participants"}
)


def references(value: Any, others: Mapping[str, str], key: str | None = None) -> Any:
    """Structured data (already JSON-ready) with every reference to another participant by id
    replaced by their role ("training partner" or "another participant"). Only whole values under
    the keys that hold participant ids, and the id of a support reference to a participant, are
    compared, and only for equality: free text is never searched or changed."""
    if isinstance(value, Mapping):
        is_partner_ref = value.get("kind") == "participant"
        out: dict[str, Any] = {}
        for k, v in value.items():
            if is_partner_ref and k == "id" and isinstance(v, str) and v in others:
                out["role"] = others[v]
                continue
            out[k] = references(v, others, k)
        return out
    if isinstance(value, list):
        return [references(v, others, key) for v in value]
    if isinstance(value, str) and key in PARTICIPANT_KEYS and value in others:
        return others[value]
    return value


def partner_ids(events: Sequence[Event], participant_id: str) -> set[str]:
    """Participants linked to this one as a support partner, in either direction."""
    partners: set[str] = set()
    for event in events:
        match event.payload:
            case ev.SupportAssigned(support=ref) | ev.SupportHandedOver(replacement=ref):
                pass
            case _:
                continue
        if ref.kind != "participant":
            continue
        if event.participant_id == participant_id:
            partners.add(ref.id)
        elif ref.id == participant_id and event.participant_id:
            partners.add(event.participant_id)
    return partners


def belongs(event: Event, participant_id: str) -> bool:
    if event.participant_id == participant_id:
        return True
    if isinstance(event.payload, ev.CommandRefused):
        # A refused attempt that opened a follow-up for this participant (one of one, or of several).
        return any(item.participant_id == participant_id for item in event.payload.followups)
    return event.participant_id is None and isinstance(event.payload, SESSION_EVENTS_ON_TIMELINE)
