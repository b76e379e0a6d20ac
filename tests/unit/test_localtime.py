"""Showing stored UTC times in the clinic's zone, and naming the zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app import localtime


def test_the_default_zone_is_utc() -> None:
    assert localtime.clinic_zone().key == "UTC"
    assert localtime.zone_label() == "UTC"


def test_a_stored_instant_is_shown_in_the_configured_zone_with_summer_time() -> None:
    localtime.configure("Europe/Berlin")
    winter = localtime.local("2026-01-15T12:00:00+00:00")
    summer = localtime.local(datetime(2026, 7, 15, 12, 0, tzinfo=UTC))
    assert winter is not None and winter.strftime("%H:%M %z") == "13:00 +0100"
    assert summer is not None and summer.strftime("%H:%M %z") == "14:00 +0200"
    assert localtime.zone_label(at=datetime(2026, 7, 15, tzinfo=UTC)) == "Europe/Berlin (CEST, UTC+02:00)"
    assert localtime.zone_label(at=datetime(2026, 1, 15, tzinfo=UTC)) == "Europe/Berlin (CET, UTC+01:00)"


def test_a_naive_time_is_read_as_utc_and_text_that_is_no_time_is_none() -> None:
    localtime.configure("America/New_York")
    shown = localtime.local("2026-01-15T12:00:00")
    assert shown is not None and shown.hour == 7
    assert localtime.local("not a time") is None and localtime.local(None) is None and localtime.local("") is None


def test_moments_at_the_edge_of_the_calendar_do_not_fail() -> None:
    localtime.configure("Pacific/Kiritimati")  # UTC+14
    assert localtime.local(datetime(9999, 12, 31, 23, 0, tzinfo=UTC)) is not None
    localtime.configure("Pacific/Pago_Pago")  # UTC-11
    assert localtime.local(datetime(1, 1, 1, 0, 0, tzinfo=UTC)) is not None


@pytest.mark.parametrize("name", ["", "  ", "Mars/Base", "../../etc/passwd", "Europe/"])
def test_an_unknown_zone_is_refused_with_its_name(name: str) -> None:
    with pytest.raises(localtime.UnknownTimeZone, match="HOLDSPACE_TIMEZONE"):
        localtime.zone_named(name)
