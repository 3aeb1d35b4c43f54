"""Organ labels from a folder of binary masks, e.g. TotalSegmentator's output (optional).

TotalSegmentator (Wasserthal et al., Radiol Artif Intell 2023) writes one binary
NIfTI mask per structure on the CT grid, named after its class
(``liver.nii.gz``, ``kidney_left.nii.gz``, ``adrenal_gland_right.nii.gz``,
``urinary_bladder.nii.gz``, ``aorta.nii.gz``, ...). :func:`load_mask_folder`
reads such a folder — whatever tool or person made the masks — into one label
map with names, keeping the structures the reader uses (their names map to an
organ kind by :func:`~sstrkit.reading.organs.organ_kind`; cysts are skipped).

:func:`run_totalsegmentator` runs TotalSegmentator on a CT when the optional
package is installed (``pip install TotalSegmentator``; it fetches its own
model weights on first use). sstrkit never requires it: organ labels can always
be given as a label map, an RTSTRUCT or a mask folder, and the reader falls back
to its documented heuristics without labels.

Examples
--------
>>> mask_class_name("kidney_left.nii.gz"), mask_class_name("liver.nii")
('kidney_left', 'liver')
>>> sorted(READING_CLASSES)[:3]
['adrenal_gland_left', 'adrenal_gland_right', 'aorta']
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.organs import organ_kind

__all__ = [
    "READING_CLASSES",
    "load_mask_folder",
    "mask_class_name",
    "run_totalsegmentator",
    "totalsegmentator_available",
]

#: TotalSegmentator ("total" task) classes the SSTR reading uses: references (liver,
#: spleen, aorta as blood pool) and physiological uptake to suppress.
READING_CLASSES: tuple[str, ...] = (
    "liver",
    "spleen",
    "kidney_left",
    "kidney_right",
    "adrenal_gland_left",
    "adrenal_gland_right",
    "urinary_bladder",
    "aorta",
    "pancreas",
)

_SKIP_WORDS = ("cyst",)


def mask_class_name(path: str | Path) -> str:
    """Class name of a mask file: the file name without ``.nii``/``.nii.gz``."""
    name = Path(path).name
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def load_mask_folder(folder: str | Path) -> tuple[Volume, dict[int, str]]:
    """One label map (codes 1, 2, … in name order) from a folder of binary NIfTI masks.

    Only masks whose name maps to an organ kind are used; empty masks are
    skipped; where masks overlap the first name (alphabetical) keeps the voxel.
    All masks must share one grid (same space within tolerance).
    """
    from sstrkit.io.nifti import read_nifti

    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(
            "organ mask folder",
            expected="a folder",
            actual=str(root),
            fix="pass the folder holding one NIfTI mask per organ (TotalSegmentator output)",
        )
    files = sorted(p for p in root.iterdir() if p.name.endswith((".nii", ".nii.gz")))
    wanted = [
        p
        for p in files
        if organ_kind(mask_class_name(p)) is not None
        and not any(w in mask_class_name(p).lower() for w in _SKIP_WORDS)
    ]
    if not wanted:
        raise InvalidInputError(
            f"organ masks in {root}",
            expected="binary NIfTI masks named after organs (liver.nii.gz, spleen.nii.gz, …)",
            actual=f"{len(files)} NIfTI files, none named after an organ",
            fix="point --organs at TotalSegmentator's output folder or pass a label map",
        )
    first: Volume | None = None
    labels: NDArray[np.int16] | None = None
    names: dict[int, str] = {}
    for p in wanted:
        vol = read_nifti(p)
        if first is None:
            first = vol
            labels = np.zeros(vol.shape, dtype=np.int16)
        else:
            first.check_same_space(vol)
        mask = np.asarray(vol.array) > 0.5
        if not mask.any():
            continue
        code = len(names) + 1
        assert labels is not None
        labels[mask & (labels == 0)] = code
        names[code] = mask_class_name(p)
    assert first is not None and labels is not None
    if not names:
        raise InvalidInputError(
            f"organ masks in {root}",
            expected="at least one non-empty mask",
            actual="all empty",
            fix="check that the masks belong to this CT (TotalSegmentator found no organ)",
        )
    out = first.with_array(
        labels,
        operation="organs_from_mask_folder",
        parameters={"folder": str(root), "names": dict(names)},
        modality="SEG",
        quantity="label",
        unit="1",
    )
    return out, names


def totalsegmentator_available() -> bool:
    """True when the optional ``totalsegmentator`` package can be imported."""
    return importlib.util.find_spec("totalsegmentator") is not None


def run_totalsegmentator(ct: str | Path, out_dir: str | Path, *, fast: bool = True) -> Path:
    """Segment the reading organs on a CT (DICOM folder or NIfTI) with TotalSegmentator.

    Returns the mask folder (read it with :func:`load_mask_folder`). Raises
    :class:`~sstrkit.errors.InvalidInputError` with the fix when the package is
    not installed.
    """
    if not totalsegmentator_available():
        raise InvalidInputError(
            "TotalSegmentator",
            expected="the optional package 'TotalSegmentator' installed",
            actual="not installed",
            fix="pip install TotalSegmentator (it downloads its model weights on first use), "
            "or pass --organs with a label map, an RTSTRUCT or a folder of organ masks",
        )
    from totalsegmentator.python_api import totalsegmentator  # type: ignore[import-not-found]

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, object] = {"task": "total", "fast": fast, "roi_subset": list(READING_CLASSES)}
    if "quiet" in inspect.signature(totalsegmentator).parameters:
        kwargs["quiet"] = True
    with _stdout_to_stderr():  # keep `--json` output one JSON document
        totalsegmentator(input=str(ct), output=str(out), **kwargs)
    return out


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python and file descriptor 1) to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
