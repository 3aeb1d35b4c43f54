"""Dosimetry review decisions and comments: the append-only audit trail of the web review.

A physicist approves or rejects one cycle's dosimetry of one recorded run, with a
comment, after re-entering the password (checked by the caller,
:mod:`sstrkit.web.routes_review`). Each decision is one new row of ``approvals`` with who
(name and role at the time), when (UTC), which run (its id, sstrkit version and
``content_sha256``) and the SHA-256 of the record's canonical JSON
(:func:`record_digest`), so that an edited row no longer matches its digest. Rows are
never changed (the database refuses UPDATE and DELETE on the table).

The **state** of a decision is derived when it is read:

``standing``
    the latest decision on its run and cycle, and no newer run of the study has that
    cycle's dosimetry;
``replaced``
    a later decision was signed on the same run and cycle (e.g. a rejection after an
    approval);
``superseded``
    a newer run of the same study (later ``finished_at``, then higher id: the registry's
    order of runs, :mod:`sstrkit.registry.store`) has dosimetry for the cycle — the
    decision was about results that are no longer the latest (``superseded_by_run``).

Only the study's newest run with the cycle can be decided on.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from sstrkit.errors import InvalidInputError
from sstrkit.registry import schema as t
from sstrkit.registry.review_schema import Approval, Comment, User

if TYPE_CHECKING:
    from sstrkit.registry.accounts import UserRecord
    from sstrkit.registry.store import Registry

__all__ = [
    "DECISIONS",
    "CommentRecord",
    "Decision",
    "Reviews",
    "record_digest",
]

DECISIONS: Final = ("approved", "rejected")
#: the role that may sign dosimetry decisions
SIGNING_ROLE: Final = "physicist"
#: roles that may write comments
COMMENTING_ROLES: Final = ("physicist", "physician")
MAX_TEXT: Final = 4000


def record_digest(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a decision's fields (sorted keys, UTF-8).

    >>> record_digest({"run_id": 1, "cycle": 2})[:12]
    '337bd0e3eda5'
    """
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest_fields(a: Approval) -> dict[str, Any]:
    return {
        "run_id": a.run_pk,
        "cycle": a.cycle,
        "decision": a.decision,
        "comment": a.comment,
        "user_name": a.user_name,
        "user_role": a.user_role,
        "signed_at": a.signed_at.astimezone(_dt.UTC).isoformat(),
        "sstrkit_version": a.sstrkit_version,
        "content_sha256": a.content_sha256,
    }


@dataclass(frozen=True)
class Decision:
    """A signed review decision with its derived state (see the module docstring)."""

    decision_id: int
    run_id: int
    cycle: int
    decision: str
    comment: str
    user_name: str
    user_role: str
    signed_at: _dt.datetime
    sstrkit_version: str | None
    content_sha256: str
    record_sha256: str
    intact: bool
    state: str
    superseded_by_run: int | None = None
    replaced_by: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "run_id": self.run_id,
            "cycle": self.cycle,
            "decision": self.decision,
            "comment": self.comment,
            "user_name": self.user_name,
            "user_role": self.user_role,
            "signed_at": self.signed_at.isoformat(),
            "sstrkit_version": self.sstrkit_version,
            "content_sha256": self.content_sha256,
            "record_sha256": self.record_sha256,
            "intact": self.intact,
            "state": self.state,
            "superseded_by_run": self.superseded_by_run,
            "replaced_by": self.replaced_by,
        }


@dataclass(frozen=True)
class CommentRecord:
    comment_id: int
    patient_id: str
    run_id: int | None
    cycle: int | None
    text: str
    user_name: str
    user_role: str
    created_at: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "comment_id": self.comment_id,
            "patient_id": self.patient_id,
            "run_id": self.run_id,
            "cycle": self.cycle,
            "text": self.text,
            "user_name": self.user_name,
            "user_role": self.user_role,
            "created_at": self.created_at.isoformat(),
        }


def _text(what: str, value: str, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInputError(what, expected="a non-empty text", actual="empty")
    if len(value) > MAX_TEXT:
        raise InvalidInputError(what, expected=f"at most {MAX_TEXT} characters", actual=len(value))
    return value


@dataclass(frozen=True)
class _RunKey:
    run_id: int
    study_pk: int
    finished_at: _dt.datetime

    @property
    def order(self) -> tuple[_dt.datetime, int]:
        return (self.finished_at, self.run_id)


def _study_runs(s: Session, study_pks: Iterable[int]) -> tuple[list[_RunKey], dict[int, set[int]]]:
    """The runs of the studies and the cycles each has organ-level dosimetry for."""
    pks = sorted(set(study_pks))
    runs = [
        _RunKey(rid, spk, fin)
        for rid, spk, fin in s.execute(
            select(t.Run.id, t.Run.study_pk, t.Run.finished_at).where(t.Run.study_pk.in_(pks))
        )
    ]
    cycles: dict[int, set[int]] = defaultdict(set)
    stmt = (
        select(t.RegionDose.run_pk, t.RegionDose.cycle)
        .where(t.RegionDose.run_pk.in_([r.run_id for r in runs]), t.RegionDose.level == "organ")
        .distinct()
    )
    for run_pk, cycle in s.execute(stmt):
        cycles[run_pk].add(cycle)
    return runs, cycles


def _newest_with_cycle(
    run: _RunKey, cycle: int, runs: Sequence[_RunKey], cycles: dict[int, set[int]]
) -> int | None:
    """The newest run of ``run``'s study, newer than it, with ``cycle``'s dosimetry."""
    newer = [
        r
        for r in runs
        if r.study_pk == run.study_pk and r.order > run.order and cycle in cycles.get(r.run_id, ())
    ]
    return max(newer, key=lambda r: r.order).run_id if newer else None


class Reviews:
    """Decisions and comments of one registry (``Reviews(open_registry(url))``)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    # ------------------------------------------------------------------ decisions
    def decide(
        self, *, run_id: int, cycle: int, decision: str, comment: str, user: UserRecord
    ) -> Decision:
        """Append a decision on ``cycle`` of run ``run_id`` signed by ``user``.

        Refused (:class:`InvalidInputError`) for a role other than physicist, a disabled
        account, an unknown decision, an empty comment, a run without that cycle's
        dosimetry, or a run that a newer run of the study supersedes for the cycle.
        """
        if decision not in DECISIONS:
            raise InvalidInputError("decision", expected=" | ".join(DECISIONS), actual=decision)
        text = _text("comment", comment, required=True)

        def work(s: Session) -> int:
            u = s.get(User, user.user_id)
            if u is None or u.disabled_at is not None or u.role != SIGNING_ROLE:
                raise InvalidInputError(
                    "signing account",
                    expected=f"an enabled {SIGNING_ROLE} account",
                    actual=f"{user.name} ({'disabled' if u and u.disabled_at else user.role})",
                )
            run = s.get(t.Run, run_id)
            if run is None:
                raise InvalidInputError("run id", expected="a run in the registry", actual=run_id)
            runs, cycles = _study_runs(s, [run.study_pk])
            if cycle not in cycles.get(run_id, set()):
                raise InvalidInputError(
                    f"cycle of run {run_id}",
                    expected=f"a cycle with dosimetry ({sorted(cycles.get(run_id, set()))})",
                    actual=cycle,
                )
            key = next(r for r in runs if r.run_id == run_id)
            newer = _newest_with_cycle(key, cycle, runs, cycles)
            if newer is not None:
                raise InvalidInputError(
                    f"run {run_id}",
                    expected=f"the newest run with cycle {cycle}",
                    actual=f"superseded by run {newer}",
                    fix=f"review run {newer}",
                )
            row = Approval(
                run_pk=run_id,
                cycle=cycle,
                decision=decision,
                comment=text,
                user_pk=u.id,
                user_name=u.name,
                user_role=u.role,
                signed_at=_dt.datetime.now(_dt.UTC).replace(microsecond=0),
                sstrkit_version=run.sstrkit_version,
                content_sha256=run.content_sha256,
                record_sha256="",
            )
            row.record_sha256 = record_digest(_digest_fields(row))
            s.add(row)
            s.flush()
            return row.id

        new_id = self.registry._write(work)
        return next(d for d in self.decisions(run_ids=[run_id]) if d.decision_id == new_id)

    def decisions(
        self, *, run_ids: Sequence[int] | None = None, patient_id: str | None = None
    ) -> list[Decision]:
        """Decisions on the runs (or on every run of the patient), oldest first."""
        with self.registry._read() as s:
            stmt = select(Approval, t.Run.study_pk).join(t.Run, Approval.run_pk == t.Run.id)
            if run_ids is not None:
                stmt = stmt.where(Approval.run_pk.in_(list(run_ids)))
            if patient_id is not None:
                stmt = (
                    stmt.join(t.Study, t.Run.study_pk == t.Study.id)
                    .join(t.Patient, t.Study.patient_pk == t.Patient.id)
                    .where(t.Patient.patient_id == patient_id)
                )
            rows = list(s.execute(stmt.order_by(Approval.id)))
            runs, cycles = _study_runs(s, [spk for _, spk in rows])
        by_id = {r.run_id: r for r in runs}
        last: dict[tuple[int, int], int] = {}
        for a, _ in rows:
            last[(a.run_pk, a.cycle)] = a.id
        out = []
        for a, _ in rows:
            newer = _newest_with_cycle(by_id[a.run_pk], a.cycle, runs, cycles)
            latest = last[(a.run_pk, a.cycle)]
            state = "superseded" if newer is not None else "standing"
            if latest != a.id:
                state = "replaced"
            out.append(
                Decision(
                    decision_id=a.id,
                    run_id=a.run_pk,
                    cycle=a.cycle,
                    decision=a.decision,
                    comment=a.comment,
                    user_name=a.user_name,
                    user_role=a.user_role,
                    signed_at=a.signed_at,
                    sstrkit_version=a.sstrkit_version,
                    content_sha256=a.content_sha256,
                    record_sha256=a.record_sha256,
                    intact=record_digest(_digest_fields(a)) == a.record_sha256,
                    state=state,
                    superseded_by_run=newer,
                    replaced_by=None if latest == a.id else latest,
                )
            )
        return out

    def superseding(self, run_id: int) -> dict[int, int | None]:
        """Per dosimetry cycle of the run: the newest newer run of its study with that cycle."""
        with self.registry._read() as s:
            run = s.get(t.Run, run_id)
            if run is None:
                raise InvalidInputError("run id", expected="a run in the registry", actual=run_id)
            runs, cycles = _study_runs(s, [run.study_pk])
        key = next(r for r in runs if r.run_id == run_id)
        return {c: _newest_with_cycle(key, c, runs, cycles) for c in sorted(cycles.get(run_id, ()))}

    def standing(self, run_id: int) -> dict[int, Decision]:
        """The standing decision of each cycle of the run that has one."""
        return {d.cycle: d for d in self.decisions(run_ids=[run_id]) if d.state == "standing"}

    # ------------------------------------------------------------------ comments
    def add_comment(
        self,
        patient_id: str,
        text: str,
        user: UserRecord,
        *,
        run_id: int | None = None,
        cycle: int | None = None,
    ) -> CommentRecord:
        """Append a comment on a patient (optionally on one run and cycle)."""
        body = _text("comment", text, required=True)
        if user.role not in COMMENTING_ROLES:
            raise InvalidInputError(
                "commenting account", expected=" or ".join(COMMENTING_ROLES), actual=user.role
            )

        def work(s: Session) -> int:
            p = s.scalar(select(t.Patient).where(t.Patient.patient_id == patient_id))
            if p is None:
                raise InvalidInputError(
                    "patient", expected="a registered patient", actual=patient_id
                )
            if run_id is not None:
                owner = s.scalar(
                    select(t.Study.patient_pk)
                    .join(t.Run, t.Run.study_pk == t.Study.id)
                    .where(t.Run.id == run_id)
                )
                if owner != p.id:
                    raise InvalidInputError(
                        "run id", expected=f"a run of patient {patient_id}", actual=run_id
                    )
            row = Comment(
                patient_pk=p.id,
                run_pk=run_id,
                cycle=cycle,
                text=body,
                user_pk=user.user_id,
                user_name=user.name,
                user_role=user.role,
                created_at=_dt.datetime.now(_dt.UTC).replace(microsecond=0),
            )
            s.add(row)
            s.flush()
            return row.id

        new_id = self.registry._write(work)
        return next(c for c in self.comments(patient_id) if c.comment_id == new_id)

    def comments(self, patient_id: str) -> list[CommentRecord]:
        """The patient's comments, oldest first."""
        with self.registry._read() as s:
            stmt = (
                select(Comment)
                .join(t.Patient, Comment.patient_pk == t.Patient.id)
                .where(t.Patient.patient_id == patient_id)
                .order_by(Comment.id)
            )
            return [
                CommentRecord(
                    c.id, patient_id, c.run_pk, c.cycle, c.text, c.user_name, c.user_role,
                    c.created_at,
                )
                for c in s.scalars(stmt)
            ]  # fmt: skip
