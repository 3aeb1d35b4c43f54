"""Real-world complications of the digital patient: repositioning, SPECT formats, labs, seeds.

References: the recorded motions in ``truth/truth.json`` (``positioning``), the analytic
truth activities (``CycleTruth.activity_bq_at``, the values written to ``truth.json``),
scipy's Euler-angle rotations for the rotation convention, the DICOM quantisation step
(RescaleSlope / 2, a hand calculation) for the two SPECT formats, and the eligibility
rules of ``sstrkit.reading`` for the demo and excluded patients.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti
from sstrkit.phantom.anatomy import LABELS, LESION_LABEL0, PatientSpec, build_anatomy
from sstrkit.phantom.biology import draw_biology
from sstrkit.phantom.positioning import (
    MAX_ROTATION_DEG,
    MAX_SHIFT_MM,
    RigidMotion,
    draw_motion,
    move_anatomy,
)
from sstrkit.phantom.scanners import fat_rim_mask, fine_concentration
from sstrkit.phantom.study import (
    DEMO_SEED,
    EXCLUDED_SEED,
    StudyConfig,
    has_fdg_discordant_lesion,
    make_study,
    region_concentrations_lu,
)
from sstrkit.phantom.truth import Therapy, simulate_therapy

BASE = {"seed": DEMO_SEED, "voxel_mm": 4.0, "cycles": 1, "timepoints_h": (4.0, 24.0)}
SESSIONS = ["pet", "fdg", "cycle1_spect_4h", "cycle1_spect_24h"]


def _make(root: Path, **kw: Any) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    manifest = make_study(root, StudyConfig(**kw))
    truth = json.loads((root / "truth" / "truth.json").read_text())
    return root, manifest, truth


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    return _make(tmp_path_factory.mktemp("moved"), **BASE)


@pytest.fixture(scope="module")
def slices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    return _make(tmp_path_factory.mktemp("slices"), **BASE, spect_format="pet-slices", labs=False)


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    return _make(tmp_path_factory.mktemp("still"), **BASE, reposition=False)


def _cts(root: Path, manifest: dict[str, Any]) -> dict[str, Volume]:
    """The CT of every session by session name."""
    s = manifest["series"]
    out = {"pet": read_series(root / s["pet_ct"]["path"]).volume}
    out["fdg"] = read_series(root / s["fdg_ct"]["path"]).volume
    for ct in s["spect_ct"]:
        name = f"cycle{ct['cycle']}_spect_{ct['hours_post_injection']:g}h"
        out[name] = read_series(root / ct["path"]).volume
    return out


def _iliac_centroids(ct: Volume) -> dict[str, np.ndarray]:
    """Centroids (LPS mm) of the left and right iliac bones on a CT.

    Bone is found by HU > 400 (cortical bone 1100 HU, everything else < 260 HU); each
    ilium is a separate component. The centroid weights HU − 20 (soft tissue) over the
    component grown by 2 voxels, so that partial-volume voxels count with their share.
    """
    hu = np.asarray(ct.array, dtype=np.float64)
    comps, n = ndimage.label(hu > 400.0)
    out = {}
    for k in range(1, n + 1):
        comp = comps == k
        if comp.sum() < 50:
            continue
        window = ndimage.binary_dilation(comp, iterations=2)
        w = hu[window] - 20.0
        xyz = ct.index_to_physical(np.argwhere(window)[:, ::-1].astype(float))
        c = (xyz * w[:, None]).sum(axis=0) / w.sum()
        if abs(c[0]) > 60.0:  # the ilia lie ~95 mm left and right of the spine
            out["left" if c[0] > 0 else "right"] = c
    assert set(out) == {"left", "right"}
    return out


# ------------------------------------------------------------------------- repositioning
def test_every_session_has_its_own_frame_and_a_recorded_motion(moved) -> None:
    _, m, truth = moved
    assert truth["reposition"] is True
    rec = {r["session"]: r for r in truth["positioning"]}
    assert list(rec) == SESSIONS
    assert rec["pet"]["baseline"] and rec["pet"]["translation_mm"] == [0.0, 0.0, 0.0]
    assert rec["pet"]["rotation_deg"] == [0.0, 0.0, 0.0]
    s = m["series"]
    frames = {
        "pet": (s["pet"], s["pet_ct"]),
        "fdg": (s["fdg"], s["fdg_ct"]),
        **{
            f"cycle1_spect_{e['hours_post_injection']:g}h": (e, c)
            for e, c in zip(s["spect"], s["spect_ct"], strict=True)
        },
    }
    for name, (emission, ct) in frames.items():
        # the emission scan and its CT share the session's frame of reference
        assert emission["frame_of_reference_uid"] == ct["frame_of_reference_uid"]
        assert rec[name]["frame_of_reference_uid"] == ct["frame_of_reference_uid"]
        assert rec[name]["series_uids"] == [emission["series_uid"], ct["series_uid"]]
    assert len({r["frame_of_reference_uid"] for r in rec.values()}) == len(SESSIONS)
    for name in SESSIONS[1:]:
        r = rec[name]
        assert not r["baseline"]
        assert 0.0 < np.linalg.norm(r["translation_mm"]) <= MAX_SHIFT_MM
        assert 0.0 < np.abs(r["rotation_deg"]).max() <= MAX_ROTATION_DEG
        fwd, inv = (
            np.array(r["matrix_baseline_to_session"]),
            np.array(r["matrix_session_to_baseline"]),
        )
        np.testing.assert_allclose(fwd @ inv, np.eye(4), atol=1e-12)
        assert "q = R (p - c) + c + t" in r["convention"]


def test_session_cts_are_moved_by_the_recorded_motion(moved, still) -> None:
    # The iliac bones on each later session's CT lie where the recorded 4 x 4 matrix
    # (truth.json, matrix_baseline_to_session) puts their baseline centroids, within 3 mm
    # (3/4 of the 4 mm truth voxel: the moved patient is resampled by nearest neighbour on
    # that grid, measured 0.7-1.7 mm for seed 7). Every predicted displacement is more than
    # twice that (7.6-17.9 mm), so a CT left unmoved, or moved the other way, fails. Without
    # repositioning they stay put (CT noise 12 HU: measured < 0.1 mm).
    root, m, truth = moved
    rec = {r["session"]: r for r in truth["positioning"]}
    cts = _cts(root, m)
    base = _iliac_centroids(cts["pet"])
    shifts = []
    for name in SESSIONS[1:]:
        fwd = np.array(rec[name]["matrix_baseline_to_session"])
        seen = _iliac_centroids(cts[name])
        for side, p in base.items():
            predicted = fwd[:3, :3] @ p + fwd[:3, 3]
            assert np.linalg.norm(seen[side] - predicted) <= 3.0, (name, side)
            shifts.append(float(np.linalg.norm(predicted - p)))
    assert min(shifts) > 6.0, shifts
    root_s, m_s, truth_s = still
    cts_s = _cts(root_s, m_s)
    base_s = _iliac_centroids(cts_s["pet"])
    for name in SESSIONS[1:]:
        seen = _iliac_centroids(cts_s[name])
        for side, p in base_s.items():
            assert np.linalg.norm(seen[side] - p) <= 0.5, (name, side)
    assert all(r["translation_mm"] == [0.0, 0.0, 0.0] for r in truth_s["positioning"])
    assert truth_s["reposition"] is False


def test_motion_is_seeded_bounded_and_follows_the_documented_convention(moved) -> None:
    _, _, truth = moved
    rec = {r["session"]: r for r in truth["positioning"]}
    centre = tuple(rec["fdg"]["centre_mm"])
    again = draw_motion(DEMO_SEED, "cycle1_spect_24h", centre)  # type: ignore[arg-type]
    assert list(again.translation_mm) == rec["cycle1_spect_24h"]["translation_mm"]
    assert list(again.rotation_deg) == rec["cycle1_spect_24h"]["rotation_deg"]
    assert draw_motion(DEMO_SEED + 1, "cycle1_spect_24h", centre) != again
    draws = [draw_motion(s, f"cycle{k}_spect_24h", centre) for s in range(50) for k in (1, 2, 3)]
    t = np.array([d.translation_mm for d in draws])
    a = np.array([d.rotation_deg for d in draws])
    assert np.linalg.norm(t, axis=1).max() <= MAX_SHIFT_MM and np.abs(a).max() <= MAX_ROTATION_DEG
    assert np.linalg.norm(t, axis=1).max() > 0.8 * MAX_SHIFT_MM  # the range is used
    assert np.abs(a).max() > 0.9 * MAX_ROTATION_DEG
    # R = Rz Ry Rx = scipy's extrinsic "xyz" Euler rotation; q = R (p - c) + c + t.
    mo = RigidMotion((1.5, -2.0, 3.0), (2.0, -1.0, 2.5), (10.0, 20.0, -30.0))
    ref = Rotation.from_euler("xyz", mo.rotation_deg, degrees=True).as_matrix()
    np.testing.assert_allclose(mo.rotation_matrix(), ref, atol=1e-14)
    p = np.array([[100.0, -50.0, 200.0], [0.0, 0.0, 0.0]])
    c = np.array(mo.centre_mm)
    expected = (p - c) @ ref.T + c + np.array(mo.translation_mm)
    np.testing.assert_allclose(mo.to_session(p), expected, atol=1e-12)
    np.testing.assert_allclose(mo.to_baseline(mo.to_session(p)), p, atol=1e-12)


def test_moved_patient_keeps_every_true_activity() -> None:
    # Worst-case motion (10 mm, 3 deg about every axis): every region of the moved fine
    # concentration holds exactly the truth activity (CycleTruth.activity_bq_at, the values of
    # truth.json), although nearest-neighbour resampling changed voxel counts; only body
    # (soft-tissue) voxels at the torso ends leave the field of view, < 0.5 %.
    spec = PatientSpec("M", seed=DEMO_SEED).resolved()
    model = build_anatomy(spec, voxel_mm=6.0)
    biology = draw_biology(model.voxelise(), DEMO_SEED)
    cyc = simulate_therapy(model, biology, Therapy(cycles=1))[0]
    t = cyc.injection_time + _dt.timedelta(hours=24)
    step = MAX_SHIFT_MM / np.sqrt(3.0)
    motion = RigidMotion((step, -step, step), (3.0, -3.0, 3.0), model.body.center_mm)
    moved = move_anatomy(cyc.anatomy, motion, fat_rim_mask(cyc.anatomy))
    conc = fine_concentration(moved.anatomy, region_concentrations_lu(cyc, t, counts=moved.counts))
    labels = np.asarray(moved.anatomy.labels.array)
    v = moved.anatomy.labels.voxel_volume_ml
    n = LESION_LABEL0 + 64
    inside = np.bincount(labels.ravel(), minlength=n)[:n]
    before = np.bincount(np.asarray(cyc.anatomy.labels.array).ravel(), minlength=n)[:n]
    leaving = moved.counts - inside
    assert (np.flatnonzero(leaving[1:]) + 1).tolist() == [LABELS["body"]]  # 0 is air
    assert 0 < leaving[LABELS["body"]] < 0.005 * before[LABELS["body"]]
    assert np.any(inside[2:] != before[2:])  # organ voxel counts did change
    activity = np.bincount(labels.ravel(), weights=conc.ravel().astype(np.float64), minlength=n)
    checked = 0
    for name, label in LABELS.items():
        if name in cyc.kinetics.regions:
            expected = cyc.activity_bq_at(name, t)
            assert activity[label] * v == pytest.approx(expected, rel=1e-6), name
            checked += 1
    for i, les in enumerate(model.lesions):
        expected = cyc.activity_bq_at(les.id, t)
        assert activity[model.lesion_label(i)] * v == pytest.approx(expected, rel=1e-6), les.id
    assert checked >= 10


def test_no_reposition_keeps_the_baseline_geometry_and_truth(moved, still) -> None:
    root, m, truth = moved
    root_s, m_s, truth_s = still
    # the baseline PET/CT is never moved: identical pixels with and without repositioning
    for role in ("pet", "pet_ct"):
        a = read_series(root / m["series"][role]["path"]).volume.array
        b = read_series(root_s / m_s["series"][role]["path"]).volume.array
        assert np.array_equal(a, b), role
    a = read_series(root / m["series"]["spect_ct"][1]["path"]).volume.array
    b = read_series(root_s / m_s["series"]["spect_ct"][1]["path"]).volume.array
    assert not np.array_equal(a, b)
    # truth TIAs, doses and activities are analytic: independent of positioning
    for key in ("organs", "lesions", "cycles", "pet", "tumour_biology"):
        assert truth[key] == truth_s[key], key
    # label maps only for the baseline as the pipeline's VOIs; per-cycle maps stay truth
    assert m["segmentation"] == {
        "labels_nifti": {"baseline": "truth/labels_baseline.nii.gz"},
        "label_names": "truth/labels.json",
        "referenced_series": "pet_ct",
        "frame_of_reference_uid": m["series"]["pet_ct"]["frame_of_reference_uid"],
    }
    assert "segmentation" not in m_s
    assert (
        set(m["truth"]["labels_nifti"])
        == {"baseline", "cycle1"}
        == set(m_s["truth"]["labels_nifti"])
    )
    assert m["version"] == m_s["version"]
    lab = read_nifti(root / m["segmentation"]["labels_nifti"]["baseline"])
    assert np.array_equal(lab.array, read_nifti(root_s / "truth" / "labels_baseline.nii.gz").array)


# --------------------------------------------------------------------------- SPECT format
def test_pet_slice_spect_reads_back_like_the_nm_file(moved, slices) -> None:
    # Same seed, same motion, same noise: the PET-SOP slices and the NM file hold the same
    # image. Each format quantises to 16 bits: NM with one slope (peak / 65535), PT with a
    # slope per slice (slice peak / 32767); values agree within half of each step.
    root, m, _ = moved
    root_p, m_p, truth_p = slices
    for nm_entry, pt_entry in zip(m["series"]["spect"], m_p["series"]["spect"], strict=True):
        assert nm_entry["spect_format"] == "nm" and pt_entry["spect_format"] == "pet-slices"
        folder = root_p / pt_entry["path"]
        assert folder.is_dir() and nm_entry["path"].endswith("NM.dcm")
        nm = read_series(root / nm_entry["path"])
        pt = read_series(folder)
        a, b = nm.volume, pt.volume
        assert (a.modality, b.modality) == ("NM", "PT")
        assert a.unit == b.unit == "Bq/mL"
        assert a.shape == b.shape and len(pt.files) == b.shape[0]
        np.testing.assert_allclose(a.origin, b.origin, atol=1e-4)
        np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-6)
        assert b.frame_of_reference_uid == pt_entry["frame_of_reference_uid"]
        nm_step = float(nm.header.RescaleSlope)
        pt_step = max(s.rescale_slope for s in pt.slices)
        diff = np.abs(np.asarray(a.array, float) - np.asarray(b.array, float))
        assert diff.max() <= 0.5 * (nm_step + pt_step) * (1 + 1e-6)
        assert float(np.asarray(a.array).max()) > 1000 * (nm_step + pt_step)  # not trivial
        ds = pydicom.dcmread(sorted(folder.glob("*.dcm"))[0])
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.128" and ds.Modality == "PT"
        assert ds.Units == "BQML" and "xSPECT QUANT" in ds.SeriesDescription
        rp = ds.RadiopharmaceuticalInformationSequence[0]
        assert rp.RadionuclideCodeSequence[0].CodeMeaning == "^177^Lutetium"
        assert float(rp.RadionuclideTotalDose) == pytest.approx(7.4e9)
        assert rp.RadiopharmaceuticalStartDateTime.startswith("20250303100000")
    # the same patient positions whatever the format
    assert (
        truth_p["positioning"]
        == json.loads((root / "truth" / "truth.json").read_text())["positioning"]
    )
    res = CliRunner().invoke(app, ["dicom", "ls", str(root_p / "dicom" / "cycle1"), "--json"])
    assert res.exit_code == 0, res.output
    listed = {s["series_uid"]: s for s in json.loads(res.stdout)["series"]}
    for entry in m_p["series"]["spect"]:
        s = listed[entry["series_uid"]]
        assert (s["modality"], s["units"], s["radiopharmaceutical"]) == (
            "PT",
            "BQML",
            "177Lu-DOTATATE",
        )


# --------------------------------------------------------------------------- labs, seeds
def test_no_labs_leaves_only_the_labs_out(moved, slices) -> None:
    from sstrkit.therapy.case import load_case

    clinical = json.loads((moved[0] / "clinical.json").read_text())
    without = json.loads((slices[0] / "clinical.json").read_text())
    assert "labs" in clinical and len(clinical["labs"]) == 2  # before cycle 1, follow-up
    assert "labs" not in without and "creatinine" not in without["units"]
    for key in ("administrations", "blood_samples", "diagnosis"):
        assert without[key] == clinical[key], key
    assert len(load_case(slices[0] / "case.json").blood[0].concentration_kbq_per_ml) == 7


def _eligibility(root: Path, m: dict[str, Any]) -> Any:
    """Read the study's SSTR PET with its FDG PET, baseline labels and baseline labs."""
    from sstrkit.reading.eligibility import Labs
    from sstrkit.reading.inputs import load_suv_pet
    from sstrkit.reading.reader import read_sstr_pet

    suv = load_suv_pet(root / m["series"]["pet"]["path"], assume_suv=False, role="PET")
    fdg = load_suv_pet(root / m["series"]["fdg"]["path"], assume_suv=False, role="FDG PET")
    lab = read_nifti(root / m["truth"]["labels_nifti"]["baseline"])

    def on(v: Volume) -> Volume:
        same = lab.with_metadata(frame_of_reference_uid=v.frame_of_reference_uid)
        return same.resample_to(v, mode="nearest")

    names = {int(k): v for k, v in json.loads((root / "truth" / "labels.json").read_text()).items()}
    clinical = json.loads((root / "clinical.json").read_text())
    patient = json.loads((root / "case.json").read_text())["patient"]
    first = min(clinical["labs"], key=lambda r: r["time"])
    labs = {k: v for k, v in first.items() if k not in ("time", "before_cycle")}
    labs.update(age_years=patient["age_y"], sex=patient["sex"])
    return read_sstr_pet(
        suv,
        organs=on(suv),
        organ_names=names,
        fdg=fdg,
        fdg_organs=on(fdg),
        fdg_organ_names=names,
        labs=Labs.from_mapping(labs),
        tracer=m["series"]["pet"]["tracer"],
    )


def test_demo_patient_is_eligible_and_the_excluded_seed_is_not(still, tmp_path: Path) -> None:
    # The demo patient (seed 7) passes every eligibility rule with its own labs; the
    # documented excluded patient (seed 5) fails exactly the FDG+/SSTR- rule (NETPET P5).
    # Without repositioning the baseline labels fit the FDG PET too (the reading's own
    # coordinates; registration is the pipeline's job).
    assert not has_fdg_discordant_lesion(DEMO_SEED) and has_fdg_discordant_lesion(EXCLUDED_SEED)
    root, m, truth = still
    assert not [les for les in truth["lesions"] if les["fdg_positive"] and not les["sstr_positive"]]
    demo = _eligibility(root, m)
    assert demo.eligibility.eligible, [(o.id, o.status) for o in demo.eligibility.rules]
    assert demo.netpet is not None and demo.netpet.grade == "P1"
    root_x, m_x, truth_x = _make(
        tmp_path / "excluded",
        seed=EXCLUDED_SEED,
        voxel_mm=4.0,
        cycles=1,
        timepoints_h=(24.0,),
        reposition=False,
    )
    odd = [les for les in truth_x["lesions"] if les["fdg_positive"] and not les["sstr_positive"]]
    assert len(odd) == 1 and odd[0]["organ"] == "liver"
    excluded = _eligibility(root_x, m_x)
    assert not excluded.eligibility.eligible
    failed = [o.id for o in excluded.eligibility.rules if o.status == "fail"]
    assert failed == ["no_fdg_positive_sstr_negative"]
    assert excluded.netpet is not None and excluded.netpet.grade == "P5"


def test_cli_options_reach_the_study(tmp_path: Path) -> None:
    out = tmp_path / "s"
    res = CliRunner().invoke(
        app,
        [
            "phantom", "make", str(out), "--seed", "2", "--cycles", "1", "--timepoints-h", "24",
            "--voxel-mm", "8", "--no-fdg", "--no-reposition", "--spect-format", "pet-slices",
            "--no-labs", "--fdg-discordant", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)
    params = m["provenance"]["parameters"]
    assert params["reposition"] is False and params["spect_format"] == "pet-slices"
    assert params["labs"] is False and params["fdg_discordant_lesion"] is True
    assert "segmentation" not in m and (out / m["series"]["spect"][0]["path"]).is_dir()
    assert "labs" not in json.loads((out / "clinical.json").read_text())
    truth = json.loads((out / "truth" / "truth.json").read_text())
    assert not has_fdg_discordant_lesion(2)  # the option overrode the seed's draw
    assert [les["id"] for les in truth["lesions"] if not les["sstr_positive"]]
    bad = CliRunner().invoke(app, ["phantom", "make", str(tmp_path / "x"), "--spect-format", "dcm"])
    assert bad.exit_code == 2 and "pet-slices" in bad.output
    with pytest.raises(Exception, match="pet-slices"):
        StudyConfig(spect_format="dcm")  # type: ignore[arg-type]
