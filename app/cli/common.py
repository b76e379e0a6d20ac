"""What every command shares: settings read once with a clear error, the database's schema checked,
passwords and PINs read from standard input, and uvicorn started the same way."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from app.config import Settings
from app.store.migrate import current_revision, head_revision, upgrade

PROG = "holdspace"


class CliError(Exception):
    """A problem the person running the command can fix: one line on stderr, exit status 2."""


def out(message: str = "") -> None:
    print(message, flush=True)


def settings_or_fail(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as err:
        first = err.errors()[0]
        name = "HOLDSPACE_" + str(first["loc"][0]).upper() if first.get("loc") else "configuration"
        raise CliError(f"{name}: {first['msg']}") from None


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        raise CliError(f"HOLDSPACE_DATABASE_URL is not a database URL: {url!r}") from None


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def require_schema(url: str) -> None:
    """Refuse to work on a database that is missing or not at the current schema."""
    shown(url)
    file = sqlite_file(url)
    if file is not None and not file.exists():
        raise CliError(f"there is no database at {shown(url)}; run `holdspace migrate` first")
    current, head = current_revision(url), head_revision()
    if current != head:
        state = "is empty" if current is None else f"is at schema {current}, not {head}"
        raise CliError(f"the database at {shown(url)} {state}; run `holdspace migrate` first")


def migrate(url: str) -> tuple[str | None, str | None]:
    shown(url)
    before = current_revision(url)
    upgrade(url)
    return before, current_revision(url)


def check_config(settings: Settings) -> None:
    """Everything start-up needs, checked before the database is touched."""
    settings.checked_secret()
    settings.clinic_zone  # noqa: B018  (HOLDSPACE_TIMEZONE must name a known zone)
    settings.clinic_policy  # noqa: B018  (loads and validates the policy file)


def read_password() -> str:
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


def shown_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


# How long shutdown waits for requests in flight; open live sockets are closed at once with 1012
# ("service restart"), which tells a tablet to reconnect, to another process if there is one.
GRACEFUL_SHUTDOWN_SECONDS = 10


def serve(app_or_factory: Any, host: str, port: int, *, factory: bool = False, workers: int = 1) -> None:
    import uvicorn

    from app.web.logs import log_config
    from app.web.socket_protocol import LiveWebSocketProtocol

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
        ws=LiveWebSocketProtocol,  # permessage-deflate without a context kept per idle socket
    )


def check_assets() -> None:
    """Every static file a page names must be there, or tablets would load pages without htmx."""
    from app.web.assets import missing_assets

    missing = missing_assets()
    if missing:
        raise CliError(
            f"static file {missing[0]} is missing, and the pages cannot work without it "
            "(in a checkout run `make vendor`; otherwise reinstall the package)"
        )


def check_workers(workers: int, url: str) -> None:
    if workers < 1:
        raise CliError("--workers must be at least 1")
    if workers > 1 and make_url(url).get_backend_name() == "sqlite":
        raise CliError(
            f"--workers {workers} needs PostgreSQL: on SQLite a change made through one process would not "
            "reach the live screens connected to another. Run one worker, or set HOLDSPACE_DATABASE_URL "
            "to a postgresql+psycopg:// URL."
        )


def read_pin() -> str:
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
