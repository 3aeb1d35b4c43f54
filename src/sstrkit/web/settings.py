"""What ``sstrkit serve`` is configured with (:class:`WebSettings`).

* ``registry``: the registry URL (as ``--registry``; None: ``$SSTRKIT_REGISTRY``, else the
  SQLite file under the user's data folder, :mod:`sstrkit.registry.db`).
* ``secret_key``: signs the session cookies and derives the CSRF tokens. Default: the
  environment variable ``SSTRKIT_WEB_SECRET``, else 32 random bytes drawn at start
  (sessions then end when the server restarts).
* ``cache_dir``: NIfTI conversions of the DICOM CT/SPECT shown in the viewer and the
  computed DVHs (``$XDG_CACHE_HOME/sstrkit/web``, else ``~/.cache/sstrkit/web``).
* ``access_log``: a file the access log is appended to (None: the
  ``sstrkit.web.access`` logger only, which ``sstrkit serve`` prints on stderr).
* ``session_hours``: lifetime of a login; ``secure_cookie``: mark the cookies
  ``Secure`` (when served over HTTPS, e.g. behind a TLS proxy).
* ``kidney_bed_limit_gy``, ``marrow_limit_gy``: the limits the patient *list* compares
  cumulative doses with (the registry does not keep each run's limits); the patient
  page uses each run's own planning limits. Defaults: the planning defaults
  (:class:`sstrkit.therapy.case.PlanningLimits`: kidney BED 40 Gy, red marrow 2 Gy).
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["WebSettings", "default_cache_dir"]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sstrkit" / "web"


def _secret() -> str:
    return os.environ.get("SSTRKIT_WEB_SECRET") or secrets.token_urlsafe(32)


def _limits() -> tuple[float, float]:
    from sstrkit.therapy.case import PlanningLimits

    lim = PlanningLimits()
    return lim.kidney_bed_gy, lim.red_marrow_absorbed_gy


@dataclass(frozen=True)
class WebSettings:
    """Settings of one web application (see the module docstring)."""

    registry: str | None = None
    secret_key: str = field(default_factory=_secret, repr=False)
    cache_dir: Path = field(default_factory=default_cache_dir)
    access_log: Path | None = None
    session_hours: float = 12.0
    secure_cookie: bool = False
    kidney_bed_limit_gy: float = field(default_factory=lambda: _limits()[0])
    marrow_limit_gy: float = field(default_factory=lambda: _limits()[1])
    #: failed logins of one account name within ``lockout_minutes`` before it is locked
    max_failed_logins: int = 5
    lockout_minutes: float = 10.0

    @property
    def session_lifetime(self) -> _dt.timedelta:
        return _dt.timedelta(hours=self.session_hours)
