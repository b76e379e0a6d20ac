"""The chart record of one participant in one session, and its exports: JSON, CSV (the
timeline), a FHIR R4 Bundle and a printable PDF note."""

from .fhir import fhir_export
from .formats import csv_export, json_export
from .pdf import pdf_export
from .record import (
    DISCLAIMER,
    ChartRecord,
    RecordNotFound,
    Snapshot,
    build_record,
    load_snapshot,
    record_for,
)

__all__ = [
    "DISCLAIMER",
    "ChartRecord",
    "RecordNotFound",
    "Snapshot",
    "build_record",
    "csv_export",
    "fhir_export",
    "json_export",
    "load_snapshot",
    "pdf_export",
    "record_for",
]
