"""`sstrkit run` on a bare DICOM export without labels: automatic organ VOIs.

Reference: the same study run with the digital patient's true label maps. Acceptance of
the issue "Organs and physiological uptake without hand-made labels": organ doses
computed without supplied labels within 15 % of those with the true labels (same
images, same kinetics; only the VOIs differ).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.run import run_study


def _doses(out: Path) -> dict[str, float]:
    with (out / "organ_doses.csv").open() as fh:
        return {r["region"]: float(r["dose_gy"]) for r in csv.DictReader(fh) if r["dose_gy"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("auto_vois")
    study = d / "study"
    make_study(study, StudyConfig(seed=7, cycles=1, timepoints_h=(24.0,), fdg=False, voxel_mm=4.0))
    truth_out = d / "with_truth"
    run_study(study, truth_out, report=False)
    auto_out = d / "auto"
    run_study(
        study / "dicom",
        auto_out,
        report=False,
        clinical=study / "clinical.json",
        spect_fwhm_mm=11.0,
    )
    return truth_out, auto_out


def test_organ_doses_within_15_percent_of_true_labels(runs: tuple[Path, Path]) -> None:
    truth_out, auto_out = runs
    ref, auto = _doses(truth_out), _doses(auto_out)
    for organ in ("kidneys", "liver", "spleen"):
        assert auto[organ] == pytest.approx(ref[organ], rel=0.15), organ


def test_auto_vois_recorded(runs: tuple[Path, Path]) -> None:
    _, auto_out = runs
    res = json.loads((auto_out / "results.json").read_text())
    organs = {o["name"]: o for o in res["stages"]["organs"]["organs"]}
    for organ in ("liver", "spleen", "kidney_left", "kidney_right"):
        assert organs[organ]["quality"] == "plausible"
    msgs = " ".join(f["message"] for f in res["data_quality"])
    assert "automatic organ segmentation" in msgs
    assert (auto_out / "organs" / "vois_baseline.nii.gz").is_file()
    names = json.loads((auto_out / "organs" / "vois_baseline_labels.json").read_text())
    assert any(v.startswith("lesion_") for v in names.values())  # lesions are their own VOIs
