"""Users, rooms and who works where. Passwords are argon2 hashes."""

from __future__ import annotations

import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from app.domain.vocabulary import STAFF_ROLES

from .tables import CareSession, Room, RoomAssignment, SignIn, User, utcnow

_hasher = PasswordHasher()
# A hash to verify against when the username is unknown, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class PeopleError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(db: Session, username: str, role: str, password: str) -> User:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise PeopleError("a username is 2-64 lowercase letters, digits, dots, dashes or underscores")
    if role not in STAFF_ROLES:
        raise PeopleError(f"role must be one of {', '.join(STAFF_ROLES)}")
    if len(password) < 8:
        raise PeopleError("a password needs at least 8 characters")
    if get_user(db, username) is not None:
        raise PeopleError(f"user {username} already exists")
    user = User(username=username, role=role, password_hash=hash_password(password))
    db.add(user)
    db.flush()
    return user


def get_user(db: Session, username: str) -> User | None:
    return db.exec(select(User).where(User.username == username.strip().lower())).first()


def authenticate(db: Session, username: str, password: str) -> User | None:
    user = get_user(db, username)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.add(user)
    return user


PIN = re.compile(r"^[0-9]{4,8}$")


def set_pin(db: Session, username: str, pin: str) -> User:
    """Give `username` a short PIN (4-8 digits), stored as an argon2 hash like a password. It is
    used only to check oneself in or out on a shared room tablet, never to sign in."""
    user = get_user(db, username)
    if user is None:
        raise PeopleError(f"no user {username.strip().lower()}")
    if not PIN.match(pin):
        raise PeopleError("a PIN is 4 to 8 digits")
    user.pin_hash = _hasher.hash(pin)
    db.add(user)
    db.flush()
    return user


def _matches(hashed: str | None, secret: str) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY_HASH, secret) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def pin_matches(user: User, pin: str) -> bool:
    """Whether `pin` is the user's own PIN (False when they have none)."""
    return user.active and _matches(user.pin_hash, pin)


def password_matches(user: User, password: str) -> bool:
    """Whether `password` is the user's own, for checking in on a tablet someone else signed in to."""
    return user.active and _matches(user.password_hash, password)


def create_room(db: Session, name: str, lead: str | None = None) -> Room:
    name = name.strip()
    if not name or len(name) > 80:
        raise PeopleError("a room needs a name of at most 80 characters")
    if db.exec(select(Room).where(Room.name == name)).first() is not None:
        raise PeopleError(f"room {name!r} already exists")
    if lead is not None:
        user = get_user(db, lead)
        if user is None or user.role != "lead":
            raise PeopleError(f"{lead} is not a lead")
        lead = user.username
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "room"
    room_id = slug
    while db.get(Room, room_id) is not None:
        room_id = f"{slug}-{secrets.token_hex(2)}"
    room = Room(id=room_id, name=name, lead=lead)
    db.add(room)
    db.flush()
    return room


def find_room(db: Session, name_or_id: str) -> Room | None:
    return db.get(Room, name_or_id) or db.exec(select(Room).where(Room.name == name_or_id)).first()


def assign(db: Session, room: Room, username: str) -> None:
    user = get_user(db, username)
    if user is None:
        raise PeopleError(f"no user {username}")
    if user.role == "admin":
        raise PeopleError("admins manage rooms; they do not work in them")
    if db.get(RoomAssignment, (room.id, user.username)) is None:
        db.add(RoomAssignment(room_id=room.id, username=user.username))
        db.flush()


def works_in(db: Session, room: Room, user: User) -> bool:
    """Whether `user` may work in or oversee `room` (and so see its sessions)."""
    if user.role == "admin":
        return False
    if room.lead == user.username:
        return True
    return db.get(RoomAssignment, (room.id, user.username)) is not None


def rooms_for(db: Session, user: User) -> list[Room]:
    rooms = db.exec(select(Room).order_by(Room.name)).all()
    return [room for room in rooms if works_in(db, room, user)]


def room_staff(db: Session, room: Room) -> list[User]:
    names = {a.username for a in db.exec(select(RoomAssignment).where(RoomAssignment.room_id == room.id))}
    if room.lead:
        names.add(room.lead)
    return list(db.exec(select(User).where(User.username.in_(names)).order_by(User.username)))  # type: ignore[attr-defined]


def live_session(db: Session, room_id: str) -> CareSession | None:
    return db.exec(select(CareSession).where(CareSession.live_room_id == room_id)).first()


SIGN_IN_HOURS = 12


def start_sign_in(db: Session, user: User) -> str:
    sign_in = SignIn(id=secrets.token_urlsafe(32), username=user.username)
    db.add(sign_in)
    db.flush()
    return sign_in.id


def signed_in_user(db: Session, sign_in_id: str | None) -> User | None:
    """The active user of a sign-in that is neither revoked nor older than a working day."""
    if not sign_in_id:
        return None
    sign_in = db.get(SignIn, sign_in_id)
    if sign_in is None or sign_in.revoked_at is not None:
        return None
    created = sign_in.created_at if sign_in.created_at.tzinfo else sign_in.created_at.replace(tzinfo=utcnow().tzinfo)
    if (utcnow() - created).total_seconds() > SIGN_IN_HOURS * 3600:
        return None
    user = get_user(db, sign_in.username)
    return user if user is not None and user.active else None


def end_sign_in(db: Session, sign_in_id: str | None) -> str | None:
    """Revoke a sign-in; the username it belonged to, if it was still open."""
    sign_in = db.get(SignIn, sign_in_id) if sign_in_id else None
    if sign_in is not None and sign_in.revoked_at is None:
        sign_in.revoked_at = utcnow()
        db.add(sign_in)
        return sign_in.username
    return None
