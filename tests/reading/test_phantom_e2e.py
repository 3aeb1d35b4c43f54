"""End-to-end reading of the digital NET patient (`sstrkit.phantom`) against its truth.

Issue 7 acceptance: lesions ≥ 15 mm (SSTR-positive, not low-SSTR) found with recall
≥ 95 % and no false positive from physiological uptake or liver parenchyma; SUVmax
within 10 % of truth for lesions ≥ 3 cm.

Reference values are the simulator's own truth (lesion centroids in LPS mm,
diameters and set SUVs, `truth/truth.json`), not numbers measured with the
reader. A detection is matched to a truth lesion when their centroids are
≤ 15 mm apart (the matching distance of the issue); one matching no truth lesion
is a false positive. With 3-6 qualifying lesions per patient, recall ≥ 95 % means
every one.

One patient goes through the whole path (phantom study on disk → DICOM PET →
SUVbw → reader); the others are simulated in memory with the phantom's anatomy,
biology and scanner functions (same code the study writer uses) to stay fast.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.io.nifti import read_nifti
from sstrkit.phantom.anatomy import LABELS, PatientSpec, build_anatomy
from sstrkit.phantom.biology import draw_biology
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.scanners import EmissionScanner, fine_concentration
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.reading.inputs import load_suv_pet
from sstrkit.reading.reader import ReadingResult, read_sstr_pet

MATCH_MM = 15.0


def _qualifies(les: dict[str, Any], min_diameter_mm: float = 15.0) -> bool:
    return bool(
        les["diameter_mm"] >= min_diameter_mm and les["sstr_positive"] and not les["low_sstr"]
    )


def _match(result: ReadingResult, truth: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Any]]:
    """Truth id → nearest detection within MATCH_MM, and the unmatched detections."""
    centres = np.array([t["centroid_mm"] for t in truth], dtype=float)
    matched: dict[str, Any] = {}
    false_pos = []
    for m in result.lesions:
        d = np.linalg.norm(centres - np.asarray(m.centroid_mm), axis=1)
        j = int(np.argmin(d))
        if d[j] > MATCH_MM:
            false_pos.append(m)
            continue
        tid = truth[j]["id"]
        if tid not in matched or m.volume_ml > matched[tid].volume_ml:
            matched[tid] = m
    return matched, false_pos


def _check_acceptance(result: ReadingResult, truth: list[dict[str, Any]]) -> dict[str, Any]:
    matched, false_pos = _match(result, truth)
    wanted = [t for t in truth if _qualifies(t)]
    assert wanted, "the phantom always has lesions ≥ 15 mm"
    found = [t["id"] for t in wanted if t["id"] in matched]
    assert len(found) / len(wanted) >= 0.95, (found, [t["id"] for t in wanted])
    assert false_pos == [], [(m.organ, m.suv_max, m.volume_ml, m.centroid_mm) for m in false_pos]
    return matched


# ----------------------------------------------------------------- study on disk (DICOM path)
@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("phantom_seed3")
    manifest = make_study(
        root, StudyConfig(seed=3, sex="F", cycles=1, timepoints_h=(24.0,), fdg=False)
    )
    suv = load_suv_pet(root / manifest["series"]["pet"]["path"], assume_suv=False, role="PET")
    lab = read_nifti(root / manifest["truth"]["labels_nifti"]["baseline"]).with_metadata(
        operation="assign_frame_of_reference",
        frame_of_reference_uid=suv.frame_of_reference_uid,
    )
    names = {
        int(k): str(v)
        for k, v in json.loads((root / manifest["truth"]["label_names"]).read_text()).items()
    }
    truth = json.loads((root / manifest["truth"]["truth_json"]).read_text())
    result = read_sstr_pet(suv, organs=lab, organ_names=names, resample_labels=True)
    return {"result": result, "truth": truth["lesions"], "suv": suv}


def test_study_recall_and_no_false_positives(study: dict[str, Any]) -> None:
    r: ReadingResult = study["result"]
    matched = _check_acceptance(r, study["truth"])
    # the normal liver is never a lesion: every liver detection is a truth liver lesion
    liver_truth = {t["id"] for t in study["truth"] if t["organ"] == "liver"}
    for tid, m in matched.items():
        if m.organ == "liver":
            assert tid in liver_truth
    # the liver threshold sits above the liver's own robust level, which is close to the
    # PERCIST reference (both measure normal liver; noise ~10 %, so 15 % is generous)
    th = r.segmentation.thresholds
    detect, level = th["detect_in_liver_suv"], th["background_in_liver_suv"]
    assert detect is not None and level is not None and detect > level
    assert r.references.liver_mean is not None
    assert level == pytest.approx(r.references.liver_mean, rel=0.15)


def test_study_suvpeak_of_large_lesions(study: dict[str, Any]) -> None:
    # SUVmax of the noisy image is biased upwards by noise (max of ~10³ voxels with ~7 %
    # noise: about +3 SD); SUVpeak (1 mL mean) is not: truth SUV within 10 % for ≥ 3 cm.
    matched, _ = _match(study["result"], study["truth"])
    big = [t for t in study["truth"] if _qualifies(t, 30.0)]
    assert big
    for t in big:
        assert matched[t["id"]].suv_peak == pytest.approx(t["suv_dotatate"], rel=0.10), t["id"]
        assert matched[t["id"]].suv_max >= 0.95 * t["suv_dotatate"]


# ----------------------------------------------------------------- in memory (more patients)
@lru_cache(maxsize=4)
def _patient(seed: int, noise: bool) -> tuple[Volume, Volume, dict[int, str], list[dict[str, Any]]]:
    """PET (SUV), labels and lesion truth as `make_study` produces them, without disk I/O."""
    spec = PatientSpec("F" if seed % 2 else "M", None, None, seed).resolved()
    model = build_anatomy(spec, voxel_mm=2.0)
    anat = model.voxelise()
    bio = draw_biology(anat, seed)
    pp = parameters()["pet"]
    weight = float(spec.weight_kg or 0.0)
    # Bq/mL per SUV as in the study writer: decayed injected activity / body weight (g)
    injected = round(float(pp["injected_mbq_per_kg"]) * weight) * 1e6
    decay = np.exp(-get_nuclide("Ga-68").decay_constant_per_s * 60.0 * pp["uptake_time_min"])
    scale = injected * float(decay) / (weight * 1000.0)
    table = {v: bio.suv(n, "DOTATATE") * scale for n, v in LABELS.items()}
    names = {v: n for n, v in LABELS.items()}
    truth = []
    for i, les in enumerate(model.lesions):
        table[model.lesion_label(i)] = bio.suv(les.id, "DOTATATE") * scale
        names[model.lesion_label(i)] = les.id
        truth.append(
            {
                "id": les.id,
                "organ": les.site,
                "centroid_mm": anat.centroid_mm(les.id),
                "diameter_mm": les.diameter_mm,
                "sstr_positive": les.sstr_positive,
                "low_sstr": les.low_sstr,
                "suv_dotatate": bio.suv(les.id, "DOTATATE"),
            }
        )
    rng = np.random.default_rng([seed, 5]) if noise else None
    img, grid, _ = EmissionScanner.pet().image(
        fine_concentration(anat, table),
        model.grid,
        duration_s=float(pp["frame_duration_s"]),
        rng=rng,
    )
    suv = Volume.from_array(
        img / scale, spacing=grid.spacing, origin=grid.origin, quantity="SUV", unit="g/mL"
    )
    return suv, anat.labels.resample_to(suv, mode="nearest"), names, truth


@pytest.mark.parametrize("seed", [7, 11])
def test_in_memory_patients_recall_and_no_false_positives(seed: int) -> None:
    suv, labels, names, truth = _patient(seed, True)
    _check_acceptance(read_sstr_pet(suv, organs=labels, organ_names=names), truth)


@pytest.mark.parametrize("seed", [3, 11])
def test_noise_free_suvmax_of_large_lesions(seed: int) -> None:
    # Without noise the centre of a uniform ≥ 3 cm sphere is fully recovered by a 5.5 mm
    # FWHM scanner (radius ≥ 2.7 FWHM), so SUVmax equals the set SUV; 10 % is the issue's
    # tolerance (measured agreement is < 0.1 %).
    suv, labels, names, truth = _patient(seed, False)
    r = read_sstr_pet(suv, organs=labels, organ_names=names)
    matched = _check_acceptance(r, truth)
    big = [t for t in truth if _qualifies(t, 30.0)]
    assert big
    for t in big:
        assert matched[t["id"]].suv_max == pytest.approx(t["suv_dotatate"], rel=0.10), t["id"]
