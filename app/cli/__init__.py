"""The `holdspace` command (API.md, "Running").

    holdspace serve [--host 127.0.0.1] [--port 8000] [--workers 1]
    holdspace migrate
    holdspace user add USERNAME --role facilitator|lead|prescriber|admin --password-stdin
    holdspace user pin USERNAME --pin-stdin
    holdspace room add NAME [--lead USERNAME]
    holdspace room assign NAME USERNAME
    holdspace demo [--host 127.0.0.1] [--port 8000] [--no-serve]
    holdspace verify [--database URL_OR_PATH]
    holdspace backup PATH
    holdspace audit [--user U] [--participant PID] [--since ISO]

Configuration comes from the environment (HOLDSPACE_DATABASE_URL, ...). A problem the person
running the command can fix (a bad role, an unknown room, a bad policy file, an unmigrated
database) is one line on stderr and exit status 2, never a traceback. `verify` exits 1 when a
session's event log is broken.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import sqlalchemy as sa

from app.config import ConfigError
from app.domain.vocabulary import STAFF_ROLES
from app.store.migrate import MigrationSetupError
from app.store.people import PeopleError

from .common import PROG, CliError
from .records import cmd_audit, cmd_backup, cmd_verify
from .running import cmd_demo, cmd_migrate, cmd_serve
from .staff import cmd_room_add, cmd_room_assign, cmd_user_add, cmd_user_pin


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"{PROG}: error: {name} must be a whole number, not {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Holdspace: live session monitoring for facilitators of ketamine-assisted psychotherapy. "
        "Configured by HOLDSPACE_DATABASE_URL, HOLDSPACE_SECRET_KEY, HOLDSPACE_POLICY and "
        "HOLDSPACE_ALLOWED_ORIGINS.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="migrate the database, then run the app")
    serve.add_argument(
        "--host",
        default=os.environ.get("HOLDSPACE_HOST", "127.0.0.1"),
        help="address to listen on (default HOLDSPACE_HOST, else 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=_int_env("HOLDSPACE_PORT", 8000),
        help="port to listen on (default HOLDSPACE_PORT, else 8000)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=_int_env("HOLDSPACE_WORKERS", 1),
        help="app processes (default HOLDSPACE_WORKERS, else 1); more than one needs PostgreSQL",
    )
    serve.set_defaults(handler=cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    user = sub.add_parser("user", help="manage staff accounts")
    user_sub = user.add_subparsers(dest="action", metavar="ACTION")
    user_add = user_sub.add_parser("add", help="add a staff account; the password is read from standard input")
    user_add.add_argument("username")
    user_add.add_argument("--role", required=True, metavar="ROLE", help=" | ".join(STAFF_ROLES))
    user_add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input (required)"
    )
    user_add.set_defaults(handler=cmd_user_add)
    user_pin = user_sub.add_parser(
        "pin", help="set the short PIN (4-8 digits) used to check oneself in on a shared room tablet"
    )
    user_pin.add_argument("username")
    user_pin.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input (required)")
    user_pin.set_defaults(handler=cmd_user_pin)

    room = sub.add_parser("room", help="manage rooms and who works in them")
    room_sub = room.add_subparsers(dest="action", metavar="ACTION")
    room_add = room_sub.add_parser("add", help="add a room")
    room_add.add_argument("name")
    room_add.add_argument("--lead", metavar="USERNAME", help="the lead who oversees the room")
    room_add.set_defaults(handler=cmd_room_add)
    room_assign = room_sub.add_parser("assign", help="let a staff member work in a room")
    room_assign.add_argument("room", metavar="NAME", help="the room's name or id")
    room_assign.add_argument("username")
    room_assign.set_defaults(handler=cmd_room_assign)

    demo = sub.add_parser("demo", help="seed a demo clinic with live sessions, then serve it")
    demo.add_argument(
        "--host",
        default=os.environ.get("HOLDSPACE_HOST", "127.0.0.1"),
        help="address to listen on (default HOLDSPACE_HOST, else 127.0.0.1)",
    )
    demo.add_argument(
        "--port",
        type=int,
        default=_int_env("HOLDSPACE_PORT", 8000),
        help="port to listen on (default HOLDSPACE_PORT, else 8000)",
    )
    demo.add_argument("--no-serve", action="store_true", help="seed the database and exit")
    demo.set_defaults(handler=cmd_demo)

    verify = sub.add_parser("verify", help="check every session's event log (exit 1 on a break)")
    verify.add_argument(
        "--database",
        metavar="URL_OR_PATH",
        help="check this database (a URL, or a SQLite file such as a backup) instead of HOLDSPACE_DATABASE_URL",
    )
    verify.set_defaults(handler=cmd_verify)

    backup = sub.add_parser("backup", help="copy the live SQLite database consistently to PATH")
    backup.add_argument("path", metavar="PATH", help="the new backup file (must not exist yet)")
    backup.set_defaults(handler=cmd_backup)
    audit = sub.add_parser("audit", help="the access log: sign-ins (failed too), chart views and exports")
    audit.add_argument("--user", metavar="U", help="only this username")
    audit.add_argument("--participant", metavar="PID", help="only this participant's chart record")
    audit.add_argument("--since", metavar="ISO", help="only from this time on (ISO 8601 with offset)")
    audit.add_argument("--limit", type=int, default=10000, help="at most this many, the newest (default 10000)")
    audit.set_defaults(handler=cmd_audit)

    # `holdspace user` or `holdspace room` without an action prints that group's help.
    user.set_defaults(group=user)
    room.set_defaults(group=room)
    return parser


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return 2


def _first_line(err: BaseException) -> str:
    orig = getattr(err, "orig", None)
    text = str(orig if orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        getattr(args, "group", parser).print_help(sys.stderr)
        return 2
    try:
        return int(handler(args) or 0)
    except (CliError, ConfigError, PeopleError, MigrationSetupError) as err:
        return _fail(str(err))
    except sa.exc.SQLAlchemyError as err:
        return _fail(f"database error: {_first_line(err)}")
    except KeyboardInterrupt:
        return 130
