"""Every route of the web review: denied without login, denied for the wrong role, served
to the right one, CSRF-protected when it changes state.

:data:`ROUTES` lists every route the application has (the first test checks that the
table and the application agree, so that a new route cannot go untested) with the roles
that may use it, a request that should succeed and its status.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.routing import Mount

from .conftest import PASSWORD, USERS, Server, WebCohort, login_token

ALL = ("physicist", "physician", "admin")
READERS = ("physicist", "physician")


@dataclass(frozen=True)
class Spec:
    roles: tuple[str, ...]  # () = public
    ok: int = 200
    body: dict[str, Any] | None = None
    page: bool = False  # an HTML page: redirect to the login form without a session
    writes: bool = False


ROUTES: dict[tuple[str, str], Spec] = {
    ("GET", "/"): Spec(()),
    ("POST", "/login"): Spec(()),
    ("GET", "/openapi.json"): Spec(()),
    ("POST", "/logout"): Spec(ALL, ok=303, writes=True),
    ("GET", "/patients/{patient_id}"): Spec(READERS, page=True),
    ("GET", "/runs/{run_id}/viewer"): Spec(READERS, page=True),
    ("GET", "/runs/{run_id}/report"): Spec(READERS, page=True),
    ("GET", "/admin"): Spec(("admin",), page=True),
    ("GET", "/api/me"): Spec(ALL),
    ("GET", "/api/patients"): Spec(READERS),
    ("GET", "/api/patients/{patient_id}"): Spec(READERS),
    ("GET", "/api/patients/{patient_id}/comments"): Spec(READERS),
    ("POST", "/api/patients/{patient_id}/comments"): Spec(
        READERS, ok=201, body={"text": "kidney VOI checked"}, writes=True
    ),
    ("GET", "/api/runs/{run_id}"): Spec(READERS),
    ("GET", "/api/runs/{run_id}/cycles/{cycle}/dvh"): Spec(READERS),
    ("GET", "/api/runs/{run_id}/cycles/{cycle}/tac"): Spec(READERS),
    ("GET", "/api/runs/{run_id}/volumes/{key}.nii.gz"): Spec(READERS),
    ("GET", "/api/runs/{run_id}/decisions"): Spec(READERS),
    ("POST", "/api/runs/{run_id}/cycles/{cycle}/review"): Spec(
        ("physicist",),
        ok=201,
        body={"decision": "approved", "comment": "VOIs on the organs", "password": PASSWORD},
        writes=True,
    ),
    ("GET", "/api/users"): Spec(("admin",)),
    ("POST", "/api/users"): Spec(
        ("admin",),
        ok=201,
        body={"name": "newcomer", "role": "physician", "password": "a long enough password"},
        writes=True,
    ),
    ("POST", "/api/users/{name}/disable"): Spec(("admin",), writes=True),
    ("POST", "/api/users/{name}/enable"): Spec(("admin",), writes=True),
    ("POST", "/api/users/{name}/password"): Spec(
        ("admin",), body={"password": "another long password"}, writes=True
    ),
}
PROTECTED = [k for k, v in ROUTES.items() if v.roles]


@dataclass
class Params:
    values: dict[str, str] = field(default_factory=dict)

    def fill(self, path: str) -> str:
        out = path
        for key, value in self.values.items():
            out = out.replace("{" + key + "}", value)
        assert "{" not in out, out
        return out


@pytest.fixture(scope="module")
def params(server: Server, web_cohort: WebCohort) -> Params:
    pid = web_cohort.patient_ids[0]
    with server.login("phys") as c:
        run_id = c.get(f"/api/patients/{pid}").json()["cycles"][0]["run_id"]
    return Params(
        {
            "patient_id": pid,
            "run_id": str(run_id),
            "cycle": "1",
            "key": "dose_cycle1",
            "name": "doc",
        }
    )


def _server_for(spec: Spec, request: pytest.FixtureRequest) -> Server:
    """The shared server for reads; a server on a copy of the registry for writes."""
    fixture = "private_server" if spec.writes else "server"
    found: Server = request.getfixturevalue(fixture)
    return found


def _send(c: httpx.Client, method: str, url: str, spec: Spec) -> httpx.Response:
    return c.request(method, url, json=spec.body) if spec.body else c.request(method, url)


def _routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    for r in routes:
        if isinstance(r, Mount):  # /static
            continue
        if hasattr(r, "original_router"):  # an included router (FastAPI >= 0.1xx)
            yield from _routes(r.original_router.routes)
            continue
        for m in set(getattr(r, "methods", None) or ()) - {"HEAD"}:
            yield (m, r.path)


def test_the_route_table_is_the_application(server: Server) -> None:
    assert set(_routes(server.app.routes)) == set(ROUTES)


def test_home_without_a_session_is_the_login_form(server: Server) -> None:
    with server.client() as c:
        res = c.get("/")
    assert res.status_code == 200
    assert '<form method="post" action="/login"' in res.text
    assert 'name="password"' in res.text
    assert "sstrkit_login" in res.headers["set-cookie"]  # the login form's CSRF nonce
    assert "SSTRKIT-" not in res.text  # no patient data


def test_patients_api_without_a_session_is_401(server: Server) -> None:
    with server.client() as c:
        res = c.get("/api/patients")
    assert res.status_code == 401
    assert res.json() == {"detail": "login required"}


def test_openapi_schema_is_public_and_lists_the_api(server: Server) -> None:
    with server.client() as c:
        schema = c.get("/openapi.json").json()
    assert schema["info"]["title"] == "sstrkit web review"
    documented = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert documented == set(ROUTES) - {("GET", "/openapi.json")}


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_denied_without_login(server: Server, params: Params, method: str, path: str) -> None:
    spec = ROUTES[(method, path)]
    url = params.fill(path)
    with server.client() as c:
        res = _send(c, method, url, spec)
    if spec.page:
        assert res.status_code == 303
        assert res.headers["location"].startswith("/?next=")
    else:
        assert res.status_code == 401, res.text


WRONG = [(k, role) for k in PROTECTED for role in ALL if role not in ROUTES[k].roles]


@pytest.mark.parametrize(("route", "role"), WRONG, ids=[f"{m} {p} as {r}" for (m, p), r in WRONG])
def test_denied_for_the_wrong_role(
    request: pytest.FixtureRequest, params: Params, route: tuple[str, str], role: str
) -> None:
    method, path = route
    spec = ROUTES[route]
    name = next(n for n, r in USERS.items() if r == role)
    with _server_for(spec, request).login(name) as c:
        res = _send(c, method, params.fill(path), spec)
    assert res.status_code == 403, res.text


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_served_to_the_right_role(
    request: pytest.FixtureRequest, params: Params, method: str, path: str
) -> None:
    spec = ROUTES[(method, path)]
    name = next(n for n, r in USERS.items() if r == spec.roles[0])
    with _server_for(spec, request).login(name) as c:
        res = _send(c, method, params.fill(path), spec)
    assert res.status_code == spec.ok, res.text


CHANGING = [k for k in PROTECTED if k[0] != "GET"]


@pytest.mark.parametrize(("method", "path"), CHANGING, ids=[f"{m} {p}" for m, p in CHANGING])
def test_state_changes_need_the_csrf_token(
    private_server: Server, params: Params, method: str, path: str
) -> None:
    spec = ROUTES[(method, path)]
    name = next(n for n, r in USERS.items() if r == spec.roles[0])
    with private_server.login(name) as c:
        token = c.headers.pop("X-CSRF-Token")
        missing = _send(c, method, params.fill(path), spec)
        c.headers["X-CSRF-Token"] = token[:-2] + ("00" if token[-2:] != "00" else "11")
        wrong = _send(c, method, params.fill(path), spec)
        c.headers["X-CSRF-Token"] = token
        c.headers["Origin"] = "http://evil.example"
        foreign = _send(c, method, params.fill(path), spec)
        del c.headers["Origin"]
        still = c.get("/api/me")
    for res in (missing, wrong, foreign):
        assert res.status_code == 403, res.text
    assert still.status_code == 200  # nothing of the above logged the session out


def test_nothing_was_written_by_refused_requests(private_server: Server, params: Params) -> None:
    url = params.fill("/api/runs/{run_id}/cycles/1/review")
    spec = ROUTES[("POST", "/api/runs/{run_id}/cycles/{cycle}/review")]
    with private_server.login("phys") as c:
        token = c.headers.pop("X-CSRF-Token")
        assert c.post(url, json=spec.body).status_code == 403
        c.headers["X-CSRF-Token"] = token
        assert c.get(params.fill("/api/runs/{run_id}/decisions")).json() == []


def test_login_needs_the_form_token_of_its_own_cookie(server: Server) -> None:
    with server.client() as a, server.client() as b:
        token_a = login_token(a.get("/").text)
        b.get("/")  # b has its own nonce cookie
        form = {"name": "phys", "password": PASSWORD}
        assert b.post("/login", data=form).status_code == 403  # no token
        assert b.post("/login", data={**form, "csrf_token": token_a}).status_code == 403
        assert a.post("/login", data={**form, "csrf_token": token_a}).status_code == 303
