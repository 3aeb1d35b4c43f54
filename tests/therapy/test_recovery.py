"""Sphere recovery coefficients: closed form vs an independent numerical convolution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from sstrkit.errors import InvalidInputError
from sstrkit.therapy.recovery import sphere_recovery_coefficient

FWHM_TO_SIGMA = 1.0 / np.sqrt(8 * np.log(2))


def _numerical_rc(volume_ml: float, fwhm_mm: float, voxel_mm: float = 1.0) -> float:
    """Voxelised sphere blurred with scipy's Gaussian; fraction kept inside the sphere."""
    radius = (3 * volume_ml * 1000 / (4 * np.pi)) ** (1 / 3)
    n = int(2 * (radius + 4 * fwhm_mm) / voxel_mm) | 1
    c = n // 2
    z, y, x = np.indices((n, n, n))
    inside = ((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) * voxel_mm**2 <= radius**2
    sigma = fwhm_mm * FWHM_TO_SIGMA / voxel_mm
    blurred = ndimage.gaussian_filter(inside.astype(float), sigma, mode="constant", truncate=5)
    return float(blurred[inside].sum() / inside.sum())


@pytest.mark.parametrize(("volume_ml", "fwhm_mm"), [(10.0, 11.0), (30.0, 11.0), (2.0, 5.5)])
def test_matches_numerical_convolution(volume_ml: float, fwhm_mm: float) -> None:
    # 1 mm voxels: the voxelised sphere's surface error is ~1 %, hence rel 2 %.
    assert sphere_recovery_coefficient(volume_ml, fwhm_mm) == pytest.approx(
        _numerical_rc(volume_ml, fwhm_mm), rel=0.02
    )


def test_limits() -> None:
    # No blur → complete recovery; very large sphere → 1; tiny sphere → 0.
    assert sphere_recovery_coefficient(5.0, 0.0) == 1.0
    assert sphere_recovery_coefficient(1e7, 11.0) > 0.99
    assert sphere_recovery_coefficient(1e-3, 11.0) < 0.01
    rcs = [sphere_recovery_coefficient(v, 11.0) for v in (0.5, 2, 8, 32, 128)]
    assert all(np.diff(rcs) > 0)


@pytest.mark.parametrize(("v", "f"), [(0.0, 10.0), (-1.0, 10.0), (1.0, -2.0), (1.0, float("nan"))])
def test_bad_input(v: float, f: float) -> None:
    with pytest.raises(InvalidInputError):
        sphere_recovery_coefficient(v, f)
