"""The HTML pages: login, patient list, patient, viewer, report, accounts.

Pages carry no patient data in their HTML (except the report): their scripts fetch it
from the JSON API with the session cookie, and send the CSRF token of the page's
``<meta name="csrf-token">`` with every change. A page asked for without a session
redirects to the login form (``/?next=...``); a page of another role answers 403.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sstrkit.registry.accounts import UserRecord
from sstrkit.web.auth import READERS, get_auth
from sstrkit.web.report import banner_html, with_banner

__all__ = ["router"]

router = APIRouter(tags=["pages"])
#: NiiVue as ``make web-assets`` copies it (the viewer says how to get it when missing)
NIIVUE = Path(__file__).parent / "static" / "vendor" / "niivue.js"
REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    auth = get_auth(request)
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request,
        template,
        {"user": auth.user(request), "csrf": auth.csrf_token(request), **context},
        status_code=status,
    )
    return response


def _login_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    """The login form, with the login CSRF token (and its nonce cookie when new)."""
    probe = Response()
    token = get_auth(request).start_login(request, probe)
    next_path = _safe_next(request.query_params.get("next") or context.pop("next", None))
    response = _render(request, "login.html", status, login_csrf=token, next=next_path, **context)
    for key, value in probe.headers.items():
        if key.lower() == "set-cookie":
            response.headers.append("set-cookie", value)
    return response


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _gate(request: Request, roles: tuple[str, ...]) -> UserRecord | Response:
    """The page's account, or the redirect to the login form / a 403 page."""
    user = get_auth(request).user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/?next={quote(target, safe='')}", status_code=303)
    if user.role not in roles:
        return _render(
            request, "denied.html", 403, needed=" or ".join(roles), title="Access denied"
        )
    return user


@router.get("/", response_class=HTMLResponse, summary="Login form, or the patient list")
def home(request: Request) -> Response:
    """Without a session: the login form (200). Readers: the patient list; admin: accounts."""
    user = get_auth(request).user(request)
    if user is None:
        return _login_page(request)
    if user.role == "admin":
        return RedirectResponse("/admin", status_code=303)
    return _render(request, "patients.html", title="Patients")


@router.post("/login", response_class=HTMLResponse, summary="Log in (form post)")
def login(
    request: Request,
    name: str = Form(...),
    password: str = Form(...),
    next: str = Form("/"),
) -> Response:
    """Check the password; on success a session cookie and a redirect (303) to ``next``.

    Wrong name or password: the form again with 401; too many failures for the name: 429.
    """
    auth = get_auth(request)
    if auth.throttle.locked(name):
        return _login_page(
            request, 429, error="Too many failed logins: wait a few minutes.", next=next
        )
    user = auth.accounts.verify(name, password)
    if user is None:
        auth.throttle.failed(name)
        request.state.user_name = f"failed-login:{name}"
        return _login_page(request, 401, error="Wrong name or password.", next=next)
    auth.throttle.succeeded(name)
    request.state.user_name = user.name
    response = RedirectResponse(_safe_next(next), status_code=303)
    auth.open_session(request, response, user)
    return response


@router.post("/logout", summary="Log out")
def logout(request: Request) -> Response:
    """End the session (server side too) and go back to the login form."""
    response = RedirectResponse("/", status_code=303)
    get_auth(request).close_session(request, response)
    return response


@router.get("/patients/{patient_id}", response_class=HTMLResponse, summary="Patient page")
def patient_page(request: Request, patient_id: str) -> Response:
    """Treatment timeline, doses against limits per cycle, runs, reviews, comments."""
    gate = _gate(request, READERS)
    if not isinstance(gate, UserRecord):
        return gate
    return _render(request, "patient.html", title=f"Patient {patient_id}", patient_id=patient_id)


@router.get("/runs/{run_id}/viewer", response_class=HTMLResponse, summary="Image viewer")
def viewer_page(request: Request, run_id: int, cycle: int | None = None) -> Response:
    """NiiVue viewer of a run: CT with SPECT/PET, dose or TIA, VOI outlines; DVH, TAC."""
    gate = _gate(request, READERS)
    if not isinstance(gate, UserRecord):
        return gate
    return _render(
        request,
        "viewer.html",
        title=f"Run {run_id}",
        run_id=run_id,
        cycle=cycle or "",
        niivue=NIIVUE.is_file(),
    )


@router.get("/runs/{run_id}/report", response_class=HTMLResponse, summary="Run report")
def report_page(request: Request, run_id: int) -> Response:
    """The run's HTML report with the review banner (approval state per cycle) on top."""
    from sstrkit.errors import InvalidInputError
    from sstrkit.web.data import run_meta

    gate = _gate(request, READERS)
    if not isinstance(gate, UserRecord):
        return gate
    reg, reviews = request.app.state.registry, request.app.state.reviews
    try:
        meta = run_meta(reg, run_id)
    except InvalidInputError:
        return _render(request, "denied.html", 404, title="No such run", missing=True)
    path = Path(meta["out_dir"]) / "report" / "index.html"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return _render(request, "denied.html", 404, title="No report", missing=True)
    decisions = [d.to_dict() for d in reviews.decisions(run_ids=[run_id])]
    banner = banner_html(meta, reviews.superseding(run_id), decisions)
    return HTMLResponse(with_banner(text, banner), headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/admin", response_class=HTMLResponse, summary="Accounts page")
def admin_page(request: Request) -> Response:
    """Create, disable and enable accounts (admin only)."""
    gate = _gate(request, ("admin",))
    if not isinstance(gate, UserRecord):
        return gate
    return _render(request, "admin.html", title="Accounts")
