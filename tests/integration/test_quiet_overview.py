"""Issue 13 item 6: quiet where nothing is wrong. Refused attempts are a small count with a link on the
overview; a dyad partner who supports is not "without support"; a room tile puts what needs
attention first (its alarms, then the people with alarms at the top of its table)."""

from __future__ import annotations

import re

from tests.integration.helpers import (
    add_participant,
    check_in,
    ok,
    open_session,
    part,
)


def _tile(html: str, room: str) -> str:
    start = html.index(f'id="room-{room}"')
    return html[start : html.index("</article>", start)]


def test_refusals_are_a_count_with_a_link_and_alarms_come_first(client_for) -> None:  # type: ignore[no-untyped-def]
    farah, lena = client_for("farah"), client_for("lena")
    sid = open_session(farah)
    check_in(farah, sid, "farah")
    first = add_participant(farah, sid, "Ada", "A-1")
    second = add_participant(farah, sid, "Bea", "B-1")
    for _ in range(2):
        assert farah.post(part(sid, first, "/phase"), json={"to": "journeying"}).status_code == 409
    ok(farah.post(part(sid, second, "/vitals"), json={"spo2": 88}))

    tile = _tile(lena.get("/overview").text, "cedar-room")
    count = re.search(r'<p class="quiet refusal-count"[^>]*><a href="/rooms/cedar-room#refusals">([^<]+)</a>', tile)
    assert count and count.group(1) == "2 refused attempts on record"
    assert "cannot go from" not in tile, "the refusal's message stays on the room's page, not the overview"
    assert 'class="warn-text">2 refused' not in tile
    # The alarm is at the top of the tile, and Bea (with the alarm) heads the table though added second.
    assert tile.index('data-testid="tile-alarm"') < tile.index("<table")
    rows = re.findall(r'<tr class="[^"]*" data-participant="([^"]+)"', tile)
    assert rows == [second, first]
    assert f'href="/rooms/cedar-room#p-{second}"' in tile

    room = farah.get("/rooms/cedar-room").text
    assert 'id="refusals"' in room


def test_a_dyad_partner_who_supports_is_not_flagged_without_support(client_for) -> None:  # type: ignore[no-untyped-def]
    farah, lena = client_for("farah"), client_for("lena")
    sid = open_session(farah, kind="dyad_training")
    check_in(farah, sid, "farah")
    journeyer = add_participant(farah, sid, "Ada", "A-1")
    supporter = add_participant(farah, sid, "Bea", "B-1")
    loner = add_participant(farah, sid, "Cy", "C-1")
    ok(farah.post(part(sid, journeyer, "/support"), json={"kind": "participant", "id": supporter}))

    room = farah.get("/rooms/cedar-room").text
    card = room[room.index(f'id="p-{supporter}"') :]
    support = card[card.index('data-testid="support"') : card.index("</dd>", card.index('data-testid="support"'))]
    assert "none assigned" not in support and "supporting Ada" in support
    lone = room[room.index(f'id="p-{loner}"') :]
    assert "none assigned" in lone[: lone.index("</dd>", lone.index('data-testid="support"'))]

    tile = _tile(lena.get("/overview").text, "cedar-room")
    row = tile[tile.index(f'data-participant="{supporter}"') :].split("</tr>")[0]
    assert "supports Ada" in row and "warn-text" not in row
    lone_row = tile[tile.index(f'data-participant="{loner}"') :].split("</tr>")[0]
    assert "warn-text" in lone_row
