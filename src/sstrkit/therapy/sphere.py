"""Sphere model: self-irradiation absorbed fractions and S values of uniform spheres.

A radionuclide uniformly distributed in a homogeneous sphere of mass *m*
(soft tissue or cortical bone) deposits, per decay, the energy
``E_e·φ_e + E_γ·φ_γ + E_α`` where ``E_e`` and ``E_γ`` are the mean electron and
photon energies emitted per decay (ICRP Publication 107), and φ_e, φ_γ the
electron and photon self-absorbed fractions computed here. The self-dose S
value is that energy divided by the mass::

    S = (E_e·φ_e + E_γ·φ_γ + E_α) · 1.602176634e-13 J/MeV / (m / 1000) kg   [Gy/(Bq·s)]

Method
------
*Geometry.* For a uniform isotropic source in a sphere of radius R, the
probability that the point a distance s away from a random source point, in a
random direction, is still inside the sphere is the geometric reduction factor
(Berger, MIRD Pamphlet 7, J Nucl Med 1971;12(Suppl 5):5)::

    G(s) = 1 − 3x/2 + x³/2,   x = s/(2R) ≤ 1;   G = 0 beyond the diameter.

Because a sphere is convex, radiation that reaches s inside never left it.

*Electrons* (β spectrum of ICRP 107, plus every discrete internal-conversion
and Auger line) are transported in the straight-ahead continuous-slowing-down
approximation: an electron of energy E₀ deposits its energy along a straight
track, the energy lost between residual energies E and E+dE being deposited at
depth s(E) = [R(E₀) − R(E)]/ρ, R the CSDA range (g/cm²). Hence::

    φ_e(E₀) = (1/E₀) ∫₀^E₀ G(s(E)) dE.

Straight tracks overestimate the electron's penetration (real tracks are
tortuous), so φ_e is biased low for spheres comparable to the range (90Y below
~20 g); the tests quantify this against Monte Carlo data. The β spectrum is
renormalised so that its energy integral equals the ICRP-107 mean β energy
(exact energy bookkeeping). CSDA ranges: water from
:mod:`sstrkit.physics.ranges` (ICRU 37 / ESTAR); cortical bone from the same
stopping power scaled by the Bethe ratio of bone (ICRU-44, ⟨Z/A⟩ = 0.51478,
I = 112 eV) to water (0.55508, 75 eV), density effect ignored in that ratio.

*Photons* (γ, X-rays, annihilation quanta) use the energy-absorption
(straight-ahead, μ_en) approximation: the fraction of photon energy deposited
between s and s+ds is μ_en·exp(−μ_en·s)·ds, so::

    φ_γ(E) = ∫₀^2R G(s) μ_en e^(−μ_en s) ds      (closed form below),

with μ_en/ρ from NIST (Hubbell & Seltzer, NISTIR 5632; see ``data/``). It is
exact for small spheres (φ_γ → ¾·R·μ_en, the mean first-collision energy
absorption) and tends to 1 for large ones; in between it neglects the spatial
spread of scattered photons (a known approximation, MIRD Pamphlet 3).

*α particles* (and recoils) are taken as locally absorbed (φ = 1, ranges
< 0.1 mm). Progeny are not included: give the daughter separately.

Examples
--------
>>> r = sphere_s_value("Lu-177", 10.0)
>>> 0.97 < r.electron_absorbed_fraction < 1.0
True
>>> y = sphere_s_value("Y-90", 1.0)
>>> 0.5 < y.electron_absorbed_fraction < 0.8     # 90Y electrons escape a 1 g sphere
True
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG, J_PER_MEV, MGY_PER_GY, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import Nuclide, get_nuclide
from sstrkit.physics.ranges import (
    ELECTRON_REST_ENERGY_MEV,
    collision_stopping_power_water,
    csda_range_water_g_cm2,
    radiative_stopping_power_water,
)

__all__ = [
    "J_PER_MEV",
    "TISSUE_DENSITY_G_CM3",
    "SphereSValue",
    "Tissue",
    "electron_absorbed_fraction",
    "mu_en_cm2_g",
    "photon_absorbed_fraction",
    "sphere_radius_cm",
    "sphere_s_value",
    "sphere_s_values",
]

Tissue = Literal["soft", "bone"]

#: Default densities: unit-density soft tissue as in the MIRD/OLINDA sphere model, and
#: ICRU-44 cortical bone (NIST Table 2: 1.92 g/cm³).
TISSUE_DENSITY_G_CM3: Final[dict[str, float]] = {"soft": 1.0, "bone": 1.92}
_DENSITY_LIMITS: Final[dict[str, tuple[float, float]]] = {"soft": (0.95, 1.10), "bone": (1.2, 2.0)}

# ⟨Z/A⟩ (mol/g) and mean excitation energies (MeV), NIST / ICRU 37 and ICRU 44.
_Z_OVER_A: Final[dict[str, float]] = {"water": 0.55508, "bone": 0.51478}
_I_MEV: Final[dict[str, float]] = {"water": 75.0e-6, "bone": 112.0e-6}

SOURCES: Final[tuple[str, ...]] = (
    "ICRP Publication 107 (2008) decay data",
    "Berger, MIRD Pamphlet 7 (J Nucl Med 1971) geometric reduction factor for spheres",
    "ICRU Report 37 (1984) electron stopping powers; NIST ESTAR CSDA ranges",
    "Hubbell & Seltzer, NIST SRD 126 / NISTIR 5632 mu_en/rho (water; cortical bone ICRU-44)",
)

_E_MIN_MEV: Final = 1.0e-3  # below this electrons are absorbed where they start (range < 0.05 µm)
_N_U: Final = 256  # quadrature nodes along the electron track


def _check_tissue(tissue: str) -> Tissue:
    if tissue not in TISSUE_DENSITY_G_CM3:
        raise InvalidInputError(
            "tissue", expected="'soft' or 'bone'", actual=repr(tissue), fix="use --tissue soft|bone"
        )
    return tissue  # type: ignore[return-value]


def _density(tissue: Tissue, density_g_cm3: float | None) -> float:
    if density_g_cm3 is None:
        return TISSUE_DENSITY_G_CM3[tissue]
    lo, hi = _DENSITY_LIMITS[tissue]
    rho = float(density_g_cm3)
    if not math.isfinite(rho) or not lo <= rho <= hi:
        raise InvalidInputError(
            f"density of {tissue} tissue",
            expected=f"{lo}–{hi} g/cm³",
            actual=density_g_cm3,
            fix="soft tissue is 1.00–1.06 g/cm³, cortical bone about 1.92 g/cm³",
        )
    return rho


def _check_masses(mass_g: ArrayLike) -> NDArray[np.float64]:
    m = np.atleast_1d(np.asarray(mass_g, dtype=float))
    if m.size == 0 or np.any(~np.isfinite(m)) or np.any(m <= 0):
        raise InvalidInputError(
            "sphere mass", expected="finite values > 0 g", actual=mass_g, fix="pass masses in grams"
        )
    return m


def sphere_radius_cm(mass_g: ArrayLike, density_g_cm3: float) -> NDArray[np.float64]:
    """Radius (cm) of a sphere of ``mass_g`` grams: r = (3m / 4πρ)^(1/3).

    >>> round(float(sphere_radius_cm(1.0, 1.0)[0]), 4)     # 1 g of water: d = 1.24 cm
    0.6204
    """
    m = _check_masses(mass_g)
    result: NDArray[np.float64] = np.cbrt(3.0 * m / (4.0 * math.pi * density_g_cm3))
    return result


# --------------------------------------------------------------------------- geometry


def _geometric_reduction(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """G as a function of x = s / (2R): 1 − 1.5x + 0.5x³ on [0, 1], 0 beyond."""
    xc = np.clip(x, 0.0, 1.0)
    result: NDArray[np.float64] = 1.0 - 1.5 * xc + 0.5 * xc**3
    return result


# --------------------------------------------------------------------------- electrons


def _bethe_log(t_mev: NDArray[np.float64], i_mev: float) -> NDArray[np.float64]:
    tau = t_mev / ELECTRON_REST_ENERGY_MEV
    gamma = tau + 1.0
    beta2 = 1.0 - 1.0 / gamma**2
    f_minus = 1.0 - beta2 + (tau**2 / 8.0 - (2.0 * tau + 1.0) * math.log(2.0)) / gamma**2
    i_rel = i_mev / ELECTRON_REST_ENERGY_MEV
    result: NDArray[np.float64] = np.log(tau**2 * (tau + 2.0) / (2.0 * i_rel**2)) + f_minus
    return result


@lru_cache(maxsize=2)
def _range_table(tissue: Tissue) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(energies MeV, CSDA range g/cm²) on a log grid for ``tissue``."""
    energies = np.geomspace(_E_MIN_MEV, 20.0, 3001)
    if tissue == "soft":
        ranges = np.asarray(csda_range_water_g_cm2(energies), dtype=float)
        return energies, ranges
    s_water = collision_stopping_power_water(energies) + radiative_stopping_power_water(energies)
    ratio = (
        _Z_OVER_A["bone"]
        * _bethe_log(energies, _I_MEV["bone"])
        / (_Z_OVER_A["water"] * _bethe_log(energies, _I_MEV["water"]))
    )
    inv = 1.0 / (s_water * ratio)
    steps = 0.5 * (inv[1:] * energies[1:] + inv[:-1] * energies[:-1]) * np.diff(np.log(energies))
    r0 = float(csda_range_water_g_cm2(_E_MIN_MEV)) / float(ratio[0])
    ranges = np.concatenate([[r0], r0 + np.cumsum(steps)])
    return energies, ranges


def _csda_range(energy_mev: NDArray[np.float64], tissue: Tissue) -> NDArray[np.float64]:
    energies, ranges = _range_table(tissue)
    e = np.clip(energy_mev, 0.0, energies[-1])
    log_r = np.interp(np.log(np.maximum(e, _E_MIN_MEV)), np.log(energies), np.log(ranges))
    r = np.exp(log_r)
    result: NDArray[np.float64] = np.where(e < _E_MIN_MEV, ranges[0] * e / _E_MIN_MEV, r)
    return result


def _residual_energy(range_g_cm2: NDArray[np.float64], tissue: Tissue) -> NDArray[np.float64]:
    """Inverse of the CSDA range: the energy (MeV) whose residual range is ``range_g_cm2``."""
    energies, ranges = _range_table(tissue)
    r = np.maximum(range_g_cm2, 0.0)
    e = np.exp(np.interp(np.log(np.maximum(r, ranges[0])), np.log(ranges), np.log(energies)))
    result: NDArray[np.float64] = np.where(r < ranges[0], energies[0] * r / ranges[0], e)
    return result


def _phi_electron(
    energy_mev: NDArray[np.float64], radius_g_cm2: NDArray[np.float64], tissue: Tissue
) -> NDArray[np.float64]:
    """φ_e for every (radius, energy) pair: shape (n_radius, n_energy).

    Stieltjes sum over depth: the track (or its first 2R, beyond which G = 0) is cut into
    ``_N_U`` equal steps; the energy lost in each step, E(x_k) − E(x_k+1) from the inverse
    range, is weighted by the mean of G at the step's ends.
    """
    e0 = np.asarray(energy_mev, dtype=float)
    r0 = _csda_range(e0, tissue)  # (nE,)
    steps = np.linspace(0.0, 1.0, _N_U + 1)
    out = np.empty((radius_g_cm2.size, e0.size))
    for i, a in enumerate(radius_g_cm2):
        depth_max = np.minimum(r0, 2.0 * a)  # (nE,)
        depth = depth_max[:, None] * steps[None, :]  # (nE, N+1)
        residual = _residual_energy(r0[:, None] - depth, tissue)
        residual[:, 0] = e0
        lost = residual[:, :-1] - residual[:, 1:]
        g = _geometric_reduction(depth / (2.0 * a))
        absorbed = np.sum(0.5 * (g[:, :-1] + g[:, 1:]) * lost, axis=1)
        out[i] = np.where(e0 < _E_MIN_MEV, 1.0, absorbed / np.maximum(e0, 1e-300))
    return out


def electron_absorbed_fraction(
    energy_mev: ArrayLike,
    mass_g: float,
    tissue: Tissue = "soft",
    *,
    density_g_cm3: float | None = None,
) -> NDArray[np.float64]:
    """Self-absorbed fraction of monoenergetic electrons in a uniform sphere.

    Parameters
    ----------
    energy_mev
        Electron kinetic energies (MeV).
    mass_g
        Sphere mass (g).
    tissue
        ``"soft"`` (unit density) or ``"bone"`` (cortical, 1.92 g/cm³).
    density_g_cm3
        Override of the density.

    Examples
    --------
    >>> phi = electron_absorbed_fraction([0.01, 1.0], 1.0)
    >>> bool(phi[0] > 0.999), bool(0.5 < phi[1] < 0.8)
    (True, True)
    """
    tissue = _check_tissue(tissue)
    rho = _density(tissue, density_g_cm3)
    e = np.atleast_1d(np.asarray(energy_mev, dtype=float))
    if np.any(~np.isfinite(e)) or np.any(e < 0) or np.any(e > 20.0):
        raise InvalidInputError("electron energy", expected="0–20 MeV", actual=energy_mev)
    radius = sphere_radius_cm(mass_g, rho) * rho
    result: NDArray[np.float64] = _phi_electron(e, radius, tissue)[0]
    return result


# --------------------------------------------------------------------------- photons


def _read_table(name: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    text = resources.files("sstrkit.therapy").joinpath("data", name).read_text(encoding="utf-8")
    rows = [r for r in csv.reader(line for line in text.splitlines() if not line.startswith("#"))]
    data = np.array([[float(a), float(b)] for a, b in rows[1:]])
    return data[:, 0], data[:, 1]


@lru_cache(maxsize=2)
def _mu_en_table(tissue: Tissue) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    e_w, mu_w = _read_table("mu_en_water.csv")
    if tissue == "soft":
        return e_w, mu_w
    e_b, mu_b = _read_table("mu_en_bone_cortical.csv")
    above = e_w > e_b[-1]
    scale = _Z_OVER_A["bone"] / _Z_OVER_A["water"]
    return np.concatenate([e_b, e_w[above]]), np.concatenate([mu_b, mu_w[above] * scale])


def mu_en_cm2_g(energy_mev: ArrayLike, tissue: Tissue = "soft") -> NDArray[np.float64]:
    """Mass energy-absorption coefficient (cm²/g), log–log interpolation of the NIST table.

    >>> float(mu_en_cm2_g(0.1)[0])          # NIST water, 100 keV
    0.02546
    """
    tissue = _check_tissue(tissue)
    energies, mu = _mu_en_table(tissue)
    e = np.atleast_1d(np.asarray(energy_mev, dtype=float))
    if np.any(~np.isfinite(e)) or np.any(e <= 0) or np.any(e > energies[-1]):
        raise InvalidInputError(
            "photon energy", expected=f"0 < E ≤ {energies[-1]} MeV", actual=energy_mev
        )
    e_c = np.maximum(e, energies[0])
    result: NDArray[np.float64] = np.exp(np.interp(np.log(e_c), np.log(energies), np.log(mu)))
    return result


def _moment(n: int, k: NDArray[np.float64]) -> NDArray[np.float64]:
    """I_n(k) = ∫₀¹ tⁿ k e^(−kt) dt, closed form (series for small k)."""
    k = np.asarray(k, dtype=float)
    small = k < 0.5
    ks = np.where(small, k, 0.0)
    series = np.zeros_like(k)
    term_fact = 1.0
    for j in range(25):
        if j > 0:
            term_fact /= j
        series += ks * (-ks) ** j * term_fact / (n + j + 1)
    kl = np.where(small, 1.0, k)
    ek = np.exp(-kl)
    poly = sum(kl**i / math.factorial(i) for i in range(n + 1))
    closed = math.factorial(n) * (1.0 - ek * poly) / kl**n
    result: NDArray[np.float64] = np.where(small, series, closed)
    return result


def _phi_photon(k: NDArray[np.float64]) -> NDArray[np.float64]:
    """φ_γ as a function of k = 2R·μ_en: ∫₀¹ (1 − 1.5t + 0.5t³) k e^(−kt) dt."""
    result: NDArray[np.float64] = _moment(0, k) - 1.5 * _moment(1, k) + 0.5 * _moment(3, k)
    return result


def photon_absorbed_fraction(
    energy_mev: ArrayLike,
    mass_g: float,
    tissue: Tissue = "soft",
    *,
    density_g_cm3: float | None = None,
) -> NDArray[np.float64]:
    """Self-absorbed fraction of monoenergetic photons in a uniform sphere (μ_en model).

    >>> phi = photon_absorbed_fraction(0.2, 1.0)
    >>> r_cm, mu = 0.6204, 0.02967                 # small-sphere limit ¾·R·μ_en
    >>> abs(float(phi[0]) / (0.75 * r_cm * mu) - 1) < 0.02
    True
    """
    tissue = _check_tissue(tissue)
    rho = _density(tissue, density_g_cm3)
    radius = sphere_radius_cm(mass_g, rho)
    k = 2.0 * radius[0] * rho * mu_en_cm2_g(energy_mev, tissue)
    return _phi_photon(k)


# --------------------------------------------------------------------------- nuclide S values


@dataclass(frozen=True)
class SphereSValue:
    """Self-dose S value of a uniform sphere for one nuclide (SI units inside).

    ``s_gy_per_bq_s`` = (``absorbed_electron_mev`` + ``absorbed_photon_mev`` +
    ``absorbed_alpha_mev``) × 1.602176634e-13 / (``mass_g``/1000).
    """

    nuclide: str
    mass_g: float
    tissue: Tissue
    density_g_cm3: float
    radius_mm: float
    electron_energy_mev: float
    photon_energy_mev: float
    alpha_energy_mev: float
    electron_absorbed_fraction: float
    photon_absorbed_fraction: float
    s_gy_per_bq_s: float
    s_electron_gy_per_bq_s: float
    s_photon_gy_per_bq_s: float
    s_alpha_gy_per_bq_s: float
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def absorbed_energy_mev(self) -> float:
        """Mean energy absorbed in the sphere per decay (MeV)."""
        return (
            self.electron_energy_mev * self.electron_absorbed_fraction
            + self.photon_energy_mev * self.photon_absorbed_fraction
            + self.alpha_energy_mev
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "nuclide": self.nuclide,
            "mass_g": self.mass_g,
            "tissue": self.tissue,
            "density_g_cm3": self.density_g_cm3,
            "radius_mm": self.radius_mm,
            "s_gy_per_bq_s": self.s_gy_per_bq_s,
            "s_mgy_per_mbq_h": self.s_gy_per_bq_s * MGY_PER_GY * BQ_PER_MBQ * SECONDS_PER_HOUR,
            "electron_absorbed_fraction": self.electron_absorbed_fraction,
            "photon_absorbed_fraction": self.photon_absorbed_fraction,
            "s_electron_gy_per_bq_s": self.s_electron_gy_per_bq_s,
            "s_photon_gy_per_bq_s": self.s_photon_gy_per_bq_s,
            "s_alpha_gy_per_bq_s": self.s_alpha_gy_per_bq_s,
            "electron_energy_mev": self.electron_energy_mev,
            "photon_energy_mev": self.photon_energy_mev,
            "alpha_energy_mev": self.alpha_energy_mev,
            "absorbed_energy_mev": self.absorbed_energy_mev,
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _electron_lines(nuc: Nuclide) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lines = [(e, y) for kind in ("IE", "auger") for e, y in nuc.emissions.get(kind, ())]
    if not lines:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(lines, dtype=float)
    return arr[:, 0], arr[:, 1]


def _photon_lines(nuc: Nuclide) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lines = [
        (e, y) for kind in ("gamma", "X", "annihilation") for e, y in nuc.emissions.get(kind, ())
    ]
    if not lines:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(lines, dtype=float)
    return arr[:, 0], arr[:, 1]


def _beta_part(
    nuc: Nuclide, radius_g_cm2: NDArray[np.float64], tissue: Tissue
) -> tuple[float, NDArray[np.float64]]:
    """(mean β energy per decay, absorbed β energy per decay for each radius)."""
    mean = (nuc.beta_minus_mean_mev or 0.0) + (nuc.beta_plus_mean_mev or 0.0)
    e, density = nuc.beta_spectrum()
    if mean <= 0.0 or e.size < 2:
        return mean, np.full(radius_g_cm2.shape, mean)
    weight = density * e
    norm = float(np.trapezoid(weight, e))
    phi = _phi_electron(e, radius_g_cm2, tissue)  # (nR, nE)
    absorbed = np.asarray(np.trapezoid(weight[None, :] * phi, e, axis=1), dtype=float) * (
        mean / norm
    )
    return mean, absorbed


def sphere_s_values(
    nuclide: str | Nuclide,
    masses_g: Sequence[float] | NDArray[np.float64],
    tissue: Tissue = "soft",
    *,
    density_g_cm3: float | None = None,
) -> list[SphereSValue]:
    """S values of uniform spheres of several masses (one nuclide, vectorised).

    Raises
    ------
    InvalidInputError
        Non-positive masses, unknown tissue or implausible density.
    UnknownNuclideError
        A nuclide not in ICRP 107.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    tissue = _check_tissue(tissue)
    rho = _density(tissue, density_g_cm3)
    masses = _check_masses(masses_g)
    radius_cm = sphere_radius_cm(masses, rho)
    radius_g = radius_cm * rho

    beta_mean, beta_abs = _beta_part(nuc, radius_g, tissue)
    e_lines, y_lines = _electron_lines(nuc)
    if e_lines.size:
        lines_abs = _phi_electron(e_lines, radius_g, tissue) @ (e_lines * y_lines)
        lines_mean = float(np.sum(e_lines * y_lines))
    else:
        lines_abs, lines_mean = np.zeros_like(radius_g), 0.0
    e_e = beta_mean + lines_mean
    abs_e = beta_abs + lines_abs

    e_g, y_g = _photon_lines(nuc)
    e_g_keep = e_g <= 20.0
    e_g, y_g = e_g[e_g_keep], y_g[e_g_keep]
    e_ph = float(np.sum(e_g * y_g))
    if e_g.size:
        mu = mu_en_cm2_g(e_g, tissue)
        k = 2.0 * radius_g[:, None] * mu[None, :]
        abs_g = _phi_photon(k) @ (e_g * y_g)
    else:
        abs_g = np.zeros_like(radius_g)
    e_alpha = nuc.delta_alpha_mev

    step = Step.make(
        "sphere_s_value",
        {
            "nuclide": nuc.name,
            "tissue": tissue,
            "density_g_cm3": rho,
            "electron_model": "straight-ahead CSDA with sphere geometric reduction factor",
            "photon_model": "mu_en energy-absorption approximation with geometric reduction",
            "alpha_model": "locally absorbed",
        },
        sources=(*SOURCES, nuc.data_source),
    )
    out: list[SphereSValue] = []
    for i, m in enumerate(masses):
        kg = float(m) / G_PER_KG
        phi_e = float(abs_e[i] / e_e) if e_e > 0 else 0.0
        phi_g = float(abs_g[i] / e_ph) if e_ph > 0 else 0.0
        s_e = float(abs_e[i]) * J_PER_MEV / kg
        s_g = float(abs_g[i]) * J_PER_MEV / kg
        s_a = e_alpha * J_PER_MEV / kg
        out.append(
            SphereSValue(
                nuclide=nuc.name,
                mass_g=float(m),
                tissue=tissue,
                density_g_cm3=rho,
                radius_mm=float(radius_cm[i]) * 10.0,
                electron_energy_mev=e_e,
                photon_energy_mev=e_ph,
                alpha_energy_mev=e_alpha,
                electron_absorbed_fraction=phi_e,
                photon_absorbed_fraction=phi_g,
                s_gy_per_bq_s=s_e + s_g + s_a,
                s_electron_gy_per_bq_s=s_e,
                s_photon_gy_per_bq_s=s_g,
                s_alpha_gy_per_bq_s=s_a,
                provenance=(step,),
            )
        )
    return out


def sphere_s_value(
    nuclide: str | Nuclide,
    mass_g: float,
    tissue: Tissue = "soft",
    *,
    density_g_cm3: float | None = None,
) -> SphereSValue:
    """S value (Gy per Bq·s) of a uniform sphere of ``mass_g`` grams; see the module text."""
    return sphere_s_values(nuclide, [mass_g], tissue, density_g_cm3=density_g_cm3)[0]
