"""Every rule has one home in the domain and the edges derive from it: these tests fail when an
edge (the API's request models, the chart record, the overview) drifts from the domain."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from app.domain import InvalidInput, Policy
from app.domain import commands as c
from app.domain import vocabulary as v
from app.domain.checklist import vitals_out_of_range
from app.domain.decide import Context, decide
from app.domain.escalation import vitals_alarm
from app.domain.model import Actor, Escalation
from app.domain.policy import Vitals, VitalsHigh, VitalsMedium
from app.export.record import Snapshot, build_record
from app.web.api import bodies as api
from app.web.views import escalation_view, sort_alarms
from tests.integration.helpers import add_participant, open_session
from tests.unit.conftest import DOC, FAY, T0, SessionBuilder, dose_cmd, staff


def _accepts(model: type[BaseModel], **fields: Any) -> bool:
    try:
        model(**fields)
    except ValidationError:
        return False
    return True


def _domain_accepts(b: SessionBuilder, command: c.Command, actor: Actor = FAY) -> bool:
    try:
        decide(b.state, command, Context(actor=actor, now=b.now, policy=b.policy))
    except InvalidInput:
        return False
    return True


def _dosed() -> SessionBuilder:
    return SessionBuilder().opened().checked_in("fay").with_participant("p1").ready("p1", staff("fay")).dosed("p1")


DOSED = _dosed()


def _edges(bounds: tuple[int, int]) -> list[int]:
    low, high = bounds
    return [low - 1, low, high, high + 1]


@pytest.mark.parametrize("name", list(v.VITAL_RANGES))
def test_the_api_accepts_exactly_the_vitals_the_domain_accepts(name: str) -> None:
    for value in _edges(v.VITAL_RANGES[name]):
        api_ok = _accepts(api.VitalsBody, **{name: value})
        assert api_ok == _domain_accepts(DOSED, c.RecordVitals("p1", {name: value})), (name, value)


@pytest.mark.parametrize("name", ["sbp", "dbp"])
def test_the_screening_blood_pressure_has_the_range_of_a_vitals_reading(name: str) -> None:
    b = SessionBuilder().opened().checked_in("fay").with_participant("p1")
    for value in _edges(v.VITAL_RANGES[name]):
        bp = {"sbp": 120, "dbp": 80, name: value}
        api_ok = _accepts(api.ScreeningBody, bp=bp)
        assert api_ok == _domain_accepts(b, c.RecordScreening("p1", {}, bp["sbp"], bp["dbp"])), (name, value)


@pytest.mark.parametrize("name", list(v.SCALE_RANGES))
def test_the_api_accepts_exactly_the_scales_the_domain_accepts(name: str) -> None:
    for value in _edges(v.SCALE_RANGES[name]):
        api_ok = _accepts(api.ObservationBody, **{name: value})
        assert api_ok == _domain_accepts(DOSED, c.RecordObservation("p1", **{name: value})), (name, value)


def test_dose_amounts_and_infusion_times_are_bounded_the_same_at_the_api_and_in_the_domain() -> None:
    b = SessionBuilder().opened().checked_in("fay").with_participant("p1").ready("p1", staff("fay"))
    for mg in (0, 0.5, v.DOSE_MG_MAX, v.DOSE_MG_MAX + 0.5):
        assert _accepts(api.DoseBody, route="sublingual", dose_mg=mg) == _domain_accepts(b, dose_cmd(dose_mg=mg), DOC)
    for minutes in _edges(v.INFUSION_MINUTES):
        body = {"route": "intravenous", "dose_mg": 35, "infusion_minutes": minutes}
        command = dose_cmd(route="intravenous", dose_mg=35, infusion_minutes=minutes)
        assert _accepts(api.DoseBody, **body) == _domain_accepts(b, command, DOC), minutes


VOCABULARIES: list[tuple[type[BaseModel], str, tuple[str, ...], dict[str, Any]]] = [
    (api.SessionBody, "kind", v.SESSION_KINDS, {"room_id": "r", "lead": "lee"}),
    (api.SupportBody, "kind", v.SUPPORT_KINDS, {"id": "fay"}),
    (api.DoseBody, "route", v.ROUTES, {"dose_mg": 10}),
    (api.PhaseBody, "to", v.FORWARD_PHASES, {}),
    (api.PauseStopBody, "requested_by", v.REQUESTERS, {}),
    (api.PauseStopBody, "participant_response", v.PARTICIPANT_RESPONSES, {"requested_by": "staff"}),
    (api.SessionNoteBody, "kind", v.NOTE_KINDS, {"text": "t"}),
]
LISTS: list[tuple[type[BaseModel], str, tuple[str, ...], dict[str, Any]]] = [
    (api.ConsentBody, "touch", v.TOUCH_AREAS, {}),
    (api.WithdrawBody, "items", v.WITHDRAWABLE, {}),
    (api.ObservationBody, "parts", v.PROTECTIVE_PARTS, {}),
    (api.SessionNoteBody, "parts", v.PROTECTIVE_PARTS, {"kind": "integration", "text": "t"}),
]


@pytest.mark.parametrize(
    "model, field, words, rest", VOCABULARIES, ids=[f"{m.__name__}.{f}" for m, f, *_ in VOCABULARIES]
)
def test_the_api_offers_exactly_the_domains_words(
    model: type[BaseModel], field: str, words: tuple[str, ...], rest: dict[str, Any]
) -> None:
    assert all(_accepts(model, **rest, **{field: word}) for word in words)
    assert not _accepts(model, **rest, **{field: "something_else"})
    schema = model.model_json_schema()["properties"][field]
    offered = schema.get("enum") or next(o["enum"] for o in schema["anyOf"] if "enum" in o)
    assert tuple(offered) == words


@pytest.mark.parametrize("model, field, words, rest", LISTS, ids=[f"{m.__name__}.{f}" for m, f, *_ in LISTS])
def test_the_api_lists_take_exactly_the_domains_words(
    model: type[BaseModel], field: str, words: tuple[str, ...], rest: dict[str, Any]
) -> None:
    assert _accepts(model, **rest, **{field: list(words)})
    assert not _accepts(model, **rest, **{field: ["something_else"]})
    assert tuple(model.model_json_schema()["properties"][field]["items"]["enum"]) == words


TEXTS = [
    (api.ParticipantBody, "display_name", {"chart_id": "c"}),
    (api.ParticipantBody, "chart_id", {"display_name": "n"}),
    (api.NoteBody, "note", {}),
    (api.TransferBody, "reason", {"destination": "d"}),
    (api.TransferBody, "destination", {"reason": "r"}),
    (api.ResolveBody, "action", {"outcome": "o"}),
    (api.ResolveBody, "outcome", {"action": "a"}),
    (api.ContactNoteBody, "contact_note", {}),
    (api.SessionNoteBody, "text", {"kind": "integration"}),
    (api.AmendBody, "correction", {"event_seq": 1, "reason": "r"}),
    (api.AmendBody, "reason", {"event_seq": 1, "correction": "c"}),
    (api.HandoverBody, "reason", {"replacement": {"kind": "staff", "id": "lee"}}),
]
LIMIT_OF = {"note": "clearance_note", "text": "note_text"}


@pytest.mark.parametrize("model, field, rest", TEXTS, ids=[f"{m.__name__}.{f}" for m, f, _ in TEXTS])
def test_a_text_the_api_accepts_is_never_too_long_for_the_domain(
    model: type[BaseModel], field: str, rest: dict[str, Any]
) -> None:
    limit = v.TEXT_LIMITS[LIMIT_OF.get(field, field)]
    assert _accepts(model, **rest, **{field: "x" * limit})
    assert not _accepts(model, **rest, **{field: "x" * (limit + 1)})


# ---------------------------------------------------------------- thresholds, BP check, alarms

readings = st.fixed_dictionaries(
    {},
    optional={name: st.integers(low, high) for name, (low, high) in v.VITAL_RANGES.items()},
)


def _policy(medium_sbp: int, extra: int, spo2: int, hr_below: int, hr_span: int) -> Policy:
    medium = VitalsMedium(sbp_above=medium_sbp, dbp_above=medium_sbp - 60)
    high = VitalsHigh(
        sbp_above=medium_sbp + extra,
        dbp_above=medium_sbp - 60 + extra,
        spo2_below=spo2,
        hr_above=hr_below + hr_span,
        hr_below=hr_below,
    )
    return Policy(vitals=Vitals(medium=medium, high=high))


policies = st.builds(
    _policy, st.integers(150, 220), st.integers(0, 40), st.integers(80, 99), st.integers(30, 70), st.integers(20, 120)
)


@settings(max_examples=200, deadline=None)
@given(values=readings, policy=policies)
def test_the_discharge_checklist_and_the_alarms_read_the_same_vitals_thresholds(
    values: dict[str, int], policy: Policy
) -> None:
    vitals = {k: float(x) for k, x in values.items()}
    assert bool(vitals_out_of_range(vitals, policy)) == (vitals_alarm(vitals, policy) is not None)


def test_the_chart_record_takes_the_bp_check_from_the_policy() -> None:
    policy = Policy(bp_check_after_dose_minutes=30)
    b = SessionBuilder(policy=policy).opened().checked_in("fay").with_participant("p1").ready("p1", staff("fay"))
    b.dosed("p1")
    dosed_at = b.p().dosed_at
    for minutes in (10, 30, 60):
        b.now = dosed_at + timedelta(minutes=minutes)
        b.run(c.RecordVitals("p1", {"sbp": 100 + minutes, "dbp": 80}))
    snapshot = Snapshot("s1", tuple(b.log), b.state, b.state.seq, "0" * 64, None)
    bp = build_record(snapshot, "p1", policy, exported_at=b.now)["blood_pressure"]
    assert bp["target_minutes"] == 30
    assert bp["about_40_min"]["sbp"] == 130  # the reading at the clinic's check, not the one nearest 40


def _escalation(priority: str, minutes: int, **changes: Any) -> Escalation:
    return Escalation(
        id=f"s1-e{priority}{minutes}",
        participant_id="p1",
        condition="distress",
        priority=priority,
        step=1,
        reason="r",
        raised_at=T0 + timedelta(minutes=minutes),
        **changes,
    )


@pytest.mark.parametrize(
    "escalation, sounds",
    [
        (_escalation("high", 0), True),
        (_escalation("medium", 0), True),
        (_escalation("low", 0), False),
        (_escalation("high", 0, acknowledged_at=T0), False),
        (_escalation("high", 0, muted_until=T0 + timedelta(minutes=11)), False),
        (_escalation("high", 0, muted_until=T0 + timedelta(minutes=9)), True),
        (_escalation("high", 0, resolved_at=T0), False),
    ],
)
def test_whether_an_alarm_sounds_is_the_domains_rule_and_the_view_shows_it(
    escalation: Escalation, sounds: bool
) -> None:
    now = T0 + timedelta(minutes=10)
    assert escalation.sounding(now) is sounds
    assert escalation_view(DOSED.state, escalation, now)["sounding"] is sounds


def test_the_api_and_the_overview_list_alarms_in_the_domains_order() -> None:
    found = [
        _escalation("low", 1),
        _escalation("high", 5),
        _escalation("medium", 2),
        _escalation("high", 3, resolved_at=T0),
        _escalation("high", 4),
        _escalation("medium", 0),
    ]
    expected = [e.id for e in sorted(found, key=lambda e: e.order)]
    assert expected[:3] == ["s1-ehigh4", "s1-ehigh5", "s1-emedium0"] and expected[-1] == "s1-ehigh3"
    views = [escalation_view(DOSED.state, e, T0) for e in found]
    assert [view["id"] for view in sort_alarms(views)] == expected


def _flagged() -> SessionBuilder:
    return SessionBuilder().opened().checked_in("fay").with_participant("p1").screened("p1", sbp=150)


DOMAIN_TEXTS: list[tuple[str, Callable[[str], c.Command], Callable[[], SessionBuilder], Actor]] = [
    ("display_name", lambda t: c.AddParticipant("p9", t, "c9"), lambda: DOSED, FAY),
    ("chart_id", lambda t: c.AddParticipant("p9", "n", t), lambda: DOSED, FAY),
    ("clearance_note", lambda t: c.ClearScreening("p1", t), _flagged, DOC),
    ("reason", lambda t: c.Transfer("p1", t, "ED"), lambda: DOSED, FAY),
    ("destination", lambda t: c.Transfer("p1", "r", t), lambda: DOSED, FAY),
    ("note_text", lambda t: c.RecordNote("p1", "integration", t), lambda: DOSED, FAY),
    ("correction", lambda t: c.Amend("p1", 2, t, "r", target_participant_id="p1"), lambda: DOSED, FAY),
]


@pytest.mark.parametrize("name, command, builder, actor", DOMAIN_TEXTS, ids=[t[0] for t in DOMAIN_TEXTS])
def test_the_domain_takes_a_text_exactly_as_long_as_its_limit(
    name: str, command: Callable[[str], c.Command], builder: Callable[[], SessionBuilder], actor: Actor
) -> None:
    b, limit = builder(), v.TEXT_LIMITS[name]
    assert _domain_accepts(b, command("x" * limit), actor)
    assert not _domain_accepts(b, command("x" * (limit + 1)), actor)


def test_the_room_page_offers_the_domains_scales_and_distress_words(client_for: Callable[[str], Any]) -> None:
    farah = client_for("farah")
    sid = open_session(farah)
    add_participant(farah, sid, "Ada")
    page = farah.get("/rooms/cedar-room").text
    for level, word in enumerate(v.DISTRESS_WORDS):
        assert re.search(rf"\"distress\": {level}}}'[^>]*><b>{level}</b> <small>{word}</small>", page), word
    # The screening asks the domain's contraindications, each under its words, and no others.
    asked = re.findall(r'name="contraindications\.([a-z_]+):bool" value="true" ?> ([^<]+)</label>', page)
    assert dict(asked) == dict(v.CONTRAINDICATIONS)
    assert len(v.DISTRESS_WORDS) == v.SCALE_RANGES["distress"][1] - v.SCALE_RANGES["distress"][0] + 1
    for name in ("moaa_s", "rass", "suds"):
        select = re.search(rf'name="{name}:int">(.*?)</select>', page, re.S)
        assert select is not None, name
        options = re.findall(r'<option(?: value="([^"]*)")?>([^<]*)</option>', select.group(1))
        offered = [int(value or text) for value, text in options if (value or text) != "—"]
        low, high = v.SCALE_RANGES[name]
        assert sorted(set(offered)) == list(range(low, high + 1)), name
