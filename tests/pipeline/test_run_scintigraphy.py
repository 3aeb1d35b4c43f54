"""The main job on a patient with both an SSTR PET/CT and 111In-pentetreotide scintigraphy.

Issue 19: ``sstrkit run`` reads the planar whole-body views (latest time point) and the
SPECT/CT beside the PET, and compares each with the PET (lesions on PET only,
scintigraphy only, both). Reference values: the phantom's truth
(``truth/scintigraphy_111In-pentetreotide.json``: lesion ids equal to the PET truth's,
true planar Krenning grades) and the PET reading of the same run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.results import RunResult
from sstrkit.pipeline.run import run_study
from sstrkit.pipeline.stages.scintigraphy import ConcordanceStage, ScintigraphyStage
from sstrkit.reading.planar import PlanarReading
from sstrkit.reading.spect import SpectReadingResult

TRACER = "111In-pentetreotide"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    root = tmp_path_factory.mktemp("scint_run")
    study = root / "study"
    make_study(
        study,
        StudyConfig(
            seed=3,
            voxel_mm=4.0,
            cycles=1,
            timepoints_h=(24.0, 96.0, 168.0),
            fdg=False,
            sstr_imaging=("68Ga-DOTATATE", TRACER),
        ),
    )
    return study, run_study(study, root / "out")


def _truth(study: Path) -> dict[str, Any]:
    m = json.loads((study / "manifest.json").read_text("utf-8"))
    path = m["truth"]["scintigraphy"][TRACER]
    return dict(json.loads((study / path).read_text("utf-8")))


def test_scintigraphy_readings_beside_the_pet(run: tuple[Path, RunResult]) -> None:
    study, res = run
    assert "scintigraphy" not in res.skipped and "concordance" not in res.skipped
    scint = res.stages["scintigraphy"]
    assert isinstance(scint, ScintigraphyStage)
    kinds = [(r.modality, r.tracer) for r in scint.readings]
    assert kinds == [("planar", TRACER), ("spect", TRACER)]
    planar = scint.readings[0]
    # the latest planar time point is read: the truth's planar views are at 4 and 24 h
    hours = [p["hours_post_injection"] for p in _truth(study)["planar"]]
    assert planar.hours_post_injection == max(hours) == 24.0
    assert Path(planar.images["planar_views"]).is_file()
    doc = json.loads(Path(res.files["results_json"]).read_text("utf-8"))
    assert [r["modality"] for r in doc["stages"]["scintigraphy"]["readings"]] == [
        "planar",
        "spect",
    ]
    html = Path(res.files["report"]).read_text("utf-8")
    assert "SSTR planar scintigraphy reading (111In-pentetreotide, 24.0 h)" in html
    assert "PET versus scintigraphy" in html
    # the SPECT reading's MIP is shown as the PET reading's is (it was left out before)
    assert Path(scint.readings[1].images["mip"]).is_file()
    # each figure carries the caption twice (alt text and caption): PET + SPECT
    assert html.count("Maximum-intensity projections (SUV)") == 2 * 2


def test_patient_krenning_on_planar_matches_truth(run: tuple[Path, RunResult]) -> None:
    # Reference: the phantom's true planar grades (noise-free geometric mean, ±10 % band,
    # Krenning 1993 scale); the patient grade is that of the most avid visible lesion.
    study, res = run
    scint = res.stages["scintigraphy"]
    assert isinstance(scint, ScintigraphyStage)
    planar = next(p for p in _truth(study)["planar"] if p["hours_post_injection"] == 24.0)
    true_grades = [le["krenning_grade_true"] for le in planar["lesions"] if le["visible"]]
    reading = scint.readings[0].result
    assert isinstance(reading, PlanarReading)
    assert reading.krenning_patient == max(true_grades)


def test_typed_readings_give_back_the_written_reading_json(run: tuple[Path, RunResult]) -> None:
    # The stage holds the typed readings (issue 18); their JSON form is the reading.json the
    # reading job wrote (plus, for planar, its images listed under "images").
    _, res = run
    scint = res.stages["scintigraphy"]
    assert isinstance(scint, ScintigraphyStage)
    planar, spect = scint.readings
    assert isinstance(planar.result, PlanarReading) and planar.views is not None
    assert isinstance(spect.result, SpectReadingResult) and spect.views is None
    for r in scint.readings:
        doc = json.loads(json.dumps(r.to_dict()))
        images = doc.pop("images", None)
        assert doc == json.loads(r.json_path.read_text("utf-8"))
        listed = None
        if r.modality == "planar":
            listed = {k: v for k, v in doc["files"].items() if k != "reading_json"}
        assert images == listed


def test_concordance_lists_every_pet_lesion(run: tuple[Path, RunResult]) -> None:
    # Every PET lesion is either matched ("both") or "pet_only"; the SPECT comparison
    # went through the CT-to-CT registration (PET/CT and SPECT/CT in different frames).
    _, res = run
    conc = res.stages["concordance"]
    assert isinstance(conc, ConcordanceStage) and len(conc.results) == 2
    assert res.reading is not None
    n_pet = len(res.reading.result.lesions)
    for c in conc.results:
        d = c.to_dict()
        counts = d["counts"]
        assert counts["both"] + counts["pet_only"] == n_pet
        assert counts["both"] >= 1
    spect = conc.results[1].to_dict()
    assert spect["scintigraphy_modality"] == "spect"
    assert "regist" in json.dumps(spect).lower()


def test_pet_only_study_has_no_scintigraphy_stage(tmp_path: Path) -> None:
    # A study without scintigraphy keeps the stages it had (no skipped entry added).
    from sstrkit.pipeline.run import _scintigraphy_stages
    from sstrkit.pipeline.study import Study

    make_study(
        tmp_path / "s",
        StudyConfig(seed=1, voxel_mm=8.0, cycles=1, timepoints_h=(24.0,), fdg=False),
    )
    study = Study.load(tmp_path / "s")
    assert _scintigraphy_stages(study, RunResult(study.root, tmp_path / "o")) == []
