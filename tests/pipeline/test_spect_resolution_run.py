"""The SPECT resolution in a run: measured > estimated from the header > none.

A small digital patient (seed 3, one cycle, 4 mm voxels) is run three ways: with the
manifest's ``fwhm_mm`` (11 mm, the phantom's image-domain SPECT resolution), without it
(the run estimates it from the SPECT header the phantom writes: MEGP collimator, a
body-contour orbit, the 208 keV window; flagged), and without it and without an estimate
(no partial-volume correction: the "before"). Reference values: the phantom's analytic
truth doses (``truth/truth.json``).

Measured (cycle-1 dose / truth; no correction → estimated ≈ 14 mm → manifest 11 mm):
kidneys 0.86 → 1.03 → 0.98, spleen 0.81 → 1.00 → 0.95, liver 1.01 → 0.96 → 0.98; lesions
≥ 20 mm 0.67-0.79 → 0.99-1.11 → 0.90-0.98. The estimate is coarser than the phantom's
11 mm (the phantom's Gaussian is sharper than any physical ME camera on that orbit), so
small lesions are over-corrected; the test asks that every region that partial volume
lowers moves towards the truth and that the large ones land within 15 %.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sstrkit.io.spect_resolution import (
    ResolutionEstimate,
    SpectHeaderInfo,
    estimate_spect_fwhm,
    read_header_info,
)
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.phantom.study_scans import _spect_camera
from sstrkit.pipeline import cycle_inputs
from sstrkit.pipeline.run import run_study
from sstrkit.pipeline.study import Study


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("res") / "s3"
    make_study(root, StudyConfig(seed=3, cycles=1, voxel_mm=4.0, fdg=False))
    return root


def _variant(phantom: Path, dest: Path, **spect: Any) -> Path:
    """A copy of the study with ``spect`` set on every SPECT entry of its manifest."""
    shutil.copytree(phantom, dest)
    doc = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    for entry in doc["series"]["spect"]:
        entry.update(spect)
    (dest / "manifest.json").write_text(json.dumps(doc), encoding="utf-8")
    return dest


def _declined(_info: SpectHeaderInfo) -> ResolutionEstimate:
    return ResolutionEstimate(None, "none: test", flag="no estimate in this test")


@pytest.fixture(scope="module")
def runs(phantom: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    base = tmp_path_factory.mktemp("runs")
    out: dict[str, dict[str, Any]] = {}
    for name, spect in (("given", {"fwhm_mm": 11.0}), ("estimated", {"fwhm_mm": None})):
        res = run_study(_variant(phantom, base / name, **spect), base / f"{name}_out", report=False)
        out[name] = json.loads(Path(res.files["results_json"]).read_text(encoding="utf-8"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sstrkit.io.spect_resolution.estimate_spect_fwhm", _declined)
        res = run_study(
            _variant(phantom, base / "none", fwhm_mm=None), base / "none_out", report=False
        )
    out["none"] = json.loads(Path(res.files["results_json"]).read_text(encoding="utf-8"))
    return out


def _ratios(doc: dict[str, Any]) -> dict[str, float]:
    dos = doc["stages"]["dosimetry"]
    cyc = next(c for c in dos["organ_level"]["cycles"] if c["cycle"] == 1)
    truth = dos["truth_total_gy"]["1"]
    return {
        r["name"]: r["dose_gy"] / truth[r["name"]] for r in cyc["regions"] if r["name"] in truth
    }


def _kinds(doc: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in doc["data_quality"]]


def _fwhm_used(doc: dict[str, Any]) -> Any:
    return doc["stages"]["dosimetry"]["region_tacs"]["1"]["spect_fwhm_mm"]


# ------------------------------------------------------------------ priority (cheap)
def test_manifest_fwhm_wins_over_the_header(phantom: Path, tmp_path: Path) -> None:
    # the phantom's own manifest (as the demo's) states 11 mm: nothing is estimated, so its
    # flags, cache keys and provenance are those of before the estimate existed
    own = Study.load(phantom)
    assert {(t.fwhm_mm, t.resolution) for t in own.time_points} == {(11.0, None)}
    study = Study.load(_variant(phantom, tmp_path / "m", fwhm_mm=11.0))
    assert {(t.fwhm_mm, t.fwhm_source, t.resolution) for t in study.time_points} == {
        (11.0, "manifest fwhm_mm", None)
    }
    assert "spect_resolution_estimated" not in [f.kind for f in study.intake_flags]
    named = Study.load(
        _variant(phantom, tmp_path / "n", fwhm_mm=9.5, fwhm_source="--spect-fwhm-mm")
    )
    assert {(t.fwhm_mm, t.fwhm_source) for t in named.time_points} == {(9.5, "--spect-fwhm-mm")}


def test_no_manifest_fwhm_is_estimated_from_the_header_and_flagged(
    phantom: Path, tmp_path: Path
) -> None:
    study = Study.load(_variant(phantom, tmp_path / "e", fwhm_mm=None))
    tp = study.time_points[0]
    want = estimate_spect_fwhm(read_header_info(tp.spect_path, tp.series_uid, nuclide="Lu-177"))
    assert tp.fwhm_mm == want.fwhm_mm and tp.resolution is not None
    assert tp.fwhm_source == "estimated from the DICOM header (collimator model)"
    # the phantom's header: MEGP (vendor not stated), 120 views of a body-contour orbit
    assert tp.resolution.inputs["radial_positions"] == 120
    assert tp.resolution.inputs["collimators"] == ["Siemens ME (MELP)", "GE MEGP", "Philips MEGP"]
    assert 12.0 <= tp.fwhm_mm <= 16.0  # module sanity range for 177Lu ME at ~150 mm
    flags = [f for f in study.intake_flags if f.kind == "spect_resolution_estimated"]
    assert [f.cycle for f in flags] == [1]
    assert f"{tp.fwhm_mm:.1f} mm FWHM" in flags[0].message and "MEGP" in flags[0].message


def test_an_explicit_fwhm_wins_over_the_estimate(
    phantom: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(
        cycle_inputs, "cycle_dosimetry_from_scans", lambda *a, **kw: seen.append(kw)
    )
    study = Study.load(_variant(phantom, tmp_path / "x", fwhm_mm=None))
    cycle_inputs.cycle_dosimetry(study, 1, fwhm_mm=9.0)
    cycle_inputs.cycle_dosimetry(study, 1)
    assert seen[0]["fwhm_mm"] == 9.0
    assert seen[1]["fwhm_mm"] == study.time_points[0].fwhm_mm
    assert seen[1]["inputs"]["spect_fwhm_estimate"]["method"] == "collimator model"


def test_the_phantom_osem_header_states_resolution_recovery() -> None:
    info = {"radius_of_rotation_mm": 250.0, "n_views": 120, "iterations": 4, "subsets": 10,
            "post_filter_fwhm_mm": 6.0}  # fmt: skip
    cam = _spect_camera("osem", (165.0, 110.0), info)
    assert cam.reconstruction == "OSEM 4i10s / AC RR / Gauss 6"
    assert cam.radial_positions_mm == (250.0,) * 120
    est = estimate_spect_fwhm(
        SpectHeaderInfo(nuclide="Lu-177", collimator=cam.collimator, reconstruction="OSEM RR")
    )
    assert est.fwhm_mm is None  # as the phantom's manifest: no Gaussian FWHM for OSEM + RR
    image = _spect_camera("image", (165.0, 110.0), {})
    # body contour: half-width along the view + 15 mm; view 0 posterior (b), view 30 lateral (a)
    assert image.radial_positions_mm[0] == 125.0 and image.radial_positions_mm[30] == 180.0


# ------------------------------------------------------------------ end to end
def test_the_run_flags_the_estimate_or_its_absence(runs: dict[str, dict[str, Any]]) -> None:
    est = runs["estimated"]
    assert "spect_resolution_estimated" in _kinds(est)
    assert "no_partial_volume_correction" not in _kinds(est)
    msg = next(
        f["message"] for f in est["data_quality"] if f["kind"] == "spect_resolution_estimated"
    )
    assert f"{_fwhm_used(est):.1f} mm FWHM" in msg
    assert _fwhm_used(runs["given"]) == 11.0
    assert "spect_resolution_estimated" not in _kinds(runs["given"])
    none = runs["none"]
    assert _fwhm_used(none) is None
    no_pvc = next(f for f in none["data_quality"] if f["kind"] == "no_partial_volume_correction")
    assert "no estimate in this test" in no_pvc["message"]


def test_estimated_pvc_moves_doses_towards_the_truth(
    runs: dict[str, dict[str, Any]], phantom: Path
) -> None:
    before, after = _ratios(runs["none"]), _ratios(runs["estimated"])
    truth = json.loads((phantom / "truth" / "truth.json").read_text(encoding="utf-8"))
    large = [
        les["id"]
        for les in truth["lesions"]
        if les["diameter_mm"] >= 20 and les["sstr_positive"] and not les["low_sstr"]
    ]
    assert large, "the study should hold lesions of 2 cm or more"
    for region in ["kidneys", "spleen", *large]:
        assert abs(after[region] - 1) < abs(before[region] - 1), (region, before, after)
        # organs 10 % and large lesions 15 % (issue 14's tolerances) with the estimate
        tol = 0.15 if region in large else 0.10
        assert after[region] == pytest.approx(1.0, abs=tol), region
    # the liver is large beside any of these resolutions: within 10 % either way
    assert before["liver"] == pytest.approx(1.0, abs=0.10)
    assert after["liver"] == pytest.approx(1.0, abs=0.10)
