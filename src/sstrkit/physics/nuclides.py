"""Radionuclide data from ICRP Publication 107 (via ``icrp107-database``).

:func:`get_nuclide` returns an immutable :class:`Nuclide` with the half-life,
every emission (energy in MeV, yield per decay) by type, the mean energies
emitted per decay as electrons and as photons, β end points, the positron
fraction, gamma lines and the β spectrum. Names are forgiving: ``"Lu-177"``,
``"177Lu"``, ``"lu177"`` and ``"Lu177"`` are the same nuclide.

Definitions
-----------
* ``delta_electrons_mev`` — Σ E·y over β⁻, β⁺ (mean energies), internal
  conversion (ICRP "IE") and Auger electrons: mean electron energy per decay.
* ``delta_photons_mev`` — Σ E·y over γ, X-rays and annihilation photons.
* ``beta_minus_mean_mev`` — Σ E·y over the β⁻ branches (mean β⁻ energy per decay).
* ``beta_minus_emax_mev`` — highest β⁻ end point. When the nuclide emits only
  one β type it is the end of ICRP-107's β spectrum (exact data); when it
  emits both (e.g. Cu-64) each end point is derived from the branch mean by
  inverting the allowed spectral shape (:mod:`sstrkit.physics.beta`) and the
  larger one is pinned to the spectrum's end. ``emax_source`` says which.
* ``csda_range_water_mm`` — CSDA range in water of the highest-energy β⁻ (or
  β⁺ for pure positron emitters), :mod:`sstrkit.physics.ranges`.

Examples
--------
>>> lu = get_nuclide("177Lu")
>>> lu.name, round(lu.half_life_s / 86400, 3)
('Lu-177', 6.647)
>>> round(lu.delta_electrons_mev, 4), round(lu.delta_photons_mev, 4)
(0.1479, 0.0351)
>>> round(lu.beta_minus_emax_mev, 4)
0.4978
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import icrp107_database
import numpy as np
from numpy.typing import NDArray

from sstrkit.core.units import KEV_PER_MEV, to_unit
from sstrkit.errors import UnknownNuclideError
from sstrkit.physics.beta import endpoint_from_mean
from sstrkit.physics.ranges import csda_range_water_mm

__all__ = [
    "DATA_SOURCE",
    "ELEMENTS",
    "Nuclide",
    "available_nuclides",
    "get_nuclide",
    "normalise_name",
]

DATA_SOURCE = "ICRP Publication 107 (Ann. ICRP 38(3), 2008) via icrp107-database"

# Element symbols by atomic number (index = Z).
_ELEMENT_TEXT = """
n H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge
As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm
Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U
Np Pu Am Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og
"""
ELEMENTS: tuple[str, ...] = tuple(_ELEMENT_TEXT.split())
_Z = {sym.lower(): z for z, sym in enumerate(ELEMENTS)}

_ICRP_DIR = Path(icrp107_database.__file__).parent / "icrp107"
_ICRP_TIME_UNITS = {"us": "us", "ms": "ms", "s": "s", "m": "min", "h": "h", "d": "d", "y": "y"}
_ELECTRON_TYPES = ("beta-", "beta+", "IE", "auger")
_PHOTON_TYPES = ("gamma", "X", "annihilation")

Emission = tuple[float, float]  # (energy MeV, yield per decay)


@dataclass(frozen=True)
class Nuclide:
    """ICRP-107 data of one radionuclide (energies MeV, yields per decay, time s)."""

    name: str
    z: int
    a: int
    half_life_s: float
    emissions: MappingProxyType[str, tuple[Emission, ...]]
    beta_minus_emax_mev: float | None
    beta_plus_emax_mev: float | None
    emax_source: str | None
    data_source: str = DATA_SOURCE
    _spectrum: tuple[tuple[float, float], ...] = field(default=(), repr=False)

    @property
    def decay_constant_per_s(self) -> float:
        """λ = ln 2 / T½ (s⁻¹)."""
        return math.log(2) / self.half_life_s

    def _sum(self, kinds: tuple[str, ...], *, energy: bool = True) -> float:
        return float(
            sum(e * y if energy else y for k in kinds for e, y in self.emissions.get(k, ()))
        )

    @property
    def delta_electrons_mev(self) -> float:
        """Mean electron energy emitted per decay (β±, IC, Auger), MeV."""
        return self._sum(_ELECTRON_TYPES)

    @property
    def delta_photons_mev(self) -> float:
        """Mean photon energy emitted per decay (γ, X, annihilation), MeV."""
        return self._sum(_PHOTON_TYPES)

    @property
    def delta_alpha_mev(self) -> float:
        """Mean α (and recoil) energy per decay, MeV."""
        return self._sum(("alpha", "alpha recoil"))

    @property
    def beta_minus_mean_mev(self) -> float | None:
        """Mean β⁻ energy per decay (Σ Ē·y over β⁻ branches), MeV; None if no β⁻."""
        return self._sum(("beta-",)) if self.emissions.get("beta-") else None

    @property
    def beta_plus_mean_mev(self) -> float | None:
        """Mean β⁺ energy per decay, MeV; None if no β⁺."""
        return self._sum(("beta+",)) if self.emissions.get("beta+") else None

    @property
    def positron_fraction(self) -> float:
        """β⁺ branching: positrons emitted per decay."""
        return self._sum(("beta+",), energy=False)

    @property
    def csda_range_water_mm(self) -> float | None:
        """CSDA range in water of the highest-energy β⁻ (else β⁺), mm."""
        emax = self.beta_minus_emax_mev or self.beta_plus_emax_mev
        return None if emax is None else float(csda_range_water_mm(emax))

    def gammas(self, min_yield: float = 0.01) -> list[Emission]:
        """γ lines (energy MeV, yield) with yield ≥ ``min_yield``, by energy."""
        return sorted((e, y) for e, y in self.emissions.get("gamma", ()) if y >= min_yield)

    def beta_spectrum(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """ICRP-107 β spectrum (β⁻ and β⁺ summed): energies (MeV), number per MeV per decay."""
        if not self._spectrum:
            return np.zeros(0), np.zeros(0)
        arr = np.asarray(self._spectrum, dtype=float)
        return arr[:, 0], arr[:, 1]

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``sstrkit nuclide NAME --json``."""
        return {
            "name": self.name,
            "z": self.z,
            "a": self.a,
            "half_life_s": self.half_life_s,
            "beta_minus_emax_mev": self.beta_minus_emax_mev,
            "beta_minus_mean_mev": self.beta_minus_mean_mev,
            "beta_plus_emax_mev": self.beta_plus_emax_mev,
            "beta_plus_mean_mev": self.beta_plus_mean_mev,
            "emax_source": self.emax_source,
            "delta_electrons_mev": self.delta_electrons_mev,
            "delta_photons_mev": self.delta_photons_mev,
            "delta_alpha_mev": self.delta_alpha_mev,
            "positron_fraction": self.positron_fraction,
            "csda_range_water_mm": self.csda_range_water_mm,
            "gammas": [
                {"energy_kev": round(e * KEV_PER_MEV, 6), "yield": y} for e, y in self.gammas(0.01)
            ],
            "data_source": self.data_source,
        }


_NAME_RE = re.compile(r"^\s*([a-z]{1,2})[\s\-_]*(\d{1,3})(m\d?)?\s*$", re.IGNORECASE)
_NAME_RE_MASS_FIRST = re.compile(r"^\s*(\d{1,3})(m\d?)?[\s\-_]*([a-z]{1,2})\s*$", re.IGNORECASE)


def normalise_name(name: str) -> str:
    """Canonical ICRP-107 file name: ``"177Lu"`` → ``"Lu-177"``, ``"tc99m"`` → ``"Tc-99m"``.

    >>> normalise_name("177mLu"), normalise_name("ga68"), normalise_name("Y-90")
    ('Lu-177m', 'Ga-68', 'Y-90')
    """
    m = _NAME_RE.match(name)
    if m:
        sym, mass, meta = m.group(1), m.group(2), m.group(3) or ""
    else:
        m2 = _NAME_RE_MASS_FIRST.match(name)
        if not m2:
            return name.strip()
        mass, meta, sym = m2.group(1), m2.group(2) or "", m2.group(3)
    return f"{sym[0].upper()}{sym[1:].lower()}-{int(mass)}{meta.lower()}"


@cache
def available_nuclides() -> tuple[str, ...]:
    """All nuclide names in the ICRP-107 database, sorted."""
    return tuple(sorted(p.stem for p in _ICRP_DIR.glob("*.json")))


def _unknown(name: str) -> UnknownNuclideError:
    close = difflib.get_close_matches(normalise_name(name), available_nuclides(), n=4, cutoff=0.5)
    return UnknownNuclideError(
        "nuclide",
        expected="an ICRP-107 radionuclide name such as 'Lu-177'",
        actual=repr(name),
        fix=("did you mean " + ", ".join(close) + "?") if close else "check the spelling",
    )


@lru_cache(maxsize=256)
def get_nuclide(name: str) -> Nuclide:
    """Load one radionuclide from ICRP 107 (cached).

    Raises
    ------
    UnknownNuclideError
        If the name is not in ICRP 107; the message suggests close names.
    """
    canonical = normalise_name(name)
    path = _ICRP_DIR / f"{canonical}.json"
    if not path.is_file():
        raise _unknown(name)
    with path.open("rb") as fh:
        raw = json.load(fh)
    data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else raw
    half_life_s = to_unit(float(data["half_life"]), _ICRP_TIME_UNITS[data["time_unit"]], "time")
    emissions = {
        kind: tuple((float(e), float(y)) for e, y in rows)
        for kind, rows in data["emissions"].items()
        if kind != "b-spectra" and rows
    }
    spectrum = tuple((float(e), float(d)) for e, d in data["emissions"].get("b-spectra", []))
    element = re.match(r"[A-Za-z]+", canonical)
    z = _Z[element.group(0).lower()] if element else 0
    a = int(re.search(r"\d+", canonical).group(0))  # type: ignore[union-attr]
    bm_emax, bp_emax, source = _endpoints(emissions, spectrum, z, a)
    return Nuclide(
        name=canonical,
        z=z,
        a=a,
        half_life_s=half_life_s,
        emissions=MappingProxyType(emissions),
        beta_minus_emax_mev=bm_emax,
        beta_plus_emax_mev=bp_emax,
        emax_source=source,
        _spectrum=spectrum,
    )


def _endpoints(
    emissions: dict[str, tuple[Emission, ...]],
    spectrum: tuple[tuple[float, float], ...],
    z: int,
    a: int,
) -> tuple[float | None, float | None, str | None]:
    minus, plus = emissions.get("beta-", ()), emissions.get("beta+", ())
    spectrum_end = max((e for e, _ in spectrum), default=None)
    if not minus and not plus:
        return None, None, None
    derived_m = max((endpoint_from_mean(e, z + 1, a, -1) for e, _ in minus), default=None)
    derived_p = max((endpoint_from_mean(e, z - 1, a, +1) for e, _ in plus), default=None)
    if spectrum_end is None:
        return derived_m, derived_p, "allowed-shape inversion of ICRP-107 mean energies"
    if not plus:
        return spectrum_end, None, "end of ICRP-107 beta spectrum"
    if not minus:
        return None, spectrum_end, "end of ICRP-107 beta spectrum"
    # Both types: pin the larger derived end point to the spectrum's end.
    if (derived_m or 0.0) >= (derived_p or 0.0):
        derived_m = spectrum_end
    else:
        derived_p = spectrum_end
    return (
        derived_m,
        derived_p,
        "highest end point from the ICRP-107 spectrum, the other by allowed-shape inversion",
    )
