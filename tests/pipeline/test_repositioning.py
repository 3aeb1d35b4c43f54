"""Repositioned patient (issue 14): every scan session in its own position and frame of reference.

The digital patient moves rigidly between sessions (up to 10 mm and 3°; truth in
``truth.json["positioning"]``) and its label map is given for the baseline PET/CT only.
Reference values: the phantom's analytic truth doses (``truth/truth.json``). Acceptance:
organs within 10 %, lesions ≥ 3 cm within 15 %, and the same as without repositioning
(the registration must undo the movement; differences stay at the few-per-cent level of
resampling). Placing the VOIs by patient coordinates instead (what the region path did
before) misses the lesions, which this test shows too so that it can fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.run import RunResult, run_study
from sstrkit.pipeline.study import Study


def _make(root: Path, reposition: bool) -> Path:
    make_study(root, StudyConfig(seed=5, cycles=1, voxel_mm=4.0, fdg=False, reposition=reposition))
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[Path, RunResult]]:
    out = {}
    for repo in (True, False):
        base = tmp_path_factory.mktemp(f"repos{int(repo)}")
        study = _make(base / "study", repo)
        out[repo] = (study, run_study(study, base / "out", report=False))
    return out


def _ratios(res: RunResult) -> dict[str, float]:
    dos = res.stage_docs()["dosimetry"]
    truth = dos["truth_total_gy"]["1"]
    cyc = dos["organ_level"]["cycles"][0]
    rows = [r for r in cyc["regions"] if r["name"] in truth]
    return {r["name"]: r["dose_gy"] / truth[r["name"]] for r in rows}


def _big_lesions(study: Path) -> list[str]:
    truth = json.loads((study / "truth" / "truth.json").read_text(encoding="utf-8"))
    return [
        les["id"]
        for les in truth["lesions"]
        if les["diameter_mm"] >= 30 and les["sstr_positive"] and not les["low_sstr"]
    ]


def test_the_patient_really_moved(runs: dict[bool, tuple[Path, RunResult]]) -> None:
    study, res = runs[True]
    truth = json.loads((study / "truth" / "truth.json").read_text(encoding="utf-8"))
    moved = [p for p in truth["positioning"] if any(abs(x) > 2.0 for x in p["translation_mm"])]
    assert moved, "the repositioned study must move the patient"
    vox = res.stage_docs()["dosimetry"]["voxel"][1]
    assert vox["voi_registration"] is not None  # the VOIs were transferred by registration
    manifest = json.loads((study / "manifest.json").read_text(encoding="utf-8"))
    fors = {s["frame_of_reference_uid"] for s in manifest["series"]["spect"]}
    assert len(fors) == len(manifest["series"]["spect"])  # a frame of reference per session


def test_doses_match_truth_with_repositioning(runs: dict[bool, tuple[Path, RunResult]]) -> None:
    study, res = runs[True]
    ratios = _ratios(res)
    for organ in ("kidneys", "liver", "spleen"):
        assert ratios[organ] == pytest.approx(1.0, abs=0.10), organ
    big = _big_lesions(study)
    assert big
    for lesion in big:
        assert ratios[lesion] == pytest.approx(1.0, abs=0.15), lesion


def test_same_as_without_repositioning(runs: dict[bool, tuple[Path, RunResult]]) -> None:
    moved, still = _ratios(runs[True][1]), _ratios(runs[False][1])
    study = runs[True][0]
    for name in ("kidneys", "liver", "spleen", *_big_lesions(study)):
        assert moved[name] == pytest.approx(still[name], abs=0.05), name


def test_vois_by_patient_coordinates_would_miss(runs: dict[bool, tuple[Path, RunResult]]) -> None:
    """Without registration (VOIs and time points placed by patient coordinates) the large
    lesions' measured activity drops: the failure the region path had before (issue 14)."""
    study, _ = runs[True]
    st = Study.load(study)
    good = st.cycle_dosimetry(1).region_activity
    bad = st.cycle_dosimetry(1, register=False).region_activity
    assert good is not None and bad is not None
    worst: dict[str, Any] = {}
    for lesion in _big_lesions(study):
        tia_good = sum(good.activity_bq[lesion])
        tia_bad = sum(bad.activity_bq[lesion])
        worst[lesion] = tia_bad / tia_good - 1.0
    assert min(worst.values()) < -0.10, worst
