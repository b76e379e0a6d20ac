"""Issue 13 item 4: the participant's record page tells the clinical story — vitals values, dose and
route, scales, escalations with who acknowledged and resolved them and how, check-ins, refusals —
and shows notes (observation notes too) with each amendment beside what it corrects."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient

from tests.conftest import Clock
from tests.integration.helpers import (
    API,
    dosed_participant,
    events,
    ok,
    open_session,
    part,
)


def _text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</section>", start)]


def test_the_record_page_tells_the_clinical_story(client_for, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    farah, doc, lena = client_for("farah"), client_for("dr.ade"), client_for("lena")
    sid = open_session(farah)
    pid = dosed_participant(farah, doc, sid)
    ok(farah.post(part(sid, pid, "/vitals"), json={"sbp": 131, "dbp": 84, "hr": 77, "spo2": 97}))
    ok(farah.post(part(sid, pid, "/observations"), json={"distress": 3, "moaa_s": 4, "note": "Crying, then quiet"}))
    [alarm] = ok(lena.get(f"{API}/escalations"))
    ok(lena.post(f"{API}/escalations/{alarm['id']}/ack"))
    resolve = {"action": "Sat with her, slow breathing", "outcome": "Settled to 1"}
    ok(lena.post(f"{API}/escalations/{alarm['id']}/resolve", json=resolve))
    ok(farah.post(part(sid, pid, "/consent/checkin"), json={"ok": True, "note": "nods"}))
    assert farah.post(part(sid, pid, "/discharge")).status_code == 409  # refused: not in grounding yet
    ok(farah.post(part(sid, pid, "/notes"), json={"kind": "observation", "text": "Hands warm"}), 201)
    note_seq = [e["seq"] for e in events(farah, sid) if e["kind"] == "note_recorded"][-1]
    amend = {"event_seq": note_seq, "correction": "Hands and feet warm", "reason": "added feet"}
    ok(farah.post(part(sid, pid, "/amend"), json=amend))

    html = farah.get(f"/sessions/{sid}/participants/{pid}").text
    timeline = _text(_section(html, "timeline"))
    assert "BP 131/84 mmHg" in timeline and "SpO2 97%" in timeline
    assert re.search(r"200(\.0)? mg sublingual|sublingual.*200", timeline), timeline
    assert "distress 3" in timeline.lower() and "moaa/s 4" in timeline.lower()
    assert "Escalation acknowledged at step 2 · by lena" in timeline
    assert "Action: Sat with her, slow breathing. Outcome: Settled to 1 · by lena" in timeline
    assert "Consent check-in answered" in timeline
    assert "Refused: discharge (invalid_transition)" in timeline
    # The amendment sits beside the note it corrects, not as an entry of its own.
    assert "Amends entry" in timeline
    row = _text(html[html.index(f'<li data-seq="{note_seq}" data-kind="note_recorded"') :].split("</li>")[0])
    assert "Hands warm" in row and "Hands and feet warm" in row
    assert not re.search(r'data-kind="amended"', html)

    notes = _text(_section(html, "session-notes"))
    assert "No notes yet" not in notes
    assert "Crying, then quiet" in notes, "an observation's note is a session note too"
    assert "Hands warm" in notes and "Amended" in notes and "Hands and feet warm" in notes


def test_no_notes_yet_only_when_there_are_none(client_for) -> None:  # type: ignore[no-untyped-def]
    farah: TestClient = client_for("farah")
    sid = open_session(farah)
    pid = ok(farah.post(f"{API}/sessions/{sid}/participants", json={"display_name": "Bo", "chart_id": "B-1"}), 201)[
        "id"
    ]
    assert "No notes yet" in farah.get(f"/sessions/{sid}/participants/{pid}").text
