"""Login, sessions, CSRF protection and roles of the web review.

**Sessions.** A successful login opens a session in the registry
(:meth:`sstrkit.registry.accounts.Accounts.open_session`: a random 256-bit token, stored
as its SHA-256) and sets the cookie ``sstrkit_session`` to the token signed with the
server's secret (``itsdangerous``, timestamped; ``HttpOnly``, ``SameSite=Strict``,
``Secure`` when configured). A request is logged in when the signature holds, the
session is neither expired nor logged out, and the account is enabled.

**CSRF.** Every state-changing request (any method but GET, HEAD, OPTIONS) must carry
a token in the header ``X-CSRF-Token`` (the pages' JavaScript) or the form field
``csrf_token`` (the login and logout forms): an HMAC-SHA256 of the session token under
the server secret, which only a page of this server can read (``GET /api/me`` and
the pages hand it out). Before login the token belongs to a signed random nonce in the
cookie ``sstrkit_login`` (set with the login form), so that a third-party page cannot
log a browser in either. A request whose ``Origin`` header names another origin is
refused outright. :func:`csrf_protect` is a dependency of the whole application, so
that no route can forget it.

**Roles.** :func:`require` makes a dependency that answers 401 without a session and
403 for an account of another role. ``physicist``: read, comment, sign dosimetry
decisions; ``physician``: read, comment; ``admin``: accounts only (no patient data).

**Brute force.** After ``max_failed_logins`` failed logins of one account name within
``lockout_minutes``, that name is refused (429) until the window has passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from fastapi import HTTPException, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from sstrkit.registry.accounts import Accounts, UserRecord

if TYPE_CHECKING:
    from sstrkit.web.settings import WebSettings

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "READERS",
    "SESSION_COOKIE",
    "Auth",
    "csrf_protect",
    "current_user",
    "require",
]

SESSION_COOKIE: Final = "sstrkit_session"
LOGIN_COOKIE: Final = "sstrkit_login"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: paths that take a state-changing request without a session (with the login token)
LOGIN_PATHS: Final = frozenset({"/login"})
#: roles that may read patient data
READERS: Final = ("physicist", "physician")


class LoginThrottle:
    """Failed logins per account name in a sliding window (in memory, per process)."""

    def __init__(self, max_failures: int, window_s: float) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, name: str) -> deque[float]:
        q = self._failures[name]
        now = time.monotonic()
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def locked(self, name: str) -> bool:
        return len(self._recent(name)) >= self.max_failures

    def failed(self, name: str) -> None:
        self._recent(name).append(time.monotonic())

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)


class Auth:
    """Cookies, tokens and the session lookup of one application."""

    def __init__(self, settings: WebSettings, accounts: Accounts) -> None:
        self.settings, self.accounts = settings, accounts
        self._key = settings.secret_key.encode("utf-8")
        self._session = URLSafeTimedSerializer(settings.secret_key, salt="sstrkit-session")
        self._login = URLSafeTimedSerializer(settings.secret_key, salt="sstrkit-login")
        self.throttle = LoginThrottle(settings.max_failed_logins, settings.lockout_minutes * 60)

    # ------------------------------------------------------------------ tokens
    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def session_token(self, request: Request) -> str | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        max_age = int(self.settings.session_lifetime.total_seconds())
        try:
            token = self._session.loads(raw, max_age=max_age)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    def login_nonce(self, request: Request) -> str | None:
        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw:
            return None
        try:
            nonce = self._login.loads(raw, max_age=3600)
        except BadSignature:
            return None
        return nonce if isinstance(nonce, str) else None

    def user(self, request: Request) -> UserRecord | None:
        """The logged-in account of the request (looked up once per request)."""
        if hasattr(request.state, "user"):
            user: UserRecord | None = request.state.user
            return user
        token = self.session_token(request)
        found = None if token is None else self.accounts.session_user(token)
        request.state.user = found
        request.state.user_name = found.name if found else None
        return found

    def csrf_token(self, request: Request) -> str | None:
        """The token the request's page must send back (session, else login nonce)."""
        token = self.session_token(request)
        if token is not None and self.user(request) is not None:
            return self._mac("session", token)
        nonce = self.login_nonce(request)
        return None if nonce is None else self._mac("login", nonce)

    # ------------------------------------------------------------------ cookies
    def _cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookie,
            path="/",
        )

    def start_login(self, request: Request, response: Response) -> str:
        """The login form's CSRF token (a new nonce cookie unless one is set)."""
        nonce = self.login_nonce(request)
        if nonce is None:
            nonce = secrets.token_urlsafe(24)
            self._cookie(response, LOGIN_COOKIE, self._login.dumps(nonce), 3600)
        return self._mac("login", nonce)

    def open_session(self, request: Request, response: Response, user: UserRecord) -> str:
        client = request.client.host if request.client else None
        token = self.accounts.open_session(user, self.settings.session_lifetime, client)
        lifetime = int(self.settings.session_lifetime.total_seconds())
        self._cookie(response, SESSION_COOKIE, self._session.dumps(token), lifetime)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return self._mac("session", token)

    def close_session(self, request: Request, response: Response) -> None:
        token = self.session_token(request)
        if token is not None:
            self.accounts.close_session(token)
        response.delete_cookie(SESSION_COOKIE, path="/")


def get_auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


def _same_origin(request: Request, origin: str) -> bool:
    host = request.headers.get("host", "")
    return origin.rstrip("/") in (f"http://{host}", f"https://{host}")


async def csrf_protect(request: Request) -> None:
    """Application-wide dependency: login and CSRF token on every state-changing request."""
    if request.method in SAFE_METHODS:
        return
    auth = get_auth(request)
    origin = request.headers.get("origin")
    if origin and origin != "null" and not _same_origin(request, origin):
        raise HTTPException(403, "cross-origin request refused")
    if request.url.path not in LOGIN_PATHS and auth.user(request) is None:
        raise HTTPException(401, "login required")
    sent = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if sent is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = auth.csrf_token(request)
    if not sent or expected is None or not hmac.compare_digest(sent, expected):
        raise HTTPException(403, "CSRF token missing or wrong: reload the page")


def current_user(request: Request) -> UserRecord:
    """Dependency: the logged-in account, else 401."""
    user = get_auth(request).user(request)
    if user is None:
        raise HTTPException(401, "login required")
    return user


def require(*roles: str) -> Callable[[Request], Awaitable[UserRecord]]:
    """Dependency factory: the logged-in account when its role is one of ``roles``."""

    async def dependency(request: Request) -> UserRecord:
        user = current_user(request)
        if user.role not in roles:
            raise HTTPException(403, f"this needs the role {' or '.join(roles)}")
        return user

    return dependency
