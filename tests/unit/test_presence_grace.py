"""Presence follows the device: a page change (one link closes, the next opens) is not a drop, and
a device gone for longer than the grace period is offline since its last link closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.live.presence import Presence

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_moving_between_pages_of_one_tablet_is_not_offline() -> None:
    presence = Presence(grace=timedelta(seconds=8))
    presence.connected("tablet-1", "cedar-room", "farah", T0)
    presence.disconnected("tablet-1", T0 + timedelta(seconds=1))  # leaves the room view
    [link] = presence.for_room("cedar-room", T0 + timedelta(seconds=3))
    assert link.online, "within the grace period a closed link is not yet a dropped tablet"
    presence.connected("tablet-1", "cedar-room", "farah", T0 + timedelta(seconds=2))  # the record page
    [link] = presence.for_room("cedar-room", T0 + timedelta(minutes=5))
    assert link.online


def test_a_page_of_no_room_keeps_the_device_in_its_last_room() -> None:
    presence = Presence(grace=timedelta(seconds=8))
    presence.connected("tablet-1", "cedar-room", "farah", T0)
    presence.disconnected("tablet-1", T0)
    presence.connected("tablet-1", None, "farah", T0 + timedelta(seconds=1))  # the rooms list
    [link] = presence.for_room("cedar-room", T0 + timedelta(minutes=1))
    assert link.online and link.room_id == "cedar-room"


def test_a_tablet_gone_past_the_grace_period_is_offline_since_its_last_link_closed() -> None:
    presence = Presence(grace=timedelta(seconds=8))
    presence.connected("tablet-1", "cedar-room", "farah", T0)
    presence.connected("tablet-1", "cedar-room", "farah", T0)  # the alarm list beside the room view
    presence.disconnected("tablet-1", T0 + timedelta(seconds=5))
    assert presence.for_room("cedar-room", T0 + timedelta(seconds=30))[0].online, "one link is still open"
    presence.disconnected("tablet-1", T0 + timedelta(seconds=6))
    assert presence.for_room("cedar-room", T0 + timedelta(seconds=14))[0].online
    [link] = presence.for_room("cedar-room", T0 + timedelta(seconds=15))
    assert not link.online and link.since == T0 + timedelta(seconds=6)
    assert presence.for_room("birch-room", T0 + timedelta(seconds=15)) == []
