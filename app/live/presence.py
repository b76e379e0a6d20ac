"""Which tablets hold a live link, and to which room, so the lead's overview can show the ones that
dropped off. Presence follows the device: a tablet moving from the room view to a participant's
record (or back) keeps its link, and a gap shorter than the grace period is not "offline". Kept in
memory: with several app processes each knows only its own sockets."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

FORGET_AFTER = timedelta(hours=12)
# Long enough for a page change on a slow clinic Wi-Fi, short enough that a dropped tablet shows soon.
GRACE = timedelta(seconds=8)


@dataclass
class Link:
    device: str
    room_id: str | None
    username: str
    online: bool
    since: datetime
    sockets: int = 0


class Presence:
    def __init__(self, grace: timedelta = GRACE) -> None:
        self.grace = grace
        self._links: dict[str, Link] = {}
        self._lock = threading.Lock()

    def connected(self, device: str, room_id: str | None, username: str, now: datetime) -> None:
        """A live link from `device`; `room_id` is the room its page belongs to, None for a page of
        no room (the rooms list), which keeps the room the device was last in."""
        with self._lock:
            link = self._links.get(device)
            if link is None:
                link = Link(device, room_id, username, True, now, 0)
                self._links[device] = link
            if room_id is not None:
                link.room_id = room_id
            link.online = True
            link.sockets += 1
            link.username = username

    def disconnected(self, device: str, now: datetime) -> None:
        with self._lock:
            link = self._links.get(device)
            if link is None:
                return
            link.sockets -= 1
            if link.sockets <= 0:
                link.sockets = 0
                link.since = now

    def for_room(self, room_id: str, now: datetime) -> list[Link]:
        """The devices last in `room_id`; one without a live link for longer than the grace period
        is offline since the moment its last link closed."""
        with self._lock:
            for key, link in list(self._links.items()):
                if link.sockets <= 0 and now - link.since > FORGET_AFTER:
                    del self._links[key]
            out = []
            for link in self._links.values():
                if link.room_id != room_id:
                    continue
                online = link.sockets > 0 or now - link.since <= self.grace
                out.append(Link(link.device, link.room_id, link.username, online, link.since, link.sockets))
            return sorted(out, key=lambda link: link.device)
