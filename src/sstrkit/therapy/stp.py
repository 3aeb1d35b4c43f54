"""Single-time-point (STP) estimates of the time-integrated activity.

Both methods assume that, from administration on, the region's activity
follows one exponential A(t) = A(t₁)·exp(−λ_eff (t − t₁)), so that

    TIA = A(t₁) · exp(λ_eff t₁) / λ_eff = A(t₁) · T/ln 2 · 2^(t₁/T).

* **Madsen et al. 2018** (Med Phys 45:2318, "Technical note: single time point
  dose estimate for exponential clearance") use a *population* effective
  half-life T for the region and tracer. Assumptions: mono-exponential
  clearance over the whole integration (uptake phase neglected), the patient's
  T equals the population value. The error grows with the spread of T in the
  population; it is least sensitive to T at t₁ = T/ln 2 ≈ 1.44·T, where
  dTIA/dT = A(t₁)·2^(t₁/T)·(1 − t₁·ln 2/T)/ln 2 vanishes.
* **Hänscheid et al. 2018** (J Nucl Med 59:75, "Dose mapping after
  endoradiotherapy with 177Lu-DOTATATE/DOTATOC by a single measurement after
  4 days") set T = t₁, giving TIA ≈ 2·t₁·A(t₁)/ln 2 (equally D ≈ 2·t₁·Ḋ(t₁)/ln 2)
  without any kinetic input. Assumptions: mono-exponential clearance and a
  measurement time close to the effective half-life (≈ 4 d for
  177Lu-DOTATATE kidneys and tumours). The relative error for a true
  half-life T is :func:`hanscheid_ratio` − 1 (exact for T = t₁ and T = t₁/2;
  largest underestimate for long T).

Activities are not decay corrected (λ_eff includes physical decay).

Examples
--------
>>> import math
>>> t1 = 96 * 3600.0
>>> hanscheid_tia(1e6, t1) == 2 * t1 * 1e6 / math.log(2)
True
>>> round(madsen_tia(1e6, t1, t_eff_s=t1) / hanscheid_tia(1e6, t1), 12)
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.physics.decay import HalfLife, half_life_of

__all__ = [
    "StpResult",
    "hanscheid_ratio",
    "hanscheid_tia",
    "madsen_tia",
    "single_time_point",
]

_LN2: Final = math.log(2.0)
HANSCHEID_2018: Final = (
    "Hänscheid H, Lapa C, Buck AK, Lassmann M, Werner RA. J Nucl Med 2018;59:75-81"
)
MADSEN_2018: Final = "Madsen MT, Menda Y, O'Dorisio TM, O'Dorisio MS. Med Phys 2018;45:2318-2324"


def _check(activity_bq: float, t_s: float) -> None:
    if not (math.isfinite(activity_bq) and activity_bq >= 0):
        raise InvalidInputError("activity", expected="a finite value ≥ 0 Bq", actual=activity_bq)
    if not (math.isfinite(t_s) and t_s > 0):
        raise InvalidInputError(
            "measurement time",
            expected="a finite time > 0 s after administration",
            actual=t_s,
            fix="give the time of the single measurement after administration",
        )


def hanscheid_tia(activity_bq: float, t_s: float) -> float:
    """Hänscheid 2018: TIA ≈ 2·t·A(t)/ln 2 (Bq·s)."""
    _check(activity_bq, t_s)
    return 2.0 * t_s * activity_bq / _LN2


def madsen_tia(activity_bq: float, t_s: float, *, t_eff_s: float) -> float:
    """Madsen 2018: TIA = A(t)·exp(λt)/λ with λ = ln 2 / population T_eff (Bq·s)."""
    _check(activity_bq, t_s)
    if not (math.isfinite(t_eff_s) and t_eff_s > 0):
        raise InvalidInputError("population effective half-life", expected="> 0 s", actual=t_eff_s)
    lam = _LN2 / t_eff_s
    return activity_bq * math.exp(lam * t_s) / lam


def hanscheid_ratio(t_s: float, true_t_eff_s: float) -> float:
    """Hänscheid estimate ÷ true TIA for mono-exponential kinetics with ``true_t_eff_s``.

    ratio = 2·t / (T·2^(t/T)); it is 1 at T = t and T = t/2.

    >>> round(hanscheid_ratio(96.0, 96.0), 12), round(hanscheid_ratio(96.0, 48.0), 12)
    (1.0, 1.0)
    """
    _check(1.0, t_s)
    if not (math.isfinite(true_t_eff_s) and true_t_eff_s > 0):
        raise InvalidInputError("effective half-life", expected="> 0 s", actual=true_t_eff_s)
    return 2.0 * t_s / (true_t_eff_s * math.pow(2.0, t_s / true_t_eff_s))


@dataclass(frozen=True)
class StpResult:
    """Single-time-point TIA (Bq·s) with its method, assumptions and provenance."""

    method: str
    tia_bq_s: float
    tia_sd_bq_s: float | None
    t_eff_s: float
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    provenance: tuple[Step, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": f"stp_{self.method}",
            "t_eff_h": self.t_eff_s / SECONDS_PER_HOUR,
            "tia_mbq_h": self.tia_bq_s / 3.6e9,
            "tia_sd_mbq_h": None if self.tia_sd_bq_s is None else self.tia_sd_bq_s / 3.6e9,
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
            "provenance": [s.to_dict() for s in self.provenance],
        }


def single_time_point(
    activity_bq: float,
    t_s: float,
    *,
    method: Literal["hanscheid", "madsen"],
    half_life: HalfLife,
    population_t_eff_s: float | None = None,
    population_t_eff_sd_s: float | None = None,
    region: str = "region",
) -> StpResult:
    """TIA from one measurement, by Hänscheid 2018 or Madsen 2018.

    Parameters
    ----------
    activity_bq, t_s
        Activity (not decay corrected) measured ``t_s`` seconds after administration.
    method
        ``"hanscheid"`` (T = t) or ``"madsen"`` (population T).
    half_life
        Physical half-life (s or nuclide). An effective half-life longer than
        physical is not possible: for Madsen it is an error; for Hänscheid,
        whose implied T = t exceeds the physical half-life, a warning.
    population_t_eff_s, population_t_eff_sd_s
        Madsen's population effective half-life and (optionally) its SD,
        propagated to the TIA by the derivative dTIA/dT.

    Examples
    --------
    >>> r = single_time_point(2e6, 96 * 3600.0, method="madsen", half_life=6.647 * 86400,
    ...                       population_t_eff_s=50 * 3600.0, population_t_eff_sd_s=5 * 3600.0)
    >>> r.method, r.tia_sd_bq_s is not None
    ('madsen', True)
    """
    hl = half_life_of(half_life)
    warnings: list[str] = []
    if method == "hanscheid":
        tia = hanscheid_tia(activity_bq, t_s)
        t_eff = t_s
        sd: float | None = None
        assumptions = (
            "mono-exponential clearance from administration on (uptake phase neglected)",
            "effective half-life close to the measurement time (T = t); ratio to the true "
            "TIA is 2t/(T·2^(t/T)) for a true half-life T",
        )
        if t_s > hl:
            warnings.append(
                "measurement later than one physical half-life: the implied effective "
                "half-life T = t is longer than physical decay allows; the estimate is biased high"
            )
        source = HANSCHEID_2018
        params: dict[str, Any] = {"t_s": t_s}
    elif method == "madsen":
        if population_t_eff_s is None:
            raise InvalidInputError(
                "population effective half-life",
                expected="a value for method 'madsen'",
                actual=None,
                fix="pass population_t_eff_s (e.g. from published kinetics of the tracer/organ)",
            )
        if population_t_eff_s > hl * (1 + 1e-9):
            raise InvalidInputError(
                "population effective half-life",
                expected=f"≤ the physical half-life ({hl / SECONDS_PER_HOUR:.4g} h)",
                actual=f"{population_t_eff_s / SECONDS_PER_HOUR:.4g} h",
                fix="activities are not decay corrected, so T_eff cannot exceed physical decay",
            )
        tia = madsen_tia(activity_bq, t_s, t_eff_s=population_t_eff_s)
        t_eff = population_t_eff_s
        sd = None
        if population_t_eff_sd_s is not None:
            if not (math.isfinite(population_t_eff_sd_s) and population_t_eff_sd_s >= 0):
                raise InvalidInputError(
                    "population T_eff SD",
                    expected="a finite value ≥ 0 s",
                    actual=population_t_eff_sd_s,
                )
            big_t = population_t_eff_s
            dtia_dt = activity_bq / _LN2 * math.pow(2.0, t_s / big_t) * (1.0 - t_s * _LN2 / big_t)
            sd = abs(dtia_dt) * population_t_eff_sd_s
        assumptions = (
            "mono-exponential clearance from administration on (uptake phase neglected)",
            "patient effective half-life equals the population value",
        )
        source = MADSEN_2018
        params = {
            "t_s": t_s,
            "population_t_eff_s": population_t_eff_s,
            "population_t_eff_sd_s": population_t_eff_sd_s,
        }
    else:
        raise InvalidInputError("STP method", expected="'hanscheid' or 'madsen'", actual=method)
    step = Step.make(f"stp_{method}", params, inputs=(region,), sources=(source,))
    return StpResult(method, tia, sd, t_eff, assumptions, tuple(warnings), (step,))
