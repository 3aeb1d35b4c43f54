"""Rigid CT registration recovers a known shift; activity is conserved."""

from __future__ import annotations

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.therapy.registration import apply_to_spect, register_ct


def _body(shift_mm: tuple[float, float, float], spacing: float = 4.0) -> Volume:
    # Ellipsoidal water body (0 HU) with a bone rod (+1000 HU) and a lung-like cavity
    # (−800 HU) in air: asymmetric so the transform is identifiable.
    n = 40
    z, y, x = (np.mgrid[:n, :n, :n] * spacing).astype(float)
    sx, sy, sz = shift_mm
    x, y, z = x - sx, y - sy, z - sz
    c = n * spacing / 2
    body = ((x - c) / 60) ** 2 + ((y - c) / 45) ** 2 + ((z - c) / 65) ** 2 < 1
    hu = np.where(body, 0.0, -1000.0)
    hu[((x - c - 20) ** 2 + (y - c + 10) ** 2 < 64) & body] = 1000.0
    hu[((x - c + 25) / 15) ** 2 + ((y - c) / 20) ** 2 + ((z - c - 10) / 25) ** 2 < 1] = -800.0
    return Volume.from_array(hu, spacing=(spacing,) * 3, unit="HU", name=f"ct{shift_mm}")


def test_rigid_registration_recovers_known_shift() -> None:
    # The moving CT is the fixed one translated by (+6, −4, +8) mm; the transform maps
    # fixed → moving points, so its translation must be (+6, −4, +8) mm (within 1 mm,
    # a quarter voxel).
    fixed = _body((0.0, 0.0, 0.0))
    moving = _body((6.0, -4.0, 8.0))
    reg = register_ct(fixed, moving)
    np.testing.assert_allclose(reg.translation_mm, (6.0, -4.0, 8.0), atol=1.0)
    assert max(abs(a) for a in reg.rotation_deg) < 1.0
    assert reg.ncc_after > reg.ncc_before
    assert reg.acceptable


def test_spect_resampling_conserves_activity_and_aligns() -> None:
    fixed = _body((0.0, 0.0, 0.0))
    moving = _body((8.0, 0.0, 0.0))
    reg = register_ct(fixed, moving)
    spect = np.zeros(moving.shape)
    spect[18:22, 18:22, 20:24] = 1000.0  # hot block shifted by +8 mm = +2 voxels in x
    sp = Volume.from_array(spect, spacing=moving.spacing, unit="Bq/mL", name="spect")
    out = apply_to_spect(sp, reg, fixed)
    assert float(out.array.sum()) == pytest.approx(float(spect.sum()), rel=1e-9)
    x_com = float((out.array.sum(axis=(0, 1)) * np.arange(out.shape[2])).sum() / out.array.sum())
    assert x_com == pytest.approx(19.5, abs=0.25)  # block back at x = 18–21 (centre 19.5)
    ext = Volume.from_array(spect * 0.064, spacing=moving.spacing, unit="Bq", name="bq")
    assert float(apply_to_spect(ext, reg, fixed).array.sum()) == pytest.approx(
        float(ext.array.sum()), rel=1e-9
    )


def test_partial_field_of_view_from_another_scanner() -> None:
    """A SPECT/CT covering the middle of the body (fixed) against a longer PET/CT (moving)
    whose scanner puts the patient coordinate origin 300 mm further along z and the patient
    8 mm to the side: the body-profile start finds the transform that the raw patient
    coordinates and the centres of mass of the two different fields of view miss.
    Expected translation (hand calculation): (8, 0, 300) mm, within 1 voxel (4 mm)."""
    full = _body((0.0, 0.0, 0.0))
    arr = np.asarray(full.array)
    fixed = Volume.from_array(
        arr[12:30], spacing=full.spacing, origin=(0.0, 0.0, 12 * 4.0), unit="HU", name="spect ct"
    )
    moved = _body((8.0, 0.0, 0.0))
    moving = Volume.from_array(
        np.asarray(moved.array), spacing=full.spacing, origin=(0.0, 0.0, 300.0), unit="HU",
        name="pet ct",
    )  # fmt: skip
    reg = register_ct(fixed, moving)
    np.testing.assert_allclose(reg.translation_mm, (8.0, 0.0, 300.0), atol=4.0)
    assert reg.acceptable
    assert reg.step.parameters["initialisation"] == "body profile alignment"
