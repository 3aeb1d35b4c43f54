"""Tables of the web review (``sstrkit serve``): accounts, sessions, decisions, comments.

They live in the registry database beside the runs they are about (migration
``0002_web_review``) and use the registry's declarative base, naming convention and
tz-aware UTC times (:mod:`sstrkit.registry.schema`).

* ``users``: local accounts (unique name, role ``physicist`` | ``physician`` | ``admin``,
  an Argon2id hash of the password). Accounts are disabled, never deleted, so that the
  audit records keep pointing at them.
* ``web_sessions``: logged-in browsers. The cookie carries a random token, signed;
  the table holds only its SHA-256, with the expiry and the time of logout.
* ``approvals``: the audit trail of dosimetry reviews: one row per decision
  (``approved`` | ``rejected``) on one cycle of one run, with who signed, in which
  role, when, the run's sstrkit version and content hash, and the SHA-256 of the
  record itself. **Append-only**: the migration installs triggers that refuse
  ``UPDATE`` and ``DELETE`` (SQLite and PostgreSQL), and a run with decisions cannot
  be deleted (the foreign key restricts). Whether a decision still stands — or was
  replaced by a later decision on the same run and cycle, or superseded by a newer
  run of the study that has the cycle — is derived when read
  (:mod:`sstrkit.registry.approvals`), never written back.
* ``comments``: physicians' and physicists' notes on a patient (optionally on one run
  and cycle). Append-only as well.
"""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sstrkit.registry.schema import Base

__all__ = ["ROLES", "Approval", "Comment", "User", "WebSession"]

#: roles of a web account, from most to least privileged on patient data
ROLES = ("physicist", "physician", "admin")


class User(Base):
    """A local account of the web review (disabled, never deleted)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    role: Mapped[str]
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[_dt.datetime]
    created_by: Mapped[str | None]
    password_changed_at: Mapped[_dt.datetime]
    disabled_at: Mapped[_dt.datetime | None]


class WebSession(Base):
    """A logged-in browser: the SHA-256 of its cookie token, expiry, logout time."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[_dt.datetime]
    expires_at: Mapped[_dt.datetime]
    revoked_at: Mapped[_dt.datetime | None]
    client: Mapped[str | None]


class Approval(Base):
    """One signed review decision on one cycle's dosimetry of one run (append-only)."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_run_pk_cycle", "run_pk", "cycle"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    cycle: Mapped[int]
    decision: Mapped[str]
    comment: Mapped[str] = mapped_column(Text)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    user_name: Mapped[str]
    user_role: Mapped[str]
    signed_at: Mapped[_dt.datetime]
    sstrkit_version: Mapped[str | None]
    content_sha256: Mapped[str] = mapped_column(String(64))
    record_sha256: Mapped[str] = mapped_column(String(64))


class Comment(Base):
    """A note on a patient, optionally on one run and cycle (append-only)."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_pk: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), index=True
    )
    run_pk: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="RESTRICT"))
    cycle: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    user_name: Mapped[str]
    user_role: Mapped[str]
    created_at: Mapped[_dt.datetime]
