"""The chart record as JSON and as CSV (the timeline)."""

from __future__ import annotations

import copy
import csv
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

from app import localtime

from .record import ChartRecord

CSV_COLUMNS = (
    "seq",
    "at",
    "kind",
    "actor",
    "device",
    "summary",
    "observed_at",
    "late",
    "amends_seq",
    "amended_by_seq",
    # The same moments in the clinic's time zone (named in the header), as people read them.
    "at_local",
    "observed_at_local",
)


def _zone(data: dict[str, Any]) -> ZoneInfo:
    return localtime.zone_named(data.get("time_zone") or localtime.DEFAULT_ZONE)


def _local_iso(value: Any, zone: ZoneInfo) -> str:
    """A stored UTC instant as local ISO text with its offset ("2026-03-01T10:00:00+01:00")."""
    moment = localtime.local(value, zone)
    return "" if moment is None else moment.isoformat()


def json_export(record: ChartRecord) -> dict[str, Any]:
    """The whole record, JSON-ready (a deep copy: the caller may change it freely). Its times are
    UTC instants; `time_zone` names the clinic's zone, and each timeline entry also carries
    `at_local` (and `observed_at_local`) in that zone."""
    data = copy.deepcopy(dict(record.data))
    zone = _zone(data)
    data["time_zone"] = zone.key
    for row in data.get("timeline") or []:
        row["at_local"] = _local_iso(row.get("at"), zone)
        if row.get("observed_at"):
            row["observed_at_local"] = _local_iso(row["observed_at"], zone)
    json.dumps(data)  # fails loudly here, not half-way through a response
    return data


def csv_export(record: ChartRecord) -> str:
    """The timeline, one row per event, under `#` comment lines that identify the record and carry
    the hash of the session's last event (skip lines starting with `#` to read the table)."""
    data = record.data
    participant, session, chain = data["participant"], data["session"], data["chain"]
    out = io.StringIO()
    comments = [
        f"# {data['format']}",
        f"# chart_id={participant['chart_id']}",
        f"# session_id={session['id']}",
        f"# generated_at={data['generated_at']}",
        f"# time_zone={_zone(data).key} (at, observed_at: UTC; *_local: this zone)",
        f"# last_event_seq={data['last_event_seq']}",
        f"# last_event_hash={data['last_event_hash']}",
        f"# chain_intact={'true' if chain['intact'] else 'false'}"
        + (f" broken_at_seq={chain['broken_at_seq']}" if not chain["intact"] else ""),
    ]
    outcome = data.get("outcome")
    if outcome:
        comments.append(f"# outcome={outcome['status']}: {outcome['text']}")
    for line in comments:
        out.write(line.replace("\r", " ").replace("\n", " ") + "\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    zone = _zone(data)
    for row in data["timeline"]:
        writer.writerow(
            [
                row["seq"],
                row["at"],
                row["kind"],
                row["actor"],
                row.get("device") or "",
                _safe_cell(row["summary"]),
                row.get("observed_at") or "",
                "yes" if row.get("late") else "",
                "" if row.get("amends_seq") is None else row["amends_seq"],
                ";".join(str(s) for s in row.get("amended_by_seq") or []),
                _local_iso(row["at"], zone),
                _local_iso(row.get("observed_at"), zone),
            ]
        )
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """Free text that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
