"""Registration is reproducible to the bit (ITK runs on one thread while registering).

Reference: the same registration run twice must give identical parameters (exact equality:
a reproducible pipeline; before, ITK's multi-threaded metric summed in a thread-dependent
order and runs differed in the last bits). The global ITK thread count is restored.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.therapy.registration import register_ct


def _ct(shift_mm: float) -> Volume:
    z, y, x = np.mgrid[0:40, 0:48, 0:48].astype(float) * 4.0
    body = ((x - 96 - shift_mm) / 70) ** 2 + ((y - 96) / 50) ** 2 <= 1
    organ = ((x - 70 - shift_mm) / 25) ** 2 + ((y - 90) / 20) ** 2 + ((z - 80) / 30) ** 2 <= 1
    bone = ((x - 96 - shift_mm) / 10) ** 2 + ((y - 120) / 10) ** 2 <= 1
    hu = np.full(x.shape, -1000.0)
    hu[body] = 30.0
    hu[organ & body] = 60.0
    hu[bone & body] = 700.0
    rng = np.random.default_rng(3)
    hu += rng.normal(0.0, 10.0, hu.shape)
    return Volume(hu.astype(np.float32), spacing=(4.0, 4.0, 4.0), modality="CT", unit="HU")


def test_same_registration_twice_is_identical() -> None:
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    a, b = _ct(0.0), _ct(6.0)
    r1 = register_ct(a, b, shrink_factors=(2, 1)).to_dict()
    r2 = register_ct(a, b, shrink_factors=(2, 1)).to_dict()
    assert r1["translation_mm"] == r2["translation_mm"]
    assert r1["rotation_deg"] == r2["rotation_deg"]
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == threads
