"""The note's sections before the course of the session: summary, identity, screening, agreement,
dose, blood pressure and vitals, scales."""

from __future__ import annotations

from typing import Any

from reportlab.lib import colors
from reportlab.platypus import Spacer, TableStyle

from .chart import in_chart_window
from .course import outcome_words
from .layout import RULE, Doc, Markup, day, hm, mins, num, relative, signed, yes


def _monitoring_text(monitoring: dict[str, Any], show: Any) -> str:
    if not monitoring.get("start"):
        return "not started (no dose recorded)"
    text = f"from {show(monitoring['start'])} to "
    text += show(monitoring["end"]) if monitoring.get("end") else "(still being monitored)"
    if monitoring.get("minutes") is not None:
        text += f" ({monitoring['minutes']:.0f} min)"
    return text


def summary(d: Doc, data: dict[str, Any]) -> None:
    """The facts a monitoring form asks for first, on one table at the top of page one."""
    dose, monitoring, bp = data.get("dose"), data["monitoring"], data["blood_pressure"]
    in_range = data["vitals_in_range"]

    def bp_text(reading: dict[str, Any] | None, relative: bool = True) -> str:
        if not reading:
            return "not recorded"
        text = f"{num(reading.get('sbp'))}/{num(reading.get('dbp'))}"
        if relative and reading.get("minutes_after_dose") is not None:
            text += f" (at {float(reading['minutes_after_dose']):.0f} min)"
        elif reading.get("source") == "screening":
            text += " (screening)"
        return text

    def verdict(item: dict[str, Any] | None) -> str:
        if not item:
            return "not assessed"
        if item["in_range"]:
            return "<font color='#2f6f4f'><b>yes</b></font>"
        extra = f", cleared by prescriber {d.e(item['cleared_by'])}" if item.get("cleared_by") else ""
        return f"<font color='#b42318'><b>no</b></font>{extra}"

    scales = data["scales"]

    def extreme(name: str, pick: Any) -> str:
        values = [s[name] for s in scales if s.get(name) is not None]
        return "-" if not values else (signed(pick(values)) if name == "rass" else num(pick(values)))

    events = data["adverse_events"]
    open_count = sum(1 for e in events if e["status"] == "open")
    adverse = "none"
    if events:
        adverse = f"{len(events)} escalation(s): " + "; ".join(f"{e['priority']}, {e['condition']}" for e in events)
        adverse += f"; {open_count} OPEN" if open_count else "; all resolved with action and outcome"
    pauses = data["pauses_and_stops"]
    pause_text = ", ".join(f"{p['what']} ({p.get('requested_by') or '-'}) {hm(p['at'])}" for p in pauses) or "none"
    outcome_said = outcome_words(data.get("outcome"))
    consent = data.get("consent") or {}
    standing = consent.get("as_it_stands") or {}
    touch = ", ".join(standing.get("touch") or []) or "none"
    if consent.get("withdrawn"):
        touch += f" (withdrawn: {', '.join(consent['withdrawn'])})"
    rows = [
        (
            "Dose",
            f"ketamine {num(dose['dose_mg'])} mg {dose['route']} at {hm(dose['administered_at'])}, "
            f"prescriber {dose.get('prescriber')}"
            if dose
            else "no dose recorded",
        ),
        (
            "Monitoring",
            _monitoring_text(monitoring, hm),
        ),
        (
            "Blood pressure (mmHg)",
            f"before dosing {bp_text(bp.get('before_dosing'), False)}; "
            f"about {bp['target_minutes']} min after {bp_text(bp.get('about_40_min'))}; "
            f"before the end {bp_text(bp.get('before_end'))}",
        ),
        (
            "Vitals in range",
            Markup(
                f"before dosing: {verdict(in_range.get('before_dosing'))}; "
                f"before leaving: {verdict(in_range.get('before_leaving'))}"
            ),
        ),
        (
            "Sedation, dissociation",
            f"lowest MOAA/S {extreme('moaa_s', min)}; highest RASS {extreme('rass', max)}; "
            f"highest distress {extreme('distress', max)}",
        ),
        ("Adverse events", adverse),
        ("Pause / stop", pause_text),
        ("Concomitant sedatives", ", ".join(data["concomitant_sedatives"]) or "none"),
        ("Touch agreement", touch),
        ("Transport plan", (data.get("transport") or {}).get("plan") or "-"),
        ("Outcome", outcome_said),
    ]
    table = d.fields(rows)
    table.setStyle(
        TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f6f8fa")), ("BOX", (0, 0), (-1, -1), 0.6, RULE)])
    )
    d.section("Summary", table)


def identity(d: Doc, data: dict[str, Any]) -> None:
    participant, session, support = data["participant"], data["session"], data["support"]
    monitoring = data["monitoring"]
    current = (
        ", ".join(s["name"] if s["kind"] == "participant" else f"{s['name']} (staff)" for s in support["current"])
        or "none"
    )
    d.section(
        "Participant and session",
        d.fields(
            [
                ("Name", participant["display_name"]),
                ("Chart id", participant["chart_id"]),
                ("Session", f"{session['kind'].replace('_', ' ')}, {session['room']} (session {session['id']})"),
                ("Lead facilitator", session["lead"]),
                ("Facilitators", ", ".join(session["facilitators"]) or "none"),
                (
                    "Support person(s)",
                    current
                    + (
                        f"; dedicated facilitator {support['dedicated_facilitator']}"
                        if support.get("dedicated_facilitator")
                        else ""
                    ),
                ),
                ("Arrived", day(participant["arrived_at"])),
                (
                    "Monitoring",
                    _monitoring_text(monitoring, day),
                ),
                ("Phase at export", participant["phase"].replace("_", " ")),
            ]
        ),
    )


def screening(d: Doc, data: dict[str, Any]) -> None:
    s = data.get("screening")
    if not s:
        d.section("Screening and clearance", None)
        return
    contraindications = s.get("contraindications") or {}
    present = [k.replace("_", " ") for k, v in contraindications.items() if v]
    absent = [k.replace("_", " ") for k, v in contraindications.items() if not v]
    clearance = "not needed (nothing flagged)"
    if s.get("needed_clearance"):
        clearance = (
            f"cleared by prescriber {s['cleared_by']} at {hm(s.get('cleared_at'))}: {s.get('clearance_note')}"
            if s.get("cleared")
            else "NOT cleared"
        )
    bp = s.get("bp") or {}
    d.section(
        "Screening and clearance",
        d.fields(
            [
                ("Screened", day(s["at"])),
                (
                    "Blood pressure",
                    f"{num(bp.get('sbp'))}/{num(bp.get('dbp'))} mmHg (clearance needed above "
                    f"{s['predose_clearance_threshold']})",
                ),
                ("Contraindications present", ", ".join(present) or "none"),
                ("Checked and absent", ", ".join(absent) or "-"),
                ("Concomitant sedatives", ", ".join(data["concomitant_sedatives"]) or "none"),
                ("Flags", ", ".join(s.get("flags") or []) or "none"),
                ("Prescriber clearance", clearance),
                ("Notes", s.get("notes") or "-"),
            ]
        ),
    )


def consent(d: Doc, data: dict[str, Any]) -> None:
    c = data.get("consent")
    if not c:
        d.section("Consent and touch agreement", None)
        return
    a = c.get("agreement") or {}
    now = c.get("as_it_stands") or {}
    rows = [
        (
            "Signed",
            f"{day(c.get('signed_at'))} by the participant"
            + (f", attested by {c['attested_by']}" if c.get("attested_by") else ""),
        ),
        ("Supportive touch agreed", ", ".join(a.get("touch") or []) or "none"),
        ("Supportive touch now", ", ".join(now.get("touch") or []) or "none"),
        ("Pause / stop signals", f"pause: {a.get('pause_signal') or '-'}; stop: {a.get('stop_signal') or '-'}"),
        ("Music / eyeshades", f"music {yes(now.get('music'))}, eyeshades {yes(now.get('eyeshades'))}"),
        ("If they ask to stop", a.get("if_stop_requested") or "-"),
        ("Emergency contact", a.get("emergency_contact") or "-"),
        ("Transport plan", a.get("transport_plan") or "-"),
    ]
    transport = data.get("transport") or {}
    rows.append(
        (
            "Transport confirmed",
            f"yes, by {transport['confirmed_by']} at {hm(transport['confirmed_at'])}"
            + (f" ({transport['note']})" if transport.get("note") else "")
            if transport.get("confirmed")
            else "no",
        )
    )
    for w in c.get("withdrawals") or []:
        rows.append(("Withdrawn", f"{hm(w['at'])}: {', '.join(w['items'])} (recorded by {w['by']})"))
    checkins = data.get("consent_checkins") or []
    if checkins:
        rows.append(
            (
                "Consent check-ins",
                "; ".join(
                    f"{hm(ci['at'])} "
                    + (("ok" if ci["ok"] else "NOT ok") if ci["answered"] else "missed")
                    + (f" ({ci['note']})" if ci.get("note") and ci["answered"] else "")
                    for ci in checkins
                ),
            )
        )
    d.section("Consent and touch agreement", d.fields(rows))


def dose(d: Doc, data: dict[str, Any]) -> None:
    dose = data.get("dose")
    if not dose:
        d.section("Dose", None)
        return
    d.section(
        "Dose",
        d.fields(
            [
                ("Medication", "Ketamine"),
                ("Dose", f"{num(dose['dose_mg'])} mg"),
                ("Route", str(dose["route"])),
                ("Administered", day(dose["administered_at"])),
                ("Prescriber", dose.get("prescriber") or "-"),
                ("Earliest discharge", day(data["monitoring"].get("earliest_discharge_at"))),
            ]
        ),
    )


def _bp_cell(reading: dict[str, Any] | None, missing: str = "not recorded") -> list[str]:
    if not reading:
        return ["-", "-", missing]
    return [
        f"{num(reading.get('sbp'))}/{num(reading.get('dbp'))}",
        f"{hm(reading.get('observed_at'))} ({relative(reading.get('minutes_after_dose'))})"
        if reading.get("minutes_after_dose") is not None
        else hm(reading.get("observed_at")),
        reading.get("source", ""),
    ]


def blood_pressure(d: Doc, data: dict[str, Any]) -> None:
    bp = data["blood_pressure"]
    in_range = data["vitals_in_range"]
    rows = [
        ["Before dosing", *_bp_cell(bp.get("before_dosing"))],
        [
            f"About {bp['target_minutes']} min after the dose",
            *_bp_cell(
                bp.get("about_40_min"),
                f"no reading {bp['target_minutes'] - bp['target_window_minutes']}-"
                f"{bp['target_minutes'] + bp['target_window_minutes']} min after",
            ),
        ],
        ["Before the end of monitoring", *_bp_cell(bp.get("before_end"))],
    ]

    def verdict(item: dict[str, Any] | None) -> Markup:
        if not item:
            return Markup("not assessed")
        color = "#2f6f4f" if item["in_range"] else "#b42318"
        word = "In range" if item["in_range"] else "NOT in range"
        return Markup(f"<font color='{color}'><b>{word}</b></font>: {d.e(item['detail'])}")

    d.section(
        "Blood pressure at the required times",
        d.grid(["when", "BP (mmHg)", "time (from the dose)", "source"], rows, [32, 14, 30, 24]),
        Spacer(0, 4),
        d.fields(
            [
                ("Vitals before dosing", verdict(in_range.get("before_dosing"))),
                ("Vitals before leaving", verdict(in_range.get("before_leaving"))),
            ]
        ),
    )


def vitals_table(d: Doc, data: dict[str, Any]) -> Any:
    rows = []
    for v in data["vitals"]:
        flags = v.get("out_of_range") or {}

        def shown(name: str, flags: dict[str, str] = flags, v: dict[str, Any] = v) -> str:
            return num(v.get(name)) + (" !" if name in flags else "")

        inside = in_chart_window(data, v["observed_at"])
        observed = hm(v["observed_at"]) if inside else f"{day(v['observed_at'])} (not on the chart)"
        rows.append(
            [
                observed + (f" (late, rec. {hm(v['recorded_at'])})" if v.get("late") else ""),
                mins(v.get("minutes_after_dose")),
                f"{shown('sbp')}/{shown('dbp')}" if v.get("sbp") is not None or v.get("dbp") is not None else "-",
                shown("hr"),
                shown("spo2"),
                shown("rr"),
                v.get("by") or "",
            ]
        )
    return d.grid(
        ["observed", "from dose", "BP mmHg", "HR /min", "SpO2 %", "RR /min", "by"], rows, [22, 12, 14, 10, 10, 10, 14]
    )


def vitals_legend(d: Doc, data: dict[str, Any]) -> Any:
    if not any(v.get("out_of_range") for v in data["vitals"]):
        return None
    return d.p(d.e("! out of range: past the clinic's alarm threshold"), "small")


def scales(d: Doc, data: dict[str, Any]) -> None:
    rows = []
    for s in data["scales"]:
        extra = "; ".join(
            x for x in (", ".join(s.get("signs") or []), ", ".join(s.get("parts") or []), s.get("note") or "") if x
        )
        rows.append(
            [
                hm(s["observed_at"]) + (" (late)" if s.get("late") else ""),
                num(s.get("distress")),
                num(s.get("moaa_s")),
                signed(s.get("rass")) if s.get("rass") is not None else "-",
                num(s.get("suds")),
                extra or "",
                s.get("by") or "",
            ]
        )
    d.section(
        "Sedation, dissociation and distress",
        d.p(
            "MOAA/S: 5 responds readily to name ... 0 no response to painful stimulus. "
            "RASS: +4 combative ... 0 alert and calm ... -5 unrousable. "
            "Distress: 0 settled ... 4 emergency. SUDS: the participant's own 0-10.",
            "small",
        ),
        Spacer(0, 2),
        d.grid(
            ["observed", "distress", "MOAA/S", "RASS", "SUDS", "signs, parts, note", "by"],
            rows,
            [12, 9, 9, 8, 8, 42, 12],
        ),
    )
