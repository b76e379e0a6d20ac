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
import getpass
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlmodel import select

from app.config import ConfigError, Settings
from app.domain.vocabulary import STAFF_ROLES
from app.store import people
from app.store.db import make_engine, unit_of_work
from app.store.events import read_records, verify_chain
from app.store.migrate import MigrationSetupError, current_revision, head_revision, upgrade
from app.store.people import PeopleError
from app.store.tables import CareSession, EventRecord

PROG = "holdspace"


class CliError(Exception):
    """A problem the person running the command can fix: one line on stderr, exit status 2."""


# ---------------------------------------------------------------- helpers


def _out(message: str = "") -> None:
    print(message, flush=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as err:
        first = err.errors()[0]
        name = "HOLDSPACE_" + str(first["loc"][0]).upper() if first.get("loc") else "configuration"
        raise CliError(f"{name}: {first['msg']}") from None


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        raise CliError(f"HOLDSPACE_DATABASE_URL is not a database URL: {url!r}") from None


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _require_schema(url: str) -> None:
    """Refuse to work on a database that is missing or not at the current schema."""
    _shown(url)
    file = _sqlite_file(url)
    if file is not None and not file.exists():
        raise CliError(f"there is no database at {_shown(url)}; run `holdspace migrate` first")
    current, head = current_revision(url), head_revision()
    if current != head:
        state = "is empty" if current is None else f"is at schema {current}, not {head}"
        raise CliError(f"the database at {_shown(url)} {state}; run `holdspace migrate` first")


def _migrate(url: str) -> tuple[str | None, str | None]:
    _shown(url)
    before = current_revision(url)
    upgrade(url)
    return before, current_revision(url)


def _check_config(settings: Settings) -> None:
    """Everything start-up needs, checked before the database is touched."""
    settings.checked_secret()
    settings.clinic_zone  # noqa: B018  (HOLDSPACE_TIMEZONE must name a known zone)
    settings.clinic_policy  # noqa: B018  (loads and validates the policy file)


def _read_password() -> str:
    """The password from standard input: typed without echo on a terminal, else its first line."""
    if sys.stdin is None:
        raise CliError("no standard input to read the password from")
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CliError("the two passwords differ")
        return password
    data = sys.stdin.read()
    lines = data.splitlines()
    password = lines[0] if lines else ""
    if not password:
        raise CliError("no password on standard input")
    return password


def _shown_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# How long shutdown waits for requests in flight; open live sockets are closed at once with 1012
# ("service restart"), which tells a tablet to reconnect, to another process if there is one.
GRACEFUL_SHUTDOWN_SECONDS = 10


def _serve(app_or_factory: Any, host: str, port: int, *, factory: bool = False, workers: int = 1) -> None:
    import uvicorn

    from app.web.logs import log_config

    uvicorn.run(
        app_or_factory,
        host=host,
        port=port,
        factory=factory,
        workers=workers,
        proxy_headers=False,
        access_log=False,  # app.web.logs writes one JSON line per request instead
        log_config=log_config(),
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def _check_assets() -> None:
    """Every static file a page names must be there, or tablets would load pages without htmx."""
    from app.web.assets import missing_assets

    missing = missing_assets()
    if missing:
        raise CliError(
            f"static file {missing[0]} is missing, and the pages cannot work without it "
            "(in a checkout run `make vendor`; otherwise reinstall the package)"
        )


def _check_workers(workers: int, url: str) -> None:
    if workers < 1:
        raise CliError("--workers must be at least 1")
    if workers > 1 and make_url(url).get_backend_name() == "sqlite":
        raise CliError(
            f"--workers {workers} needs PostgreSQL: on SQLite a change made through one process would not "
            "reach the live screens connected to another. Run one worker, or set HOLDSPACE_DATABASE_URL "
            "to a postgresql+psycopg:// URL."
        )


# ---------------------------------------------------------------- commands


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    _check_config(settings)
    _check_assets()
    _shown(settings.database_url)
    _check_workers(args.workers, settings.database_url)
    _migrate(settings.database_url)
    # The factory builds the app from the same environment (create_app reads Settings()), in
    # each worker process when there are several.
    _serve("app.main:create_app", args.host, args.port, factory=True, workers=args.workers)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    before, after = _migrate(settings.database_url)
    where = _shown(settings.database_url)
    if before == after:
        _out(f"{where}: schema already up to date ({after})")
    else:
        _out(f"{where}: schema upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    if args.role not in STAFF_ROLES:
        raise CliError(f"role must be one of {', '.join(STAFF_ROLES)}, not {args.role!r}")
    if not args.password_stdin:
        raise CliError(
            "give the password on standard input with --password-stdin "
            "(a password is never taken as an argument, where shell history and ps would show it)"
        )
    settings = _settings()
    _require_schema(settings.database_url)
    password = _read_password()
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
    _out(added)
    return 0


def _read_pin() -> str:
    """The PIN from standard input: typed without echo on a terminal, else its first line."""
    if sys.stdin is None:
        raise CliError("no standard input to read the PIN from")
    if sys.stdin.isatty():
        pin = getpass.getpass("PIN: ")
        if getpass.getpass("Again: ") != pin:
            raise CliError("the two PINs differ")
        return pin
    lines = sys.stdin.read().splitlines()
    pin = lines[0].strip() if lines else ""
    if not pin:
        raise CliError("no PIN on standard input")
    return pin


def cmd_user_pin(args: argparse.Namespace) -> int:
    if not args.pin_stdin:
        raise CliError(
            "give the PIN on standard input with --pin-stdin "
            "(a PIN is never taken as an argument, where shell history and ps would show it)"
        )
    settings = _settings()
    _require_schema(settings.database_url)
    pin = _read_pin()
    engine = make_engine(settings.database_url, for_writes=True)
    try:
        with unit_of_work(engine) as db:
            user = people.set_pin(db, args.username, pin)
            db.commit()
            done = f"set the check-in PIN of {user.username}"
    finally:
        engine.dispose()
    _out(done)
    return 0


def cmd_room_add(args: argparse.Namespace) -> int:
    settings = _settings()
    _require_schema(settings.database_url)
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
    _out(added)
    return 0


def cmd_room_assign(args: argparse.Namespace) -> int:
    settings = _settings()
    _require_schema(settings.database_url)
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
    _out(f"assigned {args.username.strip().lower()} to {name}")
    return 0


def _database_argument(value: str) -> str:
    """`--database`: a SQLAlchemy URL, or the path of a SQLite file (a backup, say)."""
    if "://" in value:
        return value
    file = Path(value).expanduser().resolve()
    if not file.is_file():
        raise CliError(f"there is no database file at {file}")
    return f"sqlite:///{file}"


def cmd_verify(args: argparse.Namespace) -> int:
    url = _database_argument(args.database) if args.database else _settings().database_url
    _require_schema(url)
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
        _out(line)
    if broken:
        print(
            f"{PROG} verify: {len(broken)} broken event log(s) among {len(sessions)} session(s)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    _out(f"verified {len(sessions)} session(s), {events} event(s): every event log is whole")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of a live SQLite database, through SQLite's online backup API: writers
    carry on while it runs, and the copy is one moment of the database, never a torn file."""
    settings = _settings()
    source = _sqlite_file(settings.database_url)
    if source is None:
        raise CliError(
            f"backup copies a SQLite database; {_shown(settings.database_url)} is not one. "
            "Back up PostgreSQL with pg_dump (see the README)."
        )
    _require_schema(settings.database_url)
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
    _out(f"backed up {_shown(settings.database_url)} to {target} ({size} bytes)")
    _out(f"check it with: {PROG} verify --database {target}")


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
    settings = _settings()
    _require_schema(settings.database_url)
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
    _out("at\tusername\taction\toutcome\tclient\tsession\tparticipant\tdetail")
    for line in lines:
        _out(line)
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


def cmd_demo(args: argparse.Namespace) -> int:
    from app import demo

    settings = _settings(demo=True)
    policy = settings.clinic_policy
    url = settings.database_url
    _migrate(url)
    engine = make_engine(url, for_writes=True)
    try:
        result = demo.seed(engine, policy=policy)
    except (PeopleError, demo.DemoError) as err:  # e.g. HOLDSPACE_DEMO_PASSWORD shorter than 8 characters
        raise CliError(f"cannot seed the demo: {err}") from None
    finally:
        engine.dispose()

    base = f"http://{_shown_host(args.host)}:{args.port}"
    _out(f"Holdspace demo clinic in {_shown(url)}")
    if result.created:
        _out(
            f"Seeded: rooms {', '.join(name for name, _ in demo.ROOMS)}; live sessions in {', '.join(result.sessions)}."
        )
        _out("")
        _out("Demo logins (shown only now; keep them if you will come back).")
        _out("The PIN checks that person in on a room tablet someone else is signed in to:")
        width = max(len(u) for u in result.usernames)
        for username in result.usernames:
            pin = result.pins.get(username)
            line = f"  {username:<{width}}  {result.roles[username]:<12} {result.passwords[username]}"
            _out(f"{line}  PIN {pin}" if pin else line)
    else:
        _out("This database already has users, so nothing was added (the demo seeds only an empty one).")
        _out(f"Users: {', '.join(result.usernames)}")
        _out(
            f"Their passwords were printed when the demo was first seeded (or are {demo.PASSWORD_ENV}, "
            "if that was set then)."
        )
    _out("")
    if args.no_serve:
        _out(f"Not serving (--no-serve). Start it with: {PROG} demo  (then open {base}/login)")
        return 0

    from app.main import create_app

    _check_assets()
    app = create_app(settings)
    _out(f"Open {base}/login  Ctrl+C stops the demo.")
    thread, stop = demo.start_simulation(app.state.services)
    try:
        _serve(app, args.host, args.port)
    finally:
        stop.set()
        thread.join(timeout=5)
    return 0


# ---------------------------------------------------------------- the parser


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


if __name__ == "__main__":
    sys.exit(main())
