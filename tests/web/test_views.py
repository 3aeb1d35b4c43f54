"""What the pages show, against their sources: the registry, results.json, the NIfTI files.

References: the registry's rows (per-cycle BED, the run's cumulative BED of the planning
stage), results.json (limits, time–activity curves), the run's NIfTI files and sstrkit's
own DICOM reader (images), and the 80 % rule of the issue and of
:func:`sstrkit.therapy.limit_status.limit_status` (green below 80 % of the limit, amber up
to and including it, red above) restated here as arithmetic.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

from sstrkit.io.nifti import read_nifti
from sstrkit.registry import open_registry

from .conftest import Server, WebCohort, serve


def _traffic(value: float, limit: float) -> str:
    r = value / limit
    return "green" if r < 0.8 else ("amber" if r <= 1.0 else "red")


def _nifti(data: bytes, tmp_path: Path, name: str) -> sitk.Image:
    path = tmp_path / f"{name}.nii.gz"
    path.write_bytes(data)
    return sitk.ReadImage(str(path))


@pytest.fixture(scope="module")
def run_ids(server: Server, web_cohort: WebCohort) -> dict[str, int]:
    with server.login("doc") as c:
        return {
            pid: c.get(f"/api/patients/{pid}").json()["studies"][0]["current_run_id"]
            for pid in web_cohort.patient_ids
        }


def test_patient_list_matches_the_registry_and_filters(
    server: Server, web_cohort: WebCohort
) -> None:
    with open_registry(web_cohort.registry) as reg:
        summaries = {p.patient_id: p for p in reg.patients()}
        eligible = {pid: reg.patient(pid).current["readings"][0]["eligible"] for pid in summaries}
    with server.login("doc") as c:
        doc = c.get("/api/patients").json()
        first = web_cohort.patient_ids[0]
        by_q = c.get("/api/patients", params={"q": first[-3:].lower()}).json()
        two = c.get("/api/patients", params={"cycles": 2}).json()
        three = c.get("/api/patients", params={"cycles": 3}).json()
        yes = c.get("/api/patients", params={"eligible": "yes"}).json()
        near = c.get("/api/patients", params={"near_limit": "true"}).json()
        bad = c.get("/api/patients", params={"eligible": "maybe"})
    assert doc["total"] == 2 and doc["limits"]["kidney_gy"] == 40.0
    for row in doc["patients"]:
        s = summaries[row["patient_id"]]
        assert row["kidney"]["value_gy"] == s.kidney_bed_gy
        assert row["kidney"]["fraction"] == pytest.approx(s.kidney_bed_gy / 40.0, rel=1e-12)
        assert row["kidney"]["status"] == _traffic(s.kidney_bed_gy, 40.0)
        assert row["marrow"]["status"] == _traffic(s.marrow_dose_gy, 2.0)
        assert row["eligible"] == eligible[row["patient_id"]]
        assert row["review"] == {"approved": 0, "rejected": 0, "pending": 2}
    assert [p["patient_id"] for p in by_q["patients"]] == [first]
    assert len(two["patients"]) == 2 and three["patients"] == []
    assert {p["patient_id"] for p in yes["patients"]} == {k for k, v in eligible.items() if v}
    # a 40 Gy BED and 2 Gy marrow limit are far from a 2-cycle phantom's doses
    assert near["patients"] == [] and all(s.kidney_bed_gy < 32 for s in summaries.values())
    assert bad.status_code == 400


def test_near_limit_filter_uses_the_80_percent_rule(web_cohort: WebCohort, tmp_path: Path) -> None:
    with open_registry(web_cohort.registry) as reg:
        kidney = {p.patient_id: p.kidney_bed_gy for p in reg.patients()}
    low, high = sorted(kidney.values())
    limit = low / 0.9  # the lower patient at 90 % of the limit: amber
    with serve(web_cohort.registry, tmp_path, kidney_bed_limit_gy=limit) as s, s.login("doc") as c:
        rows = c.get("/api/patients", params={"near_limit": "true"}).json()["patients"]
    assert len(rows) == 2
    for r in rows:
        assert r["kidney"]["status"] == _traffic(kidney[r["patient_id"]], limit)
    assert {r["kidney"]["status"] for r in rows if r["kidney"]["value_gy"] == low} == {"amber"}
    assert _traffic(high, limit) in ("amber", "red")


def test_patient_timeline_sums_the_cycles_against_the_runs_limits(
    server: Server, web_cohort: WebCohort
) -> None:
    pid = web_cohort.patient_ids[1]
    with server.login("phys") as c:
        doc = c.get(f"/api/patients/{pid}").json()
    results = json.loads((web_cohort.outs[pid] / "results.json").read_text("utf-8"))
    constraints = results["stages"]["planning"]["running"]["constraints"]
    kidney_limit = next(x["limit_gy"] for x in constraints if x["organ"] == "kidneys")
    with open_registry(web_cohort.registry) as reg:
        detail = reg.patient(pid)
        run = reg.runs(patient_id=pid, current_only=True)[0]
        rows = reg.run_rows(run.run_id)
    bed = {
        r["cycle"]: r["bed_gy"]
        for r in rows["region_doses"]
        if r["region"] == "kidneys" and r["level"] == "organ"
    }
    assert [c["cycle"] for c in doc["cycles"]] == [1, 2]
    assert doc["studies"][0]["limits"]["kidney_gy"] == kidney_limit
    running = 0.0
    for c in doc["cycles"]:
        running += bed[c["cycle"]]
        cum = c["kidney_cumulative"]
        assert cum["value_gy"] == pytest.approx(running, rel=1e-12)
        assert cum["fraction"] == pytest.approx(running / kidney_limit, rel=1e-12)
        assert cum["status"] == _traffic(running, kidney_limit)
    # the per-cycle sum is the planning stage's delivered BED (docs/registry.md)
    assert running == pytest.approx(detail.summary.kidney_bed_gy, rel=1e-9)
    assert len([a for a in doc["administrations"] if a["cycle"]]) == 2
    assert {lab["name"] for lab in doc["labs"]} >= {"creatinine", "platelets"}
    assert doc["decisions"] == [] and doc["comments"] == []


def test_run_images_are_the_runs_files_and_the_dicom_series(
    server: Server, web_cohort: WebCohort, run_ids: dict[str, int], tmp_path: Path
) -> None:
    from sstrkit.pipeline.study import Study

    pid = web_cohort.patient_ids[0]
    run_id, out = run_ids[pid], web_cohort.outs[pid]
    with server.login("doc") as c:
        view = c.get(f"/api/runs/{run_id}").json()
        keys = {v["key"]: v for v in view["volumes"]}
        dose = c.get(keys["dose_cycle1"]["url"]).content
        vois = c.get(keys["vois_cycle1"]["url"]).content
        ct = c.get(keys["ct_cycle1"]["url"]).content
        missing = c.get(f"/api/runs/{run_id}/volumes/ct_cycle9.nii.gz")
    assert {"ct_cycle1", "spect_cycle1", "dose_cycle2", "suv", "lesions", "pet_ct"} <= set(keys)
    assert keys["dose_cycle1"]["unit"] == "Gy" and keys["spect_cycle1"]["unit"] == "Bq/mL"
    assert dose == (out / "dose" / "dose_cycle1.nii.gz").read_bytes()  # served as written
    labels = sitk.GetArrayFromImage(_nifti(vois, tmp_path, "vois"))
    assert labels.dtype == np.uint16  # integer labels: NiiVue draws their outlines
    np.testing.assert_array_equal(labels, read_nifti(out / "dose" / "vois_cycle1.nii.gz").array)
    study = Study.load(view["study_folder"])
    tp = min((t for t in study.time_points if t.cycle == 1), key=lambda t: t.hours_post_injection)
    assert tp.ct_path is not None
    dicom = study.read(tp.ct_path, tp.ct_series_uid)
    img = _nifti(ct, tmp_path, "ct")
    hu = sitk.GetArrayFromImage(img)
    assert hu.dtype == np.int16
    np.testing.assert_array_equal(hu, np.rint(np.asarray(dicom.array)))  # HU, rounded
    assert np.allclose(img.GetSpacing(), dicom.spacing, atol=1e-4)
    assert np.allclose(img.GetOrigin(), dicom.origin, atol=1e-3)
    assert missing.status_code == 404
    assert gzip.decompress(ct)[:4] in (b"\x5c\x01\x00\x00", b"\x00\x00\x01\x5c")  # NIfTI-1


def test_dvh_is_the_fraction_of_voi_voxels_at_or_above_each_dose(
    server: Server, web_cohort: WebCohort, run_ids: dict[str, int]
) -> None:
    pid = web_cohort.patient_ids[0]
    out = web_cohort.outs[pid]
    with server.login("doc") as c:
        regions = c.get(f"/api/runs/{run_ids[pid]}/cycles/1/dvh").json()["regions"]
    dose = np.asarray(read_nifti(out / "dose" / "dose_cycle1.nii.gz").array, dtype=float)
    labels = np.asarray(read_nifti(out / "dose" / "vois_cycle1.nii.gz").array)
    groups = json.loads((out / "results.json").read_text("utf-8"))["stages"]["dosimetry"]
    kidneys = next(r for r in regions if r["name"] == "kidneys")
    voxels = dose[np.isin(labels, groups["regions"]["regions"]["kidneys"])]
    for d, v in zip(kidneys["dose_gy"], kidneys["volume_fraction"], strict=True):
        # the curve is rounded to 4 significant digits for transfer: 5e-4 relative
        expected = (
            float(np.mean(voxels >= d * (1 + 5e-4))),
            float(np.mean(voxels >= d * (1 - 5e-4))),
        )
        assert expected[0] - 5e-4 <= v <= expected[1] + 5e-4
    assert kidneys["volume_fraction"][0] == 1.0
    assert kidneys["max_gy"] == pytest.approx(float(voxels.max()), rel=1e-6)


def test_tac_points_are_results_json_and_the_fit_integrates_to_the_tia(
    server: Server, web_cohort: WebCohort, run_ids: dict[str, int]
) -> None:
    pid = web_cohort.patient_ids[0]
    doc = json.loads((web_cohort.outs[pid] / "results.json").read_text("utf-8"))
    tacs = doc["stages"]["dosimetry"]["region_tacs"]["2"]
    with server.login("doc") as c:
        tac = c.get(f"/api/runs/{run_ids[pid]}/cycles/2/tac").json()
        none = c.get(f"/api/runs/{run_ids[pid]}/cycles/7/tac")
    assert tac["times_h"] == tacs["times_h"]
    fitted = [r for r in tac["regions"] if r["fit"]]
    assert fitted, "mono-exponential regions have their fitted curve"
    for r in tac["regions"]:
        assert r["activity_mbq"] == tacs["activity_mbq"][r["name"]]
        assert (r["fit"] is not None) == (r["model"] == "mono")
    for r in fitted:
        t, a = np.asarray(r["fit"]["times_h"]), np.asarray(r["fit"]["activity_mbq"])
        lam = math.log(2) / r["t_eff_h"]
        # trapezoid over the drawn range + the analytic tail = the region's TIA (MBq h);
        # 61 points over 5 effective half-lives or less: trapezoid error < 1 %
        area = float(np.sum((a[1:] + a[:-1]) / 2 * np.diff(t))) + a[-1] / lam
        assert area == pytest.approx(r["tia_mbq_h"], rel=0.01)
    assert none.status_code == 404


def test_comments_are_appended_with_author_and_role(
    private_server: Server, web_cohort: Any
) -> None:
    pid = web_cohort.patient_ids[0]
    with private_server.login("doc") as c:
        first = c.post(f"/api/patients/{pid}/comments", json={"text": "platelets to watch"})
        empty = c.post(f"/api/patients/{pid}/comments", json={"text": ""})
        unknown = c.post("/api/patients/NOPE/comments", json={"text": "x"})
        listed = c.get(f"/api/patients/{pid}/comments").json()
    assert first.status_code == 201
    assert listed == [first.json()]
    assert listed[0]["user_name"] == "doc" and listed[0]["user_role"] == "physician"
    assert empty.status_code == 422 and unknown.status_code == 400
