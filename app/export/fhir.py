"""The chart record as a FHIR R4 Bundle (built with the R4B models of `fhir.resources`, whose
resources used here are those of R4), validated resource by resource and then as a whole.

Patient (chart id identifier), Encounter, Observations for vitals (LOINC) and for the scales
(text-coded), MedicationAdministration (ketamine), Consent, QuestionnaireResponse (the grounding
checklist), a Flag per escalation, and a Provenance that carries the hash of the session's last
event.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.flag import Flag
from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.provenance import Provenance
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from .record import ChartRecord

INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CHART_ID_SYSTEM = "urn:holdspace:chart-id"
STAFF_SYSTEM = "urn:holdspace:staff"
SCALE_SYSTEM = "urn:holdspace:scale"
ESCALATION_SYSTEM = "urn:holdspace:escalation"
EVENT_HASH_SYSTEM = "urn:holdspace:event-hash"
EXT_ACTION = "urn:holdspace:fhir:escalation-action"
EXT_OUTCOME = "urn:holdspace:fhir:escalation-outcome"
DISPOSITION_SYSTEM = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
# The record's outcome status -> (discharge-disposition code, display); leaving before dosing has
# no code that says where the participant went, so it is given in words only.
DISPOSITIONS = {
    "discharged_after_grounding": ("home", "Home"),
    "transferred": ("other-hcf", "Other healthcare facility"),
    "transferred_before_dosing": ("other-hcf", "Other healthcare facility"),
}
NAMESPACE = uuid.UUID("6b0f6f4e-3c1a-4b7e-9a52-1d3f1c0b7a11")

# name -> (LOINC code, display, UCUM unit, unit shown)
VITALS = {
    "sbp": ("8480-6", "Systolic blood pressure", "mm[Hg]", "mmHg"),
    "dbp": ("8462-4", "Diastolic blood pressure", "mm[Hg]", "mmHg"),
    "hr": ("8867-4", "Heart rate", "/min", "beats/minute"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%", "%"),
    "rr": ("9279-1", "Respiratory rate", "/min", "breaths/minute"),
}
SCALES = {
    "distress": "Distress level (facilitator-observed, 0 settled to 4 emergency)",
    "moaa_s": "Sedation, Modified Observer's Assessment of Alertness/Sedation (MOAA/S, 0-5)",
    "rass": "Agitation and dissociation, Richmond Agitation-Sedation Scale (RASS, -5 to +4)",
    "suds": "Subjective Units of Distress (SUDS, 0-10, participant-reported)",
}
ROUTES = {
    "sublingual": ("37839007", "Sublingual route"),
    "intramuscular": ("78421000", "Intramuscular route"),
    "intravenous": ("47625008", "Intravenous route"),
    "intranasal": ("46713006", "Nasal route"),
}


def _id(record: ChartRecord, *parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join([record.session_id, record.data["participant"]["id"], *map(str, parts)])))


def _ref(resource_id: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"urn:uuid:{resource_id}"}
    if display:
        ref["display"] = display
    return ref


def _staff(username: str | None) -> dict[str, Any]:
    return {"identifier": {"system": STAFF_SYSTEM, "value": username or "unknown"}, "display": username or "unknown"}


def _validated(model: Any, resource: dict[str, Any]) -> dict[str, Any]:
    """Validate one resource with its model and return its FHIR JSON."""
    validated: dict[str, Any] = json.loads(model.model_validate(resource).model_dump_json())
    return validated


def fhir_export(record: ChartRecord) -> dict[str, Any]:
    data = record.data
    participant = data["participant"]
    patient_id = _id(record, "patient")
    encounter_id = _id(record, "encounter")
    subject = _ref(patient_id, participant["display_name"])
    encounter_ref = _ref(encounter_id)
    entries: list[tuple[str, Any, dict[str, Any]]] = []

    entries.append(
        (
            patient_id,
            Patient,
            {
                "resourceType": "Patient",
                "id": patient_id,
                "identifier": [{"use": "usual", "system": CHART_ID_SYSTEM, "value": participant["chart_id"]}],
                "name": [{"text": participant["display_name"]}],
            },
        )
    )
    entries.append((encounter_id, Encounter, _encounter(data, encounter_id, subject)))

    screening = data.get("screening") or {}
    if screening.get("bp"):
        for name in ("sbp", "dbp"):
            value = screening["bp"].get(name)
            if value is not None:
                oid = _id(record, "screening", name)
                entries.append(
                    (oid, Observation, _vital(oid, name, value, screening["at"], subject, encounter_ref, "screening"))
                )
    for reading in data["vitals"]:
        for name in VITALS:
            if reading.get(name) is not None:
                oid = _id(record, "vitals", reading["seq"], name)
                note = "recorded late, at " + reading["recorded_at"] if reading.get("late") else None
                obs = _vital(oid, name, reading[name], reading["observed_at"], subject, encounter_ref, note)
                flag = (reading.get("out_of_range") or {}).get(name)
                if flag:
                    # Past the clinic's alarm threshold: abnormal (A), or critically abnormal (AA) for a high alarm.
                    code = "AA" if flag == "high" else "A"
                    obs["interpretation"] = [
                        {"coding": [{"system": INTERPRETATION, "code": code}], "text": f"out of range ({flag} alarm)"}
                    ]
                entries.append((oid, Observation, obs))
    for reading in data["scales"]:
        for name, text in SCALES.items():
            if reading.get(name) is not None:
                oid = _id(record, "scale", reading["seq"], name)
                entries.append(
                    (
                        oid,
                        Observation,
                        {
                            "resourceType": "Observation",
                            "id": oid,
                            "status": "final",
                            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "survey"}]}],
                            "code": {"coding": [{"system": SCALE_SYSTEM, "code": name}], "text": text},
                            "subject": subject,
                            "encounter": encounter_ref,
                            "effectiveDateTime": reading["observed_at"],
                            "valueInteger": int(reading[name]),
                            "performer": [_staff(reading.get("by"))],
                        },
                    )
                )

    dose = data.get("dose")
    if dose:
        mid = _id(record, "dose")
        route_code, route_display = ROUTES.get(str(dose["route"]), ("", str(dose["route"])))
        route: dict[str, Any] = {"text": dose["route"]}
        if route_code:
            route["coding"] = [{"system": SNOMED, "code": route_code, "display": route_display}]
        entries.append(
            (
                mid,
                MedicationAdministration,
                {
                    "resourceType": "MedicationAdministration",
                    "id": mid,
                    "status": "completed",
                    "medicationCodeableConcept": {
                        "coding": [{"system": RXNORM, "code": "6130", "display": "ketamine"}],
                        "text": "ketamine",
                    },
                    "subject": subject,
                    "context": encounter_ref,
                    "effectiveDateTime": dose["administered_at"],
                    "performer": [{"actor": _staff(dose.get("prescriber"))}],
                    "dosage": {
                        "text": f"{dose['dose_mg']} mg {dose['route']}",
                        "route": route,
                        "dose": {"value": dose["dose_mg"], "unit": "mg", "system": UCUM, "code": "mg"},
                    },
                },
            )
        )

    consent = data.get("consent")
    if consent:
        cid = _id(record, "consent")
        entries.append((cid, Consent, _consent(consent, cid, patient_id, participant["display_name"])))

    checklist = data.get("checklist")
    if checklist:
        qid = _id(record, "checklist")
        entries.append((qid, QuestionnaireResponse, _checklist(checklist, qid, subject, encounter_ref)))

    for escalation in data["adverse_events"]:
        fid = _id(record, "flag", escalation["id"])
        entries.append((fid, Flag, _flag(escalation, fid, subject, encounter_ref)))

    pid = _id(record, "provenance", data["last_event_seq"])
    targets = [_ref(rid) for rid, _model, _res in entries]
    entries.append((pid, Provenance, _provenance(data, pid, targets)))

    bundle = {
        "resourceType": "Bundle",
        "id": _id(record, "bundle", data["last_event_seq"]),
        "identifier": {"system": EVENT_HASH_SYSTEM, "value": data["last_event_hash"]},
        "type": "collection",
        "timestamp": data["generated_at"],
        "entry": [
            {"fullUrl": f"urn:uuid:{rid}", "resource": _validated(model, resource)} for rid, model, resource in entries
        ],
    }
    validated: dict[str, Any] = json.loads(Bundle.model_validate(bundle).model_dump_json())
    return validated


def _encounter(data: dict[str, Any], encounter_id: str, subject: dict[str, Any]) -> dict[str, Any]:
    session, monitoring, outcome = data["session"], data["monitoring"], data.get("outcome")
    period: dict[str, Any] = {"start": data["participant"]["arrived_at"]}
    if monitoring.get("end"):
        period["end"] = monitoring["end"]
    left = bool(outcome and outcome.get("kind"))
    status = "finished" if left else ("in-progress" if monitoring.get("start") else "arrived")
    participants = [
        {
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "PPRF",
                            "display": "primary performer",
                        }
                    ],
                    "text": "lead facilitator",
                }
            ],
            "individual": _staff(session["lead"]),
        }
    ]
    participants += [
        {"type": [{"text": "facilitator"}], "individual": _staff(name)}
        for name in session["facilitators"]
        if name != session["lead"]
    ]
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": encounter_id,
        "identifier": [{"system": "urn:holdspace:session", "value": session["id"]}],
        "status": status,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
        "type": [{"text": f"Ketamine-assisted psychotherapy, {session['kind'].replace('_', ' ')} session"}],
        "subject": subject,
        "period": period,
        "participant": participants,
        "location": [{"location": {"display": session["room"]}}],
    }
    if outcome and left:
        text = str(outcome["text"])
        disposition: dict[str, Any] = {"text": text[:1].upper() + text[1:]}
        code = DISPOSITIONS.get(str(outcome.get("status")))
        if code:
            disposition["coding"] = [{"system": DISPOSITION_SYSTEM, "code": code[0], "display": code[1]}]
        encounter["hospitalization"] = {"dischargeDisposition": disposition}
    return encounter


def _vital(
    oid: str, name: str, value: Any, at: str, subject: dict[str, Any], encounter: dict[str, Any], note: str | None
) -> dict[str, Any]:
    code, display, unit, shown = VITALS[name]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": at,
        "valueQuantity": {"value": value, "unit": shown, "system": UCUM, "code": unit},
    }
    if note:
        obs["note"] = [{"text": note}]
    return obs


def _consent(consent: dict[str, Any], cid: str, patient_id: str, name: str) -> dict[str, Any]:
    agreement = consent.get("agreement") or {}
    standing = consent.get("as_it_stands") or {}
    provisions = [
        {"type": "permit", "action": [{"text": f"supportive touch: {area}"}]} for area in standing.get("touch") or []
    ]
    for item in ("music", "eyeshades"):
        provisions.append({"type": "permit" if standing.get(item) else "deny", "action": [{"text": item}]})
    for item in consent.get("withdrawn") or []:
        provisions.append({"type": "deny", "action": [{"text": f"withdrawn: {item}"}]})
    policy = (
        f"Pause signal: {agreement.get('pause_signal')}. Stop signal: {agreement.get('stop_signal')}. "
        f"If a stop is asked for: {agreement.get('if_stop_requested') or 'not stated'}. "
        f"Emergency contact: {agreement.get('emergency_contact')}. Transport: {agreement.get('transport_plan')}."
    )
    resource: dict[str, Any] = {
        "resourceType": "Consent",
        "id": cid,
        "status": "active" if agreement else "inactive",
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "treatment"}],
            "text": "Pre-session agreement",
        },
        "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": _ref(patient_id, name),
        "performer": [_ref(patient_id, name)],
        "policyRule": {"text": policy},
        "provision": {"type": "permit", "provision": provisions} if provisions else {"type": "permit"},
    }
    if consent.get("signed_at"):
        resource["dateTime"] = consent["signed_at"]
    if consent.get("attested_by"):
        resource["verification"] = [
            {"verified": True, "verifiedWith": _staff(consent["attested_by"]), "verificationDate": consent["signed_at"]}
        ]
    return resource


def _checklist(
    checklist: dict[str, Any], qid: str, subject: dict[str, Any], encounter: dict[str, Any]
) -> dict[str, Any]:
    items = []
    for item in checklist["items"]:
        answer: dict[str, Any] = {"valueBoolean": bool(item.get("done"))}
        nested = []
        if item.get("by"):
            nested.append({"linkId": f"{item['key']}.by", "text": "Ticked by", "answer": [{"valueString": item["by"]}]})
        if item.get("at"):
            nested.append({"linkId": f"{item['key']}.at", "text": "At", "answer": [{"valueDateTime": item["at"]}]})
        if item.get("detail"):
            nested.append(
                {"linkId": f"{item['key']}.detail", "text": "Detail", "answer": [{"valueString": item["detail"]}]}
            )
        if nested:
            answer["item"] = nested
        items.append({"linkId": item["key"], "text": item["label"], "answer": [answer]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": qid,
        "status": "completed" if checklist.get("complete") else "in-progress",
        "subject": subject,
        "encounter": encounter,
        "authored": checklist["evaluated_at"],
        "item": items,
    }


def _flag(escalation: dict[str, Any], fid: str, subject: dict[str, Any], encounter: dict[str, Any]) -> dict[str, Any]:
    period: dict[str, Any] = {"start": escalation["raised_at"]}
    if escalation.get("resolved_at"):
        period["end"] = escalation["resolved_at"]
    flag: dict[str, Any] = {
        "resourceType": "Flag",
        "id": fid,
        "identifier": [{"system": ESCALATION_SYSTEM, "value": escalation["id"]}],
        "status": "active" if escalation["status"] == "open" else "inactive",
        "category": [{"text": f"{escalation['priority']} priority escalation (step {escalation['step']})"}],
        "code": {
            "coding": [{"system": ESCALATION_SYSTEM, "code": escalation["condition"]}],
            "text": escalation["reason"],
        },
        "subject": subject,
        "encounter": encounter,
        "period": period,
    }
    extensions = []
    if escalation.get("action"):
        extensions.append({"url": EXT_ACTION, "valueString": escalation["action"]})
    if escalation.get("outcome"):
        extensions.append({"url": EXT_OUTCOME, "valueString": escalation["outcome"]})
    if extensions:
        flag["extension"] = extensions
    return flag


def _provenance(data: dict[str, Any], pid: str, targets: list[dict[str, Any]]) -> dict[str, Any]:
    chain = data["chain"]
    words = "intact" if chain["intact"] else f"BROKEN at event {chain['broken_at_seq']}: {chain['problem']}"
    recorded = data["generated_at"]
    datetime.fromisoformat(recorded)  # an instant with an offset, as FHIR requires
    return {
        "resourceType": "Provenance",
        "id": pid,
        "target": targets,
        "recorded": recorded,
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "assembler",
                        }
                    ]
                },
                "who": {
                    "display": "Holdspace event log",
                    "identifier": {"system": "urn:holdspace:app", "value": "holdspace"},
                },
            }
        ]
        + (
            [{"type": {"text": "exported by"}, "who": _staff(data["generated_by"])}] if data.get("generated_by") else []
        ),
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": EVENT_HASH_SYSTEM, "value": data["last_event_hash"]},
                    "display": (
                        f"Session {data['session']['id']} event log up to event {data['last_event_seq']} "
                        f"(SHA-256 hash chain {words})"
                    ),
                },
            }
        ],
    }
