"""Staff and rooms: `user add`, `user pin`, `room add`, `room assign`."""

from __future__ import annotations

import argparse

import sqlalchemy as sa

from app.domain.vocabulary import STAFF_ROLES
from app.store import people
from app.store.db import make_engine, unit_of_work

from . import common
from .common import CliError


def cmd_user_add(args: argparse.Namespace) -> int:
    if args.role not in STAFF_ROLES:
        raise CliError(f"role must be one of {', '.join(STAFF_ROLES)}, not {args.role!r}")
    if not args.password_stdin:
        raise CliError(
            "give the password on standard input with --password-stdin "
            "(a password is never taken as an argument, where shell history and ps would show it)"
        )
    settings = common.settings_or_fail()
    common.require_schema(settings.database_url)
    password = common.read_password()
    engine = make_engine(settings.database_url, for_writes=True)
    try:
        with unit_of_work(engine) as db:
            user = people.create_user(db, args.username, args.role, password)
            db.commit()
            added = f"added user {user.username} ({user.role})"
    except sa.exc.IntegrityError:
        raise CliError(f"user {args.username.strip().lower()} already exists") from None
    finally:
        engine.dispose()
    common.out(added)
    return 0


def cmd_user_pin(args: argparse.Namespace) -> int:
    if not args.pin_stdin:
        raise CliError(
            "give the PIN on standard input with --pin-stdin "
            "(a PIN is never taken as an argument, where shell history and ps would show it)"
        )
    settings = common.settings_or_fail()
    common.require_schema(settings.database_url)
    pin = common.read_pin()
    engine = make_engine(settings.database_url, for_writes=True)
    try:
        with unit_of_work(engine) as db:
            user = people.set_pin(db, args.username, pin)
            db.commit()
            done = f"set the check-in PIN of {user.username}"
    finally:
        engine.dispose()
    common.out(done)
    return 0


def cmd_room_add(args: argparse.Namespace) -> int:
    settings = common.settings_or_fail()
    common.require_schema(settings.database_url)
    engine = make_engine(settings.database_url, for_writes=True)
    try:
        with unit_of_work(engine) as db:
            room = people.create_room(db, args.name, lead=args.lead)
            db.commit()
            lead = f", led by {room.lead}" if room.lead else ""
            added = f"added room {room.name} (id {room.id}{lead})"
    except sa.exc.IntegrityError:
        raise CliError(f"room {args.name.strip()!r} already exists") from None
    finally:
        engine.dispose()
    common.out(added)
    return 0


def cmd_room_assign(args: argparse.Namespace) -> int:
    settings = common.settings_or_fail()
    common.require_schema(settings.database_url)
    engine = make_engine(settings.database_url, for_writes=True)
    try:
        with unit_of_work(engine) as db:
            room = people.find_room(db, args.room.strip())
            if room is None:
                raise CliError(f"there is no room {args.room!r}")
            people.assign(db, room, args.username)
            db.commit()
            name = room.name
    finally:
        engine.dispose()
    common.out(f"assigned {args.username.strip().lower()} to {name}")
    return 0
