"""Combined normal-liver BED of SIRT and PRRT, against cited liver tolerances.

A patient with NET liver metastases may receive both 90Y microspheres (SIRT) and
peptide receptor radionuclide therapy (PRRT). Their normal-liver doses are combined in
the linear-quadratic model as biologically effective doses (Cremonesi M et al., Eur J
Nucl Med Mol Imaging 2008;35:2088-2096 — BEDs of separate SIRT deliveries summed;
Cremonesi M et al., Front Oncol 2014;4:210):

    BED = D · (1 + G · D / (α/β))       (Dale 1985: :func:`sstrkit.therapy.radiobiology.bed_from_g`,
                                          the package's one BED expression)

* **SIRT** — a permanent implant: the dose rate decays with the 90Y half-life only,
  Ḋ(t) = Ḋ₀ e^(−λt), λ = ln 2 / 64.1 h, so G = λ / (λ + μ) with μ = ln 2 / T_rep
  (the Lea–Catcheside factor of an exponentially decaying source, Dale 1985;
  :func:`sstrkit.therapy.radiobiology.g_factor`). The BED of the normal liver's mean
  dose is summed; given the voxel doses, the mean of the voxel BEDs is reported beside
  it — higher for a non-uniform dose, and on a low-count 90Y PET inflated by the image
  noise (its variance adds to the quadratic term), hence not the summed value.
* **PRRT** — each cycle's normal-liver absorbed dose with its effective half-life
  (``t_eff``; from a fitted kinetics model the exact G of the fit:
  :func:`sstrkit.therapy.planning.fit_g_factor`).
* Deliveries are weeks apart: repair is complete between them and their BEDs add.

Liver α/β = 2.5 Gy and T_rep = 2.5 h (tissue ``liver`` of
``sstrkit/therapy/data/radiobiology.toml``; Strigari L et al., J Nucl Med
2010;51:1377-1385), overridable. The total is reported against
:data:`DEFAULT_LIVER_TOLERANCES` with status ``ok`` (below 80 % of the limit),
``caution`` (80–100 %) or ``exceeded`` — the package's one traffic-light rule
(:func:`sstrkit.therapy.limit_status.limit_status`: green/amber/red):

* ``strigari_2010`` (the status of the summary) — normal-liver BED 93 Gy, the BED with a
  50 % probability of liver decompensation after resin-microsphere SIRT (Strigari 2010;
  TD50 52 Gy absorbed dose with the same α/β and T_rep). Derived from SIRT itself, so with
  its dose rate and microscopic dose heterogeneity.
* ``quantec_2010`` — mean normal-liver dose 30 Gy in 2-Gy fractions (< 5 % classic
  radiation-induced liver disease without pre-existing liver disease; QUANTEC: Pan CC et
  al., Int J Radiat Oncol Biol Phys 2010;76:S94-S100), as a BED with the liver α/β. An
  external-beam limit: SIRT is tolerated to higher mean doses (non-uniform microscopic
  deposition), so this line is conservative for SIRT.

Examples
--------
>>> s = combined_liver_bed(40.0)      # SIRT alone, 40 Gy mean normal-liver dose
>>> round(s.sirt.g_factor, 4), round(s.total_bed_gy, 1), s.status
(0.0375, 64.0, 'ok')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.provenance import Step
from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.sirt.physics import Y90_HALF_LIFE_S
from sstrkit.therapy.limit_status import limit_status
from sstrkit.therapy.radiobiology import (
    DALE_1985,
    TissueParameters,
    bed_from_g,
    eqd2,
    g_factor,
    tissue_parameters,
)

if TYPE_CHECKING:
    from sstrkit.sirt.dose_results import Y90Dosimetry
    from sstrkit.therapy.case_dosimetry import CaseDosimetry

__all__ = [
    "CREMONESI_2008",
    "DEFAULT_LIVER_TOLERANCES",
    "QUANTEC_2010",
    "STRIGARI_2010",
    "LiverBedSummary",
    "LiverBedTerm",
    "LiverTolerance",
    "PrrtLiverCycle",
    "ToleranceCheck",
    "ToleranceStatus",
    "combined_liver_bed",
    "liver_bed_from_dosimetry",
    "prrt_liver_cycles_from_case",
    "prrt_liver_cycles_from_results",
]

ToleranceStatus = Literal["ok", "caution", "exceeded"]
_STATUS: Final[dict[str, ToleranceStatus]] = {
    "green": "ok",
    "amber": "caution",
    "red": "exceeded",
}

STRIGARI_2010: Final = (
    "Strigari L et al. Efficacy and toxicity related to treatment of hepatocellular "
    "carcinoma with 90Y-SIR spheres: radiobiologic considerations. J Nucl Med "
    "2010;51:1377-1385"
)
QUANTEC_2010: Final = (
    "Pan CC et al. Radiation-associated liver injury. Int J Radiat Oncol Biol Phys "
    "2010;76(3 Suppl):S94-S100 (QUANTEC)"
)
CREMONESI_2008: Final = (
    "Cremonesi M et al. Radioembolisation with 90Y-microspheres: dosimetric and "
    "radiobiological investigation for multi-cycle treatment. Eur J Nucl Med Mol Imaging "
    "2008;35:2088-2096"
)
#: The tissue of the radiobiology table used for the normal liver.
LIVER_TISSUE: Final = "liver"


@dataclass(frozen=True)
class LiverTolerance:
    """A cited normal-liver tolerance: a BED, or a dose in 2-Gy fractions (EQD2)."""

    name: str
    limit_gy: float
    quantity: Literal["bed", "eqd2"]
    endpoint: str
    source: str

    def limit_bed_gy(self, alpha_beta_gy: float) -> float:
        """The limit as a BED: as published, or EQD2/2 fractions of 2 Gy (acute, G = 1)."""
        if self.quantity == "bed":
            return self.limit_gy
        return self.limit_gy / 2.0 * bed_from_g(2.0, 1.0, alpha_beta_gy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit_gy": self.limit_gy,
            "quantity": self.quantity,
            "endpoint": self.endpoint,
            "source": self.source,
        }


#: The tolerances every summary is checked against; the first one sets its status.
DEFAULT_LIVER_TOLERANCES: Final[tuple[LiverTolerance, ...]] = (
    LiverTolerance(
        "strigari_2010",
        93.0,
        "bed",
        "normal-liver BED with a 50 % probability of liver decompensation after SIRT "
        "(resin microspheres; TD50 52 Gy absorbed dose)",
        STRIGARI_2010,
    ),
    LiverTolerance(
        "quantec_2010",
        30.0,
        "eqd2",
        "mean normal-liver dose in 2-Gy fractions with < 5 % classic RILD (external beam, "
        "no pre-existing liver disease): conservative for SIRT",
        QUANTEC_2010,
    ),
)


@dataclass(frozen=True)
class PrrtLiverCycle:
    """One PRRT cycle's normal-liver absorbed dose and the shape of its dose rate.

    ``g_factor`` when known (from the kinetics fit), else G of a mono-exponential dose
    rate with the effective half-life ``t_eff_s``.
    """

    cycle: int
    dose_gy: float
    t_eff_s: float | None = None
    g_factor: float | None = None
    nuclide: str = ""
    status: str = "measured"
    note: str = ""


@dataclass(frozen=True)
class LiverBedTerm:
    """One delivery's normal-liver dose, Lea–Catcheside G and BED."""

    label: str
    therapy: Literal["sirt", "prrt"]
    dose_gy: float
    g_factor: float
    bed_gy: float
    t_eff_s: float | None
    note: str = ""
    voxel_mean_bed_gy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "therapy": self.therapy,
            "dose_gy": self.dose_gy,
            "g_factor": self.g_factor,
            "bed_gy": self.bed_gy,
            "voxel_mean_bed_gy": self.voxel_mean_bed_gy,
            "t_eff_h": None if self.t_eff_s is None else self.t_eff_s / SECONDS_PER_HOUR,
            "note": self.note,
        }


@dataclass(frozen=True)
class ToleranceCheck:
    """The total normal-liver BED against one tolerance."""

    tolerance: LiverTolerance
    limit_bed_gy: float
    fraction: float
    status: ToleranceStatus

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.tolerance.to_dict(),
            "limit_bed_gy": self.limit_bed_gy,
            "fraction_of_limit": self.fraction,
            "status": self.status,
        }


@dataclass(frozen=True)
class LiverBedSummary:
    """Normal-liver BED of SIRT plus PRRT, and its status against the liver tolerances."""

    sirt: LiverBedTerm
    prrt: tuple[LiverBedTerm, ...]
    total_bed_gy: float
    total_eqd2_gy: float
    tissue: TissueParameters
    checks: tuple[ToleranceCheck, ...]
    provenance: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> ToleranceStatus:
        """Status against the first tolerance (:data:`DEFAULT_LIVER_TOLERANCES`)."""
        return self.checks[0].status

    @property
    def prrt_bed_gy(self) -> float:
        return float(sum(t.bed_gy for t in self.prrt))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tissue": self.tissue.to_dict(),
            "sirt": self.sirt.to_dict(),
            "prrt": [t.to_dict() for t in self.prrt],
            "sirt_bed_gy": self.sirt.bed_gy,
            "prrt_bed_gy": self.prrt_bed_gy,
            "total_bed_gy": self.total_bed_gy,
            "total_eqd2_gy": self.total_eqd2_gy,
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _finite(name: str, v: float, *, positive: bool = False) -> float:
    x = float(v)
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise InvalidInputError(
            name, expected=f"a finite value {'>' if positive else '≥'} 0", actual=v
        )
    return x


def _sirt_term(
    dose: float | Sequence[float] | NDArray[np.floating[Any]], tp: TissueParameters, label: str
) -> LiverBedTerm:
    g = g_factor(Y90_HALF_LIFE_S, tp.t_repair_s)  # permanent implant: physical decay only
    d = np.asarray(dose, dtype=np.float64).ravel()
    if d.size == 0 or not np.all(np.isfinite(d)):
        raise InvalidInputError(
            "SIRT normal-liver dose", expected="finite doses (Gy), at least one", actual=d.size
        )
    mean = float(d.mean())
    bed_mean = bed_from_g(_finite("SIRT normal-liver mean dose", mean), g, tp.alpha_beta_gy)
    if d.size == 1:
        return LiverBedTerm(label, "sirt", mean, g, bed_mean, Y90_HALF_LIFE_S, "mean dose")
    voxel_bed = float(np.mean(bed_from_g(np.clip(d, 0.0, None), g, tp.alpha_beta_gy)))
    return LiverBedTerm(
        label,
        "sirt",
        mean,
        g,
        bed_mean,
        Y90_HALF_LIFE_S,
        f"BED of the mean dose of {d.size} normal-liver voxels; the mean of their voxel BEDs "
        f"({voxel_bed:.1f} Gy) also holds the image noise (its variance adds to the "
        "quadratic term): an upper value on a low-count 90Y image",
        voxel_mean_bed_gy=voxel_bed,
    )


def _prrt_term(c: PrrtLiverCycle, tp: TissueParameters) -> LiverBedTerm:
    dose = _finite(f"PRRT cycle {c.cycle} liver dose", c.dose_gy)
    if c.g_factor is not None:
        g = float(c.g_factor)
        if not 0.0 <= g <= 1.0:
            raise InvalidInputError(
                f"G factor of PRRT cycle {c.cycle}", expected="in [0, 1]", actual=c.g_factor
            )
        how = "G of the fitted kinetics"
    elif c.t_eff_s is not None:
        g = g_factor(
            _finite(f"PRRT cycle {c.cycle} T_eff", c.t_eff_s, positive=True), tp.t_repair_s
        )
        how = "mono-exponential G of the effective half-life"
    else:
        raise InvalidInputError(
            f"PRRT cycle {c.cycle} liver kinetics",
            expected="an effective half-life (t_eff) or a G factor",
            actual="neither",
            fix="give the PRRT dosimetry results (results.json of 'sstrkit run')",
        )
    note = "; ".join(x for x in (how, c.status if c.status != "measured" else "", c.note) if x)
    label = f"PRRT cycle {c.cycle}" + (f" ({c.nuclide})" if c.nuclide else "")
    return LiverBedTerm(
        label, "prrt", dose, g, bed_from_g(dose, g, tp.alpha_beta_gy), c.t_eff_s, note
    )


def _check(total_bed: float, tol: LiverTolerance, ab: float) -> ToleranceCheck:
    limit = tol.limit_bed_gy(ab)
    return ToleranceCheck(tol, limit, total_bed / limit, _STATUS[limit_status(total_bed, limit)])


def combined_liver_bed(
    sirt_normal_liver_gy: float | Sequence[float] | NDArray[np.floating[Any]],
    prrt_cycles: Sequence[PrrtLiverCycle] = (),
    *,
    alpha_beta_gy: float | None = None,
    t_repair_s: float | None = None,
    tolerances: Sequence[LiverTolerance] = DEFAULT_LIVER_TOLERANCES,
    sirt_label: str = "SIRT (90Y microspheres)",
) -> LiverBedSummary:
    """Normal-liver BED of one SIRT plus the PRRT cycles, checked against ``tolerances``.

    ``sirt_normal_liver_gy``: the SIRT mean normal-liver dose, or the doses of the
    normal-liver voxels (the BED of their mean is summed; the mean of their voxel BEDs is
    reported beside it). ``alpha_beta_gy``/``t_repair_s`` override the table's liver values.
    """
    if not tolerances:
        raise InvalidInputError("liver tolerances", expected="at least one", actual=0)
    tp = tissue_parameters(LIVER_TISSUE, alpha_beta_gy=alpha_beta_gy, t_repair_s=t_repair_s)
    sirt = _sirt_term(sirt_normal_liver_gy, tp, sirt_label)
    prrt = tuple(_prrt_term(c, tp) for c in sorted(prrt_cycles, key=lambda c: c.cycle))
    total = sirt.bed_gy + sum(t.bed_gy for t in prrt)
    checks = tuple(_check(total, t, tp.alpha_beta_gy) for t in tolerances)
    notes = []
    if tp.basis == "user override" and any(t.quantity == "bed" for t in tolerances):
        notes.append(
            "liver α/β or T_rep overridden: the published BED tolerances were derived with "
            "α/β 2.5 Gy, T_rep 2.5 h"
        )
    step = Step.make(
        "liver_bed_sirt_plus_prrt",
        {
            "alpha_beta_gy": tp.alpha_beta_gy,
            "t_repair_s": tp.t_repair_s,
            "sirt_g": sirt.g_factor,
            "sirt_half_life_s": Y90_HALF_LIFE_S,
            "prrt_cycles": [c.cycle for c in prrt_cycles],
            "between_deliveries": "complete repair (BEDs add)",
            "tolerances": [t.name for t in tolerances],
        },
        sources=(DALE_1985, CREMONESI_2008, *tp.sources, *(t.source for t in tolerances)),
    )
    return LiverBedSummary(
        sirt=sirt,
        prrt=prrt,
        total_bed_gy=total,
        total_eqd2_gy=eqd2(total, tp.alpha_beta_gy),
        tissue=tp,
        checks=checks,
        provenance=(step,),
        notes=tuple(notes),
    )


def liver_bed_from_dosimetry(
    dosimetry: Y90Dosimetry,
    prrt_cycles: Sequence[PrrtLiverCycle] = (),
    *,
    method: str | None = None,
    **options: Any,
) -> LiverBedSummary:
    """:func:`combined_liver_bed` with the normal-liver voxel doses of a post-implant dosimetry.

    ``method``: ``ldm`` or ``voxel`` (default: the dosimetry's primary method).
    """
    m = method or dosimetry.primary_method
    if m not in dosimetry.doses:
        raise InvalidInputError(
            "dose method", expected=f"one of {sorted(dosimetry.doses)}", actual=m
        )
    mask = dosimetry.masks.get("normal_liver")
    if mask is None or not mask.any():
        raise InvalidInputError(
            "normal-liver VOI", expected="a normal-liver region in the dosimetry", actual="none"
        )
    doses = np.asarray(dosimetry.doses[m].array, dtype=np.float64)[mask]
    label = f"SIRT (90Y, {dosimetry.implant_time.date().isoformat()}, {m})"
    return combined_liver_bed(doses, prrt_cycles, sirt_label=label, **options)


# --------------------------------------------------------------- PRRT liver doses
def _is_liver(name: str) -> bool:
    low = name.strip().lower()
    return low.startswith(("liver", "hepar")) and "lesion" not in low


def _cycles_of(doc: Mapping[str, Any]) -> list[Any]:
    """The per-cycle rows of a PRRT result document (run results, or case dosimetry)."""
    for path in (("stages", "dosimetry", "organ_level"), ("organ_level",), ()):
        node: Any = doc
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and isinstance(node.get("cycles"), list):
            return list(node["cycles"])
    raise InvalidInputError(
        "PRRT results",
        expected="the results.json of 'sstrkit run' (stages.dosimetry.organ_level.cycles) or a "
        "case-dosimetry document with 'cycles'",
        actual=f"keys {sorted(doc)[:8]}",
        fix="give the run folder of the PRRT dosimetry (sstrkit run STUDY --out RUN)",
    )


def prrt_liver_cycles_from_results(doc: Mapping[str, Any]) -> tuple[PrrtLiverCycle, ...]:
    """The liver row of every PRRT cycle of a result document (``results.json``).

    Each row needs ``dose_gy`` and ``t_eff_h``; estimated rows keep their status.
    """
    out: list[PrrtLiverCycle] = []
    for c in _cycles_of(doc):
        row = next((r for r in c.get("regions", []) if _is_liver(str(r.get("name", "")))), None)
        if row is None or row.get("dose_gy") is None:
            continue
        t_eff_h = row.get("t_eff_h")
        out.append(
            PrrtLiverCycle(
                cycle=int(c.get("cycle") or len(out) + 1),
                dose_gy=float(row["dose_gy"]),
                t_eff_s=None if t_eff_h is None else float(t_eff_h) * SECONDS_PER_HOUR,
                nuclide=str(c.get("nuclide") or ""),
                status=str(row.get("status") or "measured"),
                note=f"model {row['model']}" if row.get("model") else "",
            )
        )
    if not out:
        raise InvalidInputError(
            "PRRT liver doses",
            expected="a 'liver' region with dose_gy in at least one cycle",
            actual="none",
            fix="run the PRRT dosimetry with a liver VOI",
        )
    return tuple(out)


def prrt_liver_cycles_from_case(
    dosimetry: CaseDosimetry, region: str = "liver", *, t_repair_s: float | None = None
) -> tuple[PrrtLiverCycle, ...]:
    """The liver row of every cycle of a typed case dosimetry, with the exact G of its fit.

    ``t_repair_s``: the repair half-time of that G (default: the table's liver value; pass
    the same override as to :func:`combined_liver_bed`).
    """
    from sstrkit.therapy.planning import fit_g_factor

    t_rep = tissue_parameters(LIVER_TISSUE, t_repair_s=t_repair_s).t_repair_s
    out: list[PrrtLiverCycle] = []
    for c in dosimetry.cycles:
        row = c.region(region)
        if row is None:
            continue
        out.append(
            PrrtLiverCycle(
                cycle=c.cycle,
                dose_gy=row.dose_gy,
                t_eff_s=row.fit.t_eff_s,
                g_factor=fit_g_factor(row.fit, t_rep),
                nuclide=c.administration.nuclide,
                status=row.status,
                note=row.model,
            )
        )
    return tuple(out)
