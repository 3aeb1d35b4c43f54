"""A synthetic cohort of digital NET patients: one study folder each, plus follow-up.

:func:`make_cohort` writes ``n`` digital patients (:func:`sstrkit.phantom.study.make_study`)
into ``OUT/patient_<k>`` and a cohort summary ``OUT/cohort.json``. The patients differ in
anatomy, receptor uptake and kinetics (each has its own phantom seed: height, weight, organ
masses, SUVs, half-lives), in sex, and in the activity per cycle (uniform between
``activity_bq_range``: the full 7.4 GBq and the 3.7 GBq of the Lutathera dose modification),
so that tumour absorbed doses spread. Enrolment is staggered (uniform over
``accrual_days``), and follow-up ends at one data cut-off for everyone.

After each study is made, its follow-up is simulated and written as clinical data
(``clinical.json``: ``lesion_volumes``, ``responses`` and ``survival``, the sections the
registry reads, :mod:`sstrkit.registry.clinical`; ``patient`` with sex and age) and as
truth (``truth/truth.json``, key ``cohort``):

Tumour volume response (simulator choice)
    For every lesion, ``log(V_followup / V_baseline) = beta * D + e`` with ``D`` the true
    cumulative absorbed dose (Gy, sum of the cycles in ``truth.json``), ``e ~ N(0,
    residual_sd)`` independent per lesion and ``beta = -alpha_v`` the median volume
    response per Gy of the phantom (``parameters.toml [response]``, 0.010 /Gy, calibrated
    to the SSTR tumour volume changes of Alipour et al. 2023 and the RECIST rates of
    Sundlöv et al. 2022). A log-linear dose–volume relation of this kind is a modelling
    choice; a lesion dose–volume-reduction correlation after 177Lu-DOTATATE was reported
    by Ilan et al. (J Nucl Med 2015;56:177-182). The follow-up is ``follow_up_days`` after
    the last cycle; diameters scale as the cube root of the volume (spheres).
RECIST 1.1
    Baseline targets by :func:`sstrkit.followup.recist.select_targets` on the baseline
    diameters (nodes < 10 mm short axis left out), the follow-up assessed by
    :func:`sstrkit.followup.recist.assess` (one follow-up, unconfirmed).
Progression-free and overall survival (exponential draws)
    PFS (progression or death) is exponential with median 32.4 months: the exponential
    through NETTER-1's estimated PFS rate at month 20 in the 177Lu-DOTATATE arm, 65.2 %
    (Strosberg et al., N Engl J Med 2017;376:125-135; the median was not reached there;
    control arm 8.4 months). OS = PFS + an exponential post-progression survival whose
    mean makes the OS median 48.0 months (NETTER-1 final analysis, Strosberg et al.,
    Lancet Oncol 2021;22:1752-1763). Each patient's hazards are multiplied by
    ``exp(hazard_per_log_ratio * (r - r_median))``, ``r`` the patient's mean lesion log
    volume ratio (simulator choice: better response, lower hazard; normalised to the
    cohort median so the cited medians hold for the median patient). Both are censored
    at the data cut-off.

Layout::

    OUT/cohort.json                  config, true coefficients, patients (folder, seed, ...)
    OUT/patient_001/ ...             a study folder (docs/phantom.md) with
        clinical.json                + lesion_volumes, responses (RECIST), survival, patient
        truth/truth.json "cohort"    true cumulative doses, residuals, hazard multiplier

Examples
--------
>>> [p.name for p in plan_cohort(CohortConfig(n=2, seed=3))]
['patient_001', 'patient_002']
>>> round(PFS_MEDIAN_DAYS / MONTH_DAYS, 1), round(OS_MEDIAN_DAYS / MONTH_DAYS, 1)
(32.4, 48.0)
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from sstrkit.core.atomic import prepare_output_dir, write_json_atomic
from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ, SECONDS_PER_DAY
from sstrkit.errors import InvalidInputError
from sstrkit.followup.recist import Lesion, TimePoint, assess, select_targets
from sstrkit.phantom.parameters import parameters

__all__ = [
    "OS_MEDIAN_DAYS",
    "PFS_MEDIAN_DAYS",
    "SOURCES",
    "Cohort",
    "CohortConfig",
    "CohortPatient",
    "LesionResponse",
    "PatientPlan",
    "SurvivalDraw",
    "draw_survival",
    "make_cohort",
    "plan_cohort",
    "post_progression_days",
    "true_beta_per_gy",
]

Progress = Callable[[str], None]
DAY_S: Final = SECONDS_PER_DAY
MONTH_DAYS: Final = 365.25 / 12
#: NETTER-1, 177Lu-DOTATATE arm: estimated progression-free survival at month 20.
NETTER1_PFS_AT_20_MONTHS: Final = 0.652
#: Median of the exponential through that point: 20 months x ln 2 / -ln 0.652 = 32.4 months.
PFS_MEDIAN_DAYS: Final = 20.0 * MONTH_DAYS * math.log(2.0) / -math.log(NETTER1_PFS_AT_20_MONTHS)
#: NETTER-1 final analysis, 177Lu-DOTATATE arm: median overall survival 48.0 months.
OS_MEDIAN_DAYS: Final = 48.0 * MONTH_DAYS
SOURCES: Final = (
    "Strosberg J et al. N Engl J Med 2017;376:125-135 (NETTER-1: PFS at month 20 65.2 % "
    "with 177Lu-DOTATATE, median not reached; control median 8.4 months)",
    "Strosberg JR et al. Lancet Oncol 2021;22:1752-1763 (NETTER-1 final OS: median 48.0 "
    "months with 177Lu-DOTATATE)",
    "Ilan E et al. J Nucl Med 2015;56:177-182 (lesion dose-volume reduction after "
    "177Lu-DOTATATE; the log-linear form and its coefficient are simulator choices)",
    "Eisenhauer EA et al. Eur J Cancer 2009;45:228-247 (RECIST 1.1)",
    "LUTATHERA prescribing information (7.4 GBq per cycle; reduction to 3.7 GBq)",
)
_TZ: Final = _dt.timezone(_dt.timedelta(hours=1))


def true_beta_per_gy() -> float:
    """The simulator's true dose–response coefficient: minus the median alpha_v (per Gy).

    >>> true_beta_per_gy()
    -0.01
    """
    return -float(parameters()["response"]["alpha_v_per_gy"])


@dataclass(frozen=True)
class CohortConfig:
    """What to simulate. Internal units: Bq, days for the follow-up clock, Gy.

    Defaults make a small demonstration cohort (2 cycles, 8 mm voxels, SPECT at 24, 96 and
    168 h, no FDG PET); ``voxel_mm`` up to 10 mm and one time point make it faster.
    """

    n: int = 20
    seed: int = 0
    cycles: int = 2
    voxel_mm: float = 8.0
    timepoints_h: tuple[float, ...] = (24.0, 96.0, 168.0)
    activity_bq_range: tuple[float, float] = (3.7e9, 7.4e9)
    interval_days_range: tuple[float, float] = (49.0, 70.0)
    beta_per_gy: float = field(default_factory=true_beta_per_gy)
    residual_sd: float = 0.15
    follow_up_days: float = 84.0
    accrual_days: float = 540.0
    cutoff_days: float = 1461.0
    hazard_per_log_ratio: float = 1.0
    fdg: bool = False
    first_start: _dt.datetime = field(
        default_factory=lambda: _dt.datetime(2024, 1, 8, 10, 0, tzinfo=_TZ)
    )

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str, object]] = [
            ("number of patients", 1 <= self.n <= 9999, "1 to 9999", self.n),
            ("cycles", 1 <= self.cycles <= 8, "1 to 8", self.cycles),
            ("residual SD", self.residual_sd >= 0, ">= 0", self.residual_sd),
            ("follow-up", self.follow_up_days > 0, "> 0 days", self.follow_up_days),
            (
                "activity range",
                0 < self.activity_bq_range[0] <= self.activity_bq_range[1],
                "0 < low <= high (Bq)",
                self.activity_bq_range,
            ),
            (
                "interval range",
                0 < self.interval_days_range[0] <= self.interval_days_range[1],
                "0 < low <= high (days)",
                self.interval_days_range,
            ),
            (
                "data cut-off",
                self.cutoff_days
                > self.accrual_days
                + self.interval_days_range[1] * (self.cycles - 1)
                + self.follow_up_days,
                "after the last patient's follow-up (days after the first start)",
                self.cutoff_days,
            ),
        ]
        for what, ok, expected, actual in checks:
            if not ok:
                raise InvalidInputError(f"cohort {what}", expected=expected, actual=actual)
        if self.first_start.tzinfo is None:
            raise InvalidInputError(
                "cohort first start", expected="a timezone-aware datetime", actual="naive"
            )


@dataclass(frozen=True)
class PatientPlan:
    """One patient as drawn before simulation (deterministic per cohort seed)."""

    index: int
    name: str
    phantom_seed: int
    sex: Literal["F", "M"]
    activity_bq: float
    interval_days: float
    first_injection: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "folder": self.name,
            "phantom_seed": self.phantom_seed,
            "sex": self.sex,
            "activity_bq": self.activity_bq,
            "interval_days": self.interval_days,
            "first_injection": self.first_injection.isoformat(),
        }


@dataclass(frozen=True)
class LesionResponse:
    """True dose and simulated follow-up volume of one lesion."""

    lesion_id: str
    organ: str
    is_node: bool
    dose_gy: float  # true cumulative absorbed dose
    residual: float
    log_volume_ratio: float
    volume_ml_baseline: float
    volume_ml_followup: float
    diameter_mm_baseline: float
    diameter_mm_followup: float


@dataclass(frozen=True)
class SurvivalDraw:
    """Follow-up times from the first 177Lu administration (days) and events."""

    pfs_days: float
    pfs_event: bool
    os_days: float
    os_event: bool
    hazard_multiplier: float
    cutoff: _dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "pfs_days": self.pfs_days,
            "pfs_event": self.pfs_event,
            "os_days": self.os_days,
            "os_event": self.os_event,
            "origin": "first 177Lu-DOTATATE administration",
            "data_cutoff": self.cutoff.isoformat(),
        }


@dataclass(frozen=True)
class CohortPatient:
    """A simulated patient: plan, study folder, lesion responses, RECIST and survival."""

    plan: PatientPlan
    folder: Path
    patient_id: str
    lesions: tuple[LesionResponse, ...]
    recist: str
    recist_change: float | None
    survival: SurvivalDraw

    @property
    def mean_log_ratio(self) -> float:
        return float(np.mean([les.log_volume_ratio for les in self.lesions]))

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "patient_id": self.patient_id,
            "n_lesions": len(self.lesions),
            "recist": self.recist,
            "survival": self.survival.to_dict(),
        }


@dataclass(frozen=True)
class Cohort:
    """The written cohort (``OUT/cohort.json`` is :meth:`to_dict`)."""

    root: Path
    config: CohortConfig
    patients: tuple[CohortPatient, ...]
    history: tuple[Step, ...]

    @property
    def study_folders(self) -> tuple[Path, ...]:
        return tuple(p.folder for p in self.patients)

    def to_dict(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "format": "sstrkit-cohort",
            "version": 1,
            "root": str(self.root),
            "n": len(self.patients),
            "truth": {
                "beta_per_gy": cfg.beta_per_gy,
                "residual_sd": cfg.residual_sd,
                "model": "log(V_followup / V_baseline) = beta * D_cumulative_true + e, "
                "e ~ N(0, residual_sd) per lesion",
                "pfs_median_days": PFS_MEDIAN_DAYS,
                "os_median_days": OS_MEDIAN_DAYS,
                "hazard_per_log_ratio": cfg.hazard_per_log_ratio,
            },
            "config": _config_dict(cfg),
            "patients": [p.to_dict() for p in self.patients],
            "studies": [str(p.folder) for p in self.patients],
            "sources": list(SOURCES),
            "history": [s.to_dict() for s in self.history],
        }


def _config_dict(cfg: CohortConfig) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, _dt.datetime) else v) for k, v in cfg.__dict__.items()
    }


def plan_cohort(config: CohortConfig) -> tuple[PatientPlan, ...]:
    """Draw sex, activity, interval and start date of every patient (stream ``[seed, 20]``)."""
    rng = np.random.default_rng([config.seed, 20])
    lo, hi = config.activity_bq_range
    ilo, ihi = config.interval_days_range
    width = max(3, len(str(config.n)))
    out = []
    for k in range(config.n):
        sex: Literal["F", "M"] = "F" if rng.random() < 0.5 else "M"
        activity = float(rng.uniform(lo, hi))
        interval = float(rng.uniform(ilo, ihi))
        start = config.first_start + _dt.timedelta(days=float(rng.uniform(0, config.accrual_days)))
        out.append(
            PatientPlan(
                index=k + 1,
                name=f"patient_{k + 1:0{width}d}",
                phantom_seed=10000 * config.seed + k + 1,
                sex=sex,
                activity_bq=round(activity / BQ_PER_MBQ) * BQ_PER_MBQ,  # whole MBq, as dispensed
                interval_days=round(interval),
                first_injection=start.replace(hour=10, minute=0, second=0, microsecond=0),
            )
        )
    return tuple(out)


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _lesion_responses(
    truth: dict[str, Any], config: CohortConfig, rng: np.random.Generator
) -> tuple[LesionResponse, ...]:
    """Follow-up volume of every lesion from its true cumulative dose (module docstring)."""
    out = []
    for les in truth["lesions"]:
        lid = str(les["id"])
        dose = sum(float(c["regions"][lid]["total_gy"]) for c in truth["cycles"])
        e = float(rng.normal(0.0, config.residual_sd)) if config.residual_sd > 0 else 0.0
        ratio = config.beta_per_gy * dose + e
        v0 = float(les["volume_ml"])
        d0 = float(les["diameter_mm"])
        out.append(
            LesionResponse(
                lesion_id=lid,
                organ=str(les["organ"]),
                is_node=str(les["organ"]) == "lymph_node",
                dose_gy=dose,
                residual=e,
                log_volume_ratio=ratio,
                volume_ml_baseline=v0,
                volume_ml_followup=v0 * math.exp(ratio),
                diameter_mm_baseline=d0,
                diameter_mm_followup=d0 * math.exp(ratio / 3.0),
            )
        )
    return tuple(out)


def _recist(lesions: Sequence[LesionResponse], follow_up_s: float) -> tuple[str, float | None]:
    """RECIST 1.1 response of the follow-up (nodes < 10 mm short axis are normal, left out)."""
    kept = [les for les in lesions if not (les.is_node and les.diameter_mm_baseline < 10.0)]
    base = select_targets(
        Lesion(x.lesion_id, x.organ, is_node=x.is_node, diameter_mm=x.diameter_mm_baseline)
        for x in kept
    )
    follow = tuple(
        replace(
            b,
            diameter_mm=x.diameter_mm_followup,
            status=None if b.target else "present",
        )
        for b, x in zip(base, kept, strict=True)
    )
    res = assess(
        TimePoint("baseline", 0.0, base),
        [TimePoint("follow-up", follow_up_s, follow)],
        confirm=False,
    )
    tp = res.time_points[0]
    return str(tp.response), tp.change_from_baseline


@functools.cache
def post_progression_days() -> float:
    """Mean post-progression survival (days) that makes the OS median the cited one.

    OS = PFS + PPS with PFS ~ Exp(median :data:`PFS_MEDIAN_DAYS`) and PPS exponential: the
    sum is hypoexponential, S(t) = (b e^(-a t) - a e^(-b t)) / (b - a); ``b`` solves
    S(OS median) = 0.5.

    >>> round(post_progression_days() / MONTH_DAYS, 1)
    14.2
    """
    from scipy.optimize import brentq

    a, t = math.log(2.0) / PFS_MEDIAN_DAYS, OS_MEDIAN_DAYS

    def surv(b: float) -> float:
        return (b * math.exp(-a * t) - a * math.exp(-b * t)) / (b - a) - 0.5

    b = float(brentq(surv, a * 1.001, 100.0 * a))
    return 1.0 / b


def draw_survival(
    patients: Sequence[tuple[PatientPlan, float]], config: CohortConfig
) -> list[SurvivalDraw]:
    """PFS and OS per patient (module docstring), censored at the data cut-off.

    PFS (progression or death) is exponential with the cited median; OS adds an
    exponential post-progression survival (:func:`post_progression_days`), so that the OS
    median is the cited one too. ``patients``: each plan with the patient's mean lesion
    log volume ratio; both hazards are multiplied by
    ``exp(hazard_per_log_ratio * (ratio - median ratio))``.
    """
    ratios = np.array([r for _, r in patients])
    centre = float(np.median(ratios))
    cutoff = config.first_start + _dt.timedelta(days=config.cutoff_days)
    out = []
    for plan, r in patients:
        rng = np.random.default_rng([config.seed, 21, plan.index])
        mult = math.exp(config.hazard_per_log_ratio * (r - centre))
        pfs = float(rng.exponential(PFS_MEDIAN_DAYS / math.log(2.0) / mult))
        os_ = pfs + float(rng.exponential(post_progression_days() / mult))
        censor = (cutoff - plan.first_injection).total_seconds() / DAY_S
        out.append(
            SurvivalDraw(
                pfs_days=round(min(pfs, censor), 1),
                pfs_event=pfs <= censor,
                os_days=round(min(os_, censor), 1),
                os_event=os_ <= censor,
                hazard_multiplier=mult,
                cutoff=cutoff,
            )
        )
    return out


def _follow_up_record(
    lesions: Sequence[LesionResponse],
    recist: tuple[str, float | None],
    survival: SurvivalDraw,
    times: tuple[_dt.datetime, _dt.datetime],
) -> dict[str, Any]:
    """The follow-up sections of ``clinical.json`` (``lesion_volumes``, ``responses``,
    ``survival``; the format the registry reads, :mod:`sstrkit.registry.clinical`)."""
    baseline, follow = times
    source = "digital patient: simulated follow-up (sstrkit.phantom.cohort)"
    volumes = []
    for x in lesions:
        for when, vol, diam in (
            (baseline, x.volume_ml_baseline, x.diameter_mm_baseline),
            (follow, x.volume_ml_followup, x.diameter_mm_followup),
        ):
            volumes.append(
                {
                    "lesion": x.lesion_id,
                    "time": when.isoformat(),
                    "volume_ml": vol,
                    "diameter_mm": diam,
                    "organ": x.organ,
                    "source": source,
                }
            )
    change = recist[1]
    response = {
        "time": follow.isoformat(),
        "criteria": "RECIST 1.1",
        "response": recist[0],
        "confirmed": False,
        "sum_change_pct": None if change is None else 100.0 * change,
        "source": source,
    }
    return {
        "lesion_volumes": volumes,
        "responses": [response],
        "survival": {**survival.to_dict(), "source": source},
    }


def _make_one(
    plan: PatientPlan, root: Path, config: CohortConfig, progress: Progress
) -> tuple[Path, str, tuple[LesionResponse, ...], tuple[str, float | None], dict[str, Any]]:
    """Write one patient's study and draw its lesion responses (survival comes later)."""
    from sstrkit.phantom.study import StudyConfig, make_study

    folder = root / plan.name
    progress(f"{plan.name}: digital patient (seed {plan.phantom_seed})")
    cfg = StudyConfig(
        seed=plan.phantom_seed,
        sex=plan.sex,
        cycles=config.cycles,
        activity_bq=plan.activity_bq,
        interval_days=plan.interval_days,
        timepoints_h=config.timepoints_h,
        voxel_mm=config.voxel_mm,
        fdg=config.fdg,
        first_injection=plan.first_injection,
    )
    manifest = make_study(folder, cfg)
    truth = _read_json(folder / "truth" / "truth.json")
    rng = np.random.default_rng([config.seed, 22, plan.index])
    lesions = _lesion_responses(truth, config, rng)
    last = max(_dt.datetime.fromisoformat(c["injection_time"]) for c in truth["cycles"])
    follow_s = (
        last + _dt.timedelta(days=config.follow_up_days) - plan.first_injection
    ).total_seconds()
    recist = _recist(lesions, follow_s)
    return folder, str(manifest["patient"]["id"]), lesions, recist, truth


def _write_patient(patient: CohortPatient, truth: dict[str, Any], config: CohortConfig) -> None:
    """Add the follow-up to ``clinical.json`` and the cohort truth to ``truth/truth.json``."""
    folder = patient.folder
    clinical = _read_json(folder / "clinical.json")
    case = _read_json(folder / "case.json")
    pet_time = _dt.datetime.fromisoformat(
        _read_json(folder / "manifest.json")["series"]["pet"]["time"]
    )
    last = max(_dt.datetime.fromisoformat(c["injection_time"]) for c in truth["cycles"])
    follow = last + _dt.timedelta(days=config.follow_up_days)
    clinical["patient"] = {
        "sex": patient.plan.sex,
        "age_y": case["patient"].get("age_y"),
        "weight_kg": case["patient"].get("weight_kg"),
        "height_cm": case["patient"].get("height_cm"),
    }
    clinical |= _follow_up_record(
        patient.lesions,
        (patient.recist, patient.recist_change),
        patient.survival,
        (pet_time, follow),
    )
    write_json_atomic(folder / "clinical.json", clinical)
    truth["cohort"] = {
        "beta_per_gy": config.beta_per_gy,
        "residual_sd": config.residual_sd,
        "lesions": [
            {
                "id": x.lesion_id,
                "dose_gy_cumulative": x.dose_gy,
                "residual": x.residual,
                "log_volume_ratio": x.log_volume_ratio,
            }
            for x in patient.lesions
        ],
        "mean_log_volume_ratio": patient.mean_log_ratio,
        "hazard_multiplier": patient.survival.hazard_multiplier,
        "sources": list(SOURCES),
    }
    write_json_atomic(folder / "truth" / "truth.json", truth)


def make_cohort(
    out: str | os.PathLike[str],
    config: CohortConfig | None = None,
    *,
    progress: Progress | None = None,
) -> Cohort:
    """Simulate the cohort into ``out`` (one study folder per patient) and return it."""
    cfg = config or CohortConfig()
    root = prepare_output_dir(out, "cohort folder").resolve()
    say = progress or (lambda _m: None)
    made = []
    for plan in plan_cohort(cfg):
        made.append((plan, *_make_one(plan, root, cfg, say)))
    draws = draw_survival(
        [
            (plan, float(np.mean([x.log_volume_ratio for x in les])))
            for plan, _, _, les, _, _ in made
        ],
        cfg,
    )
    patients = []
    for (plan, folder, pid, lesions, recist, truth), surv in zip(made, draws, strict=True):
        patient = CohortPatient(plan, folder, pid, lesions, recist[0], recist[1], surv)
        _write_patient(patient, truth, cfg)
        patients.append(patient)
    step = Step.make("phantom_make_cohort", _config_dict(cfg), sources=SOURCES)
    cohort = Cohort(root, cfg, tuple(patients), (step,))
    write_json_atomic(root / "cohort.json", cohort.to_dict())
    return cohort
