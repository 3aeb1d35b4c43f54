"""Inputs of an SSTR PET reading from files: SUV PET, CT and organ labels.

Shared by ``sstrkit read`` and the main job (:mod:`sstrkit.pipeline.run`).
DICOM folders go through :mod:`sstrkit.io` (SUVbw per QIBA); NIfTI files must
carry their quantity in the JSON sidecar.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, InvalidInputError

__all__ = ["load_ct", "load_organ_labels", "load_suv_pet", "parse_label_names"]

NIFTI = (".nii", ".nii.gz")


def _is_nifti(p: Path) -> bool:
    return p.name.endswith(NIFTI)


def load_suv_pet(
    path: Path,
    *,
    assume_suv: bool,
    role: str,
    series_uid: str | None = None,
    warnings: list[str] | None = None,
) -> Volume:
    """SUV volume from a DICOM PET/NM folder (SUVbw) or a NIfTI file.

    ``series_uid`` picks the series when the folder holds several; ``warnings``
    receives the reader's and the SUV computation's warnings (plausibility of the
    header values), prefixed with ``role``.
    """
    if path.is_dir():
        from sstrkit.io.dicom_read import read_series
        from sstrkit.io.suv import compute_suv

        series = read_series(path, series_uid=series_uid, modalities=("PT", "NM"))
        corrected = [str(v).upper() for v in (series.header.get("CorrectedImage") or [])]
        if series.modality == "PT" and corrected and "ATTN" not in corrected:
            raise DicomMetadataError(
                f"{role} CorrectedImage (0028,0051)",
                expected="ATTN (an attenuation-corrected PET)",
                actual="\\".join(corrected),
                fix="export the attenuation-corrected reconstruction; SUVs of non-AC PET "
                "are not quantitative",
            )
        res = compute_suv(series, "bw")
        if warnings is not None:
            warnings.extend(
                f"{role}: {w}" for w in (*getattr(series, "warnings", ()), *res.warnings)
            )
        if res.suv is None:
            raise DicomMetadataError(f"{role} SUV", expected="computable SUVbw", actual="none")
        return res.suv
    if _is_nifti(path):
        from sstrkit.io.nifti import read_nifti

        vol = read_nifti(path)
        q, u = vol.quantity.lower(), vol.unit.lower()
        if q.startswith("suv") or u == "g/ml":
            return vol
        if assume_suv and q in ("unknown", "") and u in ("1", ""):
            return vol.with_metadata(operation="assume_suv", quantity="SUV", unit="g/mL")
        raise InvalidInputError(
            f"{role} {path.name}",
            expected="SUV (sidecar Quantity 'suv…' / Units 'g/mL')",
            actual=f"quantity {vol.quantity!r}, unit {vol.unit!r}",
            fix="pass a DICOM folder (SUV is computed) or, for a bare NIfTI holding SUVs, "
            "--assume-suv",
        )
    raise InvalidInputError(
        role, expected="a DICOM folder or a .nii/.nii.gz file", actual=str(path)
    )


def load_ct(path: Path, *, series_uid: str | None = None) -> Volume:
    if path.is_dir():
        from sstrkit.io.dicom_read import read_series

        return read_series(path, series_uid=series_uid, modalities=("CT",)).volume
    if _is_nifti(path):
        from sstrkit.io.nifti import read_nifti

        return read_nifti(path)
    raise InvalidInputError("--ct", expected="a DICOM CT folder or NIfTI file", actual=str(path))


def parse_label_names(raw: Any, where: str) -> dict[int, str]:
    """``{"1": "liver"}`` or ``{"liver": 1}`` → ``{1: "liver"}``."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidInputError(where, expected="a JSON object of label names", actual=raw)
    out: dict[int, str] = {}
    for k, v in raw.items():
        if isinstance(v, int) and not isinstance(v, bool):
            if v in out:
                raise InvalidInputError(
                    where,
                    expected="each label value named once",
                    actual=f"value {v} named {out[v]!r} and {str(k)!r}",
                    fix="give each name its own label value",
                )
            out[v] = str(k)
        elif isinstance(v, str) and str(k).lstrip("-").isdigit():
            out[int(k)] = v
        else:
            raise InvalidInputError(
                where, expected='{"1": "liver", ...} or {"liver": 1, ...}', actual={k: v}
            )
    return out


def load_organ_labels(
    path: Path,
    names_path: Path | None,
    reference: Volume,
    *,
    notes: list[str] | None = None,
) -> tuple[Volume, dict[int, str] | None]:
    """Organ labels from NIfTI (names from --organ-names or the sidecar), an RTSTRUCT,
    a DICOM SEG (file, or folder holding one; names from the segments unless
    --organ-names is given), or a folder of binary organ masks (TotalSegmentator
    output; names from the files).

    A DICOM SEG whose frames lie on ``reference``'s grid is returned on it; on
    another grid (same frame of reference) it is returned on its own grid, and the
    caller resamples it or refuses, as for a NIfTI label map. ``notes`` receives
    what the SEG reader reports (overlapping segments, empty segments).
    """
    seg_file = None
    if path.is_dir() and not any(_is_nifti(p) for p in path.iterdir()):
        from sstrkit.io.masks import find_dicom_seg

        seg_file = find_dicom_seg(path)
    elif path.is_file() and not _is_nifti(path):
        from sstrkit.io.masks import is_dicom_seg

        seg_file = path if is_dicom_seg(path) else None
    if path.is_dir() and seg_file is None:
        from sstrkit.reading.totalseg import load_mask_folder

        return load_mask_folder(path)
    names: dict[int, str] | None = None
    if names_path is not None:
        try:
            names = parse_label_names(json.loads(names_path.read_text("utf-8")), "--organ-names")
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(
                "--organ-names", expected="a readable JSON file", actual=exc
            ) from None
    if seg_file is not None:
        from sstrkit.io.masks import read_dicom_seg

        seg = read_dicom_seg(seg_file, reference, keep_own_grid=True)
        if notes is not None:
            notes.extend(seg.notes)
        return seg.labels, names if names is not None else dict(seg.names)
    if _is_nifti(path):
        from sstrkit.io.nifti import read_nifti, sidecar_path

        vol = read_nifti(path)
        side = sidecar_path(path)
        if names is None and side.exists():
            meta = json.loads(side.read_text("utf-8"))
            raw = meta.get("Labels") or meta.get("labels")
            if raw:
                names = parse_label_names(raw, f"labels in {side.name}")
        return vol, names
    if path.is_file():
        import numpy as np

        from sstrkit.io.masks import rasterize_rtstruct, rtstruct_roi_names

        rois = rtstruct_roi_names(path)
        labels = np.zeros(reference.shape, dtype=np.int32)
        names = {}
        for code, roi in enumerate(rois, start=1):
            mask = np.asarray(rasterize_rtstruct(path, roi, reference).array) > 0
            labels[mask & (labels == 0)] = code
            names[code] = roi
        vol = reference.with_array(
            labels, operation="organs_from_rtstruct", quantity="label", unit="1"
        )
        return vol, names
    raise InvalidInputError(
        "--organs",
        expected="a NIfTI label map, an RTSTRUCT or DICOM SEG file, or a folder of organ "
        "masks or holding one DICOM SEG",
        actual=str(path),
    )
