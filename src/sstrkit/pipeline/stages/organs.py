"""Automatic organ VOIs for a study without labels, and the reading's lesions merged into them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sstrkit.core.atomic import write_json_atomic
from sstrkit.errors import SstrkitError
from sstrkit.pipeline.results import OrgansStage, RunResult
from sstrkit.pipeline.stages import Progress, StageSkippedError
from sstrkit.pipeline.study import DataFlag, Study

__all__ = ["auto_organs", "merge_lesions", "write_json_if_changed", "write_labels_if_changed"]

#: Organs whose absence or implausible outline the data-quality box names.
_LIMITING = ("liver", "spleen", "kidney_left", "kidney_right")


def auto_organs(study: Study, res: RunResult, say: Progress) -> tuple[Study, OrgansStage]:
    """Organ VOIs by the offline segmentation when the study supplies none.

    Segments the baseline SSTR PET/CT (or, without one, the first SPECT/CT time
    point with its SPECT) and makes that label map the study's segmentation; the
    reading stage then adds the lesions it finds (:func:`merge_lesions`).
    """
    from sstrkit.organs.segment import segment_organs

    pet, pet_ct = study.series("pet"), study.series("pet_ct")
    notes: list[str] = []
    if pet is not None and pet_ct is not None:
        ct = study.read(study.path(pet_ct["path"]), pet_ct["series_uid"])
        res.pet_ct = (pet_ct["series_uid"], ct)  # the reading reuses it
        em = study.read(study.path(pet["path"]), pet["series_uid"])
        key, on = "baseline", "baseline SSTR PET/CT"
    else:
        tp = next((t for t in study.time_points if t.ct_path is not None), None)
        if tp is None:
            raise StageSkippedError(
                "no organ labels and no CT to segment (neither a PET/CT nor a SPECT/CT)"
            )
        ct = study.read(tp.ct_path, tp.ct_series_uid)  # type: ignore[arg-type]
        em = study._read_spect(tp, notes)
        key = f"cycle{tp.cycle}_{tp.hours_post_injection:g}h"
        on = f"SPECT/CT {tp.label}"
    say(f"segmenting organs on the {on}")
    seg = segment_organs(ct, em)
    out_dir = res.out / "organs"
    lab_path = write_labels_if_changed(seg.labels, out_dir / f"organs_{key}.nii.gz")
    names_path = out_dir / f"organs_{key}_labels.json"
    write_json_if_changed(names_path, seg.label_json())
    source = f"automatic organ segmentation (sstrkit organs, {seg.method}) on the {on}"
    new = study.with_segmentation({key: lab_path}, names_path, source=source)
    res.files["organs_nifti"] = str(lab_path)
    res.files["organs_labels_json"] = str(names_path)
    res.data_quality.append(
        DataFlag(
            "vois",
            f"no organ labels supplied: organ VOIs from the {source}; check the "
            "outlines (organs_*.nii.gz) or supply labels",
        )
    )
    res.data_quality.extend(
        DataFlag(
            "vois",
            f"automatic {o.name}: {o.status} ({o.reason}); no dose for an absent organ",
            region=o.name,
        )
        for o in seg.organs
        if o.status in ("implausible", "absent") and o.name in _LIMITING
    )
    stage = OrgansStage(seg, on, key, lab_path, names_path, tuple(notes))
    return new, stage


def write_labels_if_changed(vol: Any, path: Path) -> Path:
    """Write a label map unless the file already holds the same labels on the same grid.

    A re-run then leaves the file (and its modification time) alone, so that the cached
    dosimetry of an unchanged study stays valid (its key includes the VOI file).
    """
    from sstrkit.io.nifti import read_nifti, write_nifti

    if path.is_file():
        try:
            old = read_nifti(path)
        except SstrkitError:
            old = None
        if (
            old is not None
            and old.same_space(vol)
            and np.array_equal(np.asarray(old.array), np.asarray(vol.array))
        ):
            return path
    return write_nifti(vol, path)


def write_json_if_changed(path: Path, data: Any) -> None:
    """Write JSON unless the file already holds the same document (keeps its mtime)."""
    if path.is_file():
        try:
            if json.loads(path.read_text("utf-8")) == data:
                return
        except (OSError, ValueError):
            pass
    write_json_atomic(path, data)


def merge_lesions(study: Study, res: RunResult) -> Study:
    """Add the lesions of the reading to the automatic organ map (lesions win a voxel).

    Organ VOIs thereby exclude lesions (normal-organ VOIs); lesions are named
    ``lesion_<id>`` so that the dosimetry treats them as lesions.
    """
    reading, organs_stage = res.reading, res.organs
    if reading is None or organs_stage is None or organs_stage.key != "baseline":
        return study
    result = reading.result
    organs = organs_stage.segmentation.labels
    les = result.segmentation.labels.with_metadata(
        operation="assign_frame_of_reference",
        frame_of_reference_uid=organs.frame_of_reference_uid,
    ).resample_to(organs, mode="nearest")
    arr = np.asarray(organs.array, dtype=np.int32).copy()
    la = np.asarray(les.array, dtype=np.int32)
    raw = json.loads(organs_stage.labels_json_path.read_text("utf-8"))
    names = {int(k): str(v) for k, v in raw.items()}
    for m in result.lesions:
        code = 100 + int(m.id)
        sel = la == int(m.id)
        if not sel.any():
            continue
        arr[sel] = code
        names[code] = f"lesion_{int(m.id):02d}"
    merged = organs.with_array(arr.astype(np.int16), operation="merge_reading_lesions")
    organs_path = organs_stage.labels_path
    path = write_labels_if_changed(merged, organs_path.with_name("vois_baseline.nii.gz"))
    names_path = organs_path.with_name("vois_baseline_labels.json")
    write_json_if_changed(names_path, {str(k): v for k, v in sorted(names.items())})
    res.files["vois_nifti"] = str(path)
    return study.with_segmentation(
        {"baseline": path},
        names_path,
        source=f"{study.voi_source}; lesions from the baseline SSTR PET reading",
    )
