"""A realistic room for the look-and-feel tests: eight people in a group session at different
points of their day, and, on request, open alarms (a low SpO2, acute distress)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.integration.helpers import CONSENT

NAMES = ["Rowan A.", "Mira K.", "Ade O.", "Lou P.", "Sam T.", "Ines R.", "Kai M.", "Noor B."]


@dataclass
class Scene:
    sid: str
    pids: list[str]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.sid, self.pids))


def cedar_session(server: Any, *people: tuple[str, str]) -> Scene:
    """A group session in Cedar Room (lead lena, facilitators farah and theo), farah checked in, and
    the given (display name, chart id) participants arrived."""
    farah = server.api("farah")
    opened = farah.post(
        "/api/v1/sessions",
        json={"room_id": "cedar-room", "kind": "group", "facilitators": ["farah", "theo"], "lead": "lena"},
    )
    opened.raise_for_status()
    sid = opened.json()["id"]
    farah.post(f"/api/v1/sessions/{sid}/facilitators/farah/check-in").raise_for_status()
    pids = []
    for name, chart in people:
        added = farah.post(f"/api/v1/sessions/{sid}/participants", json={"display_name": name, "chart_id": chart})
        added.raise_for_status()
        pids.append(added.json()["id"])
    return Scene(sid, pids)


def group_room(server: Any, people: int = 8, alarms: bool = False) -> Scene:
    farah, doc = server.api("farah"), server.api("dr.ade")
    sid, pids = cedar_session(server, *((name, f"C-10{i}") for i, name in enumerate(NAMES[:people])))
    for pid in pids[: max(1, people // 2)]:
        base = f"/api/v1/sessions/{sid}/participants/{pid}"
        screening = {"contraindications": {}, "bp": {"sbp": 118, "dbp": 76}, "concomitant_sedatives": []}
        farah.put(base + "/screening", json=screening).raise_for_status()
        farah.put(base + "/consent", json=CONSENT).raise_for_status()
        farah.post(base + "/support", json={"kind": "staff", "id": "farah"}).raise_for_status()
        doc.post(base + "/dose", json={"route": "sublingual", "dose_mg": 200}).raise_for_status()
        farah.post(base + "/vitals", json={"sbp": 124, "dbp": 79, "hr": 74, "spo2": 98, "rr": 14}).raise_for_status()
        farah.post(base + "/observations", json={"distress": 1, "note": "Breathing slowly, eyes closed"})
    farah.post(f"/api/v1/sessions/{sid}/participants/{pids[0]}/notes", json={"kind": "intention", "text": "To rest"})
    if alarms:
        base = f"/api/v1/sessions/{sid}/participants/"
        farah.post(base + pids[0] + "/vitals", json={"spo2": 89}).raise_for_status()
        farah.post(base + pids[1 % people] + "/observations", json={"distress": 3}).raise_for_status()
    return Scene(sid, pids)
