"""Accounts, sessions and the access log; ``sstrkit users`` and ``sstrkit serve``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app as cli
from sstrkit.registry import open_registry
from sstrkit.registry.accounts import Accounts

from .conftest import PASSWORD, Server, WebCohort, login_token, registry_copy
from .live import free_port

runner = CliRunner()


def test_logout_ends_the_session_on_the_server(private_server: Server) -> None:
    with private_server.login("doc") as c:
        cookie = c.cookies["sstrkit_session"]
        assert c.post("/logout").status_code == 303
        assert c.get("/api/me").status_code == 401
    with private_server.client() as replay:  # the old cookie, sent again
        replay.cookies.set("sstrkit_session", cookie)
        assert replay.get("/api/patients").status_code == 401


def test_a_forged_or_altered_cookie_is_no_session(private_server: Server) -> None:
    with private_server.login("doc") as c:
        cookie = c.cookies["sstrkit_session"]
    for forged in (cookie[:-3] + "AAA", "x" + cookie, "not-a-cookie"):
        with private_server.client() as c:
            c.cookies.set("sstrkit_session", forged)
            assert c.get("/api/me").status_code == 401


def test_disabling_an_account_ends_its_sessions(private_server: Server) -> None:
    with private_server.login("doc") as doc, private_server.login("root") as admin:
        assert doc.get("/api/patients").status_code == 200
        assert admin.post("/api/users/doc/disable").json()["disabled"] is True
        assert doc.get("/api/patients").status_code == 401
        assert admin.post("/api/users/root/disable").status_code == 400  # not oneself
    with private_server.client() as c:
        token = login_token(c.get("/").text)
        res = c.post("/login", data={"name": "doc", "password": PASSWORD, "csrf_token": token})
        assert res.status_code == 401


def test_failed_logins_lock_the_name(private_server: Server) -> None:
    with private_server.client() as c:
        token = login_token(c.get("/").text)
        form = {"name": "phys", "password": "guess", "csrf_token": token}
        codes = [c.post("/login", data=form).status_code for _ in range(5)]
        locked = c.post("/login", data={**form, "password": PASSWORD})
    assert codes == [401] * 5 and locked.status_code == 429
    assert "Too many failed logins" in locked.text
    with private_server.login("doc") as other:  # other names are not locked
        assert other.get("/api/me").json()["name"] == "doc"


def test_login_redirects_to_next_on_this_site_only(private_server: Server) -> None:
    for target, expected in (("/patients/X", "/patients/X"), ("//evil.example/", "/")):
        with private_server.client() as c:
            token = login_token(c.get("/", params={"next": target}).text)
            form = {"name": "doc", "password": PASSWORD, "csrf_token": token, "next": target}
            assert c.post("/login", data=form).headers["location"] == expected


def test_the_access_log_names_the_account_and_never_the_password(private_server: Server) -> None:
    with private_server.login("doc") as c:
        c.get("/api/patients", params={"q": "PH"})
    with private_server.client() as c:
        c.get("/api/patients")
    lines = private_server.log.read_text("utf-8").splitlines()
    assert any(" doc GET /api/patients?q=PH 200 " in line for line in lines)
    assert any(" - GET /api/patients 401 " in line for line in lines)
    assert any(" doc POST /login 303 " in line for line in lines)
    assert PASSWORD not in private_server.log.read_text("utf-8")


def test_security_headers(private_server: Server) -> None:
    with private_server.client() as c:
        res = c.get("/")
    csp = res.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["cache-control"] == "no-store"
    cookie = res.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_users_cli_reads_the_password_from_stdin(web_cohort: WebCohort, tmp_path: Path) -> None:
    db = registry_copy(web_cohort, tmp_path)
    url = f"sqlite:///{db}"
    added = runner.invoke(
        cli, ["users", "add", "m.curie", "--role", "physicist", "--registry", url, "--json"],
        input="radium and polonium\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["role"] == "physicist"
    short = runner.invoke(cli, ["users", "add", "x", "--role", "admin", "--registry", url],
                          input="short\n")  # fmt: skip
    taken = runner.invoke(cli, ["users", "add", "m.curie", "--role", "admin", "--registry", url],
                          input="radium and polonium\n")  # fmt: skip
    role = runner.invoke(cli, ["users", "add", "y", "--role", "nurse", "--registry", url],
                         input="radium and polonium\n")  # fmt: skip
    assert (short.exit_code, taken.exit_code, role.exit_code) == (2, 2, 2)
    listed = runner.invoke(cli, ["users", "list", "--registry", url, "--json"])
    assert {u["name"] for u in json.loads(listed.stdout)} == {"doc", "m.curie", "phys", "root"}
    off = runner.invoke(cli, ["users", "disable", "m.curie", "--registry", url])
    assert off.exit_code == 0
    with open_registry(db) as reg:
        accounts = Accounts(reg)
        assert accounts.verify("m.curie", "radium and polonium") is None  # disabled
        runner.invoke(cli, ["users", "enable", "m.curie", "--registry", url])
        user = accounts.verify("m.curie", "radium and polonium")
        assert user is not None and user.role == "physicist"
        with reg.engine.connect() as conn:
            stored = conn.exec_driver_sql(
                "SELECT password_hash FROM users WHERE name = 'm.curie'"
            ).scalar_one()
    assert stored.startswith("$argon2id$") and "radium" not in stored


def test_serve_binds_to_loopback_and_answers(web_cohort: WebCohort, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "sstrkit.cli.main", "serve", "--registry",
           str(registry_copy(web_cohort, tmp_path)), "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                res = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("sstrkit serve did not answer")
                time.sleep(0.2)
        assert res.status_code == 200 and 'action="/login"' in res.text
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out.decode()
    assert "GET / 200" in err.decode()  # the access log on stderr
