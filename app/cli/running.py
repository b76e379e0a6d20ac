"""Running Holdspace: `serve`, `migrate` and the `demo` clinic."""

from __future__ import annotations

import argparse

from app.store.db import make_engine
from app.store.people import PeopleError

from . import common
from .common import PROG, CliError


def cmd_serve(args: argparse.Namespace) -> int:
    settings = common.settings_or_fail()
    common.check_config(settings)
    common.check_assets()
    common.shown(settings.database_url)
    common.check_workers(args.workers, settings.database_url)
    common.migrate(settings.database_url)
    # The factory builds the app from the same environment (create_app reads Settings()), in
    # each worker process when there are several.
    common.serve("app.main:create_app", args.host, args.port, factory=True, workers=args.workers)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = common.settings_or_fail()
    before, after = common.migrate(settings.database_url)
    where = common.shown(settings.database_url)
    if before == after:
        common.out(f"{where}: schema already up to date ({after})")
    else:
        common.out(f"{where}: schema upgraded from {before or 'empty'} to {after}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app import demo

    settings = common.settings_or_fail(demo=True)
    policy = settings.clinic_policy
    url = settings.database_url
    common.migrate(url)
    engine = make_engine(url, for_writes=True)
    try:
        result = demo.seed(engine, policy=policy)
    except (PeopleError, demo.DemoError) as err:  # e.g. HOLDSPACE_DEMO_PASSWORD shorter than 8 characters
        raise CliError(f"cannot seed the demo: {err}") from None
    finally:
        engine.dispose()

    base = f"http://{common.shown_host(args.host)}:{args.port}"
    common.out(f"Holdspace demo clinic in {common.shown(url)}")
    if result.created:
        common.out(
            f"Seeded: rooms {', '.join(name for name, _ in demo.ROOMS)}; live sessions in {', '.join(result.sessions)}."
        )
        common.out("")
        common.out("Demo logins (shown only now; keep them if you will come back).")
        common.out("The PIN checks that person in on a room tablet someone else is signed in to:")
        width = max(len(u) for u in result.usernames)
        for username in result.usernames:
            pin = result.pins.get(username)
            line = f"  {username:<{width}}  {result.roles[username]:<12} {result.passwords[username]}"
            common.out(f"{line}  PIN {pin}" if pin else line)
    else:
        common.out("This database already has users, so nothing was added (the demo seeds only an empty one).")
        common.out(f"Users: {', '.join(result.usernames)}")
        common.out(
            f"Their passwords were printed when the demo was first seeded (or are {demo.PASSWORD_ENV}, "
            "if that was set then)."
        )
    common.out("")
    if args.no_serve:
        common.out(f"Not serving (--no-serve). Start it with: {PROG} demo  (then open {base}/login)")
        return 0

    from app.main import create_app

    common.check_assets()
    app = create_app(settings)
    common.out(f"Open {base}/login  Ctrl+C stops the demo.")
    thread, stop = demo.start_simulation(app.state.services)
    try:
        common.serve(app, args.host, args.port)
    finally:
        stop.set()
        thread.join(timeout=5)
    return 0
