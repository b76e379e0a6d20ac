"""Which tablets hold a live link, and to which room, so the lead's overview can show the ones that
dropped off. Kept in memory: with several app processes each knows only its own sockets.

Presence follows the device: a tablet moving from the room view to a participant's record (or
back) keeps its place, and a gap shorter than the grace period is not "offline". Only sockets
admitted to the room are recorded (the caller checks), under a device name of a strict pattern; a
room remembers a bounded number of tablets, and an offline one is forgotten after the clinic
policy's `offline_tablet_forget_minutes`."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

# What the pages send: "tablet-" and eight hex digits; a clinic's own names fit too.
DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_TABLETS_PER_ROOM = 30
FORGET_AFTER = timedelta(hours=12)
# Long enough for a page change on a slow clinic Wi-Fi, short enough that a dropped tablet shows soon.
GRACE = timedelta(seconds=8)


def device_name(raw: str | None) -> str | None:
    """The device name a socket gave, if it has the allowed shape; else None (not recorded)."""
    name = (raw or "").strip()
    return name if DEVICE_NAME.fullmatch(name) else None


@dataclass
class Link:
    device: str
    room_id: str | None
    username: str
    online: bool
    since: datetime
    sockets: int = 0


class Presence:
    def __init__(
        self,
        forget_after: timedelta = FORGET_AFTER,
        max_per_room: int = MAX_TABLETS_PER_ROOM,
        grace: timedelta = GRACE,
    ) -> None:
        self._links: dict[str, Link] = {}
        self._lock = threading.Lock()
        self.forget_after = forget_after
        self.max_per_room = max_per_room
        self.grace = grace

    def connected(self, device: str, room_id: str | None, username: str, now: datetime) -> bool:
        """Record an admitted socket's tablet. `room_id` is the room its page belongs to; None for a
        page of no room (the rooms list), which keeps the room the device was last in. False if the
        room already remembers as many tablets as it may, all of them online (the socket is served,
        only not listed)."""
        with self._lock:
            self._forget(now)
            link = self._links.get(device)
            if link is None and room_id is None:
                return False  # a device in no room yet: nothing to list, nothing to remember
            if room_id is not None and (link is None or link.room_id != room_id):
                in_room = [k for k, v in self._links.items() if v.room_id == room_id]
                if len(in_room) >= self.max_per_room:
                    # A tablet with no open link may make room, even within its grace period.
                    offline = [k for k in in_room if self._links[k].sockets <= 0]
                    if not offline:
                        return False
                    del self._links[min(offline, key=lambda k: self._links[k].since)]
            if link is None:
                link = Link(device, room_id, username, True, now, 0)
                self._links[device] = link
            if room_id is not None:
                link.room_id = room_id
            link.online = True
            link.sockets += 1
            link.username = username
            return True

    def disconnected(self, device: str, now: datetime) -> str | None:
        """One of the device's links closed; the room it is listed in (None if it is in none)."""
        with self._lock:
            link = self._links.get(device)
            if link is None:
                return None
            link.sockets -= 1
            if link.sockets <= 0:
                link.sockets = 0
                link.since = now
            return link.room_id

    def room_of(self, device: str) -> str | None:
        """The room the device was last in."""
        with self._lock:
            link = self._links.get(device)
            return link.room_id if link is not None else None

    def for_room(self, room_id: str, now: datetime) -> list[Link]:
        """The devices last in `room_id`; one without a live link for longer than the grace period
        is offline since the moment its last link closed."""
        with self._lock:
            self._forget(now)
            out = [
                Link(link.device, link.room_id, link.username, self._online(link, now), link.since, link.sockets)
                for link in self._links.values()
                if link.room_id == room_id
            ]
            return sorted(out, key=lambda link: link.device)

    def _online(self, link: Link, now: datetime) -> bool:
        return link.sockets > 0 or now - link.since <= self.grace

    def _forget(self, now: datetime) -> None:
        for key, link in list(self._links.items()):
            if link.sockets <= 0 and now - link.since > max(self.forget_after, self.grace):
                del self._links[key]
