"""The study segmentation: a NIfTI label map or a DICOM SEG, copied into the study.

A label map given as ``segmentation`` (NIfTI, with its names from ``label_names`` or
its sidecar) is copied to ``STUDY/segmentation/`` and keyed by the series whose grid
it matches (:func:`_grid_key`; default ``baseline``, the SSTR PET/CT). A DICOM SEG,
given or found in the export, is converted to ``labels.nii.gz`` on the grid of the
series it references or shares its frame of reference with (:func:`_seg_target`,
:func:`_seg_to_study`); a SEG on the SSTR PET/CT wins over one on a SPECT/CT. See
``docs/segmentation.md``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sstrkit.core.atomic import atomic_path, write_json_atomic
from sstrkit.errors import InvalidInputError, SstrkitError
from sstrkit.pipeline.intake.clinical import _load_json
from sstrkit.pipeline.intake.roles import _Selection
from sstrkit.pipeline.intake.series import _seg_sop_classes, _Series

#: A DICOM SEG to convert: file, manifest key, series of the grid, resample (nearest).
_SegUse = tuple[Path, str, _Series, bool]


def _segmentation_input(
    segmentation: str | Path | None, label_names: str | Path | Mapping[str, Any] | None
) -> tuple[Path | None, Path | None, dict[int, str] | None]:
    """The checked ``segmentation`` argument: its path, the DICOM SEG file when it is one,
    and the label names of a NIfTI label map."""
    seg_path = Path(segmentation).expanduser().resolve() if segmentation is not None else None
    if seg_path is None and label_names is not None:
        raise InvalidInputError(
            "--label-names", expected="together with --segmentation", actual="alone"
        )
    names: dict[int, str] | None = None
    seg_dicom: Path | None = None  # a DICOM SEG given as --segmentation
    if seg_path is not None and not seg_path.name.endswith((".nii", ".nii.gz")):
        from sstrkit.io.masks import find_dicom_seg

        seg_dicom = find_dicom_seg(seg_path)
    if seg_path is not None and seg_dicom is None:
        if not seg_path.is_file():
            raise InvalidInputError("--segmentation",
                                    expected="an existing NIfTI label map or DICOM SEG",
                                    actual=str(seg_path))  # fmt: skip
        names = _label_names(label_names, seg_path)
    return seg_path, seg_dicom, names


def _label_names(value: str | Path | Mapping[str, Any] | None, seg: Path) -> dict[int, str]:
    """Label value → name from ``value`` (a mapping or a JSON file), else from the
    ``labels`` of the sidecar of the label map ``seg``."""
    from sstrkit.io.nifti import sidecar_path
    from sstrkit.reading.inputs import parse_label_names

    if value is None:
        side = sidecar_path(seg)
        raw = _load_json(side, "label map sidecar").get("labels") if side.is_file() else None
        if not raw:
            raise InvalidInputError(
                "label names",
                expected='a JSON file {"1": "liver", ...} or {"liver": 1, ...}',
                actual="none (no --label-names and no 'labels' in the NIfTI sidecar)",
                fix="pass --label-names NAMES.json (API label_names=...)",
            )
        return parse_label_names(raw, "label map sidecar labels")
    if isinstance(value, Mapping):
        return parse_label_names(dict(value), "label names")
    return parse_label_names(_load_json(Path(value), "label names"), "--label-names")


def _grid_key(labels: Any, candidates: Sequence[tuple[str, _Series]], notes: list[str]) -> str:
    """Manifest key of the first candidate series on the grid of ``labels`` (a volume);
    ``baseline`` with a note when none is."""
    from sstrkit.io.dicom_read import read_series

    for key, s in candidates:
        try:
            vol = read_series(s.info).volume
        except SstrkitError:
            continue
        if (
            vol.shape == labels.shape
            and np.allclose(vol.spacing, labels.spacing, atol=1e-3, rtol=0.0)
            and np.max(np.abs(np.subtract(vol.origin, labels.origin))) <= 0.5
            and np.allclose(vol.direction, labels.direction, atol=1e-3, rtol=0.0)
        ):
            return key
    notes.append(
        "the label map's grid (size, spacing, origin) matches no series; it is assumed to be "
        "in the SSTR PET/CT's patient coordinates (key 'baseline'). Edit "
        "segmentation.labels_nifti in the manifest if it belongs to a SPECT/CT time point"
    )
    return "baseline"


def _copy(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def _seg_target(
    header: Any, candidates: Sequence[tuple[str, _Series]]
) -> tuple[str, _Series, bool] | None:
    """Manifest key and grid series of a DICOM SEG: the series it references, else a series
    (CT first) of its frame of reference (then resampled, nearest); ``None`` when neither."""
    for key, s in candidates:
        if s.uid in header.referenced_series_uids:
            return key, s, False
    same_for = [
        (key, s)
        for key, s in candidates
        if header.frame_of_reference_uid
        and s.info.frame_of_reference_uid == header.frame_of_reference_uid
    ]
    same_for.sort(key=lambda c: c[1].kind != "CT")
    return (same_for[0][0], same_for[0][1], True) if same_for else None


def _seg_to_study(
    file: Path, key: str, grid: _Series, resample: bool, seg_dir: Path, notes: list[str]
) -> dict[int, str]:
    """The SEG as ``seg_dir/labels.nii.gz`` on the grid of the series ``grid``; its names."""
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.masks import read_dicom_seg
    from sstrkit.io.nifti import write_nifti

    res = read_dicom_seg(file, read_series(grid.info).volume, resample_labels=resample)
    notes.extend(res.notes)
    names = {str(k): v for k, v in sorted(res.names.items())}
    write_nifti(res.labels, seg_dir / "labels.nii.gz", extra={"Labels": names, "Source": str(file)})
    how = "resampled (nearest) onto" if resample else "on"
    notes.append(
        f"DICOM SEG {file.name} ({res.header.series_description or 'no description'}, "
        f"{len(res.names)} segments: {', '.join(names.values())}) converted to the study "
        f"segmentation '{key}', {how} the grid of {grid.info.modality} {grid.label}"
    )
    return res.names


def _grid_candidates(sel: _Selection) -> list[tuple[str, _Series]]:
    """Manifest key and series of every grid a segmentation may be on: the SSTR PET and
    its CT (``baseline``), then each SPECT and its CT (``cycle{k}_{hours}h``)."""
    out: list[tuple[str, _Series]] = []
    pet = sel.chosen["pet"]
    if pet is not None:
        out.append(("baseline", pet))
        ct = sel.ct(pet)
        if ct is not None:
            out.append(("baseline", ct))
    for e in sel.spects:
        key = f"cycle{e.cycle}_{e.hours:g}h"
        out.append((key, e))
        ct = sel.ct(e)
        if ct is not None:
            out.append((key, ct))
    return out


def _choose_dicom_seg(
    series: Sequence[_Series], seg_path: Path | None, seg_dicom: Path | None, sel: _Selection
) -> tuple[_SegUse | None, _Series | None]:
    """The DICOM SEG that becomes the study segmentation and its series in the export.

    A DICOM SEG given as ``segmentation`` must reference (or share the frame of reference
    of) a series of the study; a NIfTI label map given there wins over every SEG of the
    export. Otherwise a single-instance SEG of the export is used, one on the SSTR PET/CT
    replacing one on a SPECT/CT. Every SEG of the export gets its ``reason``.
    """
    seg_candidates = _grid_candidates(sel)
    seg_use: _SegUse | None = None
    used_seg: _Series | None = None
    if seg_dicom is not None:
        from sstrkit.io.masks import dicom_seg_info

        header = dicom_seg_info(seg_dicom)
        target = _seg_target(header, seg_candidates)
        if target is None:
            raise InvalidInputError(
                "--segmentation",
                expected="a DICOM SEG referencing a series of the study (or sharing the frame "
                "of reference of its SSTR PET/CT or a SPECT/CT)",
                actual=f"{seg_dicom.name}: references {list(header.referenced_series_uids)}, "
                f"frame of reference {header.frame_of_reference_uid}",
                fix="pass the segmentation made on this study's images",
            )
        seg_use = (seg_dicom, *target)
    for s in series:
        if s.info.sop_class_uid not in _seg_sop_classes():
            continue
        if seg_path is not None:
            if seg_dicom is None or s.info.files[0].resolve() != seg_dicom.resolve():
                s.reason = "DICOM SEG not used: --segmentation was given"
            else:
                s.reason, s.noted, used_seg = "the study segmentation (--segmentation)", True, s
            continue
        if len(s.info.files) != 1:
            s.reason = (
                f"DICOM SEG of {len(s.info.files)} instances (one instance expected); pass one "
                "with --segmentation"
            )
            continue
        from sstrkit.io.masks import dicom_seg_info

        header = dicom_seg_info(s.info.files[0])
        target = _seg_target(header, seg_candidates)
        if target is None:
            continue
        if seg_use is not None and not (target[0] == "baseline" and seg_use[1] != "baseline"):
            s.reason = f"another DICOM SEG ({seg_use[0].name}) is the study segmentation"
            continue
        if used_seg is not None:  # a SEG on the SSTR PET/CT replaces one on a SPECT/CT
            used_seg.noted = False
            used_seg.reason = (
                f"another DICOM SEG ({s.info.files[0].name}) is the study segmentation"
            )
        seg_use, used_seg = (s.info.files[0], *target), s
        s.reason, s.noted = "the study segmentation (DICOM SEG)", True
    return seg_use, used_seg


def _write_label_map(
    seg_path: Path, names: Mapping[int, str], sel: _Selection, out_dir: Path, notes: list[str]
) -> dict[str, Any]:
    """Copy a NIfTI label map (and its sidecar, names) into ``out_dir/segmentation``.

    Returns the manifest's ``segmentation`` entry, keyed by the series whose grid the
    label map matches; notes label values without a name and names without a value.
    """
    from sstrkit.io.nifti import read_nifti, sidecar_path

    labels = read_nifti(seg_path)
    arr = np.asarray(labels.array)
    if not np.all(np.isfinite(arr)) or not np.array_equal(arr, np.round(arr)):
        raise InvalidInputError(
            "--segmentation", expected="an integer label map", actual="non-integer values"
        )
    present = {int(v) for v in np.unique(arr)} - {0}
    unnamed = sorted(present - set(names))
    if unnamed:
        notes.append(f"label values {unnamed} of the label map have no name")
    empty = sorted(set(names) - present)
    if empty:
        notes.append(
            "named labels absent from the label map: "
            + ", ".join(f"{v} ({names[v]})" for v in empty)
        )
    key = _grid_key(labels, _grid_candidates(sel), notes)
    suffix = ".nii.gz" if seg_path.name.endswith(".nii.gz") else ".nii"
    seg_dir = out_dir / "segmentation"
    _copy(seg_path, seg_dir / f"labels{suffix}")
    side = sidecar_path(seg_path)
    if side.is_file():
        _copy(side, seg_dir / "labels.json")
    write_json_atomic(seg_dir / "label_names.json", {str(k): names[k] for k in sorted(names)})
    return {
        "labels_nifti": {key: f"segmentation/labels{suffix}"},
        "label_names": "segmentation/label_names.json",
    }


def _write_dicom_seg(
    seg_use: _SegUse,
    label_names: str | Path | Mapping[str, Any] | None,
    out_dir: Path,
    notes: list[str],
) -> dict[str, Any]:
    """Convert the chosen DICOM SEG into ``out_dir/segmentation``; its manifest entry.

    The names are the SEG's segment labels unless ``label_names`` is given.
    """
    seg_dir = out_dir / "segmentation"
    seg_names = _seg_to_study(*seg_use, seg_dir, notes)
    if label_names is not None:
        seg_names = _label_names(label_names, seg_use[0])
    write_json_atomic(
        seg_dir / "label_names.json", {str(k): seg_names[k] for k in sorted(seg_names)}
    )
    return {
        "labels_nifti": {seg_use[1]: "segmentation/labels.nii.gz"},
        "label_names": "segmentation/label_names.json",
    }
