"""The chart record as JSON and as CSV (the timeline)."""

from __future__ import annotations

import copy
import csv
import io
import json
from typing import Any

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
)


def json_export(record: ChartRecord) -> dict[str, Any]:
    """The whole record, JSON-ready (a deep copy: the caller may change it freely)."""
    data = copy.deepcopy(dict(record.data))
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
            ]
        )
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """Free text that a spreadsheet would run as a formula is prefixed with an apostrophe."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
