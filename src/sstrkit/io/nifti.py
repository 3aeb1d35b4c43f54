"""NIfTI images with a JSON sidecar for what NIfTI cannot hold.

``write_nifti(volume, "pet.nii.gz")`` writes ``pet.nii.gz`` (geometry via
SimpleITK, which converts ITK's LPS to NIfTI's RAS and back) and
``pet.json`` with the quantity, unit, modality, reference time, frame of
reference, the provenance history and any extra fields (e.g. SUV factor,
administered activity). :func:`read_nifti` restores them.

Examples
--------
>>> import numpy as np, tempfile, os
>>> v = Volume.from_array(np.arange(24, dtype=np.float32).reshape(2, 3, 4),
...                       spacing=(2.0, 2.0, 3.0), quantity="activity_concentration",
...                       unit="Bq/mL")
>>> with tempfile.TemporaryDirectory() as d:
...     p = write_nifti(v, os.path.join(d, "a.nii.gz"))
...     back = read_nifti(p)
>>> back.unit, back.spacing, float(back.array.sum())
('Bq/mL', (2.0, 2.0, 3.0), 276.0)
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from sstrkit import __version__
from sstrkit.core.atomic import apply_output_mode
from sstrkit.core.provenance import Step, jsonable
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError

__all__ = ["read_nifti", "sidecar_path", "write_nifti"]


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``x.nii.gz`` / ``x.nii`` → ``x.json``."""
    p = Path(path)
    name = p.name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return p.with_name(name[: -len(ext)] + ".json")
    return p.with_suffix(".json")


def _check_ext(path: Path) -> None:
    if not (path.name.endswith(".nii.gz") or path.name.endswith(".nii")):
        raise InvalidInputError(
            "NIfTI file name", expected="a name ending in .nii.gz or .nii", actual=path.name
        )


def write_nifti(
    volume: Volume,
    path: str | os.PathLike[str],
    *,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``volume`` as NIfTI plus a JSON sidecar (both atomically); returns the path."""
    out = Path(path)
    _check_ext(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    img = volume.to_sitk()
    suffix = ".nii.gz" if out.name.endswith(".nii.gz") else ".nii"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=out.parent)
    os.close(fd)
    try:
        sitk.WriteImage(img, tmp, useCompression=suffix == ".nii.gz")
        apply_output_mode(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    side = {
        "sstrkit_version": __version__,
        "Quantity": volume.quantity,
        "Units": volume.unit,
        "Modality": volume.modality,
        "Name": volume.name,
        "ReferenceTime": volume.reference_time.isoformat() if volume.reference_time else None,
        "FrameOfReferenceUID": volume.frame_of_reference_uid,
        "SpacingMM": list(volume.spacing),
        "History": [s.to_dict() for s in volume.history],
        **jsonable(dict(extra or {})),
    }
    side_path = sidecar_path(out)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(side, fh, indent=2, allow_nan=False)
    apply_output_mode(tmp)
    os.replace(tmp, side_path)
    return out


def read_nifti(path: str | os.PathLike[str], *, name: str | None = None) -> Volume:
    """Read a NIfTI file (and its JSON sidecar when present) into a Volume."""
    p = Path(path)
    _check_ext(p)
    if not p.exists():
        raise InvalidInputError("NIfTI file", expected="an existing file", actual=str(p))
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InvalidInputError(
            f"NIfTI file {p}", expected="a readable NIfTI image", actual=str(exc).splitlines()[0]
        ) from None
    if img.GetDimension() == 4 and img.GetSize()[3] == 1:
        img = img[:, :, :, 0]
    meta: dict[str, Any] = {}
    side_path = sidecar_path(p)
    history: list[Step] = []
    if side_path.exists():
        side = json.loads(side_path.read_text(encoding="utf-8"))
        meta["quantity"] = side.get("Quantity", "unknown")
        meta["unit"] = side.get("Units", "1")
        meta["modality"] = side.get("Modality", "OT")
        if side.get("ReferenceTime"):
            meta["reference_time"] = _dt.datetime.fromisoformat(side["ReferenceTime"])
        meta["frame_of_reference_uid"] = side.get("FrameOfReferenceUID")
        for s in side.get("History", []):
            history.append(
                Step.make(
                    s.get("operation", "?"),
                    s.get("parameters"),
                    inputs=tuple(s.get("inputs", ())),
                    sources=tuple(s.get("sources", ())),
                )
            )
    history.append(Step.make("read_nifti", {"path": str(p)}, inputs=(p.name,)))
    return Volume.from_sitk(img, name=name or p.name, history=tuple(history), **meta)
