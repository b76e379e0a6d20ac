"""The record and the access log: `verify`, `backup`, `audit`."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import select

from app.store.db import make_engine, unit_of_work
from app.store.events import read_records, verify_chain
from app.store.tables import CareSession, EventRecord

from . import common
from .common import PROG, CliError


def _database_argument(value: str) -> str:
    """`--database`: a SQLAlchemy URL, or the path of a SQLite file (a backup, say)."""
    if "://" in value:
        return value
    file = Path(value).expanduser().resolve()
    if not file.is_file():
        raise CliError(f"there is no database file at {file}")
    return f"sqlite:///{file}"


def cmd_verify(args: argparse.Namespace) -> int:
    url = _database_argument(args.database) if args.database else common.settings_or_fail().database_url
    common.require_schema(url)
    engine = make_engine(url)
    broken: list[str] = []
    events = 0
    try:
        with unit_of_work(engine) as db:
            sessions = db.exec(select(CareSession).order_by(CareSession.opened_at, CareSession.id)).all()  # type: ignore[arg-type]
            known = {s.id for s in sessions}
            for session in sessions:
                records = read_records(db, session.id)
                events += len(records)
                problem = _chain_problem(records, (session.head_seq, session.head_hash))
                if problem is not None:
                    seq, why = problem
                    broken.append(f"session {session.id} (room {session.room_id}): event {seq}: {why}")
            orphans = db.exec(
                select(EventRecord.session_id, sa.func.min(EventRecord.seq)).group_by(EventRecord.session_id)
            ).all()
            for session_id, first_seq in orphans:
                if session_id not in known:
                    broken.append(f"session {session_id}: event {first_seq}: belongs to no known session")
    finally:
        engine.dispose()
    for line in broken:
        common.out(line)
    if broken:
        print(
            f"{PROG} verify: {len(broken)} broken event log(s) among {len(sessions)} session(s)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    common.out(f"verified {len(sessions)} session(s), {events} event(s): every event log is whole")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of a live SQLite database, through SQLite's online backup API: writers
    carry on while it runs, and the copy is one moment of the database, never a torn file."""
    settings = common.settings_or_fail()
    source = common.sqlite_file(settings.database_url)
    if source is None:
        raise CliError(
            f"backup copies a SQLite database; {common.shown(settings.database_url)} is not one. "
            "Back up PostgreSQL with pg_dump (see the README)."
        )
    common.require_schema(settings.database_url)
    target = Path(args.path).expanduser().resolve()
    if target.exists():
        raise CliError(f"{target} already exists; give a new file name (a backup never overwrites)")
    if not target.parent.is_dir():
        raise CliError(f"the folder {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst)
        check = dst.execute("PRAGMA integrity_check").fetchone()
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    if check is None or check[0] != "ok":
        partial.unlink(missing_ok=True)
        raise CliError(f"the copy failed SQLite's integrity check: {check[0] if check else 'no answer'}")
    partial.rename(target)
    size = target.stat().st_size
    common.out(f"backed up {common.shown(settings.database_url)} to {target} ({size} bytes)")
    common.out(f"check it with: {PROG} verify --database {target}")


def cmd_audit(args: argparse.Namespace) -> int:
    from datetime import datetime

    from app.store import access

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise CliError(f"--since {args.since!r} is not an ISO 8601 time (2026-11-30T08:00:00+01:00)") from None
        if since.tzinfo is None:
            raise CliError("--since needs the time's offset (2026-11-30T08:00:00+01:00, or Z for UTC)")
    settings = common.settings_or_fail()
    common.require_schema(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(engine) as db:
            rows = access.entries(
                db, username=args.user, participant_id=args.participant, since=since, limit=args.limit
            )
            lines = [
                "\t".join(
                    [
                        row.at.isoformat(),
                        row.username,
                        row.action,
                        row.outcome,
                        row.client or "-",
                        row.session_id or "-",
                        row.participant_id or "-",
                        row.detail or "",
                    ]
                )
                for row in rows
            ]
    finally:
        engine.dispose()
    common.out("at\tusername\taction\toutcome\tclient\tsession\tparticipant\tdetail")
    for line in lines:
        common.out(line)
    return 0


def _chain_problem(records: Sequence[EventRecord], head: tuple[int, str]) -> tuple[int, str] | None:
    if not records:
        return 1, "the session has no events at all (its log was removed)"
    for record in records:  # verify_chain decodes each event; say which one does not decode
        try:
            json.loads(record.data)
        except (TypeError, ValueError):
            earlier = verify_chain([r for r in records if r.seq < record.seq])
            return earlier or (record.seq, "its data is not valid JSON (edited)")
    return verify_chain(records, head)
