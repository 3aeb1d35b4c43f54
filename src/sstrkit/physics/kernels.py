"""Voxel dose kernels (voxel S values) for any ICRP-107 emitter, any voxel size.

A voxel S value S(i, j, k) is the mean absorbed dose in the voxel at offset
(i, j, k) per decay uniformly distributed in the source voxel (0, 0, 0),
reported in mGy/(MBq·s) — the unit of the MIRD literature and of the
Lanconelli et al. (2012) database.

Method
------
1. **Electron dose point kernel.** A condensed-history Monte Carlo of
   mono-energetic electrons in liquid water (run once, seeded, cached on disk)
   gives the *scaled* cumulative energy-deposition function Ψ(x; E) — the
   fraction of the energy E deposited within x = r/r₀(E) of the emission point,
   r₀ being the CSDA range (:mod:`sstrkit.physics.ranges`). Each history is
   slowed down continuously in steps losing 5 % of the kinetic energy, with the
   step length from the CSDA range table; the direction changes at a random
   "hinge" point of each step (Fernández-Varea et al. 1993 random-hinge
   scheme), where the step's energy is deposited. The polar deflection
   over a step of length s is drawn from a von Mises–Fisher distribution whose
   mean cosine is the Goudsmit–Saunderson value exp(−s/λ₁), λ₁ being the first
   transport mean free path of screened-Rutherford scattering on H and O with
   Molière's screening parameter and Z(Z+1) for the atomic electrons
   (Molière 1947; Berger 1963, *Methods Comput. Phys.* 1:135). Energy-loss
   straggling, δ-ray and bremsstrahlung transport are not simulated (their
   energy is deposited along the track). Below 5 keV (CSDA range < 0.5 µm)
   electrons deposit their energy locally.
2. **Nuclide electron kernel.** Φₑ(r), the energy deposited within r per
   decay, sums Ψ over the ICRP-107 β spectrum (trapezoid over its tabulated
   energies) and over the discrete internal-conversion and Auger lines. For a
   tissue of density ρ the electron distances scale as 1/ρ (O'Connor's scaling
   theorem, water-equivalent composition assumed).
3. **Photon kernel.** Every γ, X and annihilation line above 10 keV deposits
   Φᵧ(r) = E·y·(μₑₙ/μ)·[(1 − e^{−μr}) + b(1 − e^{−μr}(1 + μr))] within r, the
   integral of a point source's energy-absorption kernel with the linear
   energy-absorption build-up factor B = 1 + b·μr, b = μ/μₑₙ − 1, the choice
   of b that conserves energy in an infinite medium. μ/ρ and μₑₙ/ρ are those
   of liquid water (Hubbell & Seltzer 1995, NISTIR 5632, table 4) times the
   tissue density. Lines below 10 keV deposit locally.
4. **Voxel integration.** With x uniform in the source voxel and y uniform
   in the target voxel, d = y − x has, along each axis, a triangular density
   Λ(dₐ/Lₐ − nₐ)/Lₐ. The energy deposited in target n is therefore
   ∫ G_n(r) dΦ(r) with G_n(r) = ⟨Πₐ Λ(r Ωₐ/Lₐ − nₐ)⟩ over directions Ω —
   evaluated by Gauss–Legendre quadrature over the sphere (sub-voxel
   integration without sampling noise). Because Σₙ Λ(t − n) = 1, the kernel
   conserves the energy deposited within its extent exactly.

Validation (``tests/voxel/test_kernels.py``) is against the Monte Carlo voxel
S values of Lanconelli et al., *Phys. Med. Biol.* 57 (2012) 517–533, for
¹⁷⁷Lu and ⁹⁰Y in soft tissue.

Examples
--------
>>> tissue_density_g_cm3("soft")
1.04
>>> round(float(photon_coefficients_water(0.2)[1]), 5)   # μen/ρ of water at 200 keV
0.02967
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from sstrkit import __version__
from sstrkit.core.atomic import apply_output_mode
from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ, J_PER_MEV, MGY_PER_GY, MM3_PER_ML
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import DATA_SOURCE, Nuclide, get_nuclide
from sstrkit.physics.ranges import ELECTRON_REST_ENERGY_MEV, csda_range_water_g_cm2

__all__ = [
    "KERNEL_METHOD",
    "KERNEL_VERSION",
    "TISSUES",
    "Tissue",
    "VoxelKernel",
    "cache_dir",
    "electron_cumulative_energy",
    "photon_coefficients_water",
    "photon_cumulative_energy",
    "tissue_density_g_cm3",
    "voxel_kernel",
]

#: Bumped whenever the physics or numerics change (part of every cache key).
KERNEL_VERSION = 1
KERNEL_METHOD = (
    "voxel S values: condensed-history MC electron point kernel (CSDA, screened-Rutherford "
    "transport mean free path, random hinge) over the ICRP-107 beta spectrum and IC/Auger "
    "lines + photon point kernel (NIST mu, mu_en of water, linear energy-conserving "
    "build-up), integrated over voxel pairs by Gauss-Legendre quadrature"
)

Tissue = Literal["soft", "bone", "water"]
#: Densities (g/cm³): ICRU Report 46 adult soft tissue and cortical bone; liquid water.
TISSUES: dict[str, float] = {"soft": 1.04, "bone": 1.92, "water": 1.0}

MEV_TO_J: Final = J_PER_MEV  # kept under this name for therapy.voxel_dose
_SOURCES = (
    DATA_SOURCE,
    "Hubbell & Seltzer 1995, NISTIR 5632 (water mu/rho, mu_en/rho)",
    "ICRU Report 37 (stopping powers); ICRU Report 46 (tissue densities)",
    "Moliere 1947 screening; Fernandez-Varea et al. 1993 random hinge",
)

# ----------------------------------------------------------------- photons
# NIST (Hubbell & Seltzer 1995, NISTIR 5632) table 4, water, liquid:
# energy (MeV), mu/rho (cm²/g), mu_en/rho (cm²/g).
_WATER_PHOTON = np.array(
    [
        [1.0e-2, 5.329, 4.944],
        [1.5e-2, 1.673, 1.374],
        [2.0e-2, 0.8096, 0.5503],
        [3.0e-2, 0.3756, 0.1557],
        [4.0e-2, 0.2683, 0.06947],
        [5.0e-2, 0.2269, 0.04223],
        [6.0e-2, 0.2059, 0.03190],
        [8.0e-2, 0.1837, 0.02597],
        [1.0e-1, 0.1707, 0.02546],
        [1.5e-1, 0.1505, 0.02764],
        [2.0e-1, 0.1370, 0.02967],
        [3.0e-1, 0.1186, 0.03192],
        [4.0e-1, 0.1061, 0.03279],
        [5.0e-1, 0.09687, 0.03299],
        [6.0e-1, 0.08956, 0.03284],
        [8.0e-1, 0.07865, 0.03206],
        [1.0, 0.07072, 0.03103],
        [1.25, 0.06323, 0.02965],
        [1.5, 0.05754, 0.02833],
        [2.0, 0.04942, 0.02608],
        [3.0, 0.03969, 0.02281],
        [4.0, 0.03403, 0.02066],
        [5.0, 0.03031, 0.01915],
        [6.0, 0.02770, 0.01806],
        [8.0, 0.02429, 0.01658],
        [10.0, 0.02219, 0.01566],
        [15.0, 0.01941, 0.01441],
        [20.0, 0.01813, 0.01382],
    ]
)
_PHOTON_LOCAL_MEV = 0.01
_ELECTRON_LOCAL_MEV = 0.005


def tissue_density_g_cm3(tissue: str) -> float:
    """Density (g/cm³) of a kernel tissue: ``soft``, ``bone`` or ``water``."""
    try:
        return TISSUES[tissue]
    except KeyError:
        raise InvalidInputError(
            "tissue", expected="one of " + ", ".join(TISSUES), actual=repr(tissue)
        ) from None


def photon_coefficients_water(energy_mev: float) -> tuple[float, float]:
    """(μ/ρ, μₑₙ/ρ) of liquid water in cm²/g, log–log interpolated in NISTIR 5632."""
    e = float(energy_mev)
    if not _WATER_PHOTON[0, 0] <= e <= _WATER_PHOTON[-1, 0]:
        raise InvalidInputError("photon energy", expected="10 keV to 20 MeV", actual=e)
    le = np.log(_WATER_PHOTON[:, 0])
    mu = math.exp(float(np.interp(math.log(e), le, np.log(_WATER_PHOTON[:, 1]))))
    mu_en = math.exp(float(np.interp(math.log(e), le, np.log(_WATER_PHOTON[:, 2]))))
    return mu, mu_en


def _photon_lines(nuc: Nuclide) -> list[tuple[float, float]]:
    return [(e, y) for k in ("gamma", "X", "annihilation") for e, y in nuc.emissions.get(k, ())]


def photon_cumulative_energy(
    nuclide: str | Nuclide, r_mm: NDArray[np.float64], density_g_cm3: float = 1.0
) -> NDArray[np.float64]:
    """Photon energy (MeV per decay) absorbed within radius ``r_mm`` of a point source.

    Lines below 10 keV are deposited at r = 0. See the module docstring for the
    build-up model.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    r_cm = np.asarray(r_mm, dtype=float) / 10.0
    out = np.zeros_like(r_cm)
    for e, y in _photon_lines(nuc):
        if e < _PHOTON_LOCAL_MEV:
            out += e * y
            continue
        mu_m, mu_en_m = photon_coefficients_water(e)
        mu = mu_m * density_g_cm3
        b = mu_m / mu_en_m - 1.0
        x = mu * r_cm
        ex = np.exp(-x)
        out += e * y * (mu_en_m / mu_m) * ((1.0 - ex) + b * (1.0 - ex * (1.0 + x)))
    return out


# ------------------------------------------------ electron transport (MC)
_AVOGADRO = 6.02214076e23
_R_E_CM = 2.8179403262e-13
_HBAR_OVER_MC_CM = 3.8615926796e-11
_BOHR_CM = 5.29177210903e-9
_ALPHA = 7.2973525693e-3
_WATER_ATOMS = ((1, 2.0), (8, 1.0))  # (Z, atoms per molecule)
_WATER_MOLAR_MASS = 18.0153

_MC_ENERGIES = np.geomspace(0.005, 5.0, 31)
_MC_X = np.linspace(0.0, 1.6, 321)  # scaled radius grid r/r0
_MC_HISTORIES = 4000
_MC_FRACTION = 0.05
_MC_SEED = 20120517


def _transport_inverse_mfp_water(energy_mev: NDArray[np.float64]) -> NDArray[np.float64]:
    """1/λ₁ (cm²/g) of screened-Rutherford elastic scattering in water."""
    tau = energy_mev / ELECTRON_REST_ENERGY_MEV
    gamma = tau + 1.0
    beta2 = 1.0 - 1.0 / gamma**2
    beta_gamma = np.sqrt(gamma**2 - 1.0)
    total = np.zeros_like(energy_mev)
    for z, n_atoms in _WATER_ATOMS:
        a_tf = 0.88534 * _BOHR_CM * z ** (-1.0 / 3.0)
        eta = (
            0.25
            * (_HBAR_OVER_MC_CM / (beta_gamma * a_tf)) ** 2
            * (1.13 + 3.76 * (_ALPHA * z) ** 2 / beta2)
        )
        coulomb = z * (z + 1.0) * (_R_E_CM / (beta2 * gamma)) ** 2
        sigma1 = 2.0 * math.pi * coulomb * (np.log1p(1.0 / eta) - 1.0 / (1.0 + eta))
        total += n_atoms * sigma1
    result: NDArray[np.float64] = total * _AVOGADRO / _WATER_MOLAR_MASS
    return result


@lru_cache(maxsize=1)
def _langevin_inverse_table() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    kappa = np.concatenate([[0.0], np.geomspace(1e-4, 1e5, 4000)])
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(kappa < 1e-3, kappa / 3.0, 1.0 / np.tanh(kappa) - 1.0 / kappa)
    return mean, kappa


def _sample_cos(mean_cos: NDArray[np.float64], u: NDArray[np.float64]) -> NDArray[np.float64]:
    """cos θ from a von Mises–Fisher density ∝ exp(κ cos θ) with the given mean."""
    table_mean, table_kappa = _langevin_inverse_table()
    kappa = np.interp(np.clip(mean_cos, 0.0, table_mean[-1]), table_mean, table_kappa)
    kappa = np.maximum(kappa, 1e-9)
    mu = 1.0 + np.log(u + (1.0 - u) * np.exp(-2.0 * kappa)) / kappa
    return np.clip(mu, -1.0, 1.0)


def _rotate(
    u: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    cos_t: NDArray[np.float64],
    phi: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Deflect unit vectors ``u`` by polar angle θ and azimuth φ (component arrays)."""
    ux, uy, uz = u
    sin_t = np.sqrt(np.maximum(0.0, 1.0 - cos_t**2))
    cp, sp = np.cos(phi), np.sin(phi)
    den = np.sqrt(np.maximum(1e-12, 1.0 - uz**2))
    small = den < 1e-5
    a = sin_t / den
    nx = np.where(small, sin_t * cp, ux * cos_t + a * (ux * uz * cp - uy * sp))
    ny = np.where(small, sin_t * sp, uy * cos_t + a * (uy * uz * cp + ux * sp))
    nz = np.where(small, np.copysign(cos_t, uz), uz * cos_t - sin_t * cp * den)
    norm = 1.0 / np.sqrt(nx * nx + ny * ny + nz * nz)
    return nx * norm, ny * norm, nz * norm


@lru_cache(maxsize=1)
def _mc_tables() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """log-energy grid with CSDA range (g/cm²) and 1/λ₁ (cm²/g) for fast interpolation."""
    e = np.geomspace(1e-3, 10.0, 2001)
    return np.log(e), np.asarray(csda_range_water_g_cm2(e)), _transport_inverse_mfp_water(e)


def _simulate_scaled_dpk() -> NDArray[np.float64]:
    """Ψ(x; E): cumulative fraction of E deposited within x·r₀(E), shape (nE, nx)."""
    rng = np.random.default_rng(_MC_SEED)
    log_e, range_tab, inv_mfp_tab = _mc_tables()
    n_e, n_h = len(_MC_ENERGIES), _MC_HISTORIES
    e0 = np.repeat(_MC_ENERGIES, n_h)
    inv_r0 = 1.0 / np.interp(np.log(e0), log_e, range_tab)
    group = np.repeat(np.arange(n_e), n_h)
    energy = e0.copy()
    px, py, pz = (np.zeros(e0.size) for _ in range(3))
    ux, uy, uz = np.zeros(e0.size), np.zeros(e0.size), np.ones(e0.size)
    n_x = _MC_X.size
    inv_dx = 1.0 / (_MC_X[1] - _MC_X[0])
    hist = np.zeros(n_e * n_x)
    weight0 = 1.0 / (e0 * n_h)
    while energy.size:
        last = energy * (1.0 - _MC_FRACTION) < _ELECTRON_LOCAL_MEV
        d_e = np.where(last, energy, energy * _MC_FRACTION)
        r_now = np.interp(np.log(energy), log_e, range_tab)
        r_next = np.interp(np.log(np.maximum(energy - d_e, 1e-3)), log_e, range_tab)
        step = np.where(last, r_now, r_now - r_next)
        first = rng.random(energy.size) * step
        hx, hy, hz = px + first * ux, py + first * uy, pz + first * uz
        x = np.sqrt(hx * hx + hy * hy + hz * hz) * inv_r0
        b = np.minimum((x * inv_dx).astype(np.int64), n_x - 1)
        hist += np.bincount(group * n_x + b, weights=d_e * weight0, minlength=hist.size)
        inv_mfp = np.interp(np.log(np.maximum(energy - 0.5 * d_e, 1e-3)), log_e, inv_mfp_tab)
        ux, uy, uz = _rotate(
            (ux, uy, uz),
            _sample_cos(np.exp(-step * inv_mfp), rng.random(energy.size)),
            2.0 * math.pi * rng.random(energy.size),
        )
        rest = step - first
        px, py, pz = hx + rest * ux, hy + rest * uy, hz + rest * uz
        keep = ~last
        px, py, pz, ux, uy, uz = px[keep], py[keep], pz[keep], ux[keep], uy[keep], uz[keep]
        energy = (energy - d_e)[keep]
        group, inv_r0, weight0 = group[keep], inv_r0[keep], weight0[keep]
    hist2 = hist.reshape(n_e, n_x)
    # hist2[:, j] holds energy deposited in [x_j, x_{j+1}); Ψ(x_j) = energy below x_j.
    cum = np.concatenate([np.zeros((n_e, 1)), np.cumsum(hist2, axis=1)[:, :-1]], axis=1)
    cum[:, -1] = 1.0
    return cum


def cache_dir() -> Path:
    """Kernel cache directory: ``$SSTRKIT_CACHE/kernels`` or ``~/.cache/sstrkit/kernels``."""
    root = os.environ.get("SSTRKIT_CACHE")
    base = Path(root) if root else Path.home() / ".cache" / "sstrkit"
    return base / "kernels"


def _atomic_save(path: Path, **arrays: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        apply_output_mode(tmp)
        os.replace(tmp, path)
    except OSError:
        return  # an unwritable cache only costs recomputation


def _load(path: Path) -> dict[str, NDArray[Any]] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError):
        return None


_SCALED_DPK_MEMO: dict[str, NDArray[np.float64]] = {}


def _scaled_dpk() -> NDArray[np.float64]:
    key = (
        f"electron_scaled_dpk_water_v{KERNEL_VERSION}_n{_MC_HISTORIES}_f{_MC_FRACTION}"
        f"_s{_MC_SEED}.npz"
    )
    if key in _SCALED_DPK_MEMO:
        return _SCALED_DPK_MEMO[key]
    path = cache_dir() / key
    data = _load(path)
    table = data["psi"] if data is not None and "psi" in data else None
    if table is None or table.shape != (_MC_ENERGIES.size, _MC_X.size):
        table = _simulate_scaled_dpk()
        _atomic_save(path, psi=table, energies_mev=_MC_ENERGIES, x=_MC_X)
    _SCALED_DPK_MEMO[key] = table
    return table


def _psi(energy_mev: NDArray[np.float64], x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ψ interpolated at energies (n,) and scaled radii (n, m) (linear in log E and x)."""
    table = _scaled_dpk()
    le = np.log(np.clip(energy_mev, _MC_ENERGIES[0], _MC_ENERGIES[-1]))
    pos = np.interp(le, np.log(_MC_ENERGIES), np.arange(_MC_ENERGIES.size))
    lo = np.clip(np.floor(pos).astype(int), 0, _MC_ENERGIES.size - 2)
    w = (pos - lo)[:, None]
    xi = np.clip(x, 0.0, _MC_X[-1]) / (_MC_X[1] - _MC_X[0])
    j = np.clip(np.floor(xi).astype(int), 0, _MC_X.size - 2)
    fx = xi - j
    rows_lo, rows_hi = table[lo], table[lo + 1]

    def at(rows: NDArray[np.float64]) -> NDArray[np.float64]:
        a = np.take_along_axis(rows, j, axis=1)
        b = np.take_along_axis(rows, j + 1, axis=1)
        out: NDArray[np.float64] = a + (b - a) * fx
        return out

    out: NDArray[np.float64] = (1.0 - w) * at(rows_lo) + w * at(rows_hi)
    return out


def _electron_components(
    nuc: Nuclide, electrons: str = "all"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(energies MeV, weights per decay) of emitted electrons (β spectrum [+ IC/Auger lines])."""
    e_spec, n_spec = nuc.beta_spectrum()
    energies: list[NDArray[np.float64]] = []
    weights: list[NDArray[np.float64]] = []
    if e_spec.size > 1:
        de = np.diff(e_spec)
        w = np.zeros_like(e_spec)
        w[:-1] += 0.5 * de * n_spec[:-1]
        w[1:] += 0.5 * de * n_spec[1:]
        energies.append(e_spec)
        weights.append(w)
    for kind in ("IE", "auger") if electrons == "all" else ():
        lines = nuc.emissions.get(kind, ())
        if lines:
            arr = np.asarray(lines, dtype=float)
            energies.append(arr[:, 0])
            weights.append(arr[:, 1])
    if not energies:
        return np.zeros(0), np.zeros(0)
    e = np.concatenate(energies)
    wt = np.concatenate(weights)
    keep = wt > 0
    return e[keep], wt[keep]


def electron_cumulative_energy(
    nuclide: str | Nuclide,
    r_mm: NDArray[np.float64],
    density_g_cm3: float = 1.0,
    electrons: str = "all",
) -> NDArray[np.float64]:
    """Electron energy (MeV per decay) deposited within radius ``r_mm`` of a point source.

    ``electrons="all"`` includes the β spectrum and the internal-conversion and
    Auger lines; ``"beta"`` only the β spectrum.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    r = np.asarray(r_mm, dtype=float)
    e, w = _electron_components(nuc, electrons)
    if e.size == 0:
        return np.zeros_like(r)
    local = e < _ELECTRON_LOCAL_MEV
    out = np.full_like(r, float(np.sum(e[local] * w[local])))
    e, w = e[~local], w[~local]
    r0_mm = np.asarray(csda_range_water_g_cm2(e), dtype=float) * 10.0 / density_g_cm3
    flat = r.reshape(-1)
    for start in range(0, flat.size, 4096):
        chunk = flat[start : start + 4096]
        psi = _psi(e, chunk[None, :] / r0_mm[:, None])
        out.reshape(-1)[start : start + 4096] += (e * w) @ psi
    return out


# --------------------------------------------------------- voxel integration
def _direction_quadrature(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss–Legendre directions in the first octant: (n², 3) unit vectors, weights Σ=1."""
    xm, wm = np.polynomial.legendre.leggauss(n)
    mu = 0.5 * (xm + 1.0)  # cos θ in (0, 1)
    phi = 0.25 * math.pi * (xm + 1.0)  # (0, π/2)
    mm, pp = np.meshgrid(mu, phi, indexing="ij")
    st = np.sqrt(1.0 - mm**2)
    dirs = np.stack([st * np.cos(pp), st * np.sin(pp), mm], axis=-1).reshape(-1, 3)
    w = np.outer(0.5 * wm, 0.5 * wm).reshape(-1)
    return dirs, w / w.sum()


def _tent(t: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.clip(1.0 - np.abs(t), 0.0, None)
    return out


def _geometry_weights(
    voxel_mm: tuple[float, float, float], half: int, r_mid: NDArray[np.float64], n_dir: int
) -> NDArray[np.float64]:
    """G[r, i, j, k]: sphere-averaged product of tents for offsets 0..half on each axis."""
    dirs, wts = _direction_quadrature(n_dir)
    offsets = np.arange(half + 1, dtype=float)
    out = np.zeros((r_mid.size, half + 1, half + 1, half + 1))
    for a_chunk in range(0, r_mid.size, 64):
        r = r_mid[a_chunk : a_chunk + 64]
        factors = []
        for axis in range(3):
            t = r[:, None, None] * dirs[None, :, axis, None] / voxel_mm[axis]
            f = 0.5 * (_tent(t - offsets) + _tent(t + offsets))
            factors.append(f)  # (nr, nd, half+1)
        out[a_chunk : a_chunk + 64] = np.einsum(
            "d,rdi,rdj,rdk->rijk", wts, factors[0], factors[1], factors[2], optimize=True
        )
    return out


@dataclass(frozen=True)
class VoxelKernel:
    """A voxel S-value kernel in mGy/(MBq·s), numpy order (z, y, x), source at the centre."""

    nuclide: str
    voxel_mm: tuple[float, float, float]  # (x, y, z)
    half_size: int
    tissue: str
    density_g_cm3: float
    array: NDArray[np.float64]
    electrons: str
    electron_fraction_in_kernel: float
    photon_fraction_in_kernel: float
    method: str = KERNEL_METHOD
    history: tuple[Step, ...] = field(default_factory=tuple)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def center_mgy_per_mbq_s(self) -> float:
        h = self.half_size
        return float(self.array[h, h, h])

    @property
    def voxel_mass_g(self) -> float:
        return float(np.prod(self.voxel_mm)) / MM3_PER_ML * self.density_g_cm3

    def energy_in_kernel_mev(self) -> float:
        """Σ S·m converted back to MeV per decay (energy deposited inside the kernel)."""
        gy_per_decay = float(self.array.sum()) * 1e-3 / BQ_PER_MBQ
        return gy_per_decay * self.voxel_mass_g * 1e-3 / MEV_TO_J

    def to_dict(self) -> dict[str, Any]:
        return {
            "nuclide": self.nuclide,
            "voxel_mm": list(self.voxel_mm),
            "half_size": self.half_size,
            "shape": list(self.shape),
            "tissue": self.tissue,
            "density_g_cm3": self.density_g_cm3,
            "electrons": self.electrons,
            "center_mgy_per_mbq_s": self.center_mgy_per_mbq_s,
            "electron_fraction_in_kernel": self.electron_fraction_in_kernel,
            "photon_fraction_in_kernel": self.photon_fraction_in_kernel,
            "method": self.method,
            "history": [s.to_dict() for s in self.history],
        }


def _voxel_tuple(voxel_mm: float | tuple[float, float, float]) -> tuple[float, float, float]:
    arr = np.asarray(voxel_mm, dtype=float).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3 or not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr > 50):
        raise InvalidInputError(
            "voxel size", expected="1 or 3 values in (0, 50] mm", actual=voxel_mm
        )
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _compute_kernel(
    nuc: Nuclide, vox: tuple[float, float, float], half: int, rho: float, electrons: str
) -> tuple[NDArray[np.float64], float, float]:
    lmin = min(vox)
    r_max = float(np.linalg.norm(np.asarray(vox) * (half + 1)))
    n_r = math.ceil(r_max / (lmin / 40.0))
    r_edges = np.linspace(0.0, r_max, n_r + 1)
    phi_e = electron_cumulative_energy(nuc, r_edges, rho, electrons)
    phi_g = photon_cumulative_energy(nuc, r_edges, rho)
    d_phi = np.diff(phi_e + phi_g)
    d_phi[0] += phi_e[0] + phi_g[0]  # local deposition at r = 0
    r_mid = 0.5 * (r_edges[1:] + r_edges[:-1])
    keep = d_phi > 0
    geom = _geometry_weights(vox, half, r_mid[keep], n_dir=32)
    octant = np.einsum("r,rijk->ijk", d_phi[keep], geom)  # MeV per decay, x,y,z offsets
    full_xyz = octant
    for axis in range(3):
        full_xyz = np.concatenate([np.flip(full_xyz, axis=axis), full_xyz], axis=axis)
        full_xyz = np.delete(full_xyz, half, axis=axis)
    mass_kg = float(np.prod(vox)) * 1e-3 * rho * 1e-3
    s_mgy = full_xyz * MEV_TO_J / mass_kg * BQ_PER_MBQ * MGY_PER_GY
    s_zyx = np.ascontiguousarray(np.transpose(s_mgy, (2, 1, 0)))
    e_all, w_all = _electron_components(nuc, electrons)
    de = float(np.sum(e_all * w_all))
    dg = nuc.delta_photons_mev
    cover = half * lmin
    fe_in = electron_cumulative_energy(nuc, np.array([cover]), rho, electrons)
    fe = float(fe_in[0]) / de if de else 0.0
    fg = float(photon_cumulative_energy(nuc, np.array([cover]), rho)[0]) / dg if dg else 0.0
    return s_zyx, fe, fg


def voxel_kernel(
    nuclide: str,
    voxel_mm: float | tuple[float, float, float],
    *,
    half_size: int = 5,
    tissue: str = "soft",
    electrons: str = "all",
    use_cache: bool = True,
) -> VoxelKernel:
    """Voxel S values (mGy/(MBq·s)) of ``nuclide`` for a (2h+1)³ kernel, cached on disk.

    Parameters
    ----------
    nuclide
        Any ICRP-107 name (``"Lu-177"``, ``"90Y"``...).
    voxel_mm
        Voxel size in mm, one value (cubic) or (x, y, z).
    half_size
        The kernel has 2·half_size + 1 voxels per axis, the source at its centre.
    tissue
        ``"soft"`` (ICRU 46, 1.04 g/cm³), ``"bone"`` (cortical, 1.92 g/cm³) or ``"water"``.
    electrons
        ``"all"`` (β spectrum + internal-conversion and Auger electrons, the
        physically complete default) or ``"beta"`` (β spectrum only, the
        convention of the Lanconelli et al. 2012 database).

    Examples
    --------
    >>> k = voxel_kernel("Lu-177", 4.8, half_size=1)
    >>> k.shape, 0.16 < k.center_mgy_per_mbq_s < 0.20
    ((3, 3, 3), True)
    """
    nuc = get_nuclide(nuclide)
    vox = _voxel_tuple(voxel_mm)
    if not isinstance(half_size, int | np.integer) or not 0 <= int(half_size) <= 64:
        raise InvalidInputError("kernel half size", expected="an integer 0..64", actual=half_size)
    half = int(half_size)
    rho = tissue_density_g_cm3(tissue)
    if electrons not in ("all", "beta"):
        raise InvalidInputError("electrons", expected="'all' or 'beta'", actual=repr(electrons))
    if nuc.delta_electrons_mev + nuc.delta_photons_mev <= 0:
        raise InvalidInputError(
            "nuclide", expected="an electron or photon emitter", actual=nuc.name
        )
    params = {
        "nuclide": nuc.name,
        "voxel_mm": list(vox),
        "half_size": half,
        "tissue": tissue,
        "density_g_cm3": rho,
        "electrons": electrons,
        "kernel_version": KERNEL_VERSION,
    }
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    vox_txt = "x".join(f"{v:g}" for v in vox)
    path = cache_dir() / (
        f"{nuc.name}_{tissue}_{electrons}_{vox_txt}mm_h{half}_v{KERNEL_VERSION}_{digest}.npz"
    )
    data = _load(path) if use_cache else None
    if data is not None and {"s", "fe", "fg"} <= set(data):
        s, fe, fg = data["s"], float(data["fe"]), float(data["fg"])
    else:
        s, fe, fg = _compute_kernel(nuc, vox, half, rho, electrons)
        if use_cache:
            _atomic_save(path, s=s, fe=np.float64(fe), fg=np.float64(fg))
    s = np.array(s, dtype=float)
    s.flags.writeable = False
    step = Step.make(
        "voxel_kernel",
        {**params, "method": KERNEL_METHOD, "sstrkit_version": __version__},
        sources=_SOURCES,
    )
    return VoxelKernel(
        nuclide=nuc.name,
        voxel_mm=vox,
        half_size=half,
        tissue=tissue,
        density_g_cm3=rho,
        array=s,
        electrons=electrons,
        electron_fraction_in_kernel=min(fe, 1.0),
        photon_fraction_in_kernel=min(fg, 1.0),
        history=(step,),
    )
