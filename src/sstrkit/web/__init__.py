"""Web review: a physicist's and physician's workstation in the browser (``sstrkit serve``).

A FastAPI application over the patient registry (docs/web.md): log in, find patients
near a limit, follow a patient's treatment timeline, look at the SPECT/CT with the dose
overlay and the VOI outlines in NiiVue, the DVH and time-activity curves and the run's
report, and sign the approval of a cycle's dosimetry, stored in the registry as an
append-only audit record.

Usage::

    from sstrkit.web import WebSettings, create_app

    app = create_app(WebSettings(registry="prrt.sqlite"))   # serve with uvicorn

Modules: :mod:`~sstrkit.web.settings` (configuration), :mod:`~sstrkit.web.app`
(application, middleware: security headers and access log),
:mod:`~sstrkit.web.auth` (sessions, CSRF, roles, login throttle),
:mod:`~sstrkit.web.routes_pages` (HTML pages), :mod:`~sstrkit.web.routes_api` (patient
data as JSON), :mod:`~sstrkit.web.routes_review` (signed decisions),
:mod:`~sstrkit.web.routes_admin` (accounts), :mod:`~sstrkit.web.data` (what the pages
show), :mod:`~sstrkit.web.imaging` (images as NIfTI, DVH), :mod:`~sstrkit.web.report`
(the report with the review banner). Accounts and the audit trail live in the registry
(:mod:`sstrkit.registry.accounts`, :mod:`sstrkit.registry.approvals`).
"""

from __future__ import annotations

from sstrkit.web.app import create_app
from sstrkit.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
