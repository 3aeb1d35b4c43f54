"""Acceptance: reading digital NET patients WITHOUT supplied organ labels.

Issue "Organs and physiological uptake without hand-made labels": `sstrkit read PET
--ct CT` on a PET/CT without organ labels must find every SSTR-positive lesion of
≥ 15 mm and must not report the spleen, kidneys, bladder, adrenals (or normal liver)
as lesions; "uptake ≥ liver" must be read against the liver, not liver against liver.

Patients: seeds 7, 3 and 11 of :func:`sstrkit.phantom.study.make_study` at 4 mm
voxels (one baseline 68Ga-DOTATATE PET/CT, noise on), read from their DICOM folders
exactly as `sstrkit read` does. References are the simulator's truth
(``truth/truth.json``: lesion centroids, diameters, SSTR status; set organ SUVs;
``truth/labels_baseline.nii.gz``), never values measured by the reader. A reported
lesion matches a truth lesion when their centroids are ≤ 15 mm apart (the issue's
matching distance, as in test_phantom_e2e.py).

Two readers are tested: the real automatic segmentation (``test_real_*``; these
are the acceptance tests and run in `make test`) and a stand-in returning the
truth organs (``test_truthful_*``), which isolates the reading-side logic from the
segmentation's accuracy.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.io.nifti import read_nifti
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.reading.inputs import load_ct, load_suv_pet
from sstrkit.reading.reader import ReadingResult, read_sstr_pet

from .organ_fakes import truth_segmenter

SEEDS = (7, 3, 11)
MATCH_MM = 15.0
#: Truth regions with physiological SSTR uptake: no lesion may be centred there unless
#: a truth lesion is.
PHYSIOLOGICAL = (
    "spleen",
    "kidney_left_cortex",
    "kidney_left_medulla",
    "kidney_right_cortex",
    "kidney_right_medulla",
    "bladder",
    "adrenal_left",
    "adrenal_right",
)


@pytest.fixture(scope="module")
def patients(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """Seed → PET (SUV), CT, truth labels on the PET grid, names, lesion and organ truth."""
    out: dict[int, dict[str, Any]] = {}
    for seed in SEEDS:
        root = tmp_path_factory.mktemp(f"auto_organs_seed{seed}")
        cfg = StudyConfig(
            seed=seed,
            sex="F" if seed % 2 else "M",
            cycles=1,
            timepoints_h=(24.0,),
            voxel_mm=4.0,
            fdg=False,
        )
        m = make_study(root, cfg)
        suv = load_suv_pet(root / m["series"]["pet"]["path"], assume_suv=False, role="PET")
        ct = load_ct(root / m["series"]["pet_ct"]["path"])
        labels = read_nifti(root / m["truth"]["labels_nifti"]["baseline"]).with_metadata(
            operation="assign_frame_of_reference",
            frame_of_reference_uid=suv.frame_of_reference_uid,
        )
        names = {
            int(k): str(v)
            for k, v in json.loads((root / m["truth"]["label_names"]).read_text()).items()
        }
        truth = json.loads((root / m["truth"]["truth_json"]).read_text())
        out[seed] = {
            "suv": suv,
            "ct": ct,
            "labels": labels,
            "on_pet": np.asarray(labels.resample_to(suv, mode="nearest").array),
            "names": names,
            "lesions": truth["lesions"],
            "organ_suv": truth["pet"]["pet"]["suv_bw"],
        }
    return out


def _qualifies(t: dict[str, Any]) -> bool:
    return bool(t["diameter_mm"] >= 15.0 and t["sstr_positive"] and not t["low_sstr"])


def _truth_near(p: dict[str, Any], centre: Any) -> bool:
    return any(
        np.linalg.norm(np.subtract(t["centroid_mm"], centre)) <= MATCH_MM for t in p["lesions"]
    )


def _region_at(p: dict[str, Any], suv: Volume, centre: Any) -> str:
    zyx = np.rint(suv.physical_to_index(centre)).astype(int)[::-1]
    if not all(0 <= v < n for v, n in zip(zyx, p["on_pet"].shape, strict=True)):
        return "outside"
    return str(p["names"].get(int(p["on_pet"][tuple(zyx)]), "background"))


def check_reading(r: ReadingResult, p: dict[str, Any]) -> dict[str, Any]:
    """The acceptance criteria; returns what was measured (for the report)."""
    assert r.organs_automatic, r.notes
    missed = [
        t["id"]
        for t in p["lesions"]
        if _qualifies(t)
        and not any(
            np.linalg.norm(np.subtract(m.centroid_mm, t["centroid_mm"])) <= MATCH_MM
            for m in r.lesions
        )
    ]
    in_physiological = [
        (m.id, _region_at(p, p["suv"], m.centroid_mm), round(m.suv_max, 1))
        for m in r.lesions
        if _region_at(p, p["suv"], m.centroid_mm) in PHYSIOLOGICAL
        and not _truth_near(p, m.centroid_mm)
    ]
    in_liver = [
        (m.id, round(m.suv_max, 1), round(m.volume_ml, 1))
        for m in r.lesions
        if _region_at(p, p["suv"], m.centroid_mm) == "liver" and not _truth_near(p, m.centroid_mm)
    ]
    return {"missed": missed, "in_physiological": in_physiological, "in_liver": in_liver}


def _liver_reference_is_liver(r: ReadingResult, p: dict[str, Any]) -> None:
    # The liver reference is a 3 cm sphere in the labelled liver; against the set liver SUV
    # it agrees within 15 % (voxel noise ~10 % averages over ~220 voxels; the sphere
    # avoids lesions), so "uptake >= liver" is read against normal liver.
    ref = r.references.liver
    assert ref is not None and ref.method == "organ_label" and r.references.liver_reliable
    assert ref.suv_mean == pytest.approx(p["organ_suv"]["liver"], rel=0.15)


# ------------------------------------------------------------ real segmentation
_real: dict[int, ReadingResult] = {}


def _read_real(p: dict[str, Any], seed: int) -> ReadingResult:
    if seed not in _real:
        _real[seed] = read_sstr_pet(p["suv"], ct=p["ct"])
    return _real[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_real_finds_lesions_and_no_physiological_false_positives(
    seed: int, patients: dict[int, dict[str, Any]]
) -> None:
    p = patients[seed]
    got = check_reading(_read_real(p, seed), p)
    assert got["missed"] == [] and got["in_physiological"] == [], got


@pytest.mark.parametrize("seed", SEEDS)
def test_real_no_lesion_in_normal_liver_and_liver_reference(
    seed: int, patients: dict[int, dict[str, Any]]
) -> None:
    p = patients[seed]
    r = _read_real(p, seed)
    assert check_reading(r, p)["in_liver"] == []
    _liver_reference_is_liver(r, p)


# ------------------------------------------------------------ truthful stand-in
@pytest.mark.parametrize("seed", SEEDS)
def test_truthful_organs_meet_the_acceptance(
    seed: int, patients: dict[int, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    p = patients[seed]
    monkeypatch.setattr(
        "sstrkit.organs.segment.segment_organs", truth_segmenter(p["labels"], p["names"])
    )
    r = read_sstr_pet(p["suv"], ct=p["ct"])
    got = check_reading(r, p)
    assert got == {"missed": [], "in_physiological": [], "in_liver": []}, got
    _liver_reference_is_liver(r, p)
    # the physiological organs were suppressed (not merely missed)
    assert {"spleen", "urinary_bladder"} <= {s.organ for s in r.segmentation.suppressed}


def test_without_organs_the_issue_reproduces(patients: dict[int, dict[str, Any]]) -> None:
    # control for the acceptance above: the same patient read without any organs
    # (automatic organs off) reports physiological organs as lesions — the failure
    # the issue describes — so the criteria can fail
    p = patients[7]
    r = read_sstr_pet(p["suv"], ct=p["ct"], auto_organs=False)
    assert any(_region_at(p, p["suv"], m.centroid_mm) in PHYSIOLOGICAL for m in r.lesions)
