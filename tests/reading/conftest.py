"""A small synthetic SSTR PET/CT patient with organ labels and truth lesions.

Geometry in LPS mm (x to the patient's left, y posterior, z superior), 4 mm voxels.
Organ SUVs are set, not measured: liver 6, spleen 20, kidneys 15, bladder 40,
adrenal 10, aorta (blood pool) 1.5, pancreas 2, soft tissue 0.8. Lesions are
spheres whose voxel values mix lesion and surrounding SUV by the voxel's
covered fraction (4×4×4 sub-samples), i.e. an ideal partial-volume image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from sstrkit.core.volume import Volume

SPACING = 4.0
SHAPE = (50, 45, 60)  # z, y, x
ORIGIN = (-118.0, -88.0, -98.0)  # x, y, z of voxel (0, 0, 0)
NAMES = {
    1: "liver",
    2: "spleen",
    3: "kidney_left",
    4: "kidney_right",
    5: "urinary_bladder",
    6: "adrenal_left",
    7: "aorta",
    8: "pancreas_head",
    9: "pancreas_body_tail",
}
ORGANS: dict[int, tuple[tuple[float, float, float], tuple[float, float, float], float]] = {
    1: ((-50.0, 0.0, 30.0), (45.0, 50.0, 40.0), 6.0),
    2: ((60.0, 25.0, 35.0), (22.0, 28.0, 28.0), 20.0),
    3: ((45.0, 50.0, -10.0), (16.0, 16.0, 28.0), 15.0),
    4: ((-45.0, 50.0, -15.0), (16.0, 16.0, 28.0), 15.0),
    5: ((0.0, 0.0, -78.0), (24.0, 24.0, 14.0), 40.0),
    6: ((30.0, 38.0, 30.0), (6.0, 6.0, 10.0), 10.0),
    8: ((-12.0, 10.0, 2.0), (10.0, 10.0, 10.0), 2.0),
    9: ((22.0, 14.0, 6.0), (20.0, 7.0, 7.0), 2.0),
}
AORTA = ((10.0, 22.0), 10.0, (-60.0, 70.0), 1.5)  # (x, y), radius, z range, SUV
BODY = ((0.0, 0.0, 0.0), (112.0, 84.0, 96.0), 0.8)


@dataclass(frozen=True)
class TruthLesion:
    name: str
    center: tuple[float, float, float]
    radius_mm: float
    suv: float
    krenning: int

    @property
    def volume_ml(self) -> float:
        return 4.0 / 3.0 * np.pi * self.radius_mm**3 / 1000.0


#: Krenning truth against liver 6 / spleen 20 with the ±10 % band (liver 5.4–6.6).
LESIONS = (
    TruthLesion("liver_k3", (-62.0, -12.0, 42.0), 12.0, 18.0, 3),
    TruthLesion("node_k4", (30.0, -40.0, -30.0), 10.0, 30.0, 4),
    TruthLesion("soft_k2", (-50.0, -40.0, -50.0), 12.0, 6.0, 2),
    TruthLesion("soft_k1", (60.0, -30.0, -60.0), 12.0, 4.5, 1),
)


def _centres() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z, y, x = np.indices(SHAPE, dtype=float)
    return (
        ORIGIN[0] + x * SPACING,
        ORIGIN[1] + y * SPACING,
        ORIGIN[2] + z * SPACING,
    )


def _inside(c: tuple[float, float, float], ax: tuple[float, float, float]) -> np.ndarray:
    x, y, z = _centres()
    return ((x - c[0]) / ax[0]) ** 2 + ((y - c[1]) / ax[1]) ** 2 + ((z - c[2]) / ax[2]) ** 2 <= 1


def sphere_fraction(center: tuple[float, float, float], r: float, n: int = 4) -> np.ndarray:
    """Covered fraction of every voxel by a sphere (n³ sub-samples per voxel)."""
    frac = np.zeros(SHAPE)
    lo = [int((center[i] - r - ORIGIN[i]) // SPACING) - 1 for i in range(3)]
    hi = [int((center[i] + r - ORIGIN[i]) // SPACING) + 2 for i in range(3)]
    off = (np.arange(n) + 0.5) / n - 0.5
    for k in range(max(lo[2], 0), min(hi[2], SHAPE[0])):
        for j in range(max(lo[1], 0), min(hi[1], SHAPE[1])):
            for i in range(max(lo[0], 0), min(hi[0], SHAPE[2])):
                xs = ORIGIN[0] + (i + off) * SPACING - center[0]
                ys = ORIGIN[1] + (j + off) * SPACING - center[1]
                zs = ORIGIN[2] + (k + off) * SPACING - center[2]
                d2 = xs[:, None, None] ** 2 + ys[None, :, None] ** 2 + zs[None, None, :] ** 2
                frac[k, j, i] = float((d2 <= r * r).mean())
    return frac


def build_patient(
    lesions: tuple[TruthLesion, ...] = LESIONS, noise: float = 0.0, seed: int = 0
) -> dict[str, Any]:
    suv = np.zeros(SHAPE)
    labels = np.zeros(SHAPE, dtype=np.int16)
    body = _inside(*BODY[:2])
    suv[body] = BODY[2]
    for code, (c, ax, val) in ORGANS.items():
        m = _inside(c, ax) & body
        suv[m] = val
        labels[m] = code
    x, y, z = _centres()
    (ax_, ay_), r, (z0, z1), val = AORTA
    aorta = ((x - ax_) ** 2 + (y - ay_) ** 2 <= r * r) & (z >= z0) & (z <= z1) & (labels == 0)
    suv[aorta] = val
    labels[aorta] = 7
    for les in lesions:
        f = sphere_fraction(les.center, les.radius_mm)
        suv = suv * (1 - f) + les.suv * f
    if noise:
        rng = np.random.default_rng(seed)
        suv = suv * (1 + noise * rng.standard_normal(SHAPE))
        suv = np.clip(suv, 0, None)
    ct = np.where(body, 40.0, -1000.0)
    ct[labels == 1] = 60.0
    geo = {"spacing": (SPACING,) * 3, "origin": ORIGIN}
    frame = "1.2.826.0.1.3680043.2.1125.1"
    return {
        "suv": Volume.from_array(
            suv.astype(np.float32),
            quantity="SUV",
            unit="g/mL",
            modality="PT",
            name="pet",
            frame_of_reference_uid=frame,
            **geo,
        ),
        "organs": Volume.from_array(labels, name="organs", frame_of_reference_uid=frame, **geo),
        "ct": Volume.from_array(
            ct.astype(np.float32),
            quantity="HU",
            unit="HU",
            modality="CT",
            name="ct",
            frame_of_reference_uid=frame,
            **geo,
        ),
        "names": dict(NAMES),
        "lesions": lesions,
    }


@pytest.fixture(scope="session")
def patient() -> dict[str, Any]:
    return build_patient()
