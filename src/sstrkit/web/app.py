"""The FastAPI application of the web review: :func:`create_app`.

One application serves the pages (``/``, ``/patients/{id}``, ``/runs/{id}/viewer``,
``/runs/{id}/report``, ``/admin``), the JSON API under ``/api`` (documented by its
OpenAPI schema at ``/openapi.json``) and the static files (``/static``: the pages'
scripts and styles, and NiiVue copied there by ``make web-assets``). The interactive
Swagger/ReDoc pages of FastAPI are off: they load their scripts from a CDN, and the
review works offline.

Every request passes through one middleware that sets the security headers
(Content-Security-Policy: scripts, styles and data from this server only; no framing;
``Cache-Control: no-store`` on everything but static files) and writes one line per
request to the access log (logger ``sstrkit.web.access``, and the file
``WebSettings.access_log``): time, client address, account, method, path, status and
duration. Passwords travel only in request bodies, which are never logged.

Errors: sstrkit's typed errors become 400 (404 for an unknown patient, run, volume or
cycle) with the JSON ``{"detail": "...", "error": {what, expected, actual, fix}}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from sstrkit import __version__
from sstrkit.errors import SstrkitError
from sstrkit.registry.accounts import Accounts
from sstrkit.registry.approvals import Reviews
from sstrkit.web.auth import Auth, csrf_protect
from sstrkit.web.settings import WebSettings

if TYPE_CHECKING:
    from sstrkit.registry.store import Registry

__all__ = ["ACCESS_LOGGER", "STATIC_DIR", "create_app"]

HERE: Final = Path(__file__).parent
STATIC_DIR: Final = HERE / "static"
TEMPLATES_DIR: Final = HERE / "templates"
ACCESS_LOGGER: Final = "sstrkit.web.access"
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self' data: blob:; worker-src 'self' blob:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
DESCRIPTION: Final = (
    "Review of sstrkit's patient registry: patients, treatment timelines, dose maps, "
    "DVH and time-activity curves, run reports, and the signed approval of each cycle's "
    "dosimetry. Every route but the login form, `/openapi.json` and `/static` needs a "
    "session (cookie `sstrkit_session`, from `POST /login`); every state-changing "
    "request needs the CSRF token of `GET /api/me` in the header `X-CSRF-Token`. "
    "Roles: physicist (read, comment, sign), physician (read, comment), admin (accounts)."
)


def _access_handler(app: FastAPI, settings: WebSettings) -> logging.Handler | None:
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.setLevel(logging.INFO)
    if settings.access_log is None:
        return None
    settings.access_log.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.access_log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return handler


async def _middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    t0 = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
    finally:
        user = getattr(request.state, "user_name", None) or "-"
        client = request.client.host if request.client else "-"
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        logging.getLogger(ACCESS_LOGGER).info(
            "%s %s %s %s %d %.1fms",
            client,
            user,
            request.method,
            path,
            status,
            (time.perf_counter() - t0) * 1e3,
        )
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    if not request.url.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    return response


def _error_handler(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SstrkitError)
    return JSONResponse({"detail": exc.one_line(), "error": exc.to_dict()}, status_code=400)


def create_app(settings: WebSettings | None = None, *, registry: Registry | None = None) -> FastAPI:
    """The web application over ``registry`` (else the one ``settings.registry`` names).

    A registry opened here is closed when the application shuts down.
    """
    from sstrkit.registry import open_registry
    from sstrkit.web import routes_admin, routes_api, routes_pages, routes_review

    settings = settings or WebSettings()
    reg = registry if registry is not None else open_registry(settings.registry)
    owned = registry is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if handler is not None:
            logging.getLogger(ACCESS_LOGGER).removeHandler(handler)
            handler.close()
        if owned:
            reg.close()

    app = FastAPI(
        title="sstrkit web review",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(csrf_protect)],
        lifespan=lifespan,
    )
    accounts = Accounts(reg)
    app.state.settings = settings
    app.state.registry = reg
    app.state.accounts = accounts
    app.state.reviews = Reviews(reg)
    app.state.auth = Auth(settings, accounts)
    app.state.templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    handler = _access_handler(app, settings)
    app.middleware("http")(_middleware)
    app.add_exception_handler(SstrkitError, _error_handler)
    for module in (routes_pages, routes_api, routes_review, routes_admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
