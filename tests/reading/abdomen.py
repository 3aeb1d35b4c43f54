"""A synthetic SSTR PET abdomen with automatic-segmentation class labels, for pattern tests.

Geometry in LPS mm (x to the patient's left, y posterior, z superior), 3 mm voxels,
origin of the coordinates at the level of the renal hila on the body axis. Set SUVs:
liver 6, spleen 20, kidneys 14, bladder 40, lumbar marrow 1.2, lungs 0.3, soft tissue
0.8. Extra structures (ureter, bowel loop, foci) are drawn as unions of balls at
their set SUV before a Gaussian blur of 6 mm FWHM (a clinical PET resolution), so
every shape is seen as the scanner sees it. Labels use
:data:`sstrkit.organs.model.CLASS_NAMES` codes, as the automatic segmentation writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.organs.model import CLASS_NAMES, OrganQuality, OrganSegmentation, label_of
from sstrkit.reading.organs import OrganMap, prepare_organs

SPACING = 3.0
SHAPE = (100, 70, 90)  # z, y, x
ORIGIN = (-133.5, -103.5, -148.5)  # x, y, z of voxel (0, 0, 0): the grid is centred on 0
FWHM_MM = 6.0
FRAME = "1.2.826.0.1.3680043.2.1125.7"

Vec = tuple[float, float, float]

#: class name → (centre, semi-axes, SUV) of the organ ellipsoids.
ORGANS: dict[str, tuple[Vec, Vec, float]] = {
    "lung_right": ((-70.0, 10.0, 140.0), (50.0, 60.0, 40.0), 0.3),
    "lung_left": ((70.0, 10.0, 140.0), (50.0, 60.0, 40.0), 0.3),
    "liver": ((-60.0, 0.0, 90.0), (70.0, 60.0, 45.0), 6.0),
    "spleen": ((75.0, 30.0, 80.0), (25.0, 35.0, 30.0), 20.0),
    "kidney_left": ((70.0, 50.0, 0.0), (22.0, 20.0, 45.0), 14.0),
    "kidney_right": ((-70.0, 50.0, -5.0), (22.0, 20.0, 45.0), 14.0),
    "urinary_bladder": ((0.0, -30.0, -120.0), (35.0, 30.0, 25.0), 40.0),
}
BODY = ((0.0, 0.0, 0.0), (130.0, 95.0, 500.0), 0.8)  # elliptic cylinder (z semi-axis large)
SPINE = ((0.0, 50.0), 15.0, (-70.0, 40.0), 1.2)  # (x, y), radius, z range, SUV (L2-L4 marrow)


@dataclass
class Abdomen:
    """Builder: organs + added structures → SUV volume and class labels."""

    organ_suv: dict[str, float] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    extras: list[tuple[NDArray[np.bool_], float]] = field(default_factory=list)

    # ------------------------------------------------------------ coordinates
    @staticmethod
    def centres() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        z, y, x = np.indices(SHAPE, dtype=float)
        return ORIGIN[0] + x * SPACING, ORIGIN[1] + y * SPACING, ORIGIN[2] + z * SPACING

    def ellipsoid(self, c: Vec, ax: Vec) -> NDArray[np.bool_]:
        x, y, z = self.centres()
        out: NDArray[np.bool_] = (
            ((x - c[0]) / ax[0]) ** 2 + ((y - c[1]) / ax[1]) ** 2 + ((z - c[2]) / ax[2]) ** 2
        ) <= 1.0
        return out

    def balls(self, centres: Iterable[Sequence[float]], radius: float) -> NDArray[np.bool_]:
        x, y, z = self.centres()
        m = np.zeros(SHAPE, dtype=bool)
        for c in centres:
            m |= (x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2 <= radius**2
        return m

    # ------------------------------------------------------------ structures
    def add_ball(self, centre: Vec, radius: float, suv: float) -> Abdomen:
        self.extras.append((self.balls([centre], radius), suv))
        return self

    def add_tube(self, points: Sequence[Vec], radius: float, suv: float) -> Abdomen:
        """A tube along a polyline (balls every 1 mm)."""
        pts: list[NDArray[np.float64]] = []
        for a, b in pairwise(points):
            a_, b_ = np.asarray(a), np.asarray(b)
            n = max(int(np.linalg.norm(b_ - a_)), 1)
            pts.extend(a_ + (b_ - a_) * t for t in np.linspace(0.0, 1.0, n + 1))
        self.extras.append((self.balls(pts, radius), suv))
        return self

    def add_arc(
        self, centre: Vec, radius: float, tube_radius: float, suv: float, degrees: float = 200
    ) -> Abdomen:
        """A curved tube (bowel loop) in the axial plane around ``centre``."""
        t = np.radians(np.linspace(0.0, degrees, int(degrees)))
        pts = [
            (centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a), centre[2]) for a in t
        ]
        self.extras.append((self.balls(pts, tube_radius), suv))
        return self

    def remove(self, *names: str) -> Abdomen:
        """Organs removed from the patient (surgery): no uptake, no label."""
        self.removed.update(names)
        return self

    # ------------------------------------------------------------ output
    def build(self, blur: bool = True) -> dict[str, Any]:
        x, y, z = self.centres()
        c, ax, v = BODY
        body = ((x - c[0]) / ax[0]) ** 2 + ((y - c[1]) / ax[1]) ** 2 <= 1.0
        suv = np.where(body, v, 0.0)
        labels = np.where(body, label_of("body"), 0).astype(np.int16)
        (sx, sy), r, (z0, z1), sv = SPINE
        spine = ((x - sx) ** 2 + (y - sy) ** 2 <= r * r) & (z >= z0) & (z <= z1)
        suv[spine] = sv
        labels[spine] = label_of("red_marrow_lumbar")
        for name, (c, ax, v) in ORGANS.items():
            if name in self.removed:
                continue
            m = self.ellipsoid(c, ax) & body & ~spine
            suv[m] = self.organ_suv.get(name, v)
            labels[m] = label_of(name)
        for m, v in self.extras:
            suv[m] = v
        if blur:
            suv = ndimage.gaussian_filter(suv, FWHM_MM / 2.3548 / SPACING)
        geo = {"spacing": (SPACING,) * 3, "origin": ORIGIN, "frame_of_reference_uid": FRAME}
        return {
            "suv": Volume.from_array(
                suv.astype(np.float32), quantity="SUV", unit="g/mL", name="pet", **geo
            ),
            "labels": Volume.from_array(labels, name="organs", quantity="label", **geo),
            "ct": Volume.from_array(
                np.where(body, 40.0, -1000.0).astype(np.float32),
                quantity="HU",
                unit="HU",
                modality="CT",
                name="ct",
                **geo,
            ),
            "names": dict(CLASS_NAMES),
            "quality": self.quality(),
        }

    def quality(self) -> dict[str, str]:
        present = set(ORGANS) | {"body", "red_marrow_lumbar"}
        return {
            n: ("absent" if n in self.removed or n not in present else "plausible")
            for n in CLASS_NAMES.values()
        }


def organ_map(study: Mapping[str, Any], quality: Mapping[str, str] | None = None) -> OrganMap:
    """The automatic-segmentation OrganMap of a built abdomen."""
    return prepare_organs(
        study["labels"],
        study["suv"],
        study["names"],
        quality=dict(study["quality"] if quality is None else quality),
        source="automatic",
    )


def segmentation(
    study: Mapping[str, Any],
    status: Mapping[str, str] | None = None,
    missed: Iterable[str] = (),
) -> OrganSegmentation:
    """The abdomen's labels as an :class:`OrganSegmentation` on the CT grid (a perfect
    automatic segmentation); ``status`` overrides per-organ quality; ``missed`` organs
    are left out of the labels (``body``) and reported absent although in the image."""
    labels: Volume = study["labels"]
    arr = np.asarray(labels.array).copy()
    quality = {**study["quality"], **(status or {})}
    for name in missed:
        arr[arr == label_of(name)] = label_of("body")
        quality[name] = "absent"
    organs = tuple(
        OrganQuality(
            name,
            code,
            float((arr == code).sum() * labels.voxel_volume_ml),
            quality[name],  # type: ignore[arg-type]
        )
        for code, name in CLASS_NAMES.items()
    )
    return OrganSegmentation(
        labels=study["ct"].with_array(arr, operation="test_segmentation", quantity="label"),
        names=dict(CLASS_NAMES),
        organs=organs,
        method="synthetic abdomen labels (test stand-in)",
        provenance=Step.make("test_segment_organs"),
    )


def segmenter(
    study: Mapping[str, Any],
    status: Mapping[str, str] | None = None,
    missed: Iterable[str] = (),
) -> Callable[..., OrganSegmentation]:
    """Drop-in for ``segment_organs`` returning :func:`segmentation`; records its calls."""
    calls: list[dict[str, Any]] = []
    missed = tuple(missed)

    def segment(ct: Volume, emission: Volume | None = None, **kw: Any) -> OrganSegmentation:
        calls.append({"ct": ct, "emission": emission, **kw})
        return segmentation(study, status, missed)

    segment.calls = calls  # type: ignore[attr-defined]
    return segment
