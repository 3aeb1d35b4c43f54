"""SIRT (90Y microsphere) planning from a 99mTc-MAA work-up: one typed :class:`SirtPlan`.

:func:`plan_sirt` takes the measurements of :func:`sstrkit.sirt.plan_inputs.measure_maa`
(:class:`~sstrkit.sirt.plan_inputs.MaaFindings`) and a device, and

1. chooses the **lung shunt fraction**: ``lsf_source="auto"`` takes the larger of the
   planar and the SPECT/CT values (the planar geometric mean is the quantity the
   manufacturers' shunt bands were defined on and is usually the larger; the larger
   is the safe side), ``"planar"``/``"spect"`` one of them; without any LSF the plan
   is refused (never a silent 0);
2. chooses the **lung mass**: ``lung_mass_g`` given > CT densitometry of the lung VOI >
   a flagged default, :func:`default_lung_mass_g`: the 1000 g of the glass-microsphere
   instructions for use, lowered to the ICRP 89 reference lungs of a woman (950 g)
   for a woman or a patient of unknown sex (a smaller mass is a higher lung dose: the
   safe side);
3. chooses the **T/N** (:mod:`sstrkit.sirt.plan_tn`): the measured one by default
   (``tn_source="measured"``: SPECT blur lowers it, which lowers the activity for a
   prescribed normal-liver dose — the normal liver's safe side), or with
   ``tn_source="pvc"`` the GTM partial-volume-corrected one (flagged); the other is
   reported beside it with the doses it gives (:attr:`SirtPlan.tn`);
4. runs the **method** (:mod:`sstrkit.sirt.plan_methods`): ``"partition"`` (needs T/N
   or no tumour, and masses), ``"bsa"`` (resin; needs BSA and liver and tumour
   volumes), ``"single_compartment"`` (needs the perfused liver mass and a target
   dose: 120 Gy for glass, to be given for resin); ``method=None`` picks partition
   when the SPECT/CT measurements allow it, else BSA (resin) or single compartment
   (glass);
5. **caps** the activity at every safety limit it can evaluate (lung 30 Gy per
   treatment and 50 Gy cumulative with ``prior_lung_dose_gy``; normal-liver limit of
   the device, :mod:`sstrkit.sirt.plan_limits`) — a prescription never overrides a
   limit; a resin BSA plan above a 20 % shunt is not treatable (activity 0);
6. predicts the mean **doses** at the planned activity with the partition model
   (tumour and normal liver when T/N and masses are known; lung with the chosen lung
   mass) and checks each against its limit or target (traffic light of
   :func:`sstrkit.therapy.limit_status.limit_status` for limits).

Everything is in internal units (Bq, g, Gy); the CLI converts at the edge.

Examples
--------
>>> from sstrkit.sirt.plan_inputs import MaaFindings
>>> from sstrkit.sirt.plan_shunt import lung_shunt_planar_counts
>>> f = MaaFindings(lsf_planar=lung_shunt_planar_counts(lung_anterior=5e3, lung_posterior=5e3,
...     liver_anterior=95e3, liver_posterior=95e3), bsa_m2=1.8, liver_volume_ml=1800.0,
...     tumour_volume_ml=180.0)
>>> p = plan_sirt(f, device="resin")
>>> p.method, round(p.activity_bq / 1e9, 3), p.lung_mass_source
('bsa', 1.7, 'default')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_GBQ
from sstrkit.errors import InvalidInputError
from sstrkit.sirt.physics import ENERGY_SOURCES, Y90_ENERGY_J_PER_GBQ, mean_dose_gy
from sstrkit.sirt.plan_inputs import MaaFindings
from sstrkit.sirt.plan_limits import SOURCES, Device, SirtLimits, default_limits, parse_device
from sstrkit.sirt.plan_methods import (
    BsaResult,
    CompartmentDoses,
    PartitionResult,
    SingleCompartmentResult,
    bsa_method,
    lung_limited_activity_bq,
    partition_doses,
    partition_model,
    single_compartment,
)
from sstrkit.sirt.plan_tn import TnComparison, TnSource, parse_tn_source, planning_tn
from sstrkit.therapy.limit_status import limit_status

__all__ = [
    "DEFAULT_LUNG_MASS_G",
    "ICRP89_LUNG_MASS_G",
    "METHODS",
    "LimitCheck",
    "Method",
    "SirtPlan",
    "default_lung_mass_g",
    "plan_sirt",
]

Method = Literal["partition", "bsa", "single_compartment"]
METHODS: Final = ("partition", "bsa", "single_compartment")
LsfSource = Literal["auto", "planar", "spect"]

#: Lung mass assumed by the glass-microsphere instructions for use when none is measured (g).
DEFAULT_LUNG_MASS_G: Final = 1000.0
#: ICRP Publication 89 (Table 2.8) reference lungs, blood included (g).
ICRP89_LUNG_MASS_G: Final = {"M": 1200.0, "F": 950.0}


def default_lung_mass_g(sex: str | None) -> float:
    """The flagged default lung mass: min(1000 g, ICRP 89 reference of the sex); 950 g
    (the female reference) when the sex is unknown — the smaller mass, the safe side."""
    s = (sex or "").strip().upper()[:1]
    ref = ICRP89_LUNG_MASS_G.get(s, min(ICRP89_LUNG_MASS_G.values()))
    return min(DEFAULT_LUNG_MASS_G, ref)


@dataclass(frozen=True)
class LimitCheck:
    """One predicted dose against a limit (``kind="limit"``) or a target (``"target"``)."""

    name: str
    kind: Literal["limit", "target"]
    value_gy: float | None
    threshold_gy: float
    status: str  # limits: green/amber/red; targets: met/not_met; "unknown" without a value
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "value_gy": self.value_gy,
            "threshold_gy": self.threshold_gy,
            "status": self.status,
            "source": self.source,
        }


MethodResult = PartitionResult | BsaResult | SingleCompartmentResult


@dataclass(frozen=True)
class SirtPlan:
    """A SIRT plan: the activity, the predicted doses, the checks, and why.

    ``activity_bq`` is the activity to implant (after every safety cap);
    ``method_activity_bq`` what the method gave; ``limiting`` what set the activity
    (the method's own criterion, ``"lung_per_treatment"``, ``"lung_cumulative"``,
    ``"normal_liver_limit"`` or ``"not_treatable"``). ``tumour_to_normal`` is the T/N
    the plan used (``tn_source``: ``measured`` or ``pvc``); ``tn`` holds both T/N and the
    doses each gives at ``activity_bq``.
    """

    device: Device
    method: Method
    activity_bq: float
    method_activity_bq: float
    limiting: str
    treatable: bool
    lung_shunt_fraction: float
    lsf_source: str
    lsf_planar: float | None
    lsf_spect: float | None
    tumour_to_normal: float | None
    tumour_mass_g: float | None
    normal_liver_mass_g: float | None
    lung_mass_g: float
    lung_mass_source: str
    prior_lung_dose_gy: float
    doses: CompartmentDoses
    limits: SirtLimits
    checks: tuple[LimitCheck, ...]
    method_result: MethodResult
    assumptions: tuple[str, ...]
    flags: tuple[str, ...]
    provenance: Step = field(default_factory=lambda: Step.make("plan_sirt"))
    tn_source: TnSource = "measured"
    tn: TnComparison | None = None

    @property
    def limits_ok(self) -> bool:
        """True when no evaluated limit is exceeded (red)."""
        return not any(c.kind == "limit" and c.status == "red" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "method": self.method,
            "activity_bq": self.activity_bq,
            "method_activity_bq": self.method_activity_bq,
            "limiting": self.limiting,
            "treatable": self.treatable,
            "limits_ok": self.limits_ok,
            "lung_shunt_fraction": self.lung_shunt_fraction,
            "lsf_source": self.lsf_source,
            "lsf_planar": self.lsf_planar,
            "lsf_spect": self.lsf_spect,
            "tumour_to_normal": self.tumour_to_normal,
            "tn_source": self.tn_source,
            "tn_comparison": None if self.tn is None else self.tn.to_dict(),
            "tumour_mass_g": self.tumour_mass_g,
            "normal_liver_mass_g": self.normal_liver_mass_g,
            "lung_mass_g": self.lung_mass_g,
            "lung_mass_source": self.lung_mass_source,
            "prior_lung_dose_gy": self.prior_lung_dose_gy,
            "doses": self.doses.to_dict(),
            "limits": self.limits.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "method_result": self.method_result.to_dict(),
            "assumptions": list(self.assumptions),
            "flags": list(self.flags),
            "provenance": self.provenance.to_dict(),
        }


# ------------------------------------------------------------------ inputs chosen
def _choose_lsf(f: MaaFindings, source: str, flags: list[str]) -> tuple[float, str]:
    planar = None if f.lsf_planar is None else f.lsf_planar.fraction
    spect = None if f.lsf_spect is None else f.lsf_spect.fraction
    for s in (f.lsf_planar, f.lsf_spect):
        if s is not None:
            flags.extend(s.flags)
    if source not in ("auto", "planar", "spect"):
        raise InvalidInputError("LSF source", expected="auto, planar or spect", actual=source)
    if source == "planar" or (source == "auto" and spect is None):
        if planar is None:
            raise _no_lsf(source)
        return planar, "planar"
    if source == "spect" or planar is None or spect is None:
        if spect is None:
            raise _no_lsf(source)
        if planar is not None and planar > spect:
            flags.append(f"SPECT/CT LSF {spect:.3f} chosen although the planar LSF is {planar:.3f}")
        return spect, "spect"
    if abs(planar - spect) > 0.02:
        flags.append(
            f"planar LSF {planar:.3f} and SPECT/CT LSF {spect:.3f} differ by more than 2 "
            "percentage points; the larger is used"
        )
    return (planar, "planar") if planar >= spect else (spect, "spect")


def _no_lsf(source: str) -> InvalidInputError:
    return InvalidInputError(
        "lung shunt fraction",
        expected="a planar or SPECT/CT 99mTc-MAA lung shunt fraction"
        + ("" if source == "auto" else f" ({source})"),
        actual="none measured",
        fix="add the MAA planar or SPECT/CT series (with lung and liver VOIs) to the study; a "
        "missing lung shunt fraction is never taken as 0",
    )


def _choose_lung_mass(f: MaaFindings, given: float | None, flags: list[str]) -> tuple[float, str]:
    if given is not None:
        if not (math.isfinite(given) and given > 0):
            raise InvalidInputError("lung mass (g)", expected="> 0", actual=given)
        return float(given), "given"
    if f.lung_mass_g is not None and f.lung_mass_g > 0:
        return f.lung_mass_g, "ct"
    mass = default_lung_mass_g(f.sex)
    flags.append(
        f"lung mass unknown: {mass:g} g assumed (min of the 1000 g of the glass-microsphere "
        "instructions for use and the ICRP 89 reference lungs of the patient's sex, 950 g "
        "when the sex is unknown); measure it on the MAA CT or give --lung-mass-g"
    )
    return mass, "default"


def _choose_method(method: str | None, device: Device, f: MaaFindings) -> Method:
    if method is not None:
        m = method.strip().lower().replace("-", "_")
        if m not in METHODS:
            raise InvalidInputError("method", expected=" | ".join(METHODS), actual=repr(method))
        return m  # type: ignore[return-value]
    if f.normal_liver_mass_g is not None and (
        f.tumour_to_normal is not None or not f.tumour_mass_g
    ):
        return "partition"
    return "bsa" if device == "resin" else "single_compartment"


def _prior_lung_dose_gy(
    f: MaaFindings, lsf: float, lung_mass: float, energy: float, flags: list[str]
) -> float:
    """Lung dose of earlier treatments: given doses + E·A·LSF/M for each earlier implant."""
    total = float(f.prior_lung_dose_gy)
    if not (math.isfinite(total) and total >= 0):
        raise InvalidInputError("prior lung dose (Gy)", expected=">= 0", actual=total)
    for p in f.prior_sirt:
        shunt = p.lung_shunt_fraction
        if shunt is None:
            shunt = lsf
            flags.append(
                f"earlier 90Y treatment ({p.time or 'date unknown'}) without a lung shunt "
                f"fraction: the current LSF {lsf:.3f} is used for its lung dose"
            )
        total += mean_dose_gy(p.activity_bq * shunt, lung_mass, energy_j_per_gbq=energy)
    return total


def _need(value: float | None, what: str, fix: str) -> float:
    if value is None:
        raise InvalidInputError(what, expected="a measured value", actual="none", fix=fix)
    return value


# ------------------------------------------------------------------ method runs
@dataclass(frozen=True)
class _Options:
    normal_liver_dose_gy: float | None
    tumour_dose_gy: float | None
    perfused_dose_gy: float | None
    energy: float
    tn: float | None


def _run_method(
    method: Method,
    device: Device,
    f: MaaFindings,
    lsf: float,
    lung_mass: float,
    limits: SirtLimits,
    opt: _Options,
    prior: float,
    flags: list[str],
) -> MethodResult:
    if method == "partition":
        nl_mass = _need(
            f.normal_liver_mass_g,
            "normal liver mass",
            "a MAA SPECT/CT with liver VOI (partition model)",
        )
        t_mass = f.tumour_mass_g or 0.0
        if opt.tn is None and t_mass > 0:
            raise InvalidInputError(
                "tumour-to-normal ratio",
                expected=f"a T/N for the partition model (tumour mass {t_mass:.0f} g)",
                actual="none",
                fix="give tumour VOIs on the MAA SPECT/CT, or use --method bsa / "
                "single-compartment",
            )
        r = opt.tn if opt.tn is not None else 1.0
        d_n = opt.normal_liver_dose_gy or limits.normal_liver_gy
        if (
            opt.normal_liver_dose_gy is not None
            and opt.normal_liver_dose_gy > limits.normal_liver_gy
        ):
            flags.append(
                f"prescribed normal-liver dose {opt.normal_liver_dose_gy:g} Gy is above the "
                f"{device} limit {limits.normal_liver_gy:g} Gy: capped at the limit"
            )
            d_n = limits.normal_liver_gy
        return partition_model(
            lung_shunt_fraction=lsf,
            tumour_to_normal=r,
            tumour_mass_g=t_mass,
            normal_liver_mass_g=nl_mass,
            lung_mass_g=lung_mass,
            normal_liver_dose_gy=d_n,
            tumour_dose_gy=opt.tumour_dose_gy,
            prior_lung_dose_gy=prior,
            lung_per_treatment_gy=limits.lung_per_treatment_gy,
            lung_cumulative_gy=limits.lung_cumulative_gy,
            energy_j_per_gbq=opt.energy,
        )
    if method == "bsa":
        if device != "resin":
            raise InvalidInputError(
                "method",
                expected="partition or single_compartment for glass microspheres",
                actual="bsa",
                fix="the BSA method is defined for resin microspheres only",
            )
        return bsa_method(
            bsa_m2=_need(
                f.bsa_m2,
                "body surface area",
                "give the patient's weight and height (clinical.json or manifest)",
            ),
            tumour_volume_ml=f.tumour_volume_ml or 0.0,
            liver_volume_ml=_need(
                f.liver_volume_ml, "liver volume", "a MAA SPECT/CT with a liver VOI"
            ),
            lung_shunt_fraction=lsf,
            perfused_fraction=f.perfused_fraction,
        )
    target = opt.perfused_dose_gy or limits.perfused_target_gy
    if target is None:
        raise InvalidInputError(
            "perfused-liver target dose",
            expected="a dose in Gy for resin single-compartment planning",
            actual="none",
            fix="give --perfused-dose-gy (EANM 2022 Table 3 recommends single-compartment "
            "dosimetry for resin only for radiation segmentectomy, > 150 Gy)",
        )
    if device == "resin":
        flags.append(
            "single-compartment dosimetry for resin microspheres: recommended by EANM 2022 "
            "(Table 3) only for radiation segmentectomy"
        )
    perfused = f.liver_mass_g
    if perfused is not None and f.perfused_fraction < 1.0:
        perfused *= f.perfused_fraction
    return single_compartment(
        target_dose_gy=target,
        perfused_mass_g=_need(perfused, "perfused liver mass", "a MAA SPECT/CT with a liver VOI"),
        lung_shunt_fraction=lsf,
        energy_j_per_gbq=opt.energy,
    )


def _doses(
    f: MaaFindings, activity: float, lsf: float, lung_mass: float, energy: float, tn: float | None
) -> CompartmentDoses:
    """Partition-model doses at ``activity`` with T/N ``tn`` and what is known (None where
    unknown)."""
    lung_gy = mean_dose_gy(activity * lsf, lung_mass, energy_j_per_gbq=energy)
    if f.normal_liver_mass_g is None:
        perfused = None
        if f.liver_mass_g:
            m = f.liver_mass_g * f.perfused_fraction
            perfused = mean_dose_gy(activity * (1 - lsf), m, energy_j_per_gbq=energy)
        return CompartmentDoses(None, None, lung_gy, perfused)
    t_mass = f.tumour_mass_g or 0.0
    d = partition_doses(
        activity,
        lung_shunt_fraction=lsf,
        tumour_to_normal=tn if tn is not None else 1.0,
        tumour_mass_g=t_mass,
        normal_liver_mass_g=f.normal_liver_mass_g,
        lung_mass_g=lung_mass,
        energy_j_per_gbq=energy,
    )
    if tn is None and t_mass > 0:
        return CompartmentDoses(None, None, d.lung_gy, d.perfused_liver_gy)
    return d


def _caps(
    f: MaaFindings, lsf: float, lung_mass: float, limits: SirtLimits, opt: _Options, prior: float
) -> list[tuple[float, str]]:
    energy = opt.energy
    a_lung, kind = lung_limited_activity_bq(
        lung_shunt_fraction=lsf,
        lung_mass_g=lung_mass,
        prior_lung_dose_gy=prior,
        lung_per_treatment_gy=limits.lung_per_treatment_gy,
        lung_cumulative_gy=limits.lung_cumulative_gy,
        energy_j_per_gbq=energy,
    )
    caps: list[tuple[float, str]] = [(a_lung, kind)]
    per_gbq = _doses(f, BQ_PER_GBQ, lsf, lung_mass, energy, opt.tn).normal_liver_gy
    if per_gbq is not None and per_gbq > 0:
        caps.append((limits.normal_liver_gy / per_gbq * BQ_PER_GBQ, "normal_liver_limit"))
    return caps


def _checks(doses: CompartmentDoses, prior: float, limits: SirtLimits) -> tuple[LimitCheck, ...]:
    def lim(name: str, value: float | None, threshold: float, source: str) -> LimitCheck:
        ok = value is not None and math.isfinite(value)
        status = limit_status(value, threshold) if ok and value is not None else "unknown"
        return LimitCheck(name, "limit", value if ok else None, threshold, status, source)

    lung = doses.lung_gy
    out = [
        lim("lung_per_treatment", lung, limits.lung_per_treatment_gy, SOURCES["lung"]),
        lim(
            "lung_cumulative",
            None if lung is None else lung + prior,
            limits.lung_cumulative_gy,
            SOURCES["lung"],
        ),
        lim(
            "normal_liver",
            doses.normal_liver_gy,
            limits.normal_liver_gy,
            limits.sources.get("normal_liver", ""),
        ),
    ]
    t = doses.tumour_gy
    out.append(
        LimitCheck(
            "tumour",
            "target",
            t,
            limits.tumour_target_gy,
            "unknown" if t is None else ("met" if t >= limits.tumour_target_gy else "not_met"),
            limits.sources.get("tumour", ""),
        )
    )
    return tuple(out)


def _device_limits(
    f: MaaFindings,
    device: str | None,
    limits: SirtLimits | None,
    pretreated_liver: bool,
    flags: list[str],
) -> tuple[Device, SirtLimits]:
    """The device (given, else the clinical record's) and its limits (given: flagged)."""
    if device is None and f.device is None:
        raise InvalidInputError(
            "microsphere device",
            expected="resin or glass",
            actual="none given",
            fix="give --device resin|glass (or the planned treatment in clinical.json 'sirt')",
        )
    dev = parse_device(device if device is not None else str(f.device))
    if limits is None:
        return dev, default_limits(dev, pretreated_liver=pretreated_liver)
    if limits.device != dev:
        raise InvalidInputError(
            "limits", expected=f"limits of {dev} microspheres", actual=limits.device
        )
    flags.append("site limits used instead of the cited defaults: " + str(limits.to_dict()))
    return dev, limits


def _tn_comparison(
    f: MaaFindings,
    source: TnSource,
    used: CompartmentDoses,
    activity: float,
    lsf: float,
    lung_mass: float,
    energy: float,
    limits: SirtLimits,
    flags: list[str],
) -> TnComparison | None:
    """Both T/N with the doses each gives at ``activity`` (``used``: the plan's doses);
    with ``source="pvc"`` the flags of planning off the safe side."""
    tn = f.tumour_to_normal
    if tn is None or f.normal_liver_mass_g is None:
        return None
    measured = (
        used if source == "measured" else _doses(f, activity, lsf, lung_mass, energy, tn.ratio)
    )
    pvc = None
    if tn.pvc is not None:
        pvc = used if source == "pvc" else _doses(f, activity, lsf, lung_mass, energy, tn.pvc.ratio)
    if source == "pvc" and tn.pvc is not None:
        flags.append(
            f"activity planned with the partial-volume-corrected T/N {tn.pvc.ratio:.2f} (GTM, "
            f"{tn.pvc.fwhm_mm:g} mm FWHM from {tn.pvc.fwhm_source}) instead of the measured "
            f"{tn.ratio:.2f} (tn_source pvc): a higher activity for the same normal-liver "
            "dose — not the safe side for the normal liver"
        )
        d_n = measured.normal_liver_gy
        if d_n is not None and d_n > limits.normal_liver_gy:
            flags.append(
                f"with the measured T/N {tn.ratio:.2f} the normal-liver dose at "
                f"{activity / BQ_PER_GBQ:.3f} GBq would be {d_n:.1f} Gy, above the "
                f"{limits.device} limit {limits.normal_liver_gy:g} Gy"
            )
    return TnComparison.of(tn, source, measured, pvc)


def plan_sirt(
    findings: MaaFindings,
    *,
    device: str | None = None,
    method: str | None = None,
    lsf_source: LsfSource = "auto",
    normal_liver_dose_gy: float | None = None,
    tumour_dose_gy: float | None = None,
    perfused_dose_gy: float | None = None,
    lung_mass_g: float | None = None,
    pretreated_liver: bool = False,
    limits: SirtLimits | None = None,
    energy_j_per_gbq: float | None = None,
    tn_source: str = "measured",
) -> SirtPlan:
    """Plan a 90Y-microsphere treatment from MAA measurements (module docstring).

    ``device`` defaults to the planned device of the clinical record (``findings.device``).
    ``limits`` replaces the cited defaults of :func:`~sstrkit.sirt.plan_limits.
    default_limits` (a site's own; recorded in the provenance and flagged).
    ``tn_source``: ``"measured"`` (default, the normal liver's safe side) or ``"pvc"``
    (the GTM partial-volume-corrected T/N; refused when there is none).
    """
    flags: list[str] = list(findings.flags)
    dev, limits = _device_limits(findings, device, limits, pretreated_liver, flags)
    tn_from = parse_tn_source(tn_source)
    tn = planning_tn(findings.tumour_to_normal, tn_from)
    energy = Y90_ENERGY_J_PER_GBQ if energy_j_per_gbq is None else float(energy_j_per_gbq)
    lsf, lsf_from = _choose_lsf(findings, lsf_source, flags)
    lung_mass, lung_src = _choose_lung_mass(findings, lung_mass_g, flags)
    chosen = _choose_method(method, dev, findings)
    opt = _Options(normal_liver_dose_gy, tumour_dose_gy, perfused_dose_gy, energy, tn)
    prior = _prior_lung_dose_gy(findings, lsf, lung_mass, energy, flags)
    result = _run_method(chosen, dev, findings, lsf, lung_mass, limits, opt, prior, flags)
    treatable = not (isinstance(result, BsaResult) and not result.treatable)
    activity = result.activity_bq
    limiting: str = result.limiting if isinstance(result, PartitionResult) else chosen
    if not treatable:
        limiting = "not_treatable"
        flags.append(
            f"lung shunt fraction {lsf:.3f} above 20 %: no resin SIRT by the manufacturer's "
            "BSA rules"
        )
    for cap, why in _caps(findings, lsf, lung_mass, limits, opt, prior):
        if treatable and cap < activity * (1 - 1e-12):
            flags.append(
                f"activity lowered from {activity / BQ_PER_GBQ:.3f} to {cap / BQ_PER_GBQ:.3f} "
                f"GBq by the {why.replace('_', ' ')}"
            )
            activity, limiting = cap, why
    doses = _doses(findings, activity, lsf, lung_mass, energy, tn)
    if isinstance(result, PartitionResult) and activity == result.activity_bq:
        doses = result.doses
    checks = _checks(doses, prior, limits)
    compared = _tn_comparison(
        findings, tn_from, doses, activity, lsf, lung_mass, energy, limits, flags
    )
    if findings.tumour_to_normal is None and findings.tumour_mass_g:
        flags.append("T/N unknown: tumour and normal-liver doses not predicted")
    params = {
        "device": dev,
        "method": chosen,
        "lsf_source": lsf_from,
        "tn_source": tn_from,
        "tumour_to_normal": tn,
        "lung_shunt_fraction": lsf,
        "lung_mass_g": lung_mass,
        "lung_mass_source": lung_src,
        "prior_lung_dose_gy": prior,
        "normal_liver_dose_gy": normal_liver_dose_gy,
        "tumour_dose_gy": tumour_dose_gy,
        "perfused_dose_gy": perfused_dose_gy,
        "pretreated_liver": pretreated_liver,
        "limits": limits.to_dict(),
        "energy_j_per_gbq": energy,
        "limiting": limiting,
    }
    return SirtPlan(
        device=dev,
        method=chosen,
        activity_bq=activity if treatable else 0.0,
        method_activity_bq=result.activity_bq,
        limiting=limiting,
        treatable=treatable,
        lung_shunt_fraction=lsf,
        lsf_source=lsf_from,
        lsf_planar=None if findings.lsf_planar is None else findings.lsf_planar.fraction,
        lsf_spect=None if findings.lsf_spect is None else findings.lsf_spect.fraction,
        tumour_to_normal=tn,
        tumour_mass_g=findings.tumour_mass_g,
        normal_liver_mass_g=findings.normal_liver_mass_g,
        lung_mass_g=lung_mass,
        lung_mass_source=lung_src,
        prior_lung_dose_gy=prior,
        doses=doses,
        limits=limits,
        checks=checks,
        method_result=result,
        assumptions=result.assumptions,
        flags=tuple(dict.fromkeys(flags)),
        provenance=Step.make(
            "plan_sirt", params, sources=(*limits.sources.values(), *ENERGY_SOURCES)
        ),
        tn_source=tn_from,
        tn=compared,
    )
