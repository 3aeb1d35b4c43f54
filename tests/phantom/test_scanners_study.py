"""Scanner models and the study on disk (reduced-size phantom)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy import ndimage
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.masks import rasterize_rtstruct, rtstruct_roi_names
from sstrkit.io.nifti import read_nifti
from sstrkit.io.suv import compute_suv
from sstrkit.phantom.anatomy import Grid
from sstrkit.phantom.scanners import EmissionScanner, box_resample
from sstrkit.phantom.study import StudyConfig, make_study


def _fine_grid(n: int = 60, v: float = 2.0) -> Grid:
    return Grid((n, n, n), (v, v, v), (-(n - 1) * v / 2,) * 3)  # type: ignore[arg-type]


def test_box_resample_conserves_activity_on_non_integer_grids() -> None:
    rng = np.random.default_rng(0)
    src = _fine_grid(30)
    dst = Grid((13, 13, 13), (4.8, 4.8, 4.8), (-28.8, -28.8, -28.8))
    arr = rng.random(src.shape)
    out = box_resample(arr, src, dst)
    # dst covers [-31.2, 31.2] mm ⊇ src [-30, 30] mm: the totals are equal.
    assert out.sum() * dst.voxel_ml == pytest.approx(arr.sum() * src.voxel_ml, rel=1e-12)


@pytest.mark.parametrize("scanner", [EmissionScanner.pet(), EmissionScanner.spect()])
def test_point_spread_has_the_stated_fwhm(scanner: EmissionScanner) -> None:
    # A point source (one 2 mm fine voxel inside one scanner voxel) is sampled into a single
    # voxel, so the image's second moment is the PSF variance: (FWHM / (2 sqrt(2 ln 2)))².
    g = _fine_grid(60)
    src = np.zeros(g.shape)
    src[30, 30, 30] = 1.0
    img, grid, _ = scanner.image(src, g, duration_s=1.0, rng=None)
    xs, _, _ = grid.axes()
    prof = img.sum(axis=(0, 1))
    mean = float((prof * xs).sum() / prof.sum())
    var = float((prof * (xs - mean) ** 2).sum() / prof.sum())
    assert var == pytest.approx((scanner.fwhm_mm / (2 * math.sqrt(2 * math.log(2)))) ** 2, rel=0.01)


def test_partial_volume_arises_from_resolution_and_totals_are_kept() -> None:
    # 10 mm sphere of 1 Bq/mL in SPECT (11 mm FWHM): the peak recovers < 40 % (partial volume),
    # while the total in a VOI grown by 2 FWHM holds the true activity (noise-free: 0.5 %;
    # with count noise at 10 MBq/mL over 1200 s, ~7700 counts: 3 % > 2.5 x 1.1 %).
    g = _fine_grid(60)
    xs, ys, zs = g.axes()
    r2 = xs[None, None, :] ** 2 + ys[None, :, None] ** 2 + zs[:, None, None] ** 2
    sphere = (r2 <= 25.0).astype(float)
    true_total = sphere.sum() * g.voxel_ml
    spect = EmissionScanner.spect()
    img, grid, _ = spect.image(sphere, g, duration_s=1200.0, rng=None)
    assert img.max() < 0.4
    gx, gy, gz = grid.axes()
    voi = (gx[None, None, :] ** 2 + gy[None, :, None] ** 2 + gz[:, None, None] ** 2) <= 27.0**2
    assert img[voi].sum() * grid.voxel_ml == pytest.approx(true_total, rel=0.005)
    noisy, _, _ = spect.image(sphere * 1e7, g, duration_s=1200.0, rng=np.random.default_rng(1))
    assert noisy[voi].sum() * grid.voxel_ml == pytest.approx(true_total * 1e7, rel=0.03)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("phantom")
    cfg = StudyConfig(seed=3, voxel_mm=4.0, cycles=2, timepoints_h=(24.0, 96.0))
    return out, make_study(out, cfg)


def test_manifest_and_truth_follow_the_contract(study) -> None:
    out, m = study
    s = m["series"]
    assert {"pet", "pet_ct", "spect", "spect_ct", "fdg"} <= set(s)
    assert [(x["cycle"], x["hours_post_injection"]) for x in s["spect"]] == [
        (1, 24.0),
        (1, 96.0),
        (2, 24.0),
        (2, 96.0),
    ]
    assert s["pet"]["frame_of_reference_uid"] == s["pet_ct"]["frame_of_reference_uid"]
    for nm, ct in zip(s["spect"], s["spect_ct"], strict=True):
        assert nm["frame_of_reference_uid"] == ct["frame_of_reference_uid"]
    truth = json.loads((out / "truth" / "truth.json").read_text())
    for organ in ("liver", "spleen", "kidneys", "red_marrow", "whole_body"):
        assert truth["organs"][organ]["mass_g"] > 0
    les = truth["lesions"][0]
    assert {"id", "organ", "centroid_mm", "volume_ml", "sstr_positive", "fdg_positive"} <= set(les)
    assert len(truth["cycles"]) == 2
    reg = truth["cycles"][0]["regions"]
    assert reg["kidneys"]["tia_bq_s"] > 0 and reg["kidneys"]["total_gy"] > 0
    # Tumour grade: the same in the clinical data and the truth; uptake factor per cycle
    # (1 - r)^(k - 1) with r = 6 % (G1) / 14 % (G2) (Roth et al. 2022).
    bio = truth["tumour_biology"]
    clinical = json.loads((out / "clinical.json").read_text())
    assert clinical["diagnosis"]["who_grade"] == f"G{bio['who_grade']}"
    r = {1: 0.06, 2: 0.14}[bio["who_grade"]]
    assert bio["uptake_factor_by_cycle"] == pytest.approx([1.0, 1.0 - r], rel=1e-12)
    assert m["summary"]["administered_activities_bq"] == [7.4e9, 7.4e9]
    # The lesion centroid (LPS mm) lies inside its label in the truth NIfTI.
    labels = read_nifti(out / m["truth"]["labels_nifti"]["baseline"])
    for les in truth["lesions"]:
        ijk = np.rint(labels.physical_to_index(les["centroid_mm"])).astype(int)
        assert labels.array[ijk[2], ijk[1], ijk[0]] == les["label_value"], les["id"]


def test_pet_rereads_with_the_set_suv(study) -> None:
    # Acceptance: body-weight SUV of a large uniform region within 2 % of the set value.
    out, m = study
    truth = json.loads((out / "truth" / "truth.json").read_text())
    suv = compute_suv(read_series(out / m["series"]["pet"]["path"])).suv
    labels = read_nifti(out / m["truth"]["labels_nifti"]["baseline"])
    lab = labels.with_metadata(frame_of_reference_uid=None).resample_to(
        suv.with_metadata(frame_of_reference_uid=None), mode="nearest"
    )
    liver = ndimage.binary_erosion(lab.array == 5, iterations=3)  # 12 mm > 2 FWHM
    assert liver.sum() > 500
    assert float(suv.array[liver].mean()) == pytest.approx(
        truth["pet"]["pet"]["suv_bw"]["liver"], rel=0.02
    )


def test_spect_total_activity_matches_truth(study) -> None:
    # The whole SPECT field of view holds the whole body plus the bladder (within count noise,
    # 1 %); activity is read back through the NM reader in Bq/mL.
    out, m = study
    truth = json.loads((out / "truth" / "truth.json").read_text())
    for k, entry in enumerate(m["series"]["spect"]):
        vol = read_series(out / entry["path"]).volume
        total = float(vol.array.sum()) * vol.voxel_volume_ml
        cyc = truth["cycles"][entry["cycle"] - 1]
        scan = cyc["activity_bq_at_scans"][k % 2]["regions"]
        expected = scan["whole_body"] + scan["bladder"]
        assert total == pytest.approx(expected, rel=0.01), entry["path"]


def test_ct_and_case_file(study) -> None:
    out, m = study
    ct = read_series(out / m["series"]["pet_ct"]["path"]).volume
    assert ct.array.min() == pytest.approx(-1000, abs=60)  # air (noise sigma 12 HU)
    from sstrkit.therapy.case import load_case

    case = load_case(out / "case.json")
    assert len(case.administrations) == 2
    assert case.administrations[0].activity_bq == pytest.approx(7.4e9)
    assert len(case.blood[0].concentration_kbq_per_ml) == 7


def test_study_is_deterministic_and_cli_prints_the_manifest(tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "phantom",
        "make",
        "",
        "--seed",
        "2",
        "--cycles",
        "1",
        "--timepoints-h",
        "24",
        "--voxel-mm",
        "8",
        "--no-fdg",
        "--json",
    ]
    outs = []
    for name in ("a", "b"):
        args[2] = str(tmp_path / name)
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.stdout))
    assert outs[0]["series"]["pet"]["series_uid"] == outs[1]["series"]["pet"]["series_uid"]
    ta = json.loads((tmp_path / "a" / "truth" / "truth.json").read_text())
    tb = json.loads((tmp_path / "b" / "truth" / "truth.json").read_text())
    assert ta == tb
    pa = read_series(tmp_path / "a" / outs[0]["series"]["pet"]["path"]).volume.array
    pb = read_series(tmp_path / "b" / outs[1]["series"]["pet"]["path"]).volume.array
    assert np.array_equal(pa, pb)
    bad = runner.invoke(app, ["phantom", "make", str(tmp_path / "c"), "--sex", "X", "--json"])
    assert bad.exit_code == 2


def test_truth_rtstruct_reproduces_the_labels_on_the_pet_grid(study) -> None:
    # The RTSTRUCT contours run along the truth voxel edges; the PET grid is nested in the
    # truth grid (every PET voxel centre is a truth voxel centre, checked below), so
    # rasterising on the PET grid and nearest-neighbour resampling of the NIfTI both sample
    # the same truth voxel: organ volumes must agree exactly (tolerance 0 voxels).
    out, m = study
    rs = m["truth"]["rtstruct"]["baseline"]
    path = out / rs["path"]
    assert rs["frame_of_reference_uid"] == m["series"]["pet_ct"]["frame_of_reference_uid"]
    pet = read_series(out / m["series"]["pet"]["path"]).volume
    labels = read_nifti(out / m["truth"]["labels_nifti"]["baseline"])
    centres = pet.index_to_physical(np.array([[0, 0, 0], [1, 1, 1], [5, 7, 3]], dtype=float))
    idx = labels.physical_to_index(centres)
    np.testing.assert_allclose(idx, np.rint(idx), atol=1e-6)  # nested grids
    lab = labels.with_metadata(frame_of_reference_uid=pet.frame_of_reference_uid).resample_to(
        pet, mode="nearest"
    )
    names = json.loads((out / m["truth"]["label_names"]).read_text())
    assert set(rtstruct_roi_names(path)) == set(names.values())
    truth = json.loads((out / "truth" / "truth.json").read_text())
    checked = ["liver", "spleen", "kidney_left_cortex", "pancreas_head", "adrenal_left"]
    checked += [les["id"] for les in truth["lesions"][:3]]
    value_of = {v: int(k) for k, v in names.items()}
    for name in checked:
        mask = rasterize_rtstruct(path, name, pet)
        expected = lab.array == value_of[name]
        assert expected.sum() > 0, name
        assert int(mask.array.sum()) == int(expected.sum()), name
        np.testing.assert_array_equal(mask.array.astype(bool), expected)
    ds = pydicom.dcmread(path)
    kinds = {int(o.ReferencedROINumber): o.RTROIInterpretedType
             for o in ds.RTROIObservationsSequence}  # fmt: skip
    assert kinds[value_of["liver"]] == "ORGAN"
    assert kinds[value_of[truth["lesions"][0]["id"]]] == "GTV"
    # a contour references the CT image whose plane it lies in (and only then)
    ct = {
        round(float(d.ImagePositionPatient[2]), 3): d.SOPInstanceUID
        for d in map(pydicom.dcmread, (out / m["series"]["pet_ct"]["path"]).glob("*.dcm"))
    }
    for roi in ds.ROIContourSequence:
        for c in roi.get("ContourSequence", []):
            z = round(float(c.ContourData[2]), 3)
            refs = [i.ReferencedSOPInstanceUID for i in c.get("ContourImageSequence", [])]
            assert refs == ([ct[z]] if z in ct else []), z


def test_study_with_projection_osem_spect(tmp_path: Path) -> None:
    # --spect-recon osem: the SPECT is simulated by projection + OSEM (sstrkit.phantom.
    # spect_recon). Reconstruction with attenuation and resolution modelling is quantitative
    # (the system model includes the 5.67 cps/MBq sensitivity): the whole field of view holds
    # the whole body plus the bladder within Poisson noise (2.9 GBq x 1200 s x 5.67 cps/MBq
    # ~ 2e7 counts) and OSEM convergence: 2 % (measured -0.1 %).
    res = CliRunner().invoke(
        app,
        [
            "phantom",
            "make",
            str(tmp_path / "s"),
            "--seed",
            "3",
            "--cycles",
            "1",
            "--timepoints-h",
            "24",
            "--no-fdg",
            "--voxel-mm",
            "6",
            "--spect-recon",
            "osem",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    entry = m["series"]["spect"][0]
    assert entry["simulation"] == "osem" and entry["voxel_mm"] == pytest.approx(4.8)
    # resolution-recovered OSEM has no single FWHM: none recorded, so no Gaussian PVC later
    assert entry["fwhm_mm"] is None and entry["system"]["radius_of_rotation_mm"] >= 250.0
    vol = read_series(tmp_path / "s" / entry["path"]).volume
    truth = json.loads((tmp_path / "s" / "truth" / "truth.json").read_text())
    regions = truth["cycles"][0]["activity_bq_at_scans"][0]["regions"]
    expected = regions["whole_body"] + regions["bladder"]
    assert float(vol.array.sum()) * vol.voxel_volume_ml == pytest.approx(expected, rel=0.02)
    bad = CliRunner().invoke(app, ["phantom", "make", str(tmp_path / "x"), "--spect-recon", "fbp"])
    assert bad.exit_code == 2 and "osem" in bad.output


def test_osem_orbit_clears_large_patients_and_options_are_checked() -> None:
    from sstrkit.phantom.spect_recon import SpectSystem
    from sstrkit.phantom.study import _spect_system

    # A 150 kg patient's SPECT grid: axial half-diagonal ~290 mm > the default 250 mm orbit.
    truth = Grid((200, 240, 330), (2.0, 2.0, 2.0), (-330.0, -240.0, -200.0))
    system = _spect_system(truth)
    _, ny, nx = system.grid_for(truth).shape
    half_diag = 0.5 * math.hypot(nx, ny) * system.voxel_mm
    assert system.radius_of_rotation_mm >= half_diag + 20.0 > 250.0
    small = Grid((100, 60, 80), (2.0, 2.0, 2.0), (-80.0, -60.0, -100.0))
    assert _spect_system(small).radius_of_rotation_mm == SpectSystem.default().radius_of_rotation_mm
    with pytest.raises(InvalidInputError, match="--spect-recon osem"):
        StudyConfig(spect_post_filter_mm=6.0)
    with pytest.raises(InvalidInputError):
        StudyConfig(spect_recon="fbp")  # type: ignore[arg-type]
