"""Fixtures of the web review tests: a small real cohort in a registry, accounts, servers.

**Cohort** (session scope, made once): two digital patients of the synthetic cohort
(:func:`sstrkit.phantom.cohort.make_cohort`: 2 cycles, 8 mm voxels, SPECT at 4, 24, 96 and
168 h so that the kinetics are mono-exponential and the kidneys get a per-cycle BED), each
run by ``sstrkit run`` (:func:`sstrkit.pipeline.run.run_study`, with the HTML report) and
recorded in a SQLite registry, with three accounts (physicist ``phys``, physician ``doc``,
admin ``root``).

**Servers.** :func:`serve` starts the FastAPI application with uvicorn in a thread on a
free loopback port (the real HTTP stack: cookies, headers, redirects) and stops it at the
end; the tests talk to it with httpx. Tests that write (decisions, new runs, accounts)
work on a copy of the registry (:func:`registry_copy`) so that the shared one stays as
made.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sstrkit.phantom.cohort import CohortConfig, make_cohort
from sstrkit.pipeline.run import run_study
from sstrkit.registry import open_registry
from sstrkit.registry.accounts import Accounts
from sstrkit.web import WebSettings, create_app

from .live import serve_app

CONFIG = CohortConfig(n=2, seed=11, cycles=2, voxel_mm=8.0, timepoints_h=(4.0, 24.0, 96.0, 168.0))
PASSWORD = "correct horse battery staple"
USERS = {"phys": "physicist", "doc": "physician", "root": "admin"}
SECRET = "test-secret-" + "x" * 32


@dataclass(frozen=True)
class WebCohort:
    root: Path
    registry: Path
    outs: dict[str, Path]  # patient id -> run folder

    @property
    def patient_ids(self) -> list[str]:
        return sorted(self.outs)


@pytest.fixture(scope="session")
def web_cohort(tmp_path_factory: pytest.TempPathFactory) -> WebCohort:
    root = tmp_path_factory.mktemp("web")
    cohort = make_cohort(root / "studies", CONFIG)
    db = root / "registry.sqlite"
    outs: dict[str, Path] = {}
    with open_registry(db) as reg:
        for study in cohort.study_folders:
            out = root / "runs" / study.name
            run_study(study, out, report=True)
            outs[reg.add_run(out).patient_id] = out
        accounts = Accounts(reg)
        for name, role in USERS.items():
            accounts.add_user(name, role, PASSWORD)
    return WebCohort(root, db, outs)


def registry_copy(cohort: WebCohort, tmp_path: Path) -> Path:
    """A copy of the cohort's registry (same run folders) for a test that writes."""
    target = tmp_path / "registry.sqlite"
    shutil.copyfile(cohort.registry, target)
    return target


@dataclass
class Server:
    base: str
    app: Any
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=120.0, follow_redirects=False)

    @contextmanager
    def login(self, name: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
        """A client logged in as ``name`` (through the login form), its CSRF token set."""
        with self.client() as c:
            token = login_token(c.get("/").text)
            data = {"name": name, "password": password, "csrf_token": token}
            res = c.post("/login", data=data)
            assert res.status_code == 303, res.text
            c.headers["X-CSRF-Token"] = c.get("/api/me").json()["csrf_token"]
            yield c


def login_token(page: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m, "no CSRF token in the login form"
    return m.group(1)


@contextmanager
def serve(registry: Path, tmp_path: Path, **settings: Any) -> Iterator[Server]:
    """The web application on a free loopback port, in a thread, for the block."""
    log = tmp_path / "access.log"
    cfg = WebSettings(
        registry=str(registry),
        secret_key=SECRET,
        cache_dir=tmp_path / "cache",
        access_log=log,
        **settings,
    )
    app = create_app(cfg)
    with serve_app(app) as base:
        yield Server(base, app, log)


@pytest.fixture(scope="session")
def server(web_cohort: WebCohort, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server on the shared registry (read-mostly tests)."""
    with serve(web_cohort.registry, tmp_path_factory.mktemp("server")) as s:
        yield s


@pytest.fixture
def private_server(web_cohort: WebCohort, tmp_path: Path) -> Iterator[Server]:
    """A server on a copy of the registry (tests that write)."""
    with serve(registry_copy(web_cohort, tmp_path), tmp_path) as s:
        yield s
