"""Issue 5 through the API: session notes with late entries and amendments (nothing edited in
place), a discharge refused until the checklist is complete and then allowed, and a transfer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import Clock
from tests.integration.helpers import assert_error, dosed_participant, events, ok, open_session, part, phase, state

MANUAL = [
    "oriented",
    "steady_gait",
    "nausea_settled",
    "transport_confirmed",
    "followup_scheduled",
    "belongings_returned",
]


def _grounding(client_for: Any) -> tuple[Any, str, str]:
    farah = client_for("farah")
    sid = open_session(farah)
    pid = dosed_participant(farah, client_for("dr.ade"), sid)
    for to in ("journeying", "re_entry", "grounding"):
        phase(farah, sid, pid, to)
    return farah, sid, pid


def test_notes_keep_late_entries_and_amendments_without_editing_anything(client_for: Any, clock: Clock) -> None:
    farah, sid, pid = _grounding(client_for)
    observed = clock.now - timedelta(minutes=25)
    note = ok(
        farah.post(
            part(sid, pid, "/notes"),
            json={
                "kind": "observation",
                "text": "Curled up, then softened",
                "parts": ["isolator"],
                "somatic": "hands warm",
                "observed_at": observed.isoformat(),
            },
        ),
        201,
    )["notes"][-1]
    assert note["late"] is True
    assert note["observed_at"] == observed.isoformat() and note["recorded_at"] == clock.now.isoformat()
    assert note["parts"] == ["isolator"] and note["somatic"] == "hands warm"

    amended = ok(
        farah.post(
            part(sid, pid, "/amend"),
            json={"event_seq": note["seq"], "correction": "Curled up for 10 min", "reason": "timing"},
        )
    )
    assert amended["notes"][-1]["text"] == "Curled up, then softened", "the original entry is never edited"
    assert [a["correction"] for a in amended["amendments"][str(note["seq"])]] == ["Curled up for 10 min"]
    kinds = [e["kind"] for e in events(farah, sid)]
    assert kinds.count("note_recorded") == 1 and kinds.count("amended") == 1

    # An unknown kind or protective part is malformed input: 422 and nothing recorded.
    before = state(farah, sid)["seq"]
    bad = farah.post(part(sid, pid, "/notes"), json={"kind": "diagnosis", "text": "x"})
    assert_error(bad, 422, "validation_error")
    assert state(farah, sid)["seq"] == before


def test_an_integration_theme_can_still_be_added_after_discharge_but_not_an_observation(
    client_for: Any, clock: Clock
) -> None:
    farah, sid, pid = _grounding(client_for)
    ok(farah.post(part(sid, pid, "/transfer"), json={"reason": "chest pain", "destination": "City ED"}))
    ok(farah.post(part(sid, pid, "/notes"), json={"kind": "integration", "text": "Theme: belonging"}), 201)
    refused = farah.post(part(sid, pid, "/notes"), json={"kind": "observation", "text": "late thought"})
    assert_error(refused, 409, "participant_inactive")


def test_discharge_is_refused_with_the_missing_items_then_allowed(client_for: Any, clock: Clock) -> None:
    farah, sid, pid = _grounding(client_for)
    body = assert_error(farah.post(part(sid, pid, "/discharge")), 409, "checklist_incomplete")
    assert set(body["details"]["missing"]) == {
        "observation_time",
        "vitals_in_range",
        "sedation_clear",
        "distress_settled",
        *MANUAL,
    }
    assert "Minimum observation time" in body["message"]

    clock.advance(minutes=121)
    ok(farah.post(part(sid, pid, "/vitals"), json={"sbp": 122, "dbp": 80, "hr": 70, "spo2": 98}))
    ok(farah.post(part(sid, pid, "/observations"), json={"distress": 1, "moaa_s": 5, "rass": 0}))
    for key in MANUAL[:-1]:
        ok(farah.post(part(sid, pid, f"/checklist/{key}"), json={"done": True}))
    body = assert_error(farah.post(part(sid, pid, "/discharge")), 409, "checklist_incomplete")
    assert body["details"]["missing"] == ["belongings_returned"]

    ok(farah.post(part(sid, pid, "/checklist/belongings_returned"), json={"done": True, "note": "phone and keys"}))
    discharged = ok(farah.post(part(sid, pid, "/discharge")))
    assert discharged["phase"] == "discharged"
    checklist = {item["key"]: item for item in discharged["outcome"]["checklist"]}
    assert (
        checklist["belongings_returned"]["by"] == "farah"
        and checklist["belongings_returned"]["detail"] == "phone and keys"
    )
    assert all(item["done"] for item in checklist.values())
