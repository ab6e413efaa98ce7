"""Staff accounts, their roles and API keys, and console logins. The only module that
imports argon2."""

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.audit.service import Action
from app.core.db.engine import Database
from app.core.db.session import after_commit, after_rollback, get_by_id, transaction
from app.core.errors import Conflict, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from app.core.fields import email_address, normalise_email
from app.core.tokens import LinkExpired, LinkInvalid, SignedValues
from app.models import ApiKey, LoginFailure, Role, StaffUser


class Permission(StrEnum):
    ACCOUNTS = "accounts"  # staff accounts
    SHOWS = "shows"  # change shows and episodes
    SUBSCRIBERS = "subscribers"  # subscribers, plans, sharing alerts
    STATS = "stats"  # listening statistics
    READ_SHOWS = "read-shows"  # see shows and episodes (every role finds its way by them)


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.EDITOR: frozenset({Permission.SHOWS, Permission.READ_SHOWS, Permission.STATS}),
    Role.SUPPORT: frozenset({Permission.SUBSCRIBERS, Permission.READ_SHOWS, Permission.STATS}),
    Role.ANALYST: frozenset({Permission.READ_SHOWS, Permission.STATS}),
}

MIN_PASSWORD_LENGTH = 12
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_IP = 20
WRONG_LOGIN = "The email or password is wrong."

# An API key: the prefix (so logs and secret scanners can recognise one), the public key_id
# that finds its row, and 256 random bits. A fast hash is enough for a key this random:
# argon2's cost exists to slow down guessing of low-entropy passwords, and no number of
# guesses finds 256 bits; it would only add its cost to every API request.
KEY_PREFIX = "pp_"
KEY_ID_LENGTH = 8
_KEY_SHAPE = re.compile(rf"{KEY_PREFIX}([A-Za-z0-9_-]{{{KEY_ID_LENGTH}}})[A-Za-z0-9_-]{{43}}")
# last_used_at is for people ("used today?"): writing it on every request would make each
# API read a write.
LAST_USED_PRECISION = timedelta(minutes=1)

_passwords = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters


@dataclass(frozen=True)
class Principal:
    """Who a request acts as. `user_id` None: the bootstrap PODPASS_ADMIN_KEY."""

    user_id: int | None
    email: str
    role: Role

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]


BOOTSTRAP = Principal(user_id=None, email="PODPASS_ADMIN_KEY", role=Role.OWNER)


def roles_with(permission: Permission) -> list[Role]:
    return [role for role in Role if permission in ROLE_PERMISSIONS[role]]


def _principal(user: StaffUser) -> Principal:
    return Principal(user_id=user.id, email=user.email, role=Role(user.role))


# Users


def create_user(
    session: Session, *, email: str, password: str, role: Role, now: datetime
) -> StaffUser:
    email = email_address(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: it needs at least {MIN_PASSWORD_LENGTH} characters.")
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
        raise Conflict(f"A staff account for {email} already exists.")
    user = StaffUser(
        email=email, password_hash=_passwords.hash(password), role=role, created_at=now
    )
    session.add(user)
    session.flush()
    audit.record(session, Action.ACCOUNT_CREATE, user, {"role": role})
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.id)))


def get_user(session: Session, user_id: int) -> StaffUser:
    return get_by_id(session, StaffUser, user_id, "staff account")


def user_by_email(session: Session, email: str) -> StaffUser:
    email = normalise_email(email)
    user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    if user is None:
        raise NotFound(f"No staff account for {email}.")
    return user


def _refuse_removing_last_owner(session: Session, user: StaffUser, doing: str) -> None:
    if user.role != Role.OWNER or user.disabled_at is not None:
        return
    # FOR UPDATE: two owners demoting each other at once wait for each other, and the
    # second then counts one owner (SQLite's writers are serialised already).
    owners = session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == Role.OWNER, StaffUser.disabled_at.is_(None))
        .with_for_update()
    ).all()
    if len(owners) <= 1:
        raise Conflict(f"{user.email} is the last active owner: make another owner before {doing}.")


def set_role(session: Session, user: StaffUser, role: Role) -> StaffUser:
    if role != user.role:
        _refuse_removing_last_owner(session, user, "changing their role")
        user.role = role
        session.flush()
        audit.record(session, Action.ACCOUNT_ROLE, user, {"role": role})
    return user


def disable_user(session: Session, user: StaffUser, *, now: datetime) -> StaffUser:
    """Disable the account and revoke its API keys; its sessions end with the next request,
    for good (enabling it again does not bring them back)."""
    if user.disabled_at is None:
        _refuse_removing_last_owner(session, user, "disabling them")
        user.disabled_at = now
        user.sessions_valid_after = now
        session.execute(
            update(ApiKey)
            .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.flush()
        audit.record(session, Action.ACCOUNT_DISABLE, user)
    return user


def enable_user(session: Session, user: StaffUser) -> StaffUser:
    """Re-enable the account. Its old API keys stay revoked."""
    if user.disabled_at is not None:
        user.disabled_at = None
        session.flush()
        audit.record(session, Action.ACCOUNT_ENABLE, user)
    return user


def set_password(session: Session, user: StaffUser, password: str, *, now: datetime) -> StaffUser:
    """A new password (an owner's reset, or the user's own change): the account's console
    sessions end, and its failed logins are forgotten, so a throttled account can log in at
    once. Its API keys keep working: revoke them apart if they may have leaked too."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password: it needs at least {MIN_PASSWORD_LENGTH} characters.")
    user.password_hash = _passwords.hash(password)
    user.sessions_valid_after = now
    _forget_failures(session, user)
    session.flush()
    audit.record(session, Action.ACCOUNT_PASSWORD, user)
    return user


def change_own_password(
    session: Session, user: StaffUser, *, current: str, new: str, now: datetime
) -> StaffUser:
    """The user's own change, which needs the password they have now."""
    if not _verify(user.password_hash, current):
        raise InvalidInput("current password: it is not your password; nothing was changed.")
    return set_password(session, user, new, now=now)


def locked_out(session: Session, now: datetime) -> set[str]:
    """The emails whose failed logins hold their account shut now."""
    failures = (
        select(LoginFailure.email)
        .where(LoginFailure.at > now - THROTTLE_WINDOW)
        .group_by(LoginFailure.email)
        .having(func.count() >= MAX_FAILURES_PER_ACCOUNT)
    )
    return set(session.scalars(failures))


def unlock(session: Session, user: StaffUser) -> None:
    """Forget the account's failed logins (an owner vouches for it)."""
    _forget_failures(session, user)
    audit.record(session, Action.ACCOUNT_UNLOCK, user)


def _forget_failures(session: Session, user: StaffUser) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.email == user.email))


def end_sessions(session: Session, user_id: int, *, now: datetime) -> None:
    """End every console session of the user issued until now (logging out: the cookie
    itself could be kept and sent again)."""
    session.execute(
        update(StaffUser).where(StaffUser.id == user_id).values(sessions_valid_after=now)
    )


def principal_for_session(session: Session, user_id: int, issued_at: datetime) -> Principal | None:
    """Who a console session issued at `issued_at` acts as; None if the account is gone or
    disabled, or the session was ended."""
    user = session.get(StaffUser, user_id)
    if user is None or user.disabled_at is not None:
        return None
    if user.sessions_valid_after is not None and issued_at < user.sessions_valid_after:
        return None
    return _principal(user)


# Forgotten passwords: a signed link, emailed, that sets a new one


RESET_LINK_LIFETIME = timedelta(hours=1)


class PasswordResets:
    """Links that set a staff member's password: signed (only the server can make one),
    expiring (RESET_LINK_LIFETIME after they are made) and single use: the signature covers a
    digest of the password hash as it is when the link is made, and setting a password (by
    this link, or any other way) changes the hash, so the link no longer matches."""

    def __init__(self, secret_key: str) -> None:
        self._values = SignedValues(secret_key, "podpass.staff-password-reset")

    def make(self, user: StaffUser, now: datetime) -> str:
        return self._values.dumps(
            {"user": user.id, "hash": _hash_digest(user), "at": int(now.timestamp())}
        )

    def user_of(self, session: Session, signed: str, now: datetime) -> StaffUser:
        """The account the link resets. Raises LinkExpired, or LinkInvalid (not ours, used
        already, or the account disabled or gone)."""
        value = self._values.loads(signed)
        if not isinstance(value, dict) or not {"user", "hash", "at"} <= value.keys():
            raise LinkInvalid
        if now.timestamp() - value["at"] > RESET_LINK_LIFETIME.total_seconds():
            raise LinkExpired
        user = session.get(StaffUser, value["user"])
        if user is None or user.disabled_at is not None:
            raise LinkInvalid
        if not hmac.compare_digest(str(value["hash"]), _hash_digest(user)):
            raise LinkInvalid
        return user


def _hash_digest(user: StaffUser) -> str:
    """Enough of the password hash to tell when it changes; none of it readable back."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def resettable(session: Session, email: str) -> StaffUser | None:
    """The account a forgotten-password request for `email` is for: an enabled one."""
    try:
        user = user_by_email(session, email)
    except NotFound:
        return None
    return user if user.disabled_at is None else None


# Logins


@cache
def _unknown_user_hash() -> str:
    """Checked against when no account has the email, so that an unknown email costs the
    same argon2 time as a known one and timing does not tell which emails have accounts."""
    return _passwords.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _passwords.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(db: Database, *, email: str, password: str, ip: str, now: datetime) -> Principal:
    """The principal for a console login. Raises Unauthorized (one message whatever was
    wrong) or TooManyAttempts.

    Unlike other services this runs its own transactions, three short ones, so that the
    argon2 check (tens of milliseconds of CPU) runs in none of them: on SQLite a write
    transaction holds the one write lock. The attempt is recorded and committed first, so
    that parallel guesses count each other and no more than the limit are checked; a
    success deletes it again."""
    email = normalise_email(email)
    with transaction(db.writer) as session:
        _record_attempt(session, email=email, ip=ip, now=now)
    with transaction(db.reader) as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email))
    verified = _verify(user.password_hash if user else _unknown_user_hash(), password)
    if user is None or not verified or user.disabled_at is not None:
        raise Unauthorized(WRONG_LOGIN)  # the attempt stays recorded: it failed
    rehashed = None
    if _passwords.check_needs_rehash(user.password_hash):
        rehashed = _passwords.hash(password)  # argon2's cost again: outside the write too
    with transaction(db.writer) as session:
        logged_in = session.get_one(StaffUser, user.id)
        logged_in.last_login_at = now
        if rehashed is not None:
            logged_in.password_hash = rehashed
        # A success clears the account's count (its owner remembered), not the IP's.
        session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    return _principal(user)


def _record_attempt(session: Session, *, email: str, ip: str, now: datetime) -> None:
    """Refuse a throttled attempt, else record it. The count and the insert must not
    interleave with another attempt's: SQLite's writers take turns already (BEGIN
    IMMEDIATE); on PostgreSQL the table lock makes them (it conflicts with itself only,
    so reads go on), for the milliseconds the two statements take."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE"))
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - THROTTLE_WINDOW))
    _refuse_if_throttled(session, email=email, ip=ip, now=now)
    session.add(LoginFailure(email=email, ip=ip, at=now))


def _refuse_if_throttled(session: Session, *, email: str, ip: str, now: datetime) -> None:
    since = now - THROTTLE_WINDOW
    for column, value, limit in (
        (LoginFailure.email, email, MAX_FAILURES_PER_ACCOUNT),
        (LoginFailure.ip, ip, MAX_FAILURES_PER_IP),
    ):
        failures = session.scalars(
            select(LoginFailure.at)
            .where(column == value, LoginFailure.at > since)
            .order_by(LoginFailure.at)
        ).all()
        if len(failures) >= limit:
            # Open again once enough of the failures have left the window.
            reopens = failures[len(failures) - limit] + THROTTLE_WINDOW
            minutes = max(1, math.ceil((reopens - now).total_seconds() / 60))
            raise TooManyAttempts(
                f"Too many failed logins: try again in {minutes} minute(s), "
                f"after {reopens:%H:%M} UTC.",
                retry_after_seconds=math.ceil((reopens - now).total_seconds()),
            )


def _after_transaction(session: Session, write: Callable[[Session], None]) -> None:
    """Run `write` in a transaction of its own once the request's transaction has ended,
    committed or rolled back: bookkeeping that must outlive a failed request (and, as a
    write after a read, must not turn the request's read into a write)."""
    bind = session.get_bind()

    def run() -> None:
        with Session(bind) as own, own.begin():
            write(own)

    after_commit(session, run)
    after_rollback(session, run)


# API keys


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, user: StaffUser, *, name: str, now: datetime
) -> tuple[ApiKey, str]:
    """The key's row, and the key itself: shown once, never stored."""
    if user.disabled_at is not None:
        raise Conflict(f"{user.email}'s account is disabled: it cannot have new keys.")
    key_id = secrets.token_urlsafe(6)  # 8 characters
    key = KEY_PREFIX + key_id + secrets.token_urlsafe(32)
    api_key = ApiKey(
        user_id=user.id, name=name, key_id=key_id, key_hash=_digest(key), created_at=now
    )
    session.add(api_key)
    session.flush()
    audit.record(session, Action.APIKEY_CREATE, api_key, {"account": user.email})
    return api_key, key


def list_api_keys(session: Session, user: StaffUser) -> Sequence[ApiKey]:
    return session.scalars(
        select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.id)
    ).all()


def get_api_key(session: Session, user: StaffUser, api_key_id: int) -> ApiKey:
    """One of `user`'s keys (someone else's is as missing as one that never existed)."""
    api_key = session.get(ApiKey, api_key_id)
    if api_key is None or api_key.user_id != user.id:
        raise NotFound(f"You have no API key with id {api_key_id}.")
    return api_key


def revoke_api_key(session: Session, key: ApiKey, *, now: datetime) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = now
        session.flush()
        audit.record(session, Action.APIKEY_REVOKE, key)
    return key


def principal_for_key(session: Session, key: str, *, now: datetime) -> Principal | None:
    """Who `key` belongs to; None if it is no key, revoked, or its user is disabled."""
    shape = _KEY_SHAPE.fullmatch(key)
    if shape is None:
        return None
    found = session.execute(
        select(ApiKey, StaffUser).join(StaffUser).where(ApiKey.key_id == shape[1])
    ).one_or_none()
    if found is None:
        return None
    api_key, user = found
    if not hmac.compare_digest(api_key.key_hash, _digest(key)):
        return None
    if api_key.revoked_at is not None or user.disabled_at is not None:
        return None
    stale = now - LAST_USED_PRECISION
    if api_key.last_used_at is None or api_key.last_used_at <= stale:
        _after_transaction(session, _touch(api_key.id, now, stale))
    return _principal(user)


def _touch(api_key_id: int, now: datetime, stale: datetime) -> Callable[[Session], None]:
    def write(own: Session) -> None:
        # Conditional: of several workers using the key at once, one writes.
        own.execute(
            update(ApiKey)
            .where(
                ApiKey.id == api_key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= stale),
            )
            .values(last_used_at=now)
        )

    return write
