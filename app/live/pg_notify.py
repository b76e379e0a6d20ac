"""PostgreSQL LISTEN/NOTIFY: live hints between several app processes sharing one database.

A writer adds `pg_notify` to the transaction that appends the events, so the hint is delivered
only on commit. A NOTIFY is lost while a listener is disconnected and carries at most 8000 bytes:
it names channels and a session, never data, and after a reconnect every screen is told to
re-read (the database stays the source of truth)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import sqlalchemy as sa

from app.live.broker import RESYNC, MemoryBroker

log = logging.getLogger("holdspace.live")
CHANNEL = "holdspace"


def notify_statement(channels: list[str], message: dict[str, Any]) -> tuple[sa.TextClause, dict[str, str]]:
    payload = json.dumps({"channels": channels, "message": message}, separators=(",", ":"))
    return sa.text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}


def _libpq_url(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    """A thread holding one LISTEN connection; it hands each hint to the local broker."""

    def __init__(self, url: str, broker: MemoryBroker) -> None:
        self.url = _libpq_url(url)
        self.broker = broker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="holdspace-listen", daemon=True)
        self.connected = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    # Whatever was said while we were away is lost: every screen re-reads.
                    self.broker.publish_all(RESYNC)
                    delay = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._deliver(note.payload)
            except Exception:  # the link to the database dropped: retry, and say so
                self.connected.clear()
                log.warning("live notifications from the database interrupted; reconnecting", exc_info=True)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
        self.connected.clear()

    def _deliver(self, payload: str) -> None:
        try:
            hint = json.loads(payload)
            message = dict(hint["message"])
            if message.get("origin") == self.broker.origin:
                return  # our own commit: this process told its screens at once, events and all
            self.broker.publish(list(hint["channels"]), message)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed live notification")
