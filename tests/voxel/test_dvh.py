"""DVH metrics on analytic dose distributions."""

from __future__ import annotations

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.therapy.dvh import dvh_table, region_dvh


def _ramp(n: int = 1000) -> Volume:
    # Dose uniformly spread on [0, 10) Gy: voxel i gets 10·(i + 0.5)/n.
    d = (10.0 * (np.arange(n) + 0.5) / n).reshape(10, 10, n // 100)
    return Volume.from_array(d, spacing=(2.0, 2.0, 2.0), unit="Gy", quantity="absorbed_dose")


def test_uniform_distribution_metrics() -> None:
    # For doses uniform on [0, 10] Gy: D_x = 10·(1 − x/100), V(t) = 1 − t/10, mean 5.
    # Discretisation error ≤ one voxel step (0.01 Gy / 0.001 volume).
    dose = _ramp()
    r = region_dvh(dose, np.ones(dose.shape, bool), thresholds_gy=(2.5, 7.5))
    assert r.mean_gy == pytest.approx(5.0, abs=1e-9)
    for x in (2.0, 50.0, 70.0, 90.0):
        assert r.d_gy[x] == pytest.approx(10.0 * (1 - x / 100), abs=0.011)
    assert r.v_fraction[2.5] == pytest.approx(0.75, abs=0.0011)
    assert r.v_fraction[7.5] == pytest.approx(0.25, abs=0.0011)
    assert r.volume_ml == pytest.approx(1000 * 0.008)
    assert r.min_gy == pytest.approx(0.005) and r.max_gy == pytest.approx(9.995)
    # cumulative DVH is monotone from 1 to ~0
    assert r.dvh_volume_fraction[0] == 1.0
    assert np.all(np.diff(r.dvh_volume_fraction) <= 0)


def test_label_table_and_errors() -> None:
    dose = _ramp()
    labels = np.zeros(dose.shape, int)
    labels[:5] = 1
    labels[5:] = 2
    rows = dvh_table(dose, labels, {"low": 1, "high": 2, "absent": 3})
    assert [r.name for r in rows] == ["low", "high"]
    assert rows[0].mean_gy < rows[1].mean_gy
    with pytest.raises(InvalidInputError):
        region_dvh(dose, np.zeros(dose.shape, bool))
    with pytest.raises(InvalidInputError):
        region_dvh(dose, np.ones(dose.shape, bool), d_levels=(120.0,))
