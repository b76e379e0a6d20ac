"""Which tablets hold a live link to which room, so the lead's overview can show the ones that
dropped off. Kept in memory: with several app processes each knows only its own sockets."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

FORGET_AFTER = timedelta(hours=12)


@dataclass
class Link:
    device: str
    room_id: str
    username: str
    online: bool
    since: datetime
    sockets: int = 0


class Presence:
    def __init__(self) -> None:
        self._links: dict[tuple[str, str], Link] = {}
        self._lock = threading.Lock()

    def connected(self, device: str, room_id: str, username: str, now: datetime) -> None:
        with self._lock:
            link = self._links.get((device, room_id))
            if link is None or not link.online:
                link = Link(device, room_id, username, True, now, 0)
                self._links[(device, room_id)] = link
            link.sockets += 1
            link.username = username

    def disconnected(self, device: str, room_id: str, now: datetime) -> None:
        with self._lock:
            link = self._links.get((device, room_id))
            if link is None:
                return
            link.sockets -= 1
            if link.sockets <= 0:
                link.online = False
                link.since = now

    def for_room(self, room_id: str, now: datetime) -> list[Link]:
        with self._lock:
            for key, link in list(self._links.items()):
                if not link.online and now - link.since > FORGET_AFTER:
                    del self._links[key]
            links = (Link(**vars(link)) for link in self._links.values() if link.room_id == room_id)
            return sorted(links, key=lambda link: link.device)
