"""Where a long random schemathesis run found the OpenAPI document and the validator disagreeing:
text made only of spaces, a PIN and a password sent together (or a null one), and the 429 a
PIN check-out can answer. The document now says what the validator does, and both refuse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.web.openapi import document
from tests.integration.helpers import (
    API,
    add_participant,
    assert_error,
    open_session,
    sess,
)

Clients = Callable[[str], TestClient]


def test_a_follow_up_reason_of_only_spaces_is_refused_and_the_document_says_it_needs_a_character(
    app: Any, client_for: Clients
) -> None:
    lena = client_for("lena")
    sid = open_session(lena)
    pid = add_participant(lena, sid)
    body = {"session_id": sid, "participant_id": pid, "reason": "   \t "}
    error = assert_error(lena.post(f"{API}/followups", json=body), 422, "validation_error")
    assert error["details"]["field"] == "reason"
    schema = document(app)["components"]["schemas"]["FollowupBody"]["properties"]["reason"]
    assert schema["pattern"] == r"\S" and schema["minLength"] == 1


@pytest.mark.parametrize(
    "body",
    [{"pin": "1234", "password": "correct horse battery"}, {"pin": None}, {"password": None}, {"pin": "   "}],
    ids=["both", "null pin", "null password", "blank pin"],
)
def test_a_check_in_body_the_document_calls_invalid_is_refused_and_records_nothing(
    app: Any, client_for: Clients, body: dict[str, Any]
) -> None:
    farah = client_for("farah")
    sid = open_session(farah)
    before = farah.get(f"{API}/sessions/{sid}/events").json()
    assert_error(farah.post(sess(sid, "/facilitators/farah/check-in"), json=body), 422, "validation_error")
    assert farah.get(f"{API}/sessions/{sid}/events").json() == before
    presence = document(app)["components"]["schemas"]["PresenceBody"]
    assert presence["not"] == {"required": ["pin", "password"]}
    assert presence["properties"]["pin"]["type"] == "string"  # null is no PIN at all: not accepted


def test_both_presence_routes_document_the_429_a_run_of_wrong_pins_answers(app: Any) -> None:
    paths = document(app)["paths"]
    for action in ("check-in", "check-out"):
        responses = paths[f"{API}/sessions/{{session_id}}/facilitators/{{username}}/{action}"]["post"]["responses"]
        assert "Retry-After" in responses["429"]["headers"], action


def test_text_is_checked_as_it_arrives_and_trimmed_when_recorded(app: Any, client_for: Clients) -> None:
    """The document's maxLength is of the text sent: four spaces and 2,000 characters is too long,
    whatever trimming would leave; text within the limits is recorded trimmed by the domain."""
    farah = client_for("farah")
    sid = open_session(farah)
    added = farah.post(sess(sid, "/participants"), json={"display_name": "  Ada  ", "chart_id": " C-7 "})
    assert added.status_code == 201 and added.json()["display_name"] == "Ada", added.text
    pid = added.json()["id"]
    body = {"kind": "observation", "text": "    " + "x" * 8000}
    error = assert_error(farah.post(sess(sid, f"/participants/{pid}/notes"), json=body), 422, "validation_error")
    assert error["details"]["field"] == "text"
    recorded = farah.post(sess(sid, f"/participants/{pid}/notes"), json={"kind": "observation", "text": "  calm  "})
    assert recorded.status_code == 201, recorded.text
    events = farah.get(f"{API}/sessions/{sid}/events").json()
    assert [e["data"]["text"] for e in events if e["kind"] == "note_recorded"] == ["calm"]
    assert [e["data"]["display_name"] for e in events if e["kind"] == "participant_added"] == ["Ada"]
    document_limit = document(app)["components"]["schemas"]["SessionNoteBody"]["properties"]["text"]["maxLength"]
    assert document_limit == 8000
