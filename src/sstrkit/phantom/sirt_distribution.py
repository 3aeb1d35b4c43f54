"""Where the particles go: the SIRT truth drawn for the digital patient.

Both 99mTc-MAA and the 90Y resin microspheres are particles trapped in the first capillary
bed they reach (model: no redistribution, no biological clearance). Of the particles
injected into the hepatic artery (whole liver):

* the **lung shunt fraction** (LSF) is in the lungs, spread uniformly;
* the rest is in the liver, split between the normal parenchyma and every liver metastasis
  (:mod:`sstrkit.phantom.lesions`, sites ``liver``) by their masses and the tumour's
  **tumour-to-normal ratio** T/N (activity per gram in the tumour / in the normal liver, the
  partition model's definition, Ho et al. 1996): fraction of a tumour i =
  (1 − LSF) · T/Nᵢ·Mᵢ / (M_N + Σⱼ T/Nⱼ·Mⱼ).

The 90Y implant is like the MAA but not identical: every tumour's T/N is the MAA's times a
factor drawn in [0.7, 1.3] and the LSF the MAA's times [0.8, 1.2] (the MAA predicts the
microspheres imperfectly). A little free 99mTc-pertechnetate goes with the MAA (body,
bladder, kidneys). Everything is drawn from the stream ``[seed, 23, 0]``
(:func:`draw_sirt`); the numbers are in :mod:`sstrkit.phantom.sirt_parameters`.

:func:`prescribe` chooses the 90Y activity as a partition model would, with its own
arithmetic: A = D_N · (M_N + T/N·M_T) / ((1 − LSF) · e), e = Ē_β · T½/ln 2 the energy
released per becquerel over complete decay (ICRP 107 mean β energy and half-life of 90Y,
≈ 49.8 J/GBq), D_N the target normal-liver dose drawn in 30–40 Gy, capped so that the lung
dose A·LSF·e/M_lungs stays ≤ 30 Gy; rounded to 10 MBq; the net implanted activity is that
minus the residual (2–8 %).

:func:`breathe` blurs the hepatic activity of an emission scan along the body axis as the
liver moves while the patient breathes (Lujan et al. 1999): d(t) = −b·cos⁴(πt), relative to
the liver position at the CT's breathing phase.

Examples
--------
>>> u = Uptake(0.1, {"a": 4.0})
>>> m = SirtMasses(1500.0, 1000.0, (LiverTumour("a", 1, 101, 100.0),))
>>> {k: round(v, 4) for k, v in u.fractions(m).items()}
{'lungs': 0.1, 'liver': 0.7105, 'a': 0.1895}
>>> round(y90_energy_per_bq_j() * 1e9, 1)     # J per GBq, complete decay
49.8
>>> [round(s, 2) for s in breathing_shifts_mm(10.0, 0.0, n=2, phases=2)]
[7.5, 7.5]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from sstrkit.core.units import G_PER_KG, J_PER_MEV
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import Anatomy, Grid
from sstrkit.phantom.sirt_parameters import SIRT_PARAMETERS, SIRT_STREAM, SirtParameters
from sstrkit.physics.nuclides import get_nuclide

__all__ = [
    "LiverTumour",
    "Prescription",
    "SirtDraw",
    "SirtMasses",
    "Uptake",
    "breathe",
    "breathing_shifts_mm",
    "concentration_table",
    "draw_sirt",
    "prescribe",
    "sirt_masses",
    "y90_energy_per_bq_j",
]


@dataclass(frozen=True)
class LiverTumour:
    """A treated liver metastasis: phantom lesion id, its number, label value, mass (g)."""

    id: str
    number: int
    label: int
    mass_g: float


@dataclass(frozen=True)
class SirtMasses:
    """Masses (g) of the baseline anatomy: normal liver, lungs and every liver tumour."""

    normal_liver_g: float
    lungs_g: float
    tumours: tuple[LiverTumour, ...]

    @property
    def tumour_g(self) -> float:
        return sum(t.mass_g for t in self.tumours)

    @property
    def liver_g(self) -> float:
        return self.normal_liver_g + self.tumour_g


def sirt_masses(baseline: Anatomy) -> SirtMasses:
    """The masses of the baseline label map (tumours: every lesion at site ``liver``)."""
    model = baseline.model
    tumours = tuple(
        LiverTumour(les.id, int(les.id.rsplit("_", 1)[-1]), model.lesion_label(i),
                    baseline.mass_g(les.id))
        for i, les in enumerate(model.lesions)
        if les.site == "liver"
    )  # fmt: skip
    if not tumours:
        raise InvalidInputError(
            "SIRT patient", expected="at least one liver metastasis", actual="none"
        )
    return SirtMasses(baseline.mass_g("liver"), baseline.mass_g("lungs"), tumours)


@dataclass(frozen=True)
class Uptake:
    """Particle distribution: lung shunt fraction and T/N (per gram) of every tumour id."""

    lung_shunt_fraction: float
    tumour_to_normal: Mapping[str, float]

    def fractions(self, masses: SirtMasses) -> dict[str, float]:
        """Fraction of the particles in ``lungs``, normal ``liver`` and each tumour id."""
        weights = {t.id: self.tumour_to_normal[t.id] * t.mass_g for t in masses.tumours}
        denom = masses.normal_liver_g + sum(weights.values())
        hepatic = 1.0 - self.lung_shunt_fraction
        out = {"lungs": self.lung_shunt_fraction, "liver": hepatic * masses.normal_liver_g / denom}
        out.update({k: hepatic * w / denom for k, w in weights.items()})
        return out

    def overall_tumour_to_normal(self, masses: SirtMasses) -> float:
        """Mean activity per gram of all tumour / of the normal liver (mass-weighted T/N)."""
        return sum(self.tumour_to_normal[t.id] * t.mass_g for t in masses.tumours) / masses.tumour_g


@dataclass(frozen=True)
class SirtDraw:
    """Everything drawn for one patient's SIRT (stream ``[seed, 23, 0]``)."""

    maa: Uptake
    y90: Uptake
    free_pertechnetate_fraction: float
    residual_fraction: float
    target_normal_liver_dose_gy: float
    breathing_amplitude_mm: float
    #: Breathing phase (0 = end-inspiration) of the CT of each session.
    ct_phase: Mapping[str, float]


def draw_sirt(
    seed: int, tumour_ids: Sequence[str], p: SirtParameters = SIRT_PARAMETERS
) -> SirtDraw:
    """The SIRT of patient ``seed`` (deterministic; the order of the draws is fixed)."""
    rng = np.random.default_rng([seed, SIRT_STREAM, 0])
    lsf = float(rng.uniform(*p.lung_shunt_fraction_range))
    lo, hi = (math.log(v) for v in p.tn_log_range)
    tn = {k: float(math.exp(rng.uniform(lo, hi))) for k in tumour_ids}
    tn_y = {k: v * float(rng.uniform(*p.y90_tn_factor_range)) for k, v in tn.items()}
    lsf_y = min(lsf * float(rng.uniform(*p.y90_lsf_factor_range)), 0.5)
    return SirtDraw(
        maa=Uptake(lsf, tn),
        y90=Uptake(lsf_y, tn_y),
        free_pertechnetate_fraction=float(rng.uniform(*p.free_pertechnetate_range)),
        residual_fraction=float(rng.uniform(*p.residual_range)),
        target_normal_liver_dose_gy=float(rng.uniform(*p.normal_liver_dose_gy_range)),
        breathing_amplitude_mm=float(rng.uniform(*p.breathing_amplitude_mm_range)),
        ct_phase={"maa": float(rng.random()), "y90": float(rng.random())},
    )


def y90_energy_per_bq_j() -> float:
    """Energy (J) released per Bq of 90Y over its complete decay: Ē_β × T½ / ln 2 (ICRP 107)."""
    nuc = get_nuclide("Y-90")
    assert nuc.beta_minus_mean_mev is not None
    return nuc.beta_minus_mean_mev * J_PER_MEV / nuc.decay_constant_per_s


@dataclass(frozen=True)
class Prescription:
    """The 90Y activity chosen by the phantom's partition-model arithmetic."""

    prescribed_bq: float
    net_bq: float
    target_normal_liver_dose_gy: float
    planned_normal_liver_dose_gy: float
    planned_lung_dose_gy: float
    planned_tumour_dose_gy: float
    lung_limited: bool
    energy_j_per_bq: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "partition model (Ho et al. 1996) on the true masses and the true MAA "
            "LSF and T/N: A = D_N (M_N + T/N M_T) / ((1 - LSF) e), e = mean beta energy x "
            "T1/2 / ln 2 (ICRP 107), lung dose <= 30 Gy, rounded to 10 MBq; net = A x "
            "(1 - residual)",
            "prescribed_activity_bq": self.prescribed_bq,
            "net_activity_bq": self.net_bq,
            "target_normal_liver_dose_gy": self.target_normal_liver_dose_gy,
            "planned_normal_liver_dose_gy": self.planned_normal_liver_dose_gy,
            "planned_tumour_dose_gy": self.planned_tumour_dose_gy,
            "planned_lung_dose_gy": self.planned_lung_dose_gy,
            "lung_dose_limited": self.lung_limited,
            "energy_j_per_gbq": self.energy_j_per_bq * 1e9,
        }


def prescribe(
    draw: SirtDraw, masses: SirtMasses, p: SirtParameters = SIRT_PARAMETERS
) -> Prescription:
    """Partition-model activity from the true masses and the true MAA LSF and T/N."""
    e = y90_energy_per_bq_j()
    lsf = draw.maa.lung_shunt_fraction
    tn = draw.maa.overall_tumour_to_normal(masses)
    m_n, m_t, m_l = (v / G_PER_KG for v in (masses.normal_liver_g, masses.tumour_g, masses.lungs_g))
    a = draw.target_normal_liver_dose_gy * (m_n + tn * m_t) / ((1.0 - lsf) * e)
    a_lung_max = p.lung_dose_limit_gy * m_l / (lsf * e)
    limited = a > a_lung_max
    a = min(a, a_lung_max)
    step = p.activity_rounding_bq
    a = max(1, math.floor(a / step) if limited else round(a / step)) * step
    d_n = a * (1.0 - lsf) * e / (m_n + tn * m_t)
    return Prescription(
        prescribed_bq=float(a),
        net_bq=round(a * (1.0 - draw.residual_fraction) / 1e5) * 1e5,
        target_normal_liver_dose_gy=draw.target_normal_liver_dose_gy,
        planned_normal_liver_dose_gy=d_n,
        planned_lung_dose_gy=a * lsf * e / m_l,
        planned_tumour_dose_gy=tn * d_n,
        lung_limited=limited,
        energy_j_per_bq=e,
    )


def concentration_table(
    anatomy: Anatomy, counts: NDArray[np.int64], activities_bq: Mapping[str, float]
) -> dict[int, float]:
    """Label value -> Bq/mL: each region's activity spread over its ``counts`` voxels.

    Regions are label names, composites (``kidneys``) or lesion ids; a region without voxels
    gets nothing (its activity is not in the image).
    """
    vox = anatomy.labels.voxel_volume_ml
    table: dict[int, float] = {}
    for region, act in activities_bq.items():
        values = anatomy.label_values(region)
        vol = float(sum(int(counts[v]) for v in values)) * vox
        for v in values:
            table[v] = table.get(v, 0.0) + (act / vol if vol > 0 else 0.0)
    return table


def breathing_shifts_mm(
    amplitude_mm: float, ct_phase: float, *, n: int = 2, phases: int = 8
) -> list[float]:
    """Cranio-caudal liver displacements (mm, + = cranial) of the emission scan relative
    to the CT, at ``phases`` equally spaced times of one breath.

    Liver position d(t) = −b·cos^(2n)(πt) (Lujan et al. 1999; t = 0 end-inspiration, most
    of the breath near exhale at d = 0); the CT was taken at ``ct_phase``.
    """
    d_ct = -amplitude_mm * math.cos(math.pi * ct_phase) ** (2 * n)
    return [
        -amplitude_mm * math.cos(math.pi * (k + 0.5) / phases) ** (2 * n) - d_ct
        for k in range(phases)
    ]


def breathe(values: NDArray[Any], grid: Grid, shifts_mm: Sequence[float]) -> NDArray[np.float32]:
    """Average of ``values`` shifted along z (linear interpolation) by every shift."""
    arr = np.asarray(values, dtype=np.float32)
    rows = np.flatnonzero(arr.reshape(arr.shape[0], -1).any(axis=1))
    if rows.size == 0 or not shifts_mm:
        return arr
    vz = grid.spacing[2]
    pad = math.ceil(max(abs(s) for s in shifts_mm) / vz) + 1
    z0, z1 = max(0, int(rows[0]) - pad), min(arr.shape[0], int(rows[-1]) + 1 + pad)
    sub = arr[z0:z1]
    acc = np.zeros(sub.shape, dtype=np.float64)
    for s in shifts_mm:
        acc += ndimage.shift(sub, (s / vz, 0.0, 0.0), order=1, mode="constant", cval=0.0)
    out = arr.copy()
    out[z0:z1] = (acc / len(shifts_mm)).astype(np.float32)
    return out
