"""The course of the session and its end: adverse events, pauses and stops, the grounding
checklist, the outcome, notes and refused attempts."""

from __future__ import annotations

from typing import Any

from reportlab.platypus import KeepTogether, Spacer

from app.domain.followups import owner_words

from .layout import Doc, day, hm


def adverse(d: Doc, data: dict[str, Any]) -> None:
    rows = []
    for a in data["adverse_events"]:
        ack = f"{hm(a['acknowledged_at'])} {a['acknowledged_by']}" if a.get("acknowledged_at") else "-"
        resolved = (
            f"{hm(a['resolved_at'])} by {a['resolved_by']}. Action: {a['action']}. Outcome: {a['outcome']}"
            if a["status"] == "resolved"
            else "OPEN: no action recorded yet"
        )
        rows.append([hm(a["raised_at"]), f"{a['priority']} (step {a['step']})", a["reason"], ack, resolved])
    followups = [
        [
            hm(f["opened_at"]),
            owner_words(f["owner"]),
            f["reason"] + (f" (in the participant's words: {f['account']})" if f.get("account") else ""),
            f"closed {day(f['closed_at'])} by {f['closed_by']}: {f['contact_note']}"
            if f["status"] == "closed"
            else f"open, due {day(f['due_at'])}",
        ]
        for f in data["followups"]
    ]
    follow = (
        KeepTogether(
            [
                Spacer(0, 5),
                d.p("<b>Follow-up (repair) items</b>", "body"),
                Spacer(0, 2),
                d.grid(["opened", "owner", "reason", "status"], followups, [8, 8, 56, 28]),
            ]
        )
        if followups
        else None
    )
    d.section(
        "Adverse events and escalations",
        d.grid(
            ["raised", "priority", "what", "acknowledged", "what was done, and the outcome"], rows, [8, 11, 25, 15, 41]
        ),
        follow,
    )


def pauses(d: Doc, data: dict[str, Any]) -> None:
    rows = [
        [
            hm(x["at"]),
            x["what"],
            x.get("requested_by") or "-",
            (x.get("reason") or "")
            + (f" (participant's answer: {x['participant_response']})" if x.get("participant_response") else ""),
            x["recorded_by"],
        ]
        for x in data["pauses_and_stops"]
    ]
    d.section(
        "Pause and stop", d.grid(["time", "what", "asked by", "reason", "recorded by"], rows, [9, 14, 13, 50, 14])
    )


def checklist(d: Doc, data: dict[str, Any]) -> None:
    checklist = data.get("checklist")
    if not checklist:
        d.section("Grounding checklist", None)
        return
    rows = []
    for item in checklist["items"]:
        mark = "done" if item.get("done") else ("MISSING" if item.get("required") else "not done")
        if item.get("automatic"):
            who = f"from the record: {item.get('detail') or ''}"
        elif item.get("done"):
            who = f"{item.get('by')} at {hm(item.get('at'))}" + (f" ({item['detail']})" if item.get("detail") else "")
        else:
            who = "-"
        rows.append([item["label"], mark, who])
    d.section(
        "Grounding checklist",
        d.p(
            f"{checklist['source'].capitalize()}, {day(checklist['evaluated_at'])}. "
            + ("Complete." if checklist["complete"] else "Incomplete: " + ", ".join(checklist["missing"]) + "."),
            "small",
        ),
        Spacer(0, 2),
        d.grid(["item", "status", "who and when"], rows, [48, 10, 42]),
    )


def outcome_words(outcome: dict[str, Any] | None) -> str:
    """The record's outcome (the domain's words), with when it happened."""
    if not outcome or not outcome.get("kind"):
        return ((outcome or {}).get("text") or "still in the session") + " at the time of this export"
    text = str(outcome["text"])
    if outcome["kind"] == "transferred":
        text = text[:1].upper() + text[1:]
        text = text.replace("Transferred", "TRANSFERRED", 1)
    return f"{text}, at {hm(outcome['at'])}"


def outcome(d: Doc, data: dict[str, Any]) -> None:
    outcome = data.get("outcome")
    if not outcome or not outcome.get("kind"):
        d.section("Discharge or transfer", d.p(d.e(outcome_words(outcome).capitalize()) + ".", "body"))
        return
    rows = [("Outcome", str(outcome["text"])[:1].upper() + str(outcome["text"])[1:])]
    if outcome["kind"] == "transferred":
        rows += [
            ("Destination", outcome.get("destination") or "-"),
            ("Reason", outcome.get("reason") or "-"),
        ]
    rows += [
        ("At", day(outcome["at"])),
        ("Recorded by", outcome["by"]),
        ("Transport plan", (data.get("transport") or {}).get("plan") or "-"),
    ]
    d.section("Discharge or transfer", d.fields(rows))


def notes(d: Doc, data: dict[str, Any]) -> None:
    flow: list[Any] = []
    for n in data["notes"]:
        head = f"<b>{d.e(str(n['kind']).capitalize())}</b> · {hm(n['observed_at'])} · {d.e(n['by'])}"
        if n.get("late"):
            head += f" (recorded late, at {hm(n['recorded_at'])})"
        text = d.e(n["text"])
        tags = []
        if n.get("parts"):
            tags.append("parts: " + ", ".join(n["parts"]))
        if n.get("somatic"):
            tags.append("somatic: " + n["somatic"])
        if tags:
            text += f" <font color='#5f6b7a'>[{d.e('; '.join(tags))}]</font>"
        flow.append(d.p(f"{head}<br/>{text}", "body"))
        for a in n.get("amendments") or []:
            flow.append(
                d.p(
                    f"&nbsp;&nbsp;&nbsp;Amended at {hm(a['at'])} by {d.e(a['by'])} (#{a['seq']}): "
                    f"{d.e(a['correction'])} <font color='#5f6b7a'>(reason: {d.e(a['reason'])})</font>",
                    "body",
                )
            )
        flow.append(Spacer(0, 3))
    other = [a for a in data["amendments"] if a["event_seq"] not in {n["seq"] for n in data["notes"]}]
    for a in other:
        flow.append(
            d.p(
                f"Entry #{a['event_seq']} amended at {hm(a['at'])} by {d.e(a['by'])}: {d.e(a['correction'])} "
                f"<font color='#5f6b7a'>(reason: {d.e(a['reason'])})</font>",
                "body",
            )
        )
    d.section("Session notes and amendments", *flow)


def refusals(d: Doc, data: dict[str, Any]) -> None:
    if not data["refusals"]:
        return
    rows = [
        [
            hm(r["at"]),
            r["actor"],
            str(r.get("command") or "").replace("_", " "),
            r.get("code") or "",
            r.get("message") or "",
        ]
        for r in data["refusals"]
    ]
    d.section("Refused attempts", d.grid(["time", "by", "attempt", "rule", "why"], rows, [8, 10, 15, 17, 50]))
