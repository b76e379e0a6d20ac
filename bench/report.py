"""The clinic's response report over many closed sessions: the code before and after a change.

    .venv/bin/python bench/report.py [--sessions 0,200,1000] [--rounds 3] [--before DIR]

For each code tree (this one, and `--before DIR`, an older commit exported with `git archive`) and
each number of closed sessions, a fresh process (`worker`) builds a SQLite database (WAL,
`synchronous=FULL`) with that tree's own migrations, records one realistic group session through
that tree's services with a hand-moved clock (8 participants dosed; vitals when due, distress
every 15 minutes and consent check-ins answered on time for three hours; two distress alarms
seen, acknowledged and resolved; a refused attempt to take a journeyer's support person; everyone
transferred, the session closed, its follow-ups closed afterwards: about 420 events), and copies it
into N closed sessions spread over 250 days (the copies' events are the template's with their
times moved and the session's id in their ids; every copy folds to the same figures). With the
code after, each copy is then projected from its log as `holdspace migrate` does.

Then, in that process, `GET /api/v1/reports/response` and the `/reports` page over a year as an
admin: "cold" is the first request of a freshly created app (empty caches, as after a restart),
"warm" the median of the requests after it. Every wait is bounded; it stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SPREAD = timedelta(days=250)
STAMP = "%Y-%m-%d %H:%M:%S.%f"


def _use_tree(tree: str) -> None:
    sys.path.insert(0, str(Path(tree).resolve()))
    for name in [m for m in sys.modules if m == "app" or m.startswith(("app.", "tests"))]:
        del sys.modules[name]


class HandClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def record_template(services: Any, clock: HandClock) -> tuple[str, dict[str, float]]:
    """One realistic closed session, through the services of the tree in use. Returns its id and
    the milliseconds the closing commands took (closing is where the code after projects)."""
    from app.domain import commands as c
    from app.domain.model import Actor, SupportRef
    from app.store.db import unit_of_work
    from app.store.tables import Room

    farah, theo = Actor("farah", "facilitator"), Actor("theo", "facilitator")
    lena, doc = Actor("lena", "lead"), Actor("dr.ade", "prescriber")
    with unit_of_work(services.engine) as db:
        room = db.get(Room, "cedar-room")
    outcome = services.open_session(
        lena, room, "group", ["farah", "theo"], "lena", answer=lambda s, e: (201, {"id": s.session_id})
    )
    sid = outcome.body["id"]

    def run(actor: Any, cmd: Any) -> Any:
        return services.execute(sid, cmd, actor, device="bench-tablet")

    run(farah, c.CheckIn("farah", "facilitator"))
    run(theo, c.CheckIn("theo", "facilitator"))
    pids = []
    for i in range(8):
        pid = f"{sid}-p{i}"
        run(farah, c.AddParticipant(pid, f"P{i}", f"C-{i}"))
        run(farah, c.RecordScreening(pid, {"psychosis_history": False}, sbp=118, dbp=76))
        consent = c.RecordConsent(
            pid,
            touch=("hand",),
            pause_signal="hand on heart",
            stop_signal="red card",
            music=True,
            eyeshades=False,
            emergency_contact="Sam, +1 555 0100",
            transport_plan="Partner drives",
            signed_by_participant=True,
        )
        run(farah, consent)
        run(farah, c.AssignSupport(pid, SupportRef("staff", "farah" if i % 2 else "theo")))
        run(doc, c.AdministerDose(pid, "sublingual", 200))
        pids.append(pid)
    vitals = {"sbp": 122, "dbp": 78, "hr": 72, "spo2": 98, "rr": 14}
    for step in range(36):  # three hours in five-minute steps, staff on time
        state = services.state(sid)
        for i, pid in enumerate(pids):
            staff = farah if i % 2 else theo
            p = state.participants[pid]
            if p.checkin_due_at is not None and p.checkin_due_at <= clock.now + timedelta(minutes=5):
                run(staff, c.AnswerCheckin(pid, ok=True))
            if p.vitals_due_at is not None and p.vitals_due_at <= clock.now + timedelta(minutes=5):
                run(staff, c.RecordVitals(pid, vitals))
            if step % 3 == 2:  # every 15 minutes: distress as observed
                distress = 3 if (i == 2 and step == 11) else 2 if (i == 5 and step == 20) else 1
                run(staff, c.RecordObservation(pid, distress=distress))
            phase = {6: "journeying", 24: "re_entry", 30: "grounding"}.get(step)
            if phase:
                run(farah, c.ChangePhase(pid, phase))
        for alarm in services.state(sid).open_escalations:
            clock.advance(seconds=20)
            run(lena, c.MarkAlarmsSeen((alarm.id,)))
            clock.advance(seconds=70)
            run(lena, c.AcknowledgeEscalation(alarm.id))
            clock.advance(minutes=2)
            run(lena, c.ResolveEscalation(alarm.id, "sat with them", "settled"))
            run(farah, c.RecordObservation(alarm.participant_id, distress=1))
        if step == 12:
            run(theo, c.RemoveSupport(pids[2], "theo"))  # refused: the dyad lock, on the record
        clock.advance(minutes=5)
        services.tick_due()
    for pid in reversed(pids):
        run(farah, c.Transfer(pid, "went home with a friend", "home"))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    run(lena, c.CloseSession())
    timings["close_session_ms"] = (time.perf_counter() - started) * 1000
    clock.advance(hours=20)
    for followup in list(services.state(sid).followups.values()):
        started = time.perf_counter()
        run(lena, c.CloseFollowup(followup.id, "Called; well"))
        timings["close_followup_ms"] = (time.perf_counter() - started) * 1000
    assert services.state(sid).closed_at is not None, "the template session did not close"
    return sid, timings


def _shift(value: str | None, delta: timedelta) -> str | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    suffix = value[26:] if len(value) > 26 else ""  # keep whatever zone text SQLite holds
    return (moment.replace(tzinfo=None) + delta).strftime(STAMP) + suffix


def copy_sessions(path: str, template: str, count: int) -> list[str]:
    """`count` copies of the template session, spread over 250 days (events, head, open items)."""
    raw = sqlite3.connect(path)
    raw.row_factory = sqlite3.Row
    try:
        session = dict(raw.execute("SELECT * FROM care_session WHERE id = ?", (template,)).fetchone())
        events = [dict(r) for r in raw.execute("SELECT * FROM event WHERE session_id = ? ORDER BY seq", (template,))]
        items = [dict(r) for r in raw.execute("SELECT * FROM open_item WHERE session_id = ?", (template,))]
        made = []
        for n in range(count):
            sid = f"copy{n:06d}{template[:6]}"  # as long as the template's: the ids keep their lengths
            delta = SPREAD * (n + 1) / (count + 1)
            row = {**session, "id": sid, "live_room_id": None}
            for key in ("opened_at", "closed_at"):
                row[key] = _shift(row[key], delta)
            raw.execute(
                f"INSERT INTO care_session ({','.join(row)}) VALUES ({','.join('?' * len(row))})", list(row.values())
            )
            for event in events:
                copy = {**event, "session_id": sid, "at": _shift(event["at"], delta)}
                # Ids made from the session's (participants, alarms, follow-ups) are the copy's own.
                copy["data"] = event["data"].replace(template, sid)
                if event["participant_id"]:
                    copy["participant_id"] = event["participant_id"].replace(template, sid)
                copy.pop("id", None)
                raw.execute(
                    f"INSERT INTO event ({','.join(copy)}) VALUES ({','.join('?' * len(copy))})", list(copy.values())
                )
            for item in items:
                copy = {**item, "session_id": sid, "item_id": item["item_id"].replace(template, sid)}
                raw.execute(
                    f"INSERT INTO open_item ({','.join(copy)}) VALUES ({','.join('?' * len(copy))})",
                    list(copy.values()),
                )
            made.append(sid)
        raw.commit()
        return made
    finally:
        raw.close()


def worker(tree: str, sessions: int, rounds: int) -> dict[str, Any]:
    _use_tree(tree)
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app
    from tests.conftest import PASSWORD, create_schema, seed_clinic

    result: dict[str, Any] = {"sessions": sessions}
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/bench.db"
        url = f"sqlite:///{path}"
        create_schema(url)
        seed_clinic(url)
        settings = Settings(
            database_url=url, secret_key="bench-secret-0123456789abcdef", demo=False, secure_cookies=False
        )

        def app_at(now: datetime) -> Any:
            return create_app(settings, clock=HandClock(now), run_clock_task=False)

        if sessions:
            clock = HandClock(START - timedelta(days=1))
            app = create_app(settings, clock=clock, run_clock_task=False)
            template, timings = record_template(app.state.services, clock)
            result.update(timings)
            result["events_per_session"] = len(app.state.services.events(template))
            app.state.services.engine.dispose()
            app.state.services.write_engine.dispose()
            copies = copy_sessions(path, template, sessions - 1)
            app = app_at(START + SPREAD)
            services = app.state.services
            if hasattr(services, "catch_up_report"):
                started = time.perf_counter()
                for sid in copies:
                    services.catch_up_report(sid)
                result["project_copies_ms_per_session"] = (time.perf_counter() - started) * 1000 / max(1, len(copies))
            services.engine.dispose()
            services.write_engine.dispose()

        params = {"from": (START - timedelta(days=2)).isoformat(), "to": (START + timedelta(days=360)).isoformat()}
        samples: dict[str, list[float]] = {"api_cold": [], "api_warm": [], "page_cold": [], "page_warm": []}
        figures = None
        for _ in range(rounds):
            app = app_at(START + SPREAD + timedelta(days=1))
            client = TestClient(app, headers={"X-Requested-With": "holdspace"})
            client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}).raise_for_status()
            for label, target in (("api", "/api/v1/reports/response"), ("page", "/reports")):
                for kind in ("cold", "warm", "warm", "warm"):
                    started = time.perf_counter()
                    answer = client.get(target, params=params, timeout=600)
                    samples[f"{label}_{kind}"].append((time.perf_counter() - started) * 1000)
                    answer.raise_for_status()
                    if label == "api":
                        figures = answer.json()
                if label == "api":
                    # The page's cold request comes from a fresh app too.
                    client.close()
                    app.state.services.engine.dispose()
                    app = app_at(START + SPREAD + timedelta(days=1))
                    client = TestClient(app, headers={"X-Requested-With": "holdspace"})
                    client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
            client.close()
            app.state.services.engine.dispose()
            app.state.services.write_engine.dispose()
        for key, values in samples.items():
            result[f"{key}_ms"] = round(statistics.median(values), 1)
        assert figures is not None and figures["sessions"] == sessions, figures
        lead = figures["by_lead"][0] if figures["by_lead"] else {}
        result["figures"] = {
            k: lead.get(k)
            for k in (
                "sessions",
                "alarms",
                "unattended_distress_minutes",
                "dyad_lock_refusals",
                "followups_opened",
                "followups_closed",
            )
        }
        for key in ("close_session_ms", "close_followup_ms", "project_copies_ms_per_session"):
            if key in result:
                result[key] = round(result[key], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode")
    one = sub.add_parser("worker")
    one.add_argument("--tree", required=True)
    one.add_argument("--sessions", type=int, required=True)
    one.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", default="0,200,1000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", help="a checkout of the code before (git archive COMMIT | tar -x -C DIR)")
    args = parser.parse_args()
    if args.mode == "worker":
        print(json.dumps(worker(args.tree, args.sessions, args.rounds)))
        return
    print(json.dumps({"load": os.getloadavg(), "at": datetime.now(UTC).isoformat(timespec="seconds")}), flush=True)
    trees = [("after", TREE)] + ([("before", Path(args.before))] if args.before else [])
    for count in [int(x) for x in args.sessions.split(",")]:
        for label, tree in trees:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "worker",
                    "--tree",
                    str(tree),
                    "--sessions",
                    str(count),
                    "--rounds",
                    str(args.rounds),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=3600,
            ).stdout
            record = {"code": label, **json.loads(out.strip().splitlines()[-1]), "load": os.getloadavg()[0]}
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
