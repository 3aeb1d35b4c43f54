"""Signing a cycle's dosimetry: approve or reject with a comment, password re-entered.

``POST /api/runs/{run_id}/cycles/{cycle}/review`` (physicist only, CSRF token required)
checks the password of the session's account again — the signature — and appends the
decision to the registry's audit trail (:class:`sstrkit.registry.approvals.Reviews`):
who, in which role, when, which run (id, sstrkit version, content hash), the comment and
the record's SHA-256. A wrong password answers 403 and counts as a failed login of the
account (:class:`sstrkit.web.auth.LoginThrottle`). A run superseded for the cycle by a
newer run of the study, or a cycle without dosimetry, answers 409.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from sstrkit.errors import InvalidInputError
from sstrkit.registry.accounts import UserRecord
from sstrkit.web.auth import READERS, get_auth, require

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["review"])


class ReviewIn(BaseModel):
    """A decision on one cycle's dosimetry, signed by re-entering the password."""

    decision: Literal["approved", "rejected"]
    comment: str = Field(min_length=1, max_length=4000)
    password: str = Field(min_length=1, repr=False)


@router.post(
    "/runs/{run_id}/cycles/{cycle}/review",
    status_code=201,
    summary="Approve or reject a cycle's dosimetry (physicist; password re-entered)",
    responses={
        401: {"description": "no session"},
        403: {"description": "not a physicist, or the password does not match"},
        409: {"description": "run superseded for the cycle, or no dosimetry of the cycle"},
        429: {"description": "too many wrong passwords"},
    },
)
def review(
    request: Request,
    run_id: int,
    cycle: int,
    body: ReviewIn,
    user: UserRecord = Depends(require("physicist")),
) -> dict[str, Any]:
    """Append the signed decision; answers it with its state (``standing``)."""
    auth = get_auth(request)
    if auth.throttle.locked(user.name):
        raise HTTPException(429, "too many wrong passwords: wait a few minutes")
    if auth.accounts.verify(user.name, body.password) is None:
        auth.throttle.failed(user.name)
        raise HTTPException(403, "the password does not match: not signed")
    auth.throttle.succeeded(user.name)
    try:
        decision = request.app.state.reviews.decide(
            run_id=run_id, cycle=cycle, decision=body.decision, comment=body.comment, user=user
        )
    except InvalidInputError as exc:
        raise HTTPException(409, exc.one_line()) from None
    out: dict[str, Any] = decision.to_dict()
    return out


@router.get("/runs/{run_id}/decisions", summary="Review decisions on a run")
def decisions(
    request: Request, run_id: int, _user: UserRecord = Depends(require(*READERS))
) -> list[Any]:
    """Every decision on the run, oldest first, with its state (standing, replaced,
    superseded) and whether its record still matches its SHA-256 (``intact``)."""
    return [d.to_dict() for d in request.app.state.reviews.decisions(run_ids=[run_id])]
