"""Linear-quadratic radiobiology for radionuclide therapy: BED, EQD2, cycles, EBRT.

For a dose-rate pattern Ḋ(t) delivering the absorbed dose D, the biologically
effective dose with incomplete repair during delivery is (Dale 1985; Dale 1996)

    BED = D · (1 + G·D / (α/β)),
    G   = (2/D²) ∫₀^∞ Ḋ(t) ∫₀^t Ḋ(w) e^(−μ(t−w)) dw dt,    μ = ln 2 / T_rep,

G being the Lea–Catcheside factor (1 for an instantaneous dose, → 0 for very
protracted delivery). For a sum of exponentials Ḋ(t) = Σᵢ cᵢ e^(−λᵢ t) the
double integral is analytic (derived by integrating the inner integral first):

    ∫∫ = Σᵢ Σⱼ cᵢ cⱼ / ((λᵢ + λⱼ)(λᵢ + μ)),

which gives

* mono-exponential Ḋ₀ e^(−λt):            G = λ / (λ + μ);
* uptake + clearance Ḋ₀ (e^(−λc t) − e^(−λu t)), λu > λc (Baechler et al.
  2008, Med Phys 35:1123, for the bi-exponential case).

Cycles are independent: repair is complete between cycles, so BEDs add.
EQD2 = BED / (1 + 2/(α/β)). External-beam radiotherapy in n fractions of d Gy
has BED = n·d·(1 + d/(α/β)); PRRT and EBRT are combined by summing EQD2 (same
α/β). Tissue parameters come from the table ``data/radiobiology.toml`` (with
sources) and can be overridden.

Examples
--------
>>> round(g_factor(t_eff_s=50 * 3600, t_repair_s=2.8 * 3600), 10)  # λ/(λ+μ) = 2.8/52.8
0.0530303030
>>> round(bed(20.0, alpha_beta_gy=2.6, t_repair_s=2.8 * 3600, t_eff_s=50 * 3600), 4)
28.1585
>>> round(eqd2(28.1585, 2.6), 3)
15.916

:func:`bed_from_g` is the one place the BED expression is written: :func:`bed`,
:func:`bed_cycles`, :func:`ebrt_bed`, the planning limits
(:mod:`sstrkit.therapy.planning`) and the voxel BED maps
(:func:`sstrkit.therapy.voxel_dose.bed_map`) all call it; :func:`g_mono_exponential`
is the one mono-exponential G, :func:`lea_catcheside_g` the sum-of-exponentials G.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final, overload

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError

__all__ = [
    "BedResult",
    "CombinedEqd2",
    "CycleBed",
    "TissueParameters",
    "bed",
    "bed_cycles",
    "bed_from_g",
    "combine_with_ebrt",
    "dose_for_bed",
    "ebrt_bed",
    "eqd2",
    "g_factor",
    "g_mono_exponential",
    "lea_catcheside_g",
    "repair_rate_per_s",
    "tissue_parameters",
    "tissue_table",
]

_LN2: Final = math.log(2.0)
DALE_1985: Final = "Dale RG. Br J Radiol 1985;58:515-528 (LQ model, protracted irradiation)"
DALE_1996: Final = "Dale RG. Phys Med Biol 1996;41:1871-1884 (dose-rate effects in targeted RT)"
BAECHLER_2008: Final = "Baechler S et al. Med Phys 2008;35:1123-1134 (BED in the MIRD schema)"


def _pos(name: str, value: float, unit: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        raise InvalidInputError(
            name, expected=f"a finite value {'≥' if allow_zero else '>'} 0 {unit}", actual=value
        )
    return v


FloatArray = NDArray[np.float64]


# ----------------------------------------------------------------- the formulas


def repair_rate_per_s(t_repair_s: float) -> float:
    """Repair rate μ = ln 2 / T_rep (s⁻¹) of the repair half-time ``t_repair_s`` (s).

    >>> repair_rate_per_s(2.0 * math.log(2.0))
    0.5
    """
    return _LN2 / _pos("repair half-time", t_repair_s, "s")


@overload
def g_mono_exponential(lambda_per_s: float, mu_per_s: float) -> float: ...
@overload
def g_mono_exponential(lambda_per_s: FloatArray, mu_per_s: float) -> FloatArray: ...
def g_mono_exponential(lambda_per_s: float | FloatArray, mu_per_s: float) -> float | FloatArray:
    """Lea–Catcheside G = λ/(λ + μ) of a mono-exponential dose rate Ḋ₀·e^(−λt) (Dale 1985).

    ``lambda_per_s`` is the effective decay constant of the dose rate (s⁻¹), a number or
    a numpy array (a voxel map); ``mu_per_s`` the repair rate (:func:`repair_rate_per_s`).
    No input checks: λ > 0 and μ > 0 are the caller's (:func:`g_factor` checks its
    half-lives, :func:`sstrkit.therapy.voxel_dose.bed_map` its decay-constant map).

    >>> g_mono_exponential(0.1, 0.3)    # 0.1 / 0.4
    0.25
    >>> g_mono_exponential(np.array([0.1, 0.3]), 0.3).tolist()
    [0.25, 0.5]
    """
    return lambda_per_s / (lambda_per_s + mu_per_s)


@overload
def bed_from_g(dose_gy: float, g: float, alpha_beta_gy: float) -> float: ...
@overload
def bed_from_g(dose_gy: FloatArray, g: float | FloatArray, alpha_beta_gy: float) -> FloatArray: ...
def bed_from_g(
    dose_gy: float | FloatArray, g: float | FloatArray, alpha_beta_gy: float
) -> float | FloatArray:
    """BED = D·(1 + G·D/(α/β)) in Gy (Dale 1985): the one place the expression is written.

    ``dose_gy`` is the absorbed dose D of one delivery (Gy), ``g`` its Lea–Catcheside
    factor (1 for an acute dose or one EBRT fraction, :func:`g_factor`,
    :func:`g_mono_exponential` or :func:`lea_catcheside_g` otherwise), ``alpha_beta_gy``
    the tissue's α/β (Gy). Vectorised: D and G may be numpy arrays (voxel maps). Only α/β
    is checked (> 0, else :class:`InvalidInputError`); D ≥ 0 and 0 ≤ G ≤ 1 are the
    caller's (:func:`bed` checks D).

    >>> bed_from_g(20.0, 0.25, 2.5)    # 20·(1 + 0.25·20/2.5) = 20·3
    60.0
    >>> bed_from_g(np.array([0.0, 2.0]), 1.0, 2.0).tolist()    # acute: 2·(1 + 2/2) = 4
    [0.0, 4.0]
    """
    ab = _pos("α/β", alpha_beta_gy, "Gy")
    return dose_gy * (1.0 + g * dose_gy / ab)


# ----------------------------------------------------------------- Lea–Catcheside


def lea_catcheside_g(
    coefficients: Sequence[float], rates_per_s: Sequence[float], mu_per_s: float
) -> float:
    """G for Ḋ(t) = Σ cᵢ e^(−λᵢ t) (cᵢ may be negative, Ḋ must be ≥ 0 and D > 0).

    >>> lea_catcheside_g([1.0], [0.1], 0.3)   # λ/(λ+μ)
    0.25
    """
    if len(coefficients) != len(rates_per_s) or not coefficients:
        raise InvalidInputError(
            "dose-rate terms",
            expected="one rate per coefficient (≥ 1 term)",
            actual=(len(coefficients), len(rates_per_s)),
        )
    lam = [_pos("dose-rate decay constant", r, "s⁻¹") for r in rates_per_s]
    mu = _pos("repair rate μ", mu_per_s, "s⁻¹")
    c = [float(x) for x in coefficients]
    dose = sum(ci / li for ci, li in zip(c, lam, strict=True))
    if not dose > 0:
        raise InvalidInputError(
            "dose-rate pattern", expected="a positive total dose ∫Ḋ dt", actual=dose
        )
    double = 0.0
    for ci, li in zip(c, lam, strict=True):
        for cj, lj in zip(c, lam, strict=True):
            double += ci * cj / ((li + lj) * (li + mu))
    return 2.0 * double / dose**2


def g_factor(t_eff_s: float, t_repair_s: float, t_uptake_s: float | None = None) -> float:
    """Lea–Catcheside G of a mono-exponential (or uptake + clearance) dose rate.

    Parameters
    ----------
    t_eff_s
        Effective (clearance) half-life of the dose rate, s.
    t_repair_s
        Repair half-time, s.
    t_uptake_s
        Half-time of the uptake exponential: Ḋ ∝ e^(−λc t) − e^(−λu t),
        λu = ln 2 / t_uptake_s; must be shorter than ``t_eff_s``.
    """
    lc = _LN2 / _pos("effective half-life", t_eff_s, "s")
    mu = repair_rate_per_s(t_repair_s)
    if t_uptake_s is None:
        return g_mono_exponential(lc, mu)
    tu = _pos("uptake half-time", t_uptake_s, "s")
    if tu >= t_eff_s:
        raise InvalidInputError(
            "uptake half-time",
            expected=(
                "shorter than the effective (clearance) half-life "
                f"{t_eff_s / SECONDS_PER_HOUR:.4g} h"
            ),
            actual=f"{tu / SECONDS_PER_HOUR:.4g} h",
            fix="the uptake phase must be faster than the clearance phase",
        )
    return lea_catcheside_g([1.0, -1.0], [lc, _LN2 / tu], mu)


def bed(
    dose_gy: float,
    *,
    alpha_beta_gy: float,
    t_repair_s: float,
    t_eff_s: float,
    t_uptake_s: float | None = None,
) -> float:
    """BED (Gy) of one exponential delivery of ``dose_gy``."""
    d = _pos("absorbed dose", dose_gy, "Gy", allow_zero=True)
    ab = _pos("α/β", alpha_beta_gy, "Gy")
    g = g_factor(t_eff_s, t_repair_s, t_uptake_s)
    return bed_from_g(d, g, ab)


def eqd2(bed_gy: float, alpha_beta_gy: float) -> float:
    """Equivalent dose in 2-Gy fractions: BED / (1 + 2/(α/β))."""
    b = _pos("BED", bed_gy, "Gy", allow_zero=True)
    ab = _pos("α/β", alpha_beta_gy, "Gy")
    return b / (1.0 + 2.0 / ab)


def dose_for_bed(bed_gy: float, *, alpha_beta_gy: float, g: float) -> float:
    """Absorbed dose D with D + G·D²/(α/β) = ``bed_gy`` (inverse of :func:`bed`).

    >>> round(dose_for_bed(28.1585, alpha_beta_gy=2.6, g=2.8 / 52.8), 4)
    20.0
    """
    b = _pos("BED", bed_gy, "Gy", allow_zero=True)
    ab = _pos("α/β", alpha_beta_gy, "Gy")
    gg = _pos("G factor", g, "", allow_zero=True)
    if gg == 0:
        return b
    k = gg / ab
    return (math.sqrt(1.0 + 4.0 * k * b) - 1.0) / (2.0 * k)


def ebrt_bed(dose_per_fraction_gy: float, n_fractions: int, alpha_beta_gy: float) -> float:
    """BED of fractionated external-beam RT with complete repair between fractions.

    >>> ebrt_bed(2.0, 25, 10.0)
    60.0
    """
    d = _pos("EBRT dose per fraction", dose_per_fraction_gy, "Gy", allow_zero=True)
    if int(n_fractions) != n_fractions or n_fractions < 0:
        raise InvalidInputError("EBRT fractions", expected="an integer ≥ 0", actual=n_fractions)
    ab = _pos("α/β", alpha_beta_gy, "Gy")
    return n_fractions * bed_from_g(d, 1.0, ab)  # complete repair between fractions: G = 1


# ------------------------------------------------------------------- table


@dataclass(frozen=True)
class TissueParameters:
    """LQ parameters of a tissue with their sources."""

    name: str
    alpha_beta_gy: float
    t_repair_s: float
    basis: str
    sources: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alpha_beta_gy": self.alpha_beta_gy,
            "t_repair_h": self.t_repair_s / SECONDS_PER_HOUR,
            "basis": self.basis,
            "sources": list(self.sources),
            "note": self.note,
        }


@cache
def tissue_table() -> Mapping[str, TissueParameters]:
    """The packaged tissue table (``data/radiobiology.toml``)."""
    text = resources.files("sstrkit.therapy").joinpath("data/radiobiology.toml").read_text("utf-8")
    data = tomllib.loads(text)
    out: dict[str, TissueParameters] = {}
    for name, entry in data["tissues"].items():
        out[name] = TissueParameters(
            name,
            _pos(f"α/β of {name}", entry["alpha_beta_gy"], "Gy"),
            _pos(f"repair half-time of {name}", entry["t_repair_h"], "h") * SECONDS_PER_HOUR,
            str(entry["basis"]),
            tuple(str(s) for s in entry["sources"]),
            str(entry.get("note", "")),
        )
    return out


def tissue_parameters(
    name: str, *, alpha_beta_gy: float | None = None, t_repair_s: float | None = None
) -> TissueParameters:
    """Tabulated parameters of ``name``, optionally overridden by the user.

    >>> tissue_parameters("kidney").alpha_beta_gy
    2.6
    >>> tissue_parameters("kidney", alpha_beta_gy=3.0).basis
    'user override'
    """
    table = tissue_table()
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = {"kidneys": "kidney", "tumor": "tumour", "marrow": "red_marrow"}.get(key, key)
    if key not in table:
        raise InvalidInputError(
            "tissue",
            expected=f"one of {sorted(table)}",
            actual=name,
            fix="give alpha_beta_gy and t_repair_s explicitly for other tissues",
        )
    base = table[key]
    if alpha_beta_gy is None and t_repair_s is None:
        return base
    return TissueParameters(
        base.name,
        base.alpha_beta_gy if alpha_beta_gy is None else _pos("α/β", alpha_beta_gy, "Gy"),
        base.t_repair_s if t_repair_s is None else _pos("repair half-time", t_repair_s, "s"),
        "user override",
        base.sources,
        f"overridden by the user (table: α/β {base.alpha_beta_gy} Gy, "
        f"T_rep {base.t_repair_s / SECONDS_PER_HOUR:g} h)",
    )


# ------------------------------------------------------------------- cycles


@dataclass(frozen=True)
class CycleBed:
    """One cycle's absorbed dose, G factor, BED and EQD2."""

    cycle: int
    dose_gy: float
    g_factor: float
    bed_gy: float
    eqd2_gy: float
    t_eff_s: float
    t_uptake_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "dose_gy": self.dose_gy,
            "g_factor": self.g_factor,
            "bed_gy": self.bed_gy,
            "eqd2_gy": self.eqd2_gy,
            "t_eff_h": self.t_eff_s / SECONDS_PER_HOUR,
            "t_uptake_h": None if self.t_uptake_s is None else self.t_uptake_s / SECONDS_PER_HOUR,
        }


@dataclass(frozen=True)
class BedResult:
    """Cumulative BED/EQD2 over cycles (complete repair between cycles)."""

    bed_gy: float
    eqd2_gy: float
    dose_gy: float
    alpha_beta_gy: float
    t_repair_s: float
    per_cycle: tuple[CycleBed, ...]
    provenance: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "bed_gy": self.bed_gy,
            "eqd2_gy": self.eqd2_gy,
            "dose_gy": self.dose_gy,
            "alpha_beta_gy": self.alpha_beta_gy,
            "t_repair_h": self.t_repair_s / SECONDS_PER_HOUR,
            "per_cycle": [c.to_dict() for c in self.per_cycle],
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _per_cycle(value: float | Sequence[float] | None, n: int, what: str) -> list[float | None]:
    if value is None or isinstance(value, int | float):
        return [None if value is None else float(value)] * n
    vals = [float(v) for v in value]
    if len(vals) != n:
        raise InvalidInputError(
            what, expected=f"one value or one per cycle ({n})", actual=len(vals)
        )
    return list(vals)


def bed_cycles(
    doses_gy: Sequence[float],
    *,
    alpha_beta_gy: float,
    t_repair_s: float,
    t_eff_s: float | Sequence[float],
    t_uptake_s: float | Sequence[float] | None = None,
    tissue: str = "",
) -> BedResult:
    """BED and EQD2 summed over cycles, one absorbed dose per cycle.

    Examples
    --------
    >>> r = bed_cycles([5.0, 5.0], alpha_beta_gy=2.6, t_repair_s=2.8 * 3600,
    ...                t_eff_s=50 * 3600)
    >>> round(r.bed_gy, 6) == round(2 * bed(5.0, alpha_beta_gy=2.6, t_repair_s=2.8 * 3600,
    ...                                     t_eff_s=50 * 3600), 6)
    True
    """
    if not doses_gy:
        raise InvalidInputError("doses", expected="at least one cycle dose", actual=[])
    n = len(doses_gy)
    teffs = _per_cycle(t_eff_s, n, "effective half-lives")
    tups = _per_cycle(t_uptake_s, n, "uptake half-times")
    ab = _pos("α/β", alpha_beta_gy, "Gy")
    cycles: list[CycleBed] = []
    for i, (d, te, tu) in enumerate(zip(doses_gy, teffs, tups, strict=True)):
        assert te is not None
        dd = _pos(f"absorbed dose of cycle {i + 1}", d, "Gy", allow_zero=True)
        g = g_factor(te, t_repair_s, tu)
        b = bed_from_g(dd, g, ab)
        cycles.append(CycleBed(i + 1, dd, g, b, eqd2(b, ab), te, tu))
    total = sum(c.bed_gy for c in cycles)
    step = Step.make(
        "bed_lq_lea_catcheside",
        {
            "tissue": tissue,
            "alpha_beta_gy": ab,
            "t_repair_s": t_repair_s,
            "t_eff_s": teffs,
            "t_uptake_s": tups,
            "doses_gy": [c.dose_gy for c in cycles],
            "between_cycles": "complete repair (BEDs add)",
        },
        sources=(DALE_1985, DALE_1996, BAECHLER_2008),
    )
    return BedResult(
        total,
        eqd2(total, ab),
        sum(c.dose_gy for c in cycles),
        ab,
        t_repair_s,
        tuple(cycles),
        (step,),
    )


@dataclass(frozen=True)
class CombinedEqd2:
    """PRRT and external-beam contributions summed in EQD2 (same α/β)."""

    prrt_eqd2_gy: float
    ebrt_eqd2_gy: float
    total_eqd2_gy: float
    total_bed_gy: float
    alpha_beta_gy: float
    provenance: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "prrt_eqd2_gy": self.prrt_eqd2_gy,
            "ebrt_eqd2_gy": self.ebrt_eqd2_gy,
            "total_eqd2_gy": self.total_eqd2_gy,
            "total_bed_gy": self.total_bed_gy,
            "alpha_beta_gy": self.alpha_beta_gy,
            "provenance": [s.to_dict() for s in self.provenance],
        }


def combine_with_ebrt(
    prrt: BedResult, *, ebrt_dose_per_fraction_gy: float, ebrt_fractions: int
) -> CombinedEqd2:
    """Sum a PRRT course and an EBRT course in EQD2 (the review's dual therapy).

    >>> p = bed_cycles([10.0], alpha_beta_gy=10.0, t_repair_s=1.5 * 3600, t_eff_s=80 * 3600)
    >>> c = combine_with_ebrt(p, ebrt_dose_per_fraction_gy=2.0, ebrt_fractions=20)
    >>> round(c.ebrt_eqd2_gy, 6)
    40.0
    """
    ab = prrt.alpha_beta_gy
    b_ebrt = ebrt_bed(ebrt_dose_per_fraction_gy, ebrt_fractions, ab)
    e_ebrt = eqd2(b_ebrt, ab)
    step = Step.make(
        "eqd2_prrt_plus_ebrt",
        {
            "alpha_beta_gy": ab,
            "ebrt_dose_per_fraction_gy": ebrt_dose_per_fraction_gy,
            "ebrt_fractions": ebrt_fractions,
            "prrt_bed_gy": prrt.bed_gy,
        },
        sources=(DALE_1985,),
    )
    return CombinedEqd2(
        prrt.eqd2_gy,
        e_ebrt,
        prrt.eqd2_gy + e_ebrt,
        prrt.bed_gy + b_ebrt,
        ab,
        (*prrt.provenance, step),
    )
