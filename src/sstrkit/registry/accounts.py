"""Local accounts and browser sessions of the web review, stored in the registry.

Passwords are hashed with Argon2id (``argon2-cffi``'s :class:`~argon2.PasswordHasher`,
its default parameters: RFC 9106's second recommended option), never stored or logged
in clear; a hash made with older parameters is upgraded at the next successful login.
A session is a random 256-bit token handed to the browser (signed, in a cookie, by
:mod:`sstrkit.web.auth`); the registry keeps only its SHA-256, the expiry and the time
of logout, so that a stolen database does not yield live sessions.

Roles (:data:`~sstrkit.registry.review_schema.ROLES`): ``physicist`` (reads, comments,
signs dosimetry approvals), ``physician`` (reads, comments), ``admin`` (manages
accounts; no patient data).

>>> valid_name("m.curie")
'm.curie'
>>> valid_role("physician")
'physician'
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sstrkit.errors import InvalidInputError
from sstrkit.registry.review_schema import ROLES, User, WebSession

if TYPE_CHECKING:
    from sstrkit.registry.store import Registry

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Accounts",
    "UserRecord",
    "valid_name",
    "valid_password",
    "valid_role",
]

MIN_PASSWORD_LENGTH: Final = 10
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def valid_name(name: str) -> str:
    """An account name: 1–64 letters, digits, ``. _ @ -`` (starting with a letter or digit)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            "account name",
            expected="1-64 characters: letters, digits, '.', '_', '@', '-'",
            actual=repr(name),
        )
    return name


def valid_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInputError("role", expected=" | ".join(ROLES), actual=repr(role))
    return role


def valid_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            "password",
            expected=f"at least {MIN_PASSWORD_LENGTH} characters",
            actual=f"{len(password) if isinstance(password, str) else 0} characters",
        )
    if password != password.strip() or "\n" in password:
        raise InvalidInputError(
            "password", expected="no leading/trailing blanks or line breaks", actual="some"
        )
    return password


def token_digest(token: str) -> str:
    """SHA-256 (hex) of a session token: what the registry stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UserRecord:
    """An account as the web review sees it (no hash)."""

    user_id: int
    name: str
    role: str
    created_at: _dt.datetime
    created_by: str | None
    disabled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "disabled": self.disabled,
        }


def _record(u: User) -> UserRecord:
    return UserRecord(u.id, u.name, u.role, u.created_at, u.created_by, u.disabled_at is not None)


class Accounts:
    """Accounts and sessions of one registry (``Accounts(open_registry(url))``)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # ------------------------------------------------------------------ accounts
    def add_user(
        self, name: str, role: str, password: str, *, created_by: str | None = None
    ) -> UserRecord:
        """Create an account; :class:`InvalidInputError` when the name is taken."""
        valid_name(name)
        valid_role(role)
        valid_password(password)
        digest = _hasher().hash(password)

        def work(s: Session) -> UserRecord:
            if s.scalar(select(User.id).where(User.name == name)) is not None:
                raise InvalidInputError(
                    "account name", expected="a name not yet taken", actual=repr(name)
                )
            now = _now()
            user = User(
                name=name,
                role=role,
                password_hash=digest,
                created_at=now,
                created_by=created_by,
                password_changed_at=now,
                disabled_at=None,
            )
            s.add(user)
            s.flush()
            return _record(user)

        return self.registry._write(work)

    def users(self) -> list[UserRecord]:
        with self.registry._read() as s:
            return [_record(u) for u in s.scalars(select(User).order_by(User.name))]

    def user(self, name: str) -> UserRecord | None:
        with self.registry._read() as s:
            u = s.scalar(select(User).where(User.name == name))
            return None if u is None else _record(u)

    def set_disabled(self, name: str, disabled: bool) -> UserRecord:
        """Disable (and log out everywhere) or enable an account."""

        def work(s: Session) -> UserRecord:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise InvalidInputError("account", expected="an existing account", actual=name)
            u.disabled_at = _now() if disabled else None
            if disabled:
                _revoke_all(s, u.id)
            s.flush()
            return _record(u)

        return self.registry._write(work)

    def set_password(self, name: str, password: str) -> UserRecord:
        """A new password (every session of the account ends)."""
        valid_password(password)
        digest = _hasher().hash(password)

        def work(s: Session) -> UserRecord:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise InvalidInputError("account", expected="an existing account", actual=name)
            u.password_hash, u.password_changed_at = digest, _now()
            _revoke_all(s, u.id)
            s.flush()
            return _record(u)

        return self.registry._write(work)

    def verify(self, name: str, password: str) -> UserRecord | None:
        """The enabled account ``name`` when ``password`` is its password, else None."""
        from argon2.exceptions import InvalidHashError, VerificationError

        ph = _hasher()
        with self.registry._read() as s:
            u = s.scalar(select(User).where(User.name == name))
            stored = None if u is None else u.password_hash
            record = None if u is None else _record(u)
        try:
            # an unknown name costs one hash too (no timing hint of which names exist)
            ph.verify(stored or _DUMMY_HASH.get(), password)
        except (VerificationError, InvalidHashError):
            return None
        if record is None or record.disabled:
            return None
        if stored is not None and ph.check_needs_rehash(stored):
            fresh = ph.hash(password)
            self.registry._write(
                lambda s: s.execute(
                    update(User).where(User.id == record.user_id).values(password_hash=fresh)
                )
            )
        return record

    # ------------------------------------------------------------------ sessions
    def open_session(
        self, user: UserRecord, lifetime: _dt.timedelta, client: str | None = None
    ) -> str:
        """A new session token of ``user`` (the caller signs it into the cookie)."""
        token = secrets.token_urlsafe(32)
        now = _now()

        def work(s: Session) -> None:
            s.add(
                WebSession(
                    token_sha256=token_digest(token),
                    user_pk=user.user_id,
                    created_at=now,
                    expires_at=now + lifetime,
                    revoked_at=None,
                    client=client,
                )
            )

        self.registry._write(work)
        return token

    def session_user(self, token: str) -> UserRecord | None:
        """The enabled account of a live (not expired, not logged out) session."""
        now = _now()
        with self.registry._read() as s:
            row = s.execute(
                select(User)
                .join(WebSession, WebSession.user_pk == User.id)
                .where(
                    WebSession.token_sha256 == token_digest(token),
                    WebSession.revoked_at.is_(None),
                    WebSession.expires_at > now,
                    User.disabled_at.is_(None),
                )
            ).scalar_one_or_none()
            return None if row is None else _record(row)

    def close_session(self, token: str) -> None:
        """Log the session out (no-op for an unknown token)."""
        self.registry._write(
            lambda s: s.execute(
                update(WebSession)
                .where(
                    WebSession.token_sha256 == token_digest(token),
                    WebSession.revoked_at.is_(None),
                )
                .values(revoked_at=_now())
            )
        )


def _revoke_all(s: Session, user_pk: int) -> None:
    s.execute(
        update(WebSession)
        .where(WebSession.user_pk == user_pk, WebSession.revoked_at.is_(None))
        .values(revoked_at=_now())
    )


class _Dummy:
    """A hash of a random password, made once, for unknown account names."""

    value: str | None = None

    def get(self) -> str:
        if self.value is None:
            self.value = _hasher().hash(secrets.token_urlsafe(16))
        return self.value


_DUMMY_HASH = _Dummy()
