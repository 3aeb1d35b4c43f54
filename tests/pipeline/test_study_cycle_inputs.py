"""One cycle's inputs read from a study folder once, handed to therapy as volumes (issue 18).

The digital patient (repositioned between sessions, 4 mm voxels, one cycle with SPECT/CT
at 4, 24 and 96 h) with its label map declared as drawn on the 24 h time point
(``cycle1_24h``): that CT is both a time point's and the VOIs' scan. Checks: every DICOM
series of the cycle is read once; the VOI transfer reuses the 24 h time point's
registration instead of registering the same CT pair again; the result is identical
(to the bit) to a run that registers the VOI CT on its own — the reference, since the
registration is deterministic (``sstrkit.therapy.registration`` runs ITK on one thread).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sstrkit.io.dicom_read as dicom_read
import sstrkit.therapy.registration as registration
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.cycle_inputs import CycleInputs, load_cycle_inputs
from sstrkit.pipeline.study import Study
from sstrkit.therapy.voxel_dose import (
    StudyDosimetry,
    VoiInput,
    cycle_dosimetry_from_scans,
    study_cycle_dosimetry,
    truth_regions,
)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tp_labels") / "study"
    make_study(
        root,
        StudyConfig(seed=3, cycles=1, voxel_mm=4.0, fdg=False, timepoints_h=(4.0, 24.0, 96.0)),
    )
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    # the truth label map of cycle 1, declared as drawn on the 24 h SPECT/CT
    manifest["segmentation"]["labels_nifti"] = {"cycle1_24h": "truth/labels_cycle1.nii.gz"}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def _counting(monkeypatch: pytest.MonkeyPatch) -> collections.Counter[str]:
    calls: collections.Counter[str] = collections.Counter()
    read, register = dicom_read.read_series, registration.register_ct

    def read_series(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls[str(path)] += 1
        return read(path, *args, **kwargs)

    def register_ct(*args: Any, **kwargs: Any) -> Any:
        calls["register_ct"] += 1
        return register(*args, **kwargs)

    monkeypatch.setattr(dicom_read, "read_series", read_series)
    monkeypatch.setattr(registration, "register_ct", register_ct)
    return calls


def test_inputs_are_typed_volumes_read_once(study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    st = Study.load(study)
    cin = load_cycle_inputs(st, 1)
    assert isinstance(cin, CycleInputs)
    tps = [t for t in st.time_points if t.cycle == 1]
    assert [s.time_s for s in cin.scans] == [
        (t.time - t.injection_time).total_seconds() for t in tps
    ]
    # the VOI CT is the 24 h time point's CT object, not a second read of it
    assert cin.voi.ct is cin.scans[1].ct and cin.voi.ct is not None
    assert cin.voi.same_scan is False
    assert cin.fwhm_mm == tps[0].fwhm_mm and cin.nuclide == "Lu-177"
    assert cin.inputs["labels"].endswith("labels_cycle1.nii.gz")
    reads = {k: n for k, n in calls.items() if k != "register_ct"}
    assert len(reads) == 6  # 3 SPECTs + 3 CTs
    assert set(reads.values()) == {1}


def test_voi_transfer_reuses_the_time_point_registration(
    study: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = Study.load(study)
    cin = load_cycle_inputs(st, 1)
    calls = _counting(monkeypatch)
    kw: dict[str, Any] = {"cycle": 1, "fwhm_mm": cin.fwhm_mm, "truth_gy": cin.truth_gy}
    shared = cycle_dosimetry_from_scans(cin.scans, cin.nuclide, voi=cin.voi, **kw)
    assert calls["register_ct"] == 2  # time points 2 and 3; the VOIs reuse time point 2's
    assert shared.voi_registration is not None
    reg_24h = {k: v for k, v in shared.registrations[0].items() if k not in ("time_point", "label")}
    assert {k: v for k, v in shared.voi_registration.items() if k != "from"} == reg_24h
    # the same CT as another object: registered again, on its own
    assert cin.voi.ct is not None
    own_ct = cin.voi.ct.with_array(np.array(cin.voi.ct.array), operation="copy")
    voi = VoiInput(
        cin.voi.labels,
        cin.voi.regions,
        own_ct,
        cin.voi.kinds,
        cin.voi.source,
        cin.voi.same_scan,
        cin.voi.note,
    )
    own = cycle_dosimetry_from_scans(cin.scans, cin.nuclide, voi=voi, **kw)
    assert calls["register_ct"] == 5
    assert own.voi_registration == shared.voi_registration
    assert own.voi_labels is not None and shared.voi_labels is not None
    np.testing.assert_array_equal(own.voi_labels.array, shared.voi_labels.array)
    assert own.region_activity is not None and shared.region_activity is not None
    assert own.region_activity.to_dict() == shared.region_activity.to_dict()
    assert [r.to_dict() for r in own.regions] == [r.to_dict() for r in shared.regions]
    assert {k: v.to_dict() for k, v in own.pv_regions.items()} == {
        k: v.to_dict() for k, v in shared.pv_regions.items()
    }


def test_folder_entry_point_and_reference_ct(study: Path) -> None:
    """``study_cycle_dosimetry`` (moved to the pipeline) stays importable from therapy."""
    from sstrkit.pipeline import cycle_inputs

    assert study_cycle_dosimetry is cycle_inputs.study_cycle_dosimetry
    sd = study_cycle_dosimetry(study, 1, register=False, pvc="none")
    assert isinstance(sd, StudyDosimetry)
    st = Study.load(study)
    tp = next(t for t in st.time_points if t.cycle == 1)
    assert tp.ct_path is not None and sd.reference_ct is not None
    # the reference time point's CT as read: the dose overlay needs no second read
    np.testing.assert_array_equal(
        sd.reference_ct.array, st.read(tp.ct_path, tp.ct_series_uid).array
    )
    assert sd.parameters["study"] == str(study) and sd.parameters["pvc"] == "none"


def test_truth_regions_reexported_from_the_phantom(study: Path) -> None:
    from sstrkit.phantom import truth_files

    assert truth_regions is truth_files.truth_regions
    truth = json.loads((study / "truth" / "truth.json").read_text(encoding="utf-8"))
    assert truth_regions(truth)["liver"]
