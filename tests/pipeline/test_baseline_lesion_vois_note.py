"""Later cycles measured on the baseline's lesion VOIs say so (pipeline.cycle_inputs).

The digital patient's lesions respond to therapy (truth ``volume_ml_by_cycle``: e.g. 5.4 →
2.8 mL after one cycle); with only the baseline label map, cycle 2 is measured on VOIs
drawn before cycle 1, which no longer fit a lesion that shrank. Reference: the phantom's
own manifest (one label map, key ``baseline``) and its truth volumes — the note must be on
cycle 2 and not on cycle 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.cycle_inputs import load_cycle_inputs
from sstrkit.pipeline.study import Study


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("baseline_vois") / "study"
    make_study(
        root, StudyConfig(seed=3, cycles=2, voxel_mm=8.0, fdg=False, timepoints_h=(24.0, 96.0))
    )
    return root


def test_cycle_two_on_baseline_lesion_vois_is_noted(study: Path) -> None:
    manifest = json.loads((study / "manifest.json").read_text(encoding="utf-8"))
    assert list(manifest["segmentation"]["labels_nifti"]) == ["baseline"]
    truth = json.loads((study / "truth" / "truth.json").read_text(encoding="utf-8"))
    shrank = [les for les in truth["lesions"] if les["volume_ml_by_cycle"][1] < les["volume_ml"]]
    assert shrank  # the premise: some lesion is smaller at cycle 2
    s = Study.load(study)
    first, second = load_cycle_inputs(s, 1).voi, load_cycle_inputs(s, 2).voi
    assert "lesion VOIs of cycle 2 are the baseline's" in (second.note or "")
    assert "lesion VOIs of cycle" not in (first.note or "")
