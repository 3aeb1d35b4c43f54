"""Neighbouring liver lesions: separated down to a small gap, joined when touching.

Documents the behaviour stated in docs/reading.md ("Limits") on the synthetic patient of
conftest.py (4 mm voxels), blurred to 6 mm FWHM (Gaussian σ = 6 / 2.3548 mm) with 8 %
multiplicative noise (seed 0): two 24 mm lesions (SUV 12 in liver SUV 6) with a 4 mm gap
are read as two lesions centred within one voxel (4 mm) of their true centres; with no gap
they are read as one lesion centred between them.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sstrkit.reading.reader import read_sstr_pet

from .conftest import TruthLesion, build_patient

FWHM_TO_SIGMA = 1.0 / 2.3548


def _read_pair(gap_mm: float) -> list[tuple[float, float, float]]:
    r = 12.0
    a = TruthLesion("a", (-70.0, -10.0, 30.0), r, 12.0, 3)
    b = TruthLesion("b", (-70.0 + 2 * r + gap_mm, -10.0, 30.0), r, 12.0, 3)
    p = build_patient((a, b))
    arr = ndimage.gaussian_filter(np.asarray(p["suv"].array, float), 6.0 * FWHM_TO_SIGMA / 4.0)
    arr *= 1.0 + 0.08 * np.random.default_rng(0).standard_normal(arr.shape)
    suv = p["suv"].with_array(np.clip(arr, 0, None).astype(np.float32), operation="blur_noise")
    res = read_sstr_pet(suv, organs=p["organs"], organ_names=p["names"])
    return [m.centroid_mm for m in res.lesions if m.organ == "liver"]


@pytest.mark.parametrize("gap_mm", [4.0, 8.0])
def test_lesions_with_a_gap_are_read_separately(gap_mm: float) -> None:
    found = _read_pair(gap_mm)
    assert len(found) == 2
    truth = [(-70.0, -10.0, 30.0), (-70.0 + 24.0 + gap_mm, -10.0, 30.0)]
    for t in truth:
        assert min(float(np.linalg.norm(np.subtract(f, t))) for f in found) <= 4.0


def test_touching_lesions_are_read_as_one() -> None:
    found = _read_pair(0.0)
    assert len(found) == 1
    assert abs(found[0][0] - (-58.0)) <= 4.0  # midway between the two true centres
