"""Fixtures of the registry tests: a real PostgreSQL server, registry URLs, run folders.

**PostgreSQL.** A throw-away server is started once per session: ``initdb`` into
a temporary folder and ``pg_ctl start`` on a free loopback port (trust
authentication, fsync off). PostgreSQL refuses to run as root, so under root the
server runs as the ``postgres`` system user (``runuser``/``su``), owning the
folder. The binaries are looked up in ``pg_config --bindir``,
``/usr/lib/postgresql/*/bin`` (newest first) and ``PATH``. Without them the
PostgreSQL tests skip with the reason — except under ``CI=true``, where they
fail (``.ci/run`` installs Debian's ``postgresql``), as the dciodvfy tests do.

**Run folders.** :func:`write_run` writes a synthetic finished ``sstrkit run``
folder: ``OUT/results.json`` with the parts of
:meth:`sstrkit.pipeline.run.RunResult.to_dict` the registry reads (shaped as a
real run writes them, see tests/registry/test_real_run.py for the real thing),
and its study's manifest.json and clinical.json. Its values are round numbers
so that the tests can state the expected database values exactly.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from _services import skip_or_fail

TZ = dt.timezone(dt.timedelta(hours=1))
FIRST_CYCLE = dt.datetime(2025, 3, 3, 10, 0, tzinfo=TZ)
CYCLE_INTERVAL = dt.timedelta(days=56)


# --------------------------------------------------------------------- PostgreSQL
def _required(reason: str) -> None:
    """Skip with ``reason``; fail instead under CI=true (the rule of ``_services``)."""
    skip_or_fail(reason, ".ci/run installs postgresql")


def _server_bindir() -> Path | None:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        res = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if res.returncode == 0 and res.stdout.strip():
            candidates.append(Path(res.stdout.strip()))

    def version(p: str) -> float:
        try:
            return float(Path(p).parent.name)
        except ValueError:
            return 0.0

    candidates += [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version)[::-1]
    ]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for d in candidates:
        if all((d / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _as_server_user(cmd: list[str], user: str | None) -> list[str]:
    if user is None:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *cmd]
    return ["su", user, "-s", "/bin/sh", "-c", " ".join(_quote(c) for c in cmd)]


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of the ``postgres`` database of a server started for this session."""
    bindir = _server_bindir()
    if bindir is None:
        _required(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found: the registry's "
            "PostgreSQL tests need them (Debian: apt-get install postgresql)"
        )
    assert bindir is not None
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            _required("running as root and no 'postgres' user to run the PostgreSQL server as")
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="sstrkit-pg-"))
    if user is not None:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data, log, port = base / "data", base / "server.log", _free_port()

    def run(*cmd: str) -> None:
        res = subprocess.run(
            _as_server_user([str(c) for c in cmd], user),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if res.returncode != 0:
            extra = log.read_text(errors="replace") if log.is_file() else ""
            pytest.fail(f"{cmd[0]} failed ({res.returncode}): {res.stderr or res.stdout}\n{extra}")

    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "sstrkit",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
        "--no-instructions",
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(log),
        "-w",
        "-t",
        "60",
        "start",
    )
    try:
        yield f"postgresql+psycopg://sstrkit@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user
            ),
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server (dropped afterwards)."""
    import psycopg

    name = f"registry_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty registry: a SQLite file and a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


# --------------------------------------------------------------------- run folders
def _series_uid(patient_id: str) -> str:
    return "1.2.826.0.1.3680043.8.498." + str(int(uuid.uuid5(uuid.NAMESPACE_OID, patient_id)))[:20]


def write_run(
    root: Path,
    patient_id: str,
    *,
    run_name: str = "out",
    study_name: str = "study",
    cycles: int = 2,
    kidney_dose_gy: float = 4.0,
    finished: dt.datetime | None = None,
    clinical_extra: dict[str, Any] | None = None,
    planning: bool = True,
) -> Path:
    """A finished run folder ``root/run_name`` of study ``root/study_name`` (module docstring).

    Per cycle: kidneys (mono, T_eff 50 h, TIA 100 MBq·h, dose ``kidney_dose_gy`` ± 5 %),
    ``lesion_01`` (mono, T_eff 100 h, 20 Gy, VOI 8 mL), red marrow (bi-exponential,
    0.1 Gy); 7.4 GBq per cycle, 56 days apart; two labs. ``finished`` sets the
    modification time of results.json (the run's finish time).
    """
    study = root / study_name
    out = root / run_name
    study.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    admins = [
        {
            "cycle": c,
            "nuclide": "Lu-177",
            "agent": "177Lu-DOTATATE",
            "activity_bq": 7.4e9,
            "time": (FIRST_CYCLE + (c - 1) * CYCLE_INTERVAL).isoformat(),
            "source": "clinical.json (measured net activity)",
        }
        for c in range(1, cycles + 1)
    ]
    manifest = {
        "format": "sstrkit-study",
        "version": 1,
        "patient": {"id": patient_id, "sex": "F", "weight_kg": 70.0},
        "series": {"pet": {"path": "dicom/pet", "series_uid": _series_uid(patient_id)}},
        "clinical": "clinical.json",
    }
    clinical = {
        "administrations": [
            {k: a[k] for k in ("cycle", "nuclide", "activity_bq", "time")}
            | {"radiopharmaceutical": "177Lu-DOTATATE"}
            for a in admins
        ]
        + [
            {
                "cycle": None,
                "radiopharmaceutical": "68Ga-DOTATATE",
                "nuclide": "Ga-68",
                "activity_bq": 1.5e8,
                "time": "2025-02-17T09:00:00+01:00",
            }
        ],
        "labs": [
            {
                "time": "2025-03-02T08:00:00+01:00",
                "before_cycle": 1,
                "creatinine_umol_l": 80.0,
                "platelets_1e9_l": 250.0,
            },
            {"time": "2025-06-01T08:00:00+01:00", "platelets_1e9_l": 140.0},
        ],
        **(clinical_extra or {}),
    }

    def organ(
        name: str, kind: str, tissue: str | None, model: str, dose: float, t_eff_h: float
    ) -> dict[str, Any]:
        return {
            "name": name,
            "kind": kind,
            "tissue": tissue,
            "mass_g": 300.0,
            "model": model,
            "t_eff_h": t_eff_h,
            "tia_mbq_h": 100.0,
            "tia_sd_mbq_h": 5.0,
            "dose_gy": dose,
            "dose_gy_per_gbq": dose / 7.4,
            "dose_relative_sd": 0.05,
            "warnings": [],
            "status": "measured",
        }

    organ_cycles = [
        {
            "administration": f"C{c}",
            "cycle": c,
            "nuclide": "Lu-177",
            "activity_mbq": 7400.0,
            "measured": True,
            "status": "measured",
            "regions": [
                organ("kidneys", "organ", "kidney", "mono", kidney_dose_gy, 50.0),
                organ("lesion_01", "lesion", "tumour", "mono", 20.0, 100.0),
                organ("red marrow", "organ", "red_marrow", "bi", 0.1, 10.0),
            ],
        }
        for c in range(1, cycles + 1)
    ]
    dosimetry = {
        "voi_source": "study segmentation (manifest 'segmentation')",
        "administrations": admins,
        "region_tacs": {
            str(c): {
                "times_h": [4.0, 24.0, 96.0],
                "volume_ml": {"kidneys": 290.0, "lesion_01": 8.0},
            }
            for c in range(1, cycles + 1)
        },
        "voxel": {
            str(c): {
                "cycle": c,
                "parameters": {"method": "convolution", "tia_method": "trapezoid"},
                "regions": [
                    {
                        "name": "kidneys",
                        "mean_gy": kidney_dose_gy * 0.9,
                        "max_gy": 9.0,
                        "d90_gy": 3.0,
                        "volume_ml": 290.0,
                    }
                ],
            }
            for c in range(1, cycles + 1)
        },
        "organ_level": {
            "cycles": organ_cycles,
            "cumulative_dose_gy": {"kidneys": kidney_dose_gy * cycles, "red marrow": 0.1 * cycles},
        },
        "per_kidney": {},
    }
    stages: dict[str, Any] = {
        "import": {
            "patient": manifest["patient"],
            "patient_used": {
                "id": patient_id,
                "sex": "female",
                "weight_kg": 70.0,
                "height_cm": 165.0,
            },
            "administrations": admins,
        },
        "reading": {
            "lesions": [
                {
                    "id": 1,
                    "centroid_mm": [10.0, -5.0, 20.0],
                    "suv_max": 30.0,
                    "suv_peak": 25.0,
                    "suv_mean": 18.0,
                    "volume_ml": 7.5,
                    "tlse": 135.0,
                    "krenning": 4,
                    "organ": "liver",
                },
            ],
            "krenning_patient": 4,
            "n_lesions": 1,
            "eligibility": {"eligible": True, "status": "eligible", "missing": []},
            "reference": {"liver_suv_mean": 7.0, "spleen_suv_mean": 20.0},
            "tracer": "68Ga-DOTATATE",
        },
        "dosimetry": dosimetry,
        "follow-up": {
            "lesion_uptake_change": {
                "first_cycle": 1,
                "last_cycle": cycles,
                "status": "assessed",
                "lesions": [
                    {
                        "lesion": "lesion_01",
                        "uptake_cycle_first_mbq": 20.0,
                        "uptake_cycle_last_mbq": 15.0,
                        "change_pct": -25.0,
                        "time_point_h": 24.0,
                    }
                ],
            }
        },
    }
    skipped: dict[str, str] = {}
    if planning:
        stages["planning"] = {"running": {"delivered": {"bed_gy": {}}}}
    else:
        skipped["planning"] = "planning needs both limiting organs"
    results = {
        "sstrkit_version": "0.2.0",
        "study": str(study),
        "out": str(out),
        "intake": None,
        "data_quality": [],
        "stages": stages,
        "skipped": skipped,
        "timings_s": {},
        "files": {"results_json": str(out / "results.json"), "missing": str(out / "gone.csv")},
    }
    (study / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    (study / "clinical.json").write_text(json.dumps(clinical, indent=1), encoding="utf-8")
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    if finished is not None:
        os.utime(path, (finished.timestamp(), finished.timestamp()))
    return out


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(patient_id, **options)``: :func:`write_run` under this test's tmp folder."""

    def make(patient_id: str, **options: Any) -> Path:
        return write_run(tmp_path / patient_id, patient_id, **options)

    return make
