"""Typed records of a PRRT plan (what :func:`sstrkit.therapy.planning.plan_from_case` returns).

A :class:`PlanResult` holds the library objects the plan was made from (the case's
patient and limits, the catalogue regimen, each cycle's
:class:`~sstrkit.therapy.case_dosimetry.CycleDosimetry`) and what it found: the dose
and BED delivered so far (:class:`DeliveredDose`), one :class:`Constraint` per organ
limit, the conservative :class:`ScheduledCycle` list, the :class:`ProjectedDose` of each
region after it and the radionuclide advice per lesion (:class:`NuclideAdvice`).
Quantities are in the internal units (Bq, Gy, Gy/Bq); ``to_dict()`` writes the plan's
JSON (schema in docs/kinetics.md, units in the key names at this edge only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ
from sstrkit.therapy.marrow import sex_word

if TYPE_CHECKING:
    from sstrkit.catalog import Regimen
    from sstrkit.core.provenance import Step
    from sstrkit.therapy.case import Patient, PlanningLimits
    from sstrkit.therapy.case_dosimetry import CycleDosimetry

__all__ = [
    "KIDNEY_GY_PER_GBQ_BAND",
    "Constraint",
    "DeliveredDose",
    "NuclideAdvice",
    "PlanResult",
    "ProjectedDose",
    "ScheduledCycle",
]

#: Published 177Lu-DOTATATE kidney absorbed dose per activity (Gy/GBq): range of 12 patients,
#: EJNMMI Res 2018;8:97 (doi:10.1186/s13550-018-0459-4), mean 0.43 ± 0.13, range 0.27–0.91;
#: consistent with Staanum et al. EJNMMI Phys 2021;8:78 (mean 0.46 Gy/GBq, 56 treatments).
KIDNEY_GY_PER_GBQ_BAND: Final = (0.27, 0.91)
_BAND_SOURCE: Final = (
    "EJNMMI Res 2018 doi:10.1186/s13550-018-0459-4; Staanum et al. EJNMMI Phys 2021;8:78"
)


@dataclass(frozen=True)
class Constraint:
    """One organ limit and what it allows."""

    organ: str
    criterion: str  # "absorbed" or "bed"
    limit_gy: float
    delivered_gy: float
    per_cycle_gy: float
    max_cumulative_activity_bq: float
    max_cumulative_activity_conservative_bq: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "organ": self.organ,
            "criterion": self.criterion,
            "limit_gy": self.limit_gy,
            "delivered_gy": self.delivered_gy,
            "per_standard_cycle_gy": self.per_cycle_gy,
            "max_cumulative_activity_mbq": self.max_cumulative_activity_bq / BQ_PER_MBQ,
            "max_cumulative_activity_conservative_mbq": (
                self.max_cumulative_activity_conservative_bq / BQ_PER_MBQ
            ),
            "source": self.source,
        }


@dataclass(frozen=True)
class ScheduledCycle:
    """A further cycle of the plan and its (conservative) activity in Bq."""

    cycle: int
    activity_bq: float

    def to_dict(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "activity_mbq": self.activity_bq / BQ_PER_MBQ}


@dataclass(frozen=True)
class DeliveredDose:
    """What the delivered cycles of the planned nuclide (and prior EBRT) gave.

    ``absorbed_gy`` per region; ``bed_gy`` only for the regions with radiobiological
    parameters (a tissue); ``activity_bq``: the total administered activity.
    """

    cycles: int
    activity_bq: float
    absorbed_gy: Mapping[str, float]
    bed_gy: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "activity_mbq": self.activity_bq / BQ_PER_MBQ,
            "absorbed_gy": dict(self.absorbed_gy),
            "bed_gy": dict(self.bed_gy),
        }


@dataclass(frozen=True)
class ProjectedDose:
    """One region's cumulative dose after the planned cycles (delivered included).

    ``gy_per_bq``: its absorbed dose per administered activity (latest dosimetry);
    BED, EQD2, α/β and the Lea–Catcheside G only where a tissue is known (else None).
    """

    absorbed_gy: float
    absorbed_sd_gy: float
    gy_per_bq: float
    bed_gy: float | None = None
    eqd2_gy: float | None = None
    alpha_beta_gy: float | None = None
    g_factor: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "absorbed_gy": self.absorbed_gy,
            "absorbed_sd_gy": self.absorbed_sd_gy,
            "dose_gy_per_gbq": self.gy_per_bq * BQ_PER_GBQ,
        }
        if self.bed_gy is not None:
            out.update(
                bed_gy=self.bed_gy,
                eqd2_gy=self.eqd2_gy,
                alpha_beta_gy=self.alpha_beta_gy,
                g_factor=self.g_factor,
            )
        return out


@dataclass(frozen=True)
class NuclideAdvice:
    """φ_e of 177Lu and 90Y for one lesion mass (sphere model) and the nuclide suggested."""

    lesion: str
    mass_g: float
    radius_mm: float
    electron_absorbed_fraction_lu177: float
    electron_absorbed_fraction_y90: float
    s_gy_per_bq_s_lu177: float
    s_gy_per_bq_s_y90: float
    suggested: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlanResult:
    """A plan of the remaining cycles (see :func:`~sstrkit.therapy.planning.plan_from_case`).

    ``patient``, ``limits``: the case's; ``regimen``: the catalogue regimen with
    ``activity_per_cycle_bq`` its standard activity for this patient;
    ``dosimetry_cycles``: the cycles with dosimetry (latest nuclide) the plan is based on;
    ``projected``: region name → :class:`ProjectedDose`. The limiting organ and the safe
    cumulative activities follow from ``constraints`` (properties).
    """

    case_id: str
    nuclide: str
    regimen: Regimen
    activity_per_cycle_bq: float
    patient: Patient
    limits: PlanningLimits
    confidence_z: float
    dosimetry_cycles: tuple[CycleDosimetry, ...]
    delivered: DeliveredDose
    constraints: tuple[Constraint, ...]
    schedule: tuple[ScheduledCycle, ...]
    projected: Mapping[str, ProjectedDose]
    advisor: tuple[NuclideAdvice, ...]
    warnings: tuple[str, ...] = ()
    provenance: tuple[Step, ...] = field(default=())

    @property
    def binding(self) -> Constraint | None:
        """The limit that allows the least cumulative activity (conservative estimate)."""
        if not self.constraints:
            return None
        return min(self.constraints, key=lambda c: c.max_cumulative_activity_conservative_bq)

    @property
    def limiting_organ(self) -> str | None:
        """``"<organ> (<criterion>)"`` of :attr:`binding`."""
        b = self.binding
        return None if b is None else f"{b.organ} ({b.criterion})"

    @property
    def max_safe_cumulative_activity_bq(self) -> float | None:
        """The least cumulative activity any limit allows (nominal dose estimate)."""
        if not self.constraints:
            return None
        return min(c.max_cumulative_activity_bq for c in self.constraints)

    @property
    def max_safe_cumulative_activity_conservative_bq(self) -> float | None:
        """The same with the upper bound of the dose per activity (:attr:`binding`'s)."""
        b = self.binding
        return None if b is None else b.max_cumulative_activity_conservative_bq

    @property
    def recommended_cycles_total(self) -> int:
        """Cycles delivered plus cycles planned."""
        return self.delivered.cycles + len(self.schedule)

    @property
    def next_cycle_activity_bq(self) -> float:
        """The activity of the next cycle (0 when no further cycle fits the limits)."""
        return self.schedule[0].activity_bq if self.schedule else 0.0

    @property
    def assumptions(self) -> tuple[str, ...]:
        return (
            "future cycles repeat the kinetics of the latest dosimetry cycle",
            "complete repair between cycles (BEDs add)",
            f"planned activities use dose per activity × (1 + {self.confidence_z}·relative SD)",
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan's JSON (schema in docs/kinetics.md)."""
        reg = self.regimen
        safe = self.max_safe_cumulative_activity_bq
        safe_hi = self.max_safe_cumulative_activity_conservative_bq
        return {
            "case_id": self.case_id,
            "nuclide": self.nuclide,
            "regimen": {
                "id": reg.id,
                "name": reg.name,
                "cycles": reg.cycles,
                "activity_per_cycle_mbq": self.activity_per_cycle_bq / BQ_PER_MBQ,
                "refs": list(reg.refs),
            },
            "patient": _patient_doc(self.patient),
            "limits": self.limits.model_dump(),
            "confidence_z": self.confidence_z,
            "dosimetry_cycles": [c.to_dict() for c in self.dosimetry_cycles],
            "delivered": self.delivered.to_dict(),
            "constraints": [c.to_dict() for c in self.constraints],
            "limiting_organ": self.limiting_organ,
            "max_safe_cumulative_activity_mbq": None if safe is None else safe / BQ_PER_MBQ,
            "max_safe_cumulative_activity_conservative_mbq": (
                None if safe_hi is None else safe_hi / BQ_PER_MBQ
            ),
            "recommended_cycles_total": self.recommended_cycles_total,
            "next_cycle_activity_mbq": self.next_cycle_activity_bq / BQ_PER_MBQ,
            "schedule": [s.to_dict() for s in self.schedule],
            "projected": {k: v.to_dict() for k, v in self.projected.items()},
            "advisor": [a.to_dict() for a in self.advisor],
            "plausibility": {
                "kidney_gy_per_gbq_band": list(KIDNEY_GY_PER_GBQ_BAND),
                "source": _BAND_SOURCE,
            },
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _patient_doc(patient: Patient) -> dict[str, Any]:
    """The patient as the plan states it: sex in words, weight, BSA, risk factors present."""
    return {
        "sex": sex_word(patient.sex),
        "weight_kg": patient.weight_kg,
        "bsa_m2": patient.bsa_m2,
        "risk_factors": patient.risk_factors.present(),
    }
