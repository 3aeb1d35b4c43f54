"""The JSON API of the patient data: patients, one patient, comments, runs, images, curves.

Every route needs a session of a reader (physicist or physician): 401 without one, 403
for an admin account. Writing a comment needs the CSRF token as well (like every
state-changing request, :func:`sstrkit.web.auth.csrf_protect`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from sstrkit.errors import InvalidInputError
from sstrkit.registry.accounts import UserRecord
from sstrkit.web.auth import READERS, current_user, get_auth, require

__all__ = ["router"]

router = APIRouter(prefix="/api", tags=["data"])
_READER = Depends(require(*READERS))
_NOT_LOGGED_IN: dict[int | str, dict[str, Any]] = {
    401: {"description": "no session"},
    403: {"description": "wrong role"},
}


class CommentIn(BaseModel):
    """A comment on a patient, optionally on one run and cycle."""

    text: str = Field(min_length=1, max_length=4000)
    run_id: int | None = None
    cycle: int | None = None


def _state(request: Request) -> Any:
    return request.app.state


def _not_found(exc: InvalidInputError) -> HTTPException:
    return HTTPException(404, exc.one_line())


@router.get("/me", summary="The logged-in account and its CSRF token")
def me(request: Request, user: UserRecord = Depends(current_user)) -> dict[str, Any]:
    """Name and role of the session's account, and the token for ``X-CSRF-Token``."""
    return {**user.to_dict(), "csrf_token": get_auth(request).csrf_token(request)}


@router.get("/patients", summary="The patient list (search and filters)", responses=_NOT_LOGGED_IN)
def patients(
    request: Request,
    q: str | None = Query(None, description="part of the patient id (case-insensitive)"),
    eligible: str | None = Query(None, description="yes | no | unknown (PET reading)"),
    cycles: int | None = Query(None, ge=0, description="number of therapy cycles"),
    near_limit: bool | None = Query(
        None, description="cumulative kidney BED or marrow dose >= 80 % of the limit"
    ),
    _user: UserRecord = _READER,
) -> dict[str, Any]:
    """Patients with cycles, cumulative kidney BED and marrow dose against the limits
    (``fraction``, ``status`` green/amber/red), eligibility and review counts."""
    from sstrkit.web.data import default_limits, filter_rows, patient_rows

    st = _state(request)
    rows = patient_rows(st.registry, st.settings)
    chosen = filter_rows(rows, q=q, eligible=eligible, cycles=cycles, near_limit=near_limit)
    return {
        "total": len(rows),
        "limits": default_limits(st.settings).to_dict(),
        "patients": chosen,
    }


@router.get("/patients/{patient_id}", summary="One patient", responses=_NOT_LOGGED_IN)
def patient(request: Request, patient_id: str, _user: UserRecord = _READER) -> dict[str, Any]:
    """Studies and runs, treatment timeline, per-cycle doses vs limits, decisions, comments."""
    from sstrkit.web.data import patient_view

    st = _state(request)
    try:
        return patient_view(st.registry, st.reviews, patient_id, st.settings)
    except InvalidInputError as exc:
        raise _not_found(exc) from None


@router.get("/patients/{patient_id}/comments", summary="Comments on a patient")
def comments(request: Request, patient_id: str, _user: UserRecord = _READER) -> list[Any]:
    """The patient's comments, oldest first."""
    return [c.to_dict() for c in _state(request).reviews.comments(patient_id)]


@router.post(
    "/patients/{patient_id}/comments",
    status_code=201,
    summary="Comment on a patient (physicist, physician)",
    responses=_NOT_LOGGED_IN,
)
def add_comment(
    request: Request, patient_id: str, body: CommentIn, user: UserRecord = _READER
) -> dict[str, Any]:
    """Append a comment (append-only: comments are never edited or deleted)."""
    rec = _state(request).reviews.add_comment(
        patient_id, body.text, user, run_id=body.run_id, cycle=body.cycle
    )
    out: dict[str, Any] = rec.to_dict()
    return out


def _run(request: Request, run_id: int) -> dict[str, Any]:
    from sstrkit.web.data import run_meta

    try:
        return run_meta(_state(request).registry, run_id)
    except InvalidInputError as exc:
        raise _not_found(exc) from None


@router.get("/runs/{run_id}", summary="One run: cycles, images, VOIs, decisions")
def run(request: Request, run_id: int, _user: UserRecord = _READER) -> dict[str, Any]:
    """What the viewer loads first: the run's images (with their URLs and units), the
    VOI names, its dosimetry cycles with the standing decision, and all decisions."""
    from sstrkit.web.data import run_view

    _run(request, run_id)
    st = _state(request)
    return run_view(st.registry, st.reviews, run_id, st.settings)


@router.get("/runs/{run_id}/cycles/{cycle}/dvh", summary="Cumulative DVH of every VOI")
def dvh(request: Request, run_id: int, cycle: int, _user: UserRecord = _READER) -> dict[str, Any]:
    """V(d) of each VOI on the cycle's dose map (dose in Gy, volume fraction 0–1)."""
    from sstrkit.web.data import results_of, voi_names
    from sstrkit.web.imaging import dvh_curves

    meta = _run(request, run_id)
    out = Path(meta["out_dir"]) / "dose"
    dose, vois = out / f"dose_cycle{cycle}.nii.gz", out / f"vois_cycle{cycle}.nii.gz"
    if not (dose.is_file() and vois.is_file()):
        raise HTTPException(404, f"run {run_id} has no dose map and VOIs of cycle {cycle}")
    groups = voi_names(results_of(meta["out_dir"]))
    return {"run_id": run_id, "cycle": cycle, "regions": dvh_curves(dose, vois, groups)}


@router.get("/runs/{run_id}/cycles/{cycle}/tac", summary="Time-activity curves")
def tac(request: Request, run_id: int, cycle: int, _user: UserRecord = _READER) -> dict[str, Any]:
    """Region activities (MBq) at the SPECT times (h after administration), with the
    mono-exponential fit where the kinetics were mono-exponential."""
    from sstrkit.web.data import results_of, tac_view

    meta = _run(request, run_id)
    try:
        return {"run_id": run_id, **tac_view(results_of(meta["out_dir"]), cycle)}
    except InvalidInputError as exc:
        raise _not_found(exc) from None


@router.get(
    "/runs/{run_id}/volumes/{key}.nii.gz",
    summary="One image of a run as NIfTI",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}}}, **_NOT_LOGGED_IN},
)
def volume(request: Request, run_id: int, key: str, _user: UserRecord = _READER) -> FileResponse:
    """``ct_cycleN``, ``spect_cycleN``, ``dose_cycleN``, ``tia_cycleN``, ``vois_cycleN``,
    ``pet_ct``, ``suv`` or ``lesions`` (``GET /api/runs/{id}`` lists those the run has)."""
    from sstrkit.web.data import results_of
    from sstrkit.web.imaging import nifti_file, volume_entry

    meta = _run(request, run_id)
    try:
        entry = volume_entry(
            key, Path(meta["out_dir"]), results_of(meta["out_dir"]), meta["study_folder"]
        )
    except InvalidInputError as exc:
        raise _not_found(exc) from None
    path = nifti_file(entry, _state(request).settings.cache_dir)
    # the browser may keep it, but asks again each time (ETag: 304 when unchanged)
    headers = {"Cache-Control": "private, no-cache"}
    return FileResponse(
        path, media_type="application/gzip", filename=f"{key}.nii.gz", headers=headers
    )
