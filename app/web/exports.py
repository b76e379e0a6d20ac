"""The chart record routes: one participant's record as PDF, CSV, JSON or FHIR, and (for a lead)
the whole session as one zip archive.

Visibility is as everywhere: a session in a room the caller does not work in answers 404. File
names carry the chart id and the session id, never the participant's name.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app import localtime
from app.export import (
    ChartRecord,
    RecordNotFound,
    Snapshot,
    csv_export,
    fhir_export,
    json_export,
    load_snapshot,
    pdf_export,
    record_for,
)
from app.services import Services
from app.store.tables import User
from app.web.deps import CurrentUser, ServicesDep, check_csrf, record_chart_access, visible_session
from app.web.errors import ApiError, not_found

router = APIRouter(prefix="/api/v1", dependencies=[Depends(check_csrf)], tags=["chart record"])

P = "/sessions/{session_id}/participants/{participant_id}"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2).encode("utf-8")


# suffix -> (media type, render)
FORMATS: dict[str, tuple[str, Callable[[ChartRecord], bytes]]] = {
    "pdf": ("application/pdf", pdf_export),
    "csv": ("text/csv; charset=utf-8", lambda r: csv_export(r).encode("utf-8")),
    "json": ("application/json", lambda r: _json_bytes(json_export(r))),
    "fhir.json": ("application/fhir+json", lambda r: _json_bytes(fhir_export(r))),
}


def safe_name(text: str) -> str:
    """A file-name part from a chart id: letters, digits, dot, dash and underscore only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "chart"
    return cleaned[:64]


def file_name(record: ChartRecord, suffix: str) -> str:
    return f"chart-record_{safe_name(record.chart_id)}_{record.session_id}.{suffix}"


def _snapshot(services: Services, user: User, session_id: str) -> Snapshot:
    visible_session(services, user, session_id)
    try:
        return load_snapshot(services.engine, session_id)
    except RecordNotFound:
        raise not_found("That session") from None


def _record(services: Services, user: User, snapshot: Snapshot, participant_id: str) -> ChartRecord:
    try:
        return record_for(snapshot, participant_id, services.policy, exported_by=user.username, clock=services.clock)
    except RecordNotFound:
        raise ApiError(404, "not_found", "There is no such participant in this session.") from None


def _export(
    request: Request, services: Services, user: User, session_id: str, participant_id: str, suffix: str
) -> Response:
    snapshot = _snapshot(services, user, session_id)
    record = _record(services, user, snapshot, participant_id)
    media_type, render = FORMATS[suffix]
    record_chart_access(request, services, user, "chart_export", session_id, [participant_id], suffix)
    return Response(
        render(record),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(record, suffix)}"',
            "Cache-Control": "no-store",
            "X-Holdspace-Last-Event-Hash": record.last_event_hash,
        },
    )


@router.get(P + "/export.pdf", response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def export_pdf(
    session_id: str, participant_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> Response:
    """The chart record as a printable note with a vitals chart."""
    return _export(request, services, user, session_id, participant_id, "pdf")


@router.get(P + "/export.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_csv(
    session_id: str, participant_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> Response:
    """The participant's timeline, one row per event, under `#` lines carrying the last event hash."""
    return _export(request, services, user, session_id, participant_id, "csv")


@router.get(P + "/export.json", response_class=Response, responses={200: {"content": {"application/json": {}}}})
def export_json(
    session_id: str, participant_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> Response:
    """The whole chart record as JSON."""
    return _export(request, services, user, session_id, participant_id, "json")


@router.get(
    P + "/export.fhir.json", response_class=Response, responses={200: {"content": {"application/fhir+json": {}}}}
)
def export_fhir(
    session_id: str, participant_id: str, request: Request, user: CurrentUser, services: ServicesDep
) -> Response:
    """The chart record as a FHIR R4 Bundle (collection)."""
    return _export(request, services, user, session_id, participant_id, "fhir.json")


@router.get(
    "/sessions/{session_id}/export.zip", response_class=Response, responses={200: {"content": {"application/zip": {}}}}
)
def export_session(session_id: str, request: Request, user: CurrentUser, services: ServicesDep) -> Response:
    """Every participant's chart record in the four formats, in one archive (leads only)."""
    snapshot = _snapshot(services, user, session_id)
    if user.role != "lead":
        raise ApiError(403, "forbidden", "Only a lead can export a whole session; export one participant at a time.")
    record_chart_access(request, services, user, "chart_export", session_id, list(snapshot.state.participants), "zip")
    records = [_record(services, user, snapshot, pid) for pid in snapshot.state.participants]
    content = archive(records, services.clock())
    name = f"session-record_{session_id}.zip"
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Holdspace-Last-Event-Hash": snapshot.last_event_hash,
        },
    )


def archive(records: list[ChartRecord], stamp: datetime) -> bytes:
    """Every record in every format, one folder per participant named by chart id. Two chart ids
    that make the same folder name get the participant id added, so no file hides another."""
    buffer = io.BytesIO()
    when = _zip_time(stamp)
    used: set[str] = set()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for record in records:
            folder = safe_name(record.chart_id)
            if folder in used:
                folder = f"{folder}_{safe_name(str(record.data['participant']['id']))}"
            used.add(folder)
            for suffix, (_media, render) in FORMATS.items():
                info = zipfile.ZipInfo(f"{folder}/{file_name(record, suffix)}", date_time=when)
                info.compress_type = zipfile.ZIP_DEFLATED
                zipped.writestr(info, render(record))
    return buffer.getvalue()


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    local = localtime.local(moment) or moment
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)
