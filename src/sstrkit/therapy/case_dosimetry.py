"""Case dosimetry: per-cycle region kinetics and absorbed doses of a case file.

Split out of :mod:`sstrkit.therapy.planning` (which re-exports these names): fits with
reduced time points and kinetics priors, per-cycle MIRD doses (organs, lesions, red
marrow) and the whole case with estimated cycles. Planning (limits, schedule) builds on it.

:func:`case_dosimetry_result` gives the typed :class:`CaseDosimetry` (per cycle a
:class:`CaseCycle` with its :class:`CycleDosimetry`, i.e. the fits and MIRD doses, and
its measured or estimated :class:`CaseRegionDose` rows; the cumulative doses); every
kinetics fit of the case runs once and an earlier result's fits are reused on the same
data. :func:`case_dosimetry` is its JSON form (``to_dict()``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_GBQ, G_PER_KG, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError, SstrkitError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.therapy.case import Administration, Case, RegionData
from sstrkit.therapy.kinetics import ErrorModel, KineticsFit, fit_curve
from sstrkit.therapy.marrow import red_marrow_dose
from sstrkit.therapy.mird import Region, organ_doses

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "CaseCycle",
    "CaseDosimetry",
    "CaseRegionDose",
    "CycleDosimetry",
    "RegionCycleDose",
    "case_dosimetry",
    "case_dosimetry_result",
    "cycle_dosimetry",
    "kinetics_priors",
    "reduced_time_point_fit",
]

H = SECONDS_PER_HOUR

#: What a kinetics fit depends on (case id, administration, nuclide, region or blood,
#: model, CV, prior where used, the time–activity series): equal keys, equal fits.
FitKey = tuple[Any, ...]


@dataclass(frozen=True)
class RegionCycleDose:
    """One region's dosimetry in one cycle."""

    name: str
    kind: str
    tissue: str | None
    fit: KineticsFit
    dose_gy: float
    gy_per_bq: float
    relative_sd: float
    mass_g: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "tissue": self.tissue,
            "mass_g": self.mass_g,
            "model": self.fit.model,
            "t_eff_h": self.fit.t_eff_s / H,
            "tia_mbq_h": self.fit.tia_bq_s / 3.6e9,
            "tia_sd_mbq_h": self.fit.tia_sd_bq_s / 3.6e9,
            "dose_gy": self.dose_gy,
            "dose_gy_per_gbq": self.gy_per_bq * BQ_PER_GBQ,
            "dose_relative_sd": self.relative_sd,
            "warnings": list(self.fit.warnings),
        }


@dataclass(frozen=True)
class CycleDosimetry:
    """Doses of one administration with imaging."""

    administration: Administration
    regions: Mapping[str, RegionCycleDose]

    def to_dict(self) -> dict[str, Any]:
        return {
            "administration": self.administration.id,
            "cycle": self.administration.cycle,
            "nuclide": self.administration.nuclide,
            "activity_mbq": self.administration.activity_mbq,
            "regions": [r.to_dict() for r in self.regions.values()],
        }


@dataclass(frozen=True)
class CaseRegionDose:
    """One region's row of one cycle of a case: measured, or estimated from another cycle.

    ``dose`` is the measured :class:`RegionCycleDose` (of this cycle, or for an
    estimate of cycle ``estimated_from_cycle``, whose dose per activity × this cycle's
    activity gives ``dose_gy``; ``activity_scale`` = this activity / that cycle's scales
    its TIA). ``status``: ``measured``, ``estimated`` or, set by the pipeline,
    ``reduced_timepoints``; ``density`` (g/mL, its source): the CT density behind the
    mass, where the pipeline measured it.
    """

    dose: RegionCycleDose
    dose_gy: float
    status: str = "measured"
    estimated_from_cycle: int | None = None
    activity_scale: float = 1.0
    note: str | None = None  # why and how it is estimated
    density: tuple[float, str] | None = None

    @property
    def name(self) -> str:
        return self.dose.name

    @property
    def kind(self) -> str:
        return self.dose.kind

    @property
    def fit(self) -> KineticsFit:
        """The kinetics behind the dose (for an estimate: the source cycle's)."""
        return self.dose.fit

    @property
    def model(self) -> str:
        """The fitted model, or ``estimated from cycle N``."""
        if self.estimated_from_cycle is not None:
            return f"estimated from cycle {self.estimated_from_cycle}"
        return self.dose.fit.model

    @property
    def tia_bq_s(self) -> float:
        """Time-integrated activity of this cycle (Bq·s; an estimate scaled by activity)."""
        return self.dose.fit.tia_bq_s * self.activity_scale

    def to_dict(self) -> dict[str, Any]:
        d = self.dose.to_dict()
        if self.estimated_from_cycle is not None:
            d.update(
                model=self.model,
                tia_mbq_h=self.dose.fit.tia_bq_s * self.activity_scale / 3.6e9,
                tia_sd_mbq_h=self.dose.fit.tia_sd_bq_s * self.activity_scale / 3.6e9,
                dose_gy=self.dose_gy,
                warnings=[self.note] if self.note is not None else [],
            )
        d["status"] = self.status
        if self.estimated_from_cycle is not None:
            d["estimated_from_cycle"] = self.estimated_from_cycle
        if self.density is not None:
            d["density_g_ml"], d["density_source"] = self.density
        return d


@dataclass(frozen=True)
class CaseCycle:
    """One administration of a case: its measured dosimetry (None without data) and rows.

    ``status``: ``measured`` (imaging data), ``estimated`` (only estimated rows, or the
    marrow alone), ``no_data``; the pipeline sets ``reduced_timepoints``.
    """

    administration: Administration
    dosimetry: CycleDosimetry | None
    regions: tuple[CaseRegionDose, ...]
    status: str
    estimated_from_cycle: int | None = None  # the nearest source of its estimated rows

    @property
    def cycle(self) -> int:
        return self.administration.cycle

    def region(self, name: str) -> CaseRegionDose | None:
        return next((r for r in self.regions if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        a = self.administration
        entry: dict[str, Any] = {
            "administration": a.id,
            "cycle": a.cycle,
            "nuclide": a.nuclide,
            "activity_mbq": a.activity_mbq,
            "measured": self.dosimetry is not None,
            "status": self.status,
            "regions": [r.to_dict() for r in self.regions],
        }
        if self.estimated_from_cycle is not None:
            entry["estimated_from_cycle"] = self.estimated_from_cycle
        return entry


@dataclass(frozen=True)
class CaseDosimetry:
    """Per-cycle and cumulative absorbed doses of a case (:func:`case_dosimetry_result`).

    ``cycles`` by cycle number; ``cumulative_dose_gy`` sums every cycle's rows, estimated
    ones included, and ``cumulative_estimated_gy`` is their estimated part. ``fits``
    holds every kinetics fit under what it depends on, so that a later computation on
    the same data (a sub-case, another MIRD run) reuses them. :meth:`to_dict` is the
    JSON of :func:`case_dosimetry`.
    """

    case_id: str
    cycles: tuple[CaseCycle, ...]
    cumulative_dose_gy: Mapping[str, float]
    cumulative_estimated_gy: Mapping[str, float]
    provenance: tuple[Step, ...] = ()
    fits: Mapping[FitKey, KineticsFit] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )

    @property
    def measured(self) -> tuple[CycleDosimetry, ...]:
        """The cycles with data (their fits and MIRD doses), by cycle."""
        return tuple(c.dosimetry for c in self.cycles if c.dosimetry is not None)

    def cycle(self, cycle: int) -> CaseCycle | None:
        return next((c for c in self.cycles if c.cycle == cycle), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "cycles": [c.to_dict() for c in self.cycles],
            "cumulative_dose_gy": dict(self.cumulative_dose_gy),
            "cumulative_estimated_gy": dict(self.cumulative_estimated_gy),
            "provenance": [s.to_dict() for s in self.provenance],
        }


# --------------------------------------------------------------------- dosimetry


#: Fewer time points than this use the reduced-time-point method (a fit needs ≥ 3).
MIN_FIT_POINTS: Final = 3
#: Relative SD of a previous-cycle effective half-life used for another cycle (model
#: choice: the change of T_eff between cycles of one patient; documented in docs/kinetics.md).
PRIOR_T_EFF_RELATIVE_SD: Final = 0.15
#: Floor of the relative TIA SD of a reduced-time-point estimate.
REDUCED_MIN_RELATIVE_SD: Final = 0.10
#: Times (s) at which Hänscheid's T = t is used without other kinetics: 3 to 5 days, around
#: the effective half-lives of 177Lu-DOTATATE kidneys and tumours (Hänscheid et al. 2018).
HANSCHEID_WINDOW_S: Final = (72 * SECONDS_PER_HOUR, 120 * SECONDS_PER_HOUR)
#: Relative SD stated for the physical-decay upper bound (model choice, documented).
CONSERVATIVE_RELATIVE_SD: Final = 0.30

Prior = tuple[float, str]


def reduced_time_point_fit(
    times_s: Sequence[float],
    activities_bq: Sequence[float],
    half_life_s: float,
    *,
    prior: Prior | None,
    region: str = "region",
) -> KineticsFit:
    """TIA from one or two time points, stated as a mono-exponential through one of them.

    With a prior effective half-life T (the same region's fit in another cycle
    of this patient): Madsen et al. 2018 at the measurement closest to
    T/ln 2 (where the estimate is least sensitive to T), T's relative SD 0.15
    propagated; without one: Hänscheid et al. 2018 (T = t) at the latest
    measurement within 72–120 h, else physical decay from the latest measurement (an upper
    bound, relative SD 0.30). The relative SD is at least 0.10. The result is a ``mono``
    curve A(t) = A₀e^(−λt) through the chosen point (TIA = A₀/λ), so that its
    curve, G factor and TIA agree; the method is in ``warnings`` and provenance.

    >>> f = reduced_time_point_fit([96 * 3600.0], [1e6], 6.647 * 86400, prior=None)
    >>> round(f.tia_bq_s / (2 * 96 * 3600 * 1e6 / math.log(2)), 12), f.model
    (1.0, 'mono')
    """
    from sstrkit.therapy.stp import single_time_point

    t = [float(x) for x in times_s]
    a = [float(x) for x in activities_bq]
    if not t or len(t) != len(a):
        raise InvalidInputError("time points", expected="1 or 2 with activities", actual=len(t))
    if prior is not None:
        big_t = min(prior[0], half_life_s)
        i = min(range(len(t)), key=lambda k: abs(t[k] - big_t / math.log(2)))
        r = single_time_point(
            a[i],
            t[i],
            method="madsen",
            half_life=half_life_s,
            population_t_eff_s=big_t,
            population_t_eff_sd_s=PRIOR_T_EFF_RELATIVE_SD * big_t,
            region=region,
        )
        how = (
            f"reduced time points ({len(t)}): Madsen 2018 single-time-point TIA at "
            f"{t[i] / H:g} h with T_eff {big_t / H:.1f} h from {prior[1]}"
        )
    else:
        window = [
            k for k in range(len(t)) if HANSCHEID_WINDOW_S[0] <= t[k] <= HANSCHEID_WINDOW_S[1]
        ]
        if window:
            i = window[-1]
            r = single_time_point(
                a[i], t[i], method="hanscheid", half_life=half_life_s, region=region
            )
            how = (
                f"reduced time points ({len(t)}): Hänscheid 2018 single-time-point TIA at "
                f"{t[i] / H:g} h (no other cycle with a fit of this region)"
            )
            rel_floor = REDUCED_MIN_RELATIVE_SD
        else:
            # Outside Hänscheid's 3-5 d window T = t is not justified: physical decay from
            # the latest measurement, an upper bound of the TIA (no biological clearance).
            i = len(t) - 1
            r = single_time_point(
                a[i],
                t[i],
                method="madsen",
                half_life=half_life_s,
                population_t_eff_s=half_life_s,
                region=region,
            )
            how = (
                f"reduced time points ({len(t)}), no measurement at 72-120 h and no other "
                f"cycle with a fit of this region: physical decay from {t[i] / H:g} h, a "
                "conservative upper bound of the TIA"
            )
            rel_floor = CONSERVATIVE_RELATIVE_SD
    lam = math.log(2) / r.t_eff_s
    tia = r.tia_bq_s
    sd = max(r.tia_sd_bq_s or 0.0, (REDUCED_MIN_RELATIVE_SD if prior else rel_floor) * tia)
    return KineticsFit(
        "mono",
        MappingProxyType({"a1_bq": tia * lam, "lambda1_per_s": lam}),
        tia,
        sd,
        r.t_eff_s,
        None,
        None,
        tuple(t),
        tuple(a),
        half_life_s,
        warnings=(how, *r.warnings),
        provenance=r.provenance,
    )


class _Fits:
    """The kinetics fits of a case dosimetry, each computed once.

    Fits are kept under their :data:`FitKey`; ``known`` (the fits of an earlier case
    dosimetry, e.g. of the whole case for one of its cycles) are reused where every
    input is the same, so a fit never runs twice and a sub-case never reuses a fit
    whose prior came from a cycle it does not hold (its key differs).
    """

    def __init__(self, known: Mapping[FitKey, KineticsFit] | None = None) -> None:
        self.done: dict[FitKey, KineticsFit] = dict(known or {})

    def get(self, key: FitKey, compute: Callable[[], KineticsFit]) -> KineticsFit:
        fit = self.done.get(key)
        if fit is None:
            fit = self.done[key] = compute()
        return fit


def _fit(
    case: Case,
    name: str,
    admin: Administration,
    model: str | None,
    prior: Prior | None = None,
    fits: _Fits | None = None,
) -> KineticsFit:
    t, a = case.series(name, admin.id)
    settings = case.planning
    chosen = model or settings.kinetics_model
    reduced = len(t) < MIN_FIT_POINTS and chosen == "auto"
    key = (
        "region",
        case.case_id,
        admin.id,
        admin.nuclide,
        name,
        chosen,
        settings.kinetics_cv,
        prior if reduced else None,  # only a reduced-time-point fit uses the prior
        t.tobytes(),
        a.tobytes(),
    )
    cache = fits if fits is not None else _Fits()
    return cache.get(key, lambda: _fit_series(case, name, admin, chosen, prior))


def _fit_series(
    case: Case, name: str, admin: Administration, chosen: str, prior: Prior | None
) -> KineticsFit:
    """The fit of one region's series (``chosen``: the model or ``"auto"``)."""
    t, a = case.series(name, admin.id)
    settings = case.planning
    if len(t) < MIN_FIT_POINTS and chosen == "auto":
        return reduced_time_point_fit(
            t.tolist(), a.tolist(), get_nuclide(admin.nuclide).half_life_s, prior=prior, region=name
        )
    if len(t) == MIN_FIT_POINTS and chosen == "auto":
        # Too few points for any AICc comparison: trapezoid with the tail rate of the last
        # two points (bounded by physical decay), not a physical-decay tail that would
        # overestimate a clearing organ (+60 % for kidneys scanned at 4, 24 and 96 h).
        return fit_curve(
            t,
            a,
            get_nuclide(admin.nuclide),
            model="trapezoid",
            tail="fitted",
            error_model=ErrorModel(cv=settings.kinetics_cv),
            region=f"{case.case_id}:{admin.id}:{name}",
        )
    return fit_curve(
        t,
        a,
        get_nuclide(admin.nuclide),
        model=chosen,  # type: ignore[arg-type]
        error_model=ErrorModel(cv=settings.kinetics_cv),
        region=f"{case.case_id}:{admin.id}:{name}",
    )


def _blood_fit(
    case: Case,
    admin: Administration,
    t: NDArray[np.float64],
    c: NDArray[np.float64],
    model: str,
    fits: _Fits,
) -> KineticsFit:
    """The blood curve's fit (EANM blood method), once per series."""
    cv = case.planning.kinetics_cv
    key = ("blood", case.case_id, admin.id, admin.nuclide, model, cv, t.tobytes(), c.tobytes())
    return fits.get(
        key,
        lambda: fit_curve(
            t,
            c,
            get_nuclide(admin.nuclide),
            model=model,  # type: ignore[arg-type]
            error_model=ErrorModel(cv=cv),
            region=f"{case.case_id}:{admin.id}:blood",
        ),
    )


def kinetics_priors(case: Case) -> dict[tuple[str, int], Prior]:
    """(region, cycle) → effective half-life of the same region in the nearest other cycle
    with a full fit (an earlier cycle preferred), for reduced-time-point cycles."""
    return _kinetics_priors(case, _Fits())


def _kinetics_priors(case: Case, fits: _Fits) -> dict[tuple[str, int], Prior]:
    full: dict[str, dict[int, float]] = {}
    nuclide_of = {a.cycle: a.nuclide for a in case.administrations}
    for r in case.regions:
        n = len(r.times_h if r.times_h is not None else r.datetimes or [])
        if n < MIN_FIT_POINTS:
            continue
        admin = case.administration(r.administration)
        try:
            f = _fit(case, r.name, admin, r.kinetics_model, fits=fits)
        except SstrkitError:
            continue
        full.setdefault(r.name, {})[admin.cycle] = f.t_eff_s
    out: dict[tuple[str, int], Prior] = {}
    for name, by_cycle in full.items():
        for admin in case.administrations:
            others = [c for c in by_cycle if c != admin.cycle and nuclide_of[c] == admin.nuclide]
            if not others:
                continue
            earlier = [c for c in others if c < admin.cycle]
            c = max(earlier) if earlier else min(others)
            out[(name, admin.cycle)] = (by_cycle[c], f"cycle {c} (same region)")
    return out


def cycle_dosimetry(
    case: Case, admin: Administration, priors: Mapping[tuple[str, int], Prior] | None = None
) -> CycleDosimetry | None:
    """Kinetics and MIRD/marrow doses of one administration (None without data).

    Regions with fewer than 3 time points use :func:`reduced_time_point_fit` with
    ``priors`` (:func:`kinetics_priors`).
    """
    return _cycle_dosimetry(case, admin, priors or {}, _Fits())


def _mird_regions(regs: Sequence[RegionData], fits: Mapping[str, KineticsFit]) -> list[Region]:
    """The MIRD source and target regions (every region but the whole body), with masses."""
    out = []
    for r in regs:
        if r.kind == "whole_body":
            continue
        mass = r.mass
        if mass is None:
            raise InvalidInputError(
                f"mass of region {r.name!r}",
                expected="mass_g or volume_ml in the case file",
                actual=None,
                fix="give the segmented volume (mL) or mass (g)",
            )
        out.append(
            Region(
                r.name,
                fits[r.name].tia_bq_s,
                mass,
                kind="lesion" if r.kind == "lesion" else "organ",
            )
        )
    return out


def _cycle_dosimetry(
    case: Case, admin: Administration, priors: Mapping[tuple[str, int], Prior], fits: _Fits
) -> CycleDosimetry | None:
    regs = [r for r in case.regions if r.administration == admin.id]
    blood = case.blood_series(admin.id)
    if not regs and blood is None:
        return None
    extra = case.planning.extra_dose_relative_sd
    fitted = {
        r.name: _fit(case, r.name, admin, r.kinetics_model, priors.get((r.name, admin.cycle)), fits)
        for r in regs
    }
    wb = [r for r in regs if r.kind == "whole_body"]
    wb_tia = fitted[wb[0].name].tia_bq_s if wb else None
    mird_regions = _mird_regions(regs, fitted)
    out: dict[str, RegionCycleDose] = {}
    body_g = case.patient.weight_kg * G_PER_KG
    if mird_regions:
        doses = organ_doses(
            admin.nuclide,
            mird_regions,
            whole_body_tia_bq_s=wb_tia,
            whole_body_mass_g=body_g,
            inputs=(case.case_id,),
        )
        for r in regs:
            if r.kind == "whole_body":
                continue
            f = fitted[r.name]
            d = doses[r.name].total_gy
            rel = math.hypot(f.tia_sd_bq_s / f.tia_bq_s if f.tia_bq_s > 0 else 0.0, extra)
            out[r.name] = RegionCycleDose(
                r.name, r.kind, r.tissue, f, d, d / admin.activity_bq, rel, r.mass
            )
    if blood is not None:
        t, c, rmblr = blood
        bmodel = next(b.kinetics_model for b in case.blood if b.administration == admin.id)
        bf = _blood_fit(case, admin, t, c, bmodel or case.planning.kinetics_model, fits)
        md = red_marrow_dose(
            admin.nuclide,
            blood_tia_bq_s_per_ml=bf.tia_bq_s,
            rmblr=rmblr,
            sex=case.patient.sex,
            patient_mass_g=body_g,
            whole_body_tia_bq_s=wb_tia,
            inputs=(case.case_id,),
        )
        rel = math.hypot(bf.tia_sd_bq_s / bf.tia_bq_s if bf.tia_bq_s > 0 else 0.0, extra)
        out["red marrow"] = RegionCycleDose(
            "red marrow",
            "organ",
            "red_marrow",
            bf,
            md.total_gy,
            md.total_gy / admin.activity_bq,
            rel,
            md.red_marrow_mass_g,
        )
    return CycleDosimetry(admin, out)


def case_dosimetry(case: Case) -> dict[str, Any]:
    """Per-cycle and cumulative absorbed doses of every administration (JSON form).

    The JSON form of :func:`case_dosimetry_result` (``.to_dict()``): a cycle with
    time–activity data is ``"status": "measured"`` (regions with fewer than 3 time
    points use the reduced-time-point method, named in their warnings); a cycle whose
    administration is known but that has no data is ``"status": "estimated"``: each
    region's dose per activity (Gy/Bq) of the nearest cycle with data (an earlier one
    preferred) × this cycle's activity, the same assumption
    :func:`~sstrkit.therapy.planning.plan_from_case` makes. Estimated doses are part of
    the cumulative sums (never a silently smaller cumulative dose);
    ``cumulative_estimated_gy`` says how much of each sum is estimated.
    """
    return case_dosimetry_result(case).to_dict()


def case_dosimetry_result(case: Case, *, reuse: CaseDosimetry | None = None) -> CaseDosimetry:
    """Per-cycle and cumulative absorbed doses of every administration, typed.

    Every kinetics fit runs once (the priors of reduced-time-point cycles and the doses
    share them). ``reuse``: an earlier result whose fits are taken where all their inputs
    are the same (the whole case's, for a case of its first cycle or its regions in
    another MIRD run); a fit whose prior differs (a later cycle's kinetics) is redone.
    See :func:`case_dosimetry` for the statuses; :meth:`CaseDosimetry.to_dict` is its JSON.
    """
    fits = _Fits(reuse.fits if reuse is not None else None)
    priors = _kinetics_priors(case, fits)
    admins = sorted(case.administrations, key=lambda a: a.cycle)
    measured: dict[int, CycleDosimetry] = {}
    for admin in admins:
        dos = _cycle_dosimetry(case, admin, priors, fits)
        if dos is not None:
            measured[admin.cycle] = dos
    every = {n: rd.kind for d in measured.values() for n, rd in d.regions.items()}
    cycles = []
    cumulative: dict[str, float] = {}
    estimated_part: dict[str, float] = {}
    for admin in admins:
        cyc = _case_cycle(admin, measured, every)
        for r in cyc.regions:
            cumulative[r.name] = cumulative.get(r.name, 0.0) + r.dose_gy
            if r.estimated_from_cycle is not None:
                estimated_part[r.name] = estimated_part.get(r.name, 0.0) + r.dose_gy
        cycles.append(cyc)
    step = Step.make(
        "case_dosimetry",
        {"kinetics_model": case.planning.kinetics_model, "cv": case.planning.kinetics_cv},
        inputs=(case.case_id,),
        sources=("MIRD Pamphlet 21 (Bolch et al. 2009)", "Hindorf et al. EJNMMI 2010;37:1238"),
    )
    return CaseDosimetry(
        case.case_id,
        tuple(cycles),
        MappingProxyType(cumulative),
        MappingProxyType(estimated_part),
        (step,),
        fits=MappingProxyType(fits.done),
    )


def _case_cycle(
    admin: Administration, measured: Mapping[int, CycleDosimetry], every: Mapping[str, str]
) -> CaseCycle:
    """One administration's rows: its measured regions, then the others estimated from the
    nearest cycle of the same radionuclide that measured them (an earlier one preferred)."""
    dos = measured.get(admin.cycle)
    rows = [
        CaseRegionDose(rd, rd.dose_gy) for rd in (dos.regions if dos is not None else {}).values()
    ]
    sources: set[int] = set()
    for name in every:
        if dos is not None and name in dos.regions:
            continue
        have = [
            c
            for c, d in measured.items()
            if name in d.regions and d.administration.nuclide == admin.nuclide
        ]
        if not have:  # no cycle of this radionuclide measured this region
            continue
        earlier = [c for c in have if c < admin.cycle]
        src = max(earlier) if earlier else min(have)
        ref = measured[src]
        rd = ref.regions[name]
        rows.append(
            CaseRegionDose(
                rd,
                rd.gy_per_bq * admin.activity_bq,
                status="estimated",
                estimated_from_cycle=src,
                activity_scale=admin.activity_bq / ref.administration.activity_bq,
                note=(
                    f"no data for {name} in cycle {admin.cycle}: dose per activity of "
                    f"cycle {src} × {admin.activity_mbq:.0f} MBq"
                ),
            )
        )
        sources.add(src)
    image_rows = [r for r in rows if r.status == "measured" and r.name != "red marrow"]
    status = "measured" if image_rows else ("estimated" if rows else "no_data")
    return CaseCycle(
        admin,
        dos,
        tuple(rows),
        status,
        min(sources, key=lambda c: abs(c - admin.cycle)) if sources else None,
    )
