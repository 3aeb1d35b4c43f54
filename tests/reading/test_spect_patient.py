"""SSTR SPECT reading and PET-vs-SPECT concordance on digital patients (issue 19 acceptance).

Patients come from ``make_study(..., sstr_imaging=("111In-pentetreotide",
"99mTc-HYNIC-TOC"))`` (what ``sstrkit phantom make --sstr-imaging`` writes) with 4 mm truth
voxels to stay fast; the SPECTs are read from their DICOM (Bq/mL) as ``sstrkit read`` does.
Reference values are the simulator's truth: ``truth/scintigraphy_<tracer>.json`` (lesion
ids, diameters, centroids in the SPECT's own coordinates, true lesion-to-liver and
-to-spleen ratios, their Krenning grade, and ``visible``: Rose SNR ≥ 5 on the noise-free
image) and ``truth/truth.json`` (baseline PET centroids, and each session's rigid
repositioning, with which the truth organ labels are carried into the SPECT's frame —
the organ labels are supplied, as in the PET acceptance test).

Acceptance (issue 19): SPECT lesion recall ≥ 90 % for lesions ≥ 20 mm (visible ones: a
lesion below the Rose criterion, e.g. seed 3 lesion_05 at 0.65 × liver, is not expected on
any reading) and no false positive from physiological uptake (kidneys, spleen, bladder,
bowel at 24 h, gallbladder for 99mTc); a detection matches a truth lesion within 20 mm
(about 1.5 FWHM of 111In SPECT). The concordance of the baseline 68Ga-DOTATATE PET with the
SPECT of the same patient lists each lesion with its PET size and is checked against the
truth ids.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.reading.concordance import compare_readings
from sstrkit.reading.inputs import load_ct, load_suv_pet
from sstrkit.reading.reader import ReadingResult, read_sstr_pet
from sstrkit.reading.spect import SpectReadingResult, read_sstr_spect

TRACERS = ("111In-pentetreotide", "99mTc-HYNIC-TOC")
SEEDS = (3, 11)
MATCH_MM = 20.0
PET_MATCH_MM = 15.0  # as tests/reading/test_phantom_e2e.py


@pytest.fixture(scope="session")
def patients(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Digital patients with both scintigraphy tracers (4 mm truth voxels: ~10 s each)."""
    out = {}
    for seed in SEEDS:
        root = tmp_path_factory.mktemp(f"scint_patient_{seed}")
        make_study(
            root,
            StudyConfig(
                seed=seed,
                voxel_mm=4.0,
                cycles=1,
                timepoints_h=(24.0,),
                fdg=False,
                sstr_imaging=TRACERS,
            ),
        )
        out[seed] = root
    return out


def _manifest(root: Path) -> dict[str, Any]:
    return dict(json.loads((root / "manifest.json").read_text()))


def _labels_in_session(root: Path, spect: Volume, frame: str) -> tuple[Volume, dict[int, str]]:
    """The baseline truth labels carried into a session's frame by its recorded motion."""
    m = _manifest(root)
    truth = json.loads((root / m["truth"]["truth_json"]).read_text())
    pos = next(p for p in truth["positioning"] if p["frame_of_reference_uid"] == frame)
    mat = np.asarray(pos["matrix_session_to_baseline"], dtype=float)
    tf = sitk.AffineTransform(3)
    tf.SetMatrix(mat[:3, :3].ravel().tolist())
    tf.SetTranslation(mat[:3, 3].tolist())
    base = read_nifti(root / m["truth"]["labels_nifti"]["baseline"])
    moved = sitk.Resample(
        base.to_sitk(), spect.to_sitk(), tf, sitk.sitkNearestNeighbor, 0, sitk.sitkInt16
    )
    labels = Volume.from_sitk(moved, frame_of_reference_uid=spect.frame_of_reference_uid)
    names = {
        int(k): v for k, v in json.loads((root / m["truth"]["label_names"]).read_text()).items()
    }
    return labels, names


@lru_cache(maxsize=8)
def _spect(root: Path, tracer: str) -> tuple[SpectReadingResult, list[dict[str, Any]]]:
    """The SPECT reading of ``tracer`` (from its DICOM) and the SPECT truth lesions."""
    m = _manifest(root)
    e = next(x for x in m["series"]["sstr_spect"] if x["tracer"] == tracer)
    spect = read_series(root / e["path"]).volume
    labels, names = _labels_in_session(root, spect, e["frame_of_reference_uid"])
    r = read_sstr_spect(
        spect,
        tracer=tracer,
        hours_post_injection=e["hours_post_injection"],
        injected_activity_bq=e["injected_activity_bq"],
        weight_kg=m["patient"]["weight_kg"],
        injection_time=dt.datetime.fromisoformat(e["injection_time"]),
        organs=labels,
        organ_names=names,
    )
    truth = json.loads((root / m["truth"]["scintigraphy"][tracer]).read_text())
    (session,) = truth["spect"]
    return r, list(session["lesions"])


def _nearest(c: Any, truth: list[dict[str, Any]], tol: float) -> str | None:
    d = np.linalg.norm(np.array([t["centroid_mm"] for t in truth]) - np.asarray(c), axis=1)
    j = int(np.argmin(d))
    return str(truth[j]["id"]) if d[j] <= tol else None


@pytest.mark.parametrize("tracer", TRACERS)
def test_spect_recall_and_no_physiological_false_positive(
    patients: dict[int, Path], tracer: str
) -> None:
    wanted, found, false_pos = 0, 0, []
    for seed, root in patients.items():
        r, truth = _spect(root, tracer)
        assert r.quantification is not None and r.quantification.method == "bq_per_ml"
        ids = [_nearest(m.centroid_mm, truth, MATCH_MM) for m in r.lesions]
        false_pos += [
            (seed, m.organ, m.suv_max, m.centroid_mm)
            for m, i in zip(r.lesions, ids, strict=True)
            if i is None
        ]
        big = [t["id"] for t in truth if t["diameter_mm"] >= 20.0 and t["visible"]]
        wanted += len(big)
        found += sum(i in ids for i in big)
        # physiology was seen and set aside: kidneys and bladder always; 111In bowel at 24 h,
        # the 99mTc gallbladder
        organs = {s.organ for s in r.segmentation.suppressed}
        assert any("kidney" in o for o in organs) and "bladder" in organs, organs
        if tracer.startswith("111In"):
            assert organs & {"bowel", "rectum"}, organs
        else:
            assert "gallbladder" in organs, organs
    assert wanted >= 4, wanted  # 2-3 qualifying lesions per patient
    assert found / wanted >= 0.90, (found, wanted)
    assert false_pos == [], false_pos


@pytest.mark.parametrize("tracer", TRACERS)
def test_spect_krenning_of_large_lesions_away_from_a_threshold(
    patients: dict[int, Path], tracer: str
) -> None:
    """Krenning on SPECT (SUVmax vs liver and spleen SUVmean) equals the truth grade of the
    true concentration ratios for lesions ≥ 20 mm whose ratio lies ≥ 20 % from a grade
    threshold (truth ``grade_margin``): partial volume at 9-13 mm FWHM lowers a 20-35 mm
    lesion's SUVmax by up to ~20 %, so closer cases are not asserted (issue's planar rule)."""
    checked = 0
    for root in patients.values():
        r, truth = _spect(root, tracer)
        for t in truth:
            if t["diameter_mm"] < 20.0 or not t["visible"] or t["grade_margin"] < 0.2:
                continue
            (m,) = [m for m in r.lesions if _nearest(m.centroid_mm, [t], MATCH_MM)]
            assert m.krenning == t["krenning_grade_true"], (t["id"], m.t_l, m.t_s, t)
            checked += 1
    assert checked >= 2


@lru_cache(maxsize=4)
def _pet(root: Path) -> ReadingResult:
    m = _manifest(root)
    pet = load_suv_pet(root / m["series"]["pet"]["path"], assume_suv=False, role="PET")
    lab = read_nifti(root / m["truth"]["labels_nifti"]["baseline"]).with_metadata(
        frame_of_reference_uid=pet.frame_of_reference_uid
    )
    names = {
        int(k): v for k, v in json.loads((root / m["truth"]["label_names"]).read_text()).items()
    }
    return read_sstr_pet(
        pet, organs=lab, organ_names=names, resample_labels=True, tracer="68Ga-DOTATATE"
    )


def test_concordance_of_pet_and_spect_against_truth(patients: dict[int, Path]) -> None:
    """Every pair joins one truth lesion; lesions ≥ 20 mm seen on both are 'both' with their
    PET size. Frames differ (the SPECT/CT session is repositioned): the PET centroids are
    mapped through a registration of the two CTs, whose accuracy the pairs test."""
    from sstrkit.therapy.registration import register_ct

    root = patients[3]
    m = _manifest(root)
    tracer = "111In-pentetreotide"
    spect, s_truth = _spect(root, tracer)
    pet = _pet(root)
    p_truth = json.loads((root / m["truth"]["truth_json"]).read_text())["lesions"]
    ct_entry = next(x for x in m["series"]["sstr_spect_ct"] if x["tracer"] == tracer)
    reg = register_ct(
        load_ct(root / m["series"]["pet_ct"]["path"]), load_ct(root / ct_entry["path"])
    )
    pet_doc = pet.to_dict()
    with pytest.raises(GeometryMismatchError, match="frames of reference"):
        compare_readings(pet_doc, spect.to_dict())  # different frames, no registration
    conc = compare_readings(pet_doc, spect.to_dict(), registration=reg)
    p_by_id = {le.id: le for le in pet.lesions}
    s_by_id = {le.id: le for le in spect.lesions}
    both_ids = set()
    for row in conc.lesions:
        pid = (
            _nearest(p_by_id[row.pet_id].centroid_mm, p_truth, PET_MATCH_MM) if row.pet_id else None
        )
        sid = (
            _nearest(s_by_id[row.scintigraphy_id].centroid_mm, s_truth, MATCH_MM)
            if row.scintigraphy_id
            else None
        )
        if row.status == "both":
            assert pid is not None and pid == sid, (row, pid, sid)
            assert (
                row.distance_mm is not None and row.distance_mm <= 5.0
            )  # registration + centroids
            both_ids.add(pid)
        elif row.status == "pet_only":
            # a PET lesion the SPECT reading did not find (or found > 20 mm away)
            assert pid is None or pid not in {
                _nearest(le.centroid_mm, s_truth, MATCH_MM) for le in spect.lesions
            }
        else:
            assert sid is None or sid not in {
                _nearest(le.centroid_mm, p_truth, PET_MATCH_MM) for le in pet.lesions
            }
    size = {t["id"]: t["diameter_mm"] for t in p_truth}
    big = [t["id"] for t in s_truth if t["diameter_mm"] >= 20.0 and t["visible"]]
    assert big and set(big) <= both_ids, (big, both_ids)
    for row in conc.lesions:
        pid = (
            _nearest(p_by_id[row.pet_id].centroid_mm, p_truth, PET_MATCH_MM) if row.pet_id else None
        )
        if row.status == "both" and pid in big:
            # PET size: the sphere of the 50 % isocontour volume (5.5 mm FWHM, 4 mm voxels)
            # within 10 % of the true diameter (measured 0.3 % and 2.4 % here)
            assert row.pet_diameter_mm == pytest.approx(size[pid], rel=0.10), (pid, row)
    d = conc.to_dict()
    assert d["counts"]["both"] == len(both_ids)
    assert d["statistics"]["sensitivity"] is not None
