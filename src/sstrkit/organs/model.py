"""Typed result of an organ segmentation: label map, class names, per-organ quality.

Class names follow TotalSegmentator (``liver``, ``spleen``, ``kidney_left``,
``kidney_right``, ``urinary_bladder``, ``adrenal_gland_left`` ...), so that a
label map written by :func:`~sstrkit.organs.segment.segment_organs` and one
written by TotalSegmentator are read by the same code.

Examples
--------
>>> CLASS_NAMES[1], CLASS_NAMES[3], label_of("spleen")
('liver', 'kidney_left', 2)
>>> q = OrganQuality(name="liver", label=1, volume_ml=1650.0, status="plausible")
>>> q.to_dict()["quality"]
'plausible'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError

__all__ = [
    "CLASS_NAMES",
    "DOSIMETRY_ORGANS",
    "OrganQuality",
    "OrganSegmentation",
    "label_of",
]

#: Label value → class name of the default segmentation (TotalSegmentator names where
#: TotalSegmentator has the class; ``red_marrow_lumbar`` is the spongiosa of the lumbar
#: vertebral bodies L2–L4 used for image-based marrow dosimetry; ``bone`` is the rest
#: of the skeleton; ``body`` is every other voxel inside the skin).
CLASS_NAMES: Mapping[int, str] = {
    1: "liver",
    2: "spleen",
    3: "kidney_left",
    4: "kidney_right",
    5: "urinary_bladder",
    6: "adrenal_gland_left",
    7: "adrenal_gland_right",
    8: "pituitary_gland",
    9: "lung_left",
    10: "lung_right",
    11: "bone",
    12: "red_marrow_lumbar",
    13: "body",
}

#: Organs whose Dice is part of the acceptance and whose doses the pipeline reports.
DOSIMETRY_ORGANS = ("liver", "spleen", "kidney_left", "kidney_right")

QualityStatus = Literal["plausible", "implausible", "absent", "not_visible"]


def label_of(name: str) -> int:
    """Label value of a class name."""
    for k, v in CLASS_NAMES.items():
        if v == name:
            return k
    raise InvalidInputError(
        "organ class", expected=f"one of {sorted(CLASS_NAMES.values())}", actual=name
    )


@dataclass(frozen=True)
class OrganQuality:
    """One organ of a segmentation: size and whether it is plausible (and why not)."""

    name: str
    label: int
    volume_ml: float
    status: QualityStatus
    reason: str = ""
    centroid_mm: tuple[float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "volume_ml": round(self.volume_ml, 1),
            "quality": self.status,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.centroid_mm is not None:
            out["centroid_mm"] = [round(c, 1) for c in self.centroid_mm]
        return out


@dataclass(frozen=True)
class OrganSegmentation:
    """Label map on the CT grid, its class names and the per-organ quality flags."""

    labels: Volume
    names: Mapping[int, str]
    organs: tuple[OrganQuality, ...]
    method: str
    provenance: Step
    notes: tuple[str, ...] = field(default_factory=tuple)

    def mask(self, name: str) -> NDArray[np.bool_]:
        """Boolean mask of one class (empty when the organ was not found)."""
        codes = [k for k, v in self.names.items() if v == name]
        if not codes:
            raise InvalidInputError(
                "organ class", expected=f"one of {sorted(self.names.values())}", actual=name
            )
        out: NDArray[np.bool_] = np.isin(self.labels.array, codes)
        return out

    def organ(self, name: str) -> OrganQuality:
        for o in self.organs:
            if o.name == name:
                return o
        raise InvalidInputError(
            "organ", expected=f"one of {[o.name for o in self.organs]}", actual=name
        )

    def label_json(self) -> dict[str, str]:
        """``labels.json`` content: ``{"1": "liver", ...}`` (only classes present)."""
        present = {o.label for o in self.organs if o.volume_ml > 0}
        return {str(k): v for k, v in sorted(self.names.items()) if k in present}

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "organs": [o.to_dict() for o in self.organs],
            "notes": list(self.notes),
            "provenance": self.provenance.to_dict(),
        }
