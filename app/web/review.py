"""Accountability and repair: seen alarms, the session review, replay, follow-ups opened after the
session, and the clinic's response report (JSON, CSV, PDF and pages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app import localtime
from app.domain import commands as c
from app.domain.escalation import reaches_beyond_the_room
from app.domain.followups import climbs_at, followup_state, owner_words
from app.domain.model import CLINIC_ADMINS
from app.domain.review import FollowupReview, seq_at
from app.domain.vocabulary import TEXT_LIMITS
from app.export.review_pdf import review_pdf
from app.reviews import REPORT_MAX_DAYS, NotVisible, Reviews
from app.store import people
from app.store.db import unit_of_work
from app.store.tables import User
from app.web.api import NOT_BLANK, required_text
from app.web.deps import CurrentUser, IdempotencyDep, ServicesDep, actor_of, check_csrf, csrf_token, device_of
from app.web.errors import ApiError, not_found
from app.web.review_views import (
    bars_svg,
    followup_review_view,
    report_csv,
    report_view,
    review_view,
    timeline_svg,
)
from app.web.templating import templates
from app.web.views import event_view, followup_view, session_view

api = APIRouter(prefix="/api/v1", dependencies=[Depends(check_csrf)])
pages = APIRouter()


def get_reviews(request: Request, services: ServicesDep) -> Reviews:
    reviews = getattr(request.app.state, "reviews", None)
    if reviews is None or reviews.services is not services:
        reviews = Reviews(services)
        request.app.state.reviews = reviews
    return reviews


ReviewsDep = Annotated[Reviews, Depends(get_reviews)]


def _visible(reviews: Reviews, user: User, session_id: str, replay: bool = False) -> Any:
    try:
        return reviews.visible(user, session_id, replay=replay)
    except NotVisible:
        raise not_found("That session") from None


def _respond(outcome: Any) -> JSONResponse:
    return JSONResponse(outcome.body, status_code=outcome.status)


# ------------------------------------------------------------------ seen


class SeenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    escalation_ids: list[Annotated[str, required_text(80)]] = Field(min_length=1, max_length=50)


@api.post("/sessions/{session_id}/seen")
def report_seen(
    session_id: str,
    body: SeenBody,
    request: Request,
    user: CurrentUser,
    services: ServicesDep,
    idem: IdempotencyDep,
) -> JSONResponse:
    """A visible screen reports the open alarms it shows; the first sighting per person and alarm
    is recorded with the device, repeats record nothing."""
    if user.role == "admin":
        raise not_found("That session")
    row = services.care_session(session_id)
    if row is None:
        raise not_found("That session")
    state = services.state(session_id)
    with unit_of_work(services.engine) as db:
        room = people.find_room(db, row.room_id)
        in_room = room is not None and people.works_in(db, room, user)
    ids = [eid for eid in body.escalation_ids if eid in state.escalations]
    if not in_room:
        # Alarms at step 3 reach every lead and prescriber on their overview: those are theirs to see.
        ids = [
            eid
            for eid in ids
            if state.escalations[eid].open and reaches_beyond_the_room(state.escalations[eid].step, user.role)
        ]
        if not ids:
            raise not_found("That session")

    def answer(new_state: Any, events: list[Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"recorded": [e.data["escalation_id"] for e in events], "seq": new_state.seq}

    outcome = services.execute(
        session_id,
        c.MarkAlarmsSeen(tuple(ids)),
        actor_of(user),
        device=device_of(request),
        idempotency=idem,
        answer=answer,
    )
    return _respond(outcome)


# ------------------------------------------------------------------ the session review


@api.get("/sessions/{session_id}/review")
def session_review(session_id: str, user: CurrentUser, reviews: ReviewsDep) -> dict[str, Any]:
    _row, room, _state = _visible(reviews, user, session_id)
    return review_view(reviews.review(session_id), room.name)


@api.get(
    "/sessions/{session_id}/review.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def session_review_pdf(session_id: str, user: CurrentUser, reviews: ReviewsDep) -> Response:
    _row, room, _state = _visible(reviews, user, session_id)
    found = reviews.review(session_id)
    pdf = review_pdf(found, room.name)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="review-{session_id}.pdf"'},
    )


@api.get("/sessions/{session_id}/state")
def state_at(
    session_id: str,
    user: CurrentUser,
    reviews: ReviewsDep,
    services: ServicesDep,
    at_seq: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """The session as it stood after event `at_seq` (the last event without it)."""
    _visible(reviews, user, session_id, replay=True)
    head = services.state(session_id)
    if at_seq is not None and at_seq > head.seq:
        raise ApiError(422, "validation_error", f"at_seq is beyond the session's last event ({head.seq}).")
    state = reviews.state_at(session_id, at_seq)
    moment = state.last_event_at or services.clock()
    view = session_view(state, services.policy, moment)
    view["at"] = moment.isoformat()
    view["last_seq"] = head.seq
    return view


@pages.get("/sessions/{session_id}/review", response_class=HTMLResponse, include_in_schema=False)
def review_page(session_id: str, request: Request, user: CurrentUser, reviews: ReviewsDep) -> HTMLResponse:
    _row, room, state = _visible(reviews, user, session_id)
    found = reviews.review(session_id)
    context = {
        "csrf_token": csrf_token(request),
        "user": user,
        "room": room,
        "review": review_view(found, room.name),
        "timeline": timeline_svg(found),
        "owner_words": owner_words,
        "may_replay": reviews.visible_replay(user, session_id),
    }
    return templates.TemplateResponse(request, "pages/review.html", context)


@pages.get("/sessions/{session_id}/replay", response_class=HTMLResponse, include_in_schema=False)
def replay_page(
    session_id: str,
    request: Request,
    user: CurrentUser,
    reviews: ReviewsDep,
    services: ServicesDep,
    seq: Annotated[int | None, Query(ge=0)] = None,
    at: str | None = None,
) -> HTMLResponse:
    """Step through the log: by event (`seq`), or by time (`at`, a local hh:mm or an ISO time)."""
    _row, room, head = _visible(reviews, user, session_id, replay=True)
    events = services.events(session_id)
    if at:
        moment = _replay_moment(at, head.opened_at)
        seq = seq_at(events, moment)
    chosen = head.seq if seq is None else min(seq, head.seq)
    state = reviews.state_at(session_id, chosen)
    moment = state.last_event_at or head.opened_at or services.clock()
    view = session_view(state, services.policy, moment)
    seen = {e.id: [s.username for s in e.seen] for e in state.escalations.values()}
    context = {
        "csrf_token": csrf_token(request),
        "user": user,
        "room": room,
        "session_id": session_id,
        "view": view,
        "seq": chosen,
        "last_seq": head.seq,
        "moment": moment,
        "event": event_view(events[chosen - 1]) if 0 < chosen <= len(events) else None,
        "recent": [event_view(e) for e in events[max(0, chosen - 8) : chosen]][::-1],
        "seen": seen,
    }
    return templates.TemplateResponse(request, "pages/replay.html", context)


def _replay_moment(text: str, opened_at: datetime | None) -> datetime:
    text = text.strip()
    try:
        if len(text) <= 5 and ":" in text and opened_at is not None:
            hours, minutes = (int(part) for part in text.split(":"))
            day = localtime.local(opened_at)
            assert day is not None
            return day.replace(hour=hours, minute=minutes, second=59, microsecond=0)
        moment = datetime.fromisoformat(text)
    except (ValueError, AssertionError):
        raise ApiError(422, "validation_error", "at must be a time such as 14:05 or an ISO 8601 time.") from None
    if moment.tzinfo is None:
        local = localtime.clinic_zone()
        moment = moment.replace(tzinfo=local)
    return moment


# ------------------------------------------------------------------ follow-ups opened after the session


class FollowupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str = required_text(40)
    participant_id: str = required_text(40)
    reason: str = required_text(TEXT_LIMITS["reason"])
    account: str = Field(default="", max_length=TEXT_LIMITS["account"])
    owner: str | None = Field(default=None, min_length=1, max_length=64, pattern=NOT_BLANK)
    concerns_lead: StrictBool = False


@api.post("/followups", status_code=201)
def open_followup(
    body: FollowupBody, request: Request, user: CurrentUser, services: ServicesDep, idem: IdempotencyDep
) -> JSONResponse:
    """Any staff member of the session's room (or an admin) opens a follow-up, for example a
    concern the participant raised afterwards, in their own words (`account`)."""
    row = services.care_session(body.session_id)
    with unit_of_work(services.engine) as db:
        room = people.find_room(db, row.room_id) if row else None
        if row is None or room is None or not (user.role == "admin" or people.works_in(db, room, user)):
            raise not_found("That session")
        if body.owner is not None and body.owner != CLINIC_ADMINS:
            owner = people.get_user(db, body.owner)
            if owner is None:
                raise ApiError(422, "validation_error", "owner is not a user of this clinic.", {"field": "owner"})
    command = c.OpenFollowup(body.participant_id, body.reason, body.account, body.owner, body.concerns_lead)

    def answer(state: Any, events: list[Any]) -> tuple[int, dict[str, Any]]:
        followup = state.followups[events[-1].data["followup_id"]]
        item = FollowupReview(
            followup,
            followup_state(followup, services.clock(), services.policy),
            climbs_at(followup, services.policy),
        )
        return 201, {"session_id": state.session_id, **followup_review_view(item)}

    outcome = services.execute(
        body.session_id, command, actor_of(user), device=device_of(request), idempotency=idem, answer=answer
    )
    return _respond(outcome)


# ------------------------------------------------------------------ the clinic's response report


def _range(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    if end is None:
        # By default through the end of today in the clinic, and the 30 days before.
        today = localtime.local(now)
        assert today is not None
        end = today.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    end = end.astimezone(UTC)
    start = (start or end - timedelta(days=30)).astimezone(UTC)
    if start >= end:
        raise ApiError(422, "validation_error", "from must be before to.", {"field": "from"})
    if end - start > timedelta(days=REPORT_MAX_DAYS):
        raise ApiError(
            422,
            "validation_error",
            f"A report covers at most {REPORT_MAX_DAYS} days; ask for a shorter range.",
            {"field": "to"},
        )
    return start, end


def _report_user(user: User) -> None:
    if user.role not in ("admin", "lead"):
        raise not_found("The response report")


def _parse_bound(value: str | None, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422, "validation_error", f"{field} must be a date or an ISO 8601 time.", {"field": field}
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=localtime.clinic_zone())
    if field == "to" and len(value.strip()) == 10:
        # A bare date as the end of a range means through that whole day in the clinic.
        moment += timedelta(days=1)
    return moment


def _local_day(moment: datetime) -> str:
    shown = localtime.local(moment)
    return "" if shown is None else shown.date().isoformat()


@api.get(
    "/reports/response",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def response_report(
    request: Request,
    user: CurrentUser,
    reviews: ReviewsDep,
    services: ServicesDep,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
    format: Literal["json", "csv"] | None = None,
) -> Any:
    _report_user(user)
    lower, upper = _range(_parse_bound(start, "from"), _parse_bound(end, "to"), services.clock())
    report = reviews.report(user, lower, upper)
    names = reviews.room_names()
    wants_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    if wants_csv:
        return Response(
            report_csv(report, names),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="response-report.csv"'},
        )
    return report_view(report, names)


@pages.get("/reports", response_class=HTMLResponse, include_in_schema=False)
def reports_page(
    request: Request,
    user: CurrentUser,
    reviews: ReviewsDep,
    services: ServicesDep,
    start: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40)] = None,
) -> HTMLResponse:
    _report_user(user)
    lower, upper = _range(_parse_bound(start, "from"), _parse_bound(end, "to"), services.clock())
    report = report_view(reviews.report(user, lower, upper), reviews.room_names())
    sessions = reviews.sessions_for_report(user, lower, upper)
    context = {
        "csrf_token": csrf_token(request),
        "user": user,
        "report": report,
        "lower": lower,
        "upper": upper,
        "first_day": _local_day(lower),
        "last_day": _local_day(upper - timedelta(microseconds=1)),
        "sessions": sessions,
        "lead_chart": bars_svg(report["by_lead"], "Median seconds to acknowledge, per lead"),
        "room_chart": bars_svg(report["by_room"], "Median seconds to acknowledge, per room"),
        "room_names": reviews.room_names(),
        "followups": [
            followup_view(state, f, services.clock(), services.policy) for state, f in reviews.admins_followups()
        ]
        if user.role == "admin"
        else [],
        "owner_words": owner_words,
    }
    return templates.TemplateResponse(request, "pages/reports.html", context)


__all__ = ["api", "pages"]
