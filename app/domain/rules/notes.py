"""The written record: session notes, and amendments that point at what they correct (invariant 8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import commands as c
from ..errors import InvalidInput
from ..events import Amended, NoteRecorded
from ..model import SessionState, entered_late
from ..vocabulary import NOTE_KINDS, PROTECTIVE_PARTS, TEXT_LIMITS
from .base import Decision, client_time, participant_of, refuse, required_text


def _amend(state: SessionState, cmd: c.Amend, ev: Decision) -> None:
    p = participant_of(state, cmd.participant_id)
    correction = required_text(cmd.correction, "correction", TEXT_LIMITS["correction"])
    reason = required_text(cmd.reason, "reason", TEXT_LIMITS["reason"])
    if not 0 < cmd.event_seq <= state.seq or cmd.target_participant_id != p.id:
        raise refuse(
            "not_found",
            f"Entry {cmd.event_seq} is not on {p.display_name}'s record in this session.",
            event_seq=cmd.event_seq,
        )
    ev.add(Amended(event_seq=cmd.event_seq, correction=correction, reason=reason), p.id)


def _record_note(state: SessionState, cmd: c.RecordNote, ev: Decision) -> None:
    p = participant_of(state, cmd.participant_id)
    if cmd.kind not in NOTE_KINDS:
        raise InvalidInput(f"kind is one of {', '.join(NOTE_KINDS)}.", {"field": "kind"})
    text = required_text(cmd.text, "text", TEXT_LIMITS["note_text"])
    unknown_parts = [x for x in cmd.parts if x not in PROTECTIVE_PARTS]
    if unknown_parts:
        raise InvalidInput(f"parts are some of {', '.join(PROTECTIVE_PARTS)}.", {"field": "parts"})
    if cmd.kind != "integration" and p.phase.final:
        raise refuse(
            "participant_inactive",
            f"{p.display_name} has left the session; add an integration theme, or amend an earlier entry.",
        )
    if state.closed_at is not None and cmd.kind != "integration":
        raise refuse("session_closed", "This session is closed; only integration themes can still be added.")
    observed = client_time(cmd.observed_at, state, ev.ctx, "observed_at")
    ev.add(
        NoteRecorded(
            kind=cmd.kind,
            text=text,
            parts=tuple(sorted(set(cmd.parts))),
            somatic=cmd.somatic.strip(),
            observed_at=observed,
            late=entered_late(observed, ev.ctx.now),
        ),
        p.id,
    )


HANDLERS: dict[type, Callable[[SessionState, Any, Decision], None]] = {
    c.Amend: _amend,
    c.RecordNote: _record_note,
}
