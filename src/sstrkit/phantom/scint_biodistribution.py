"""The SSTR imaging tracers of the digital patient and their biodistribution over time.

:func:`sstr_tracer` names the tracers ``sstrkit phantom make --sstr-imaging`` knows
(:data:`SSTR_TRACERS`; protocol values in ``phantom/data/scintigraphy.toml``) and
:func:`tracer_distribution` paints the true activity concentration of a single-photon
tracer (111In-pentetreotide, 99mTc-HYNIC-TOC) at a time after injection on the truth
grid of the patient as a scan session sees it (repositioned, with its CT tissue map).

Model (numbers and sources in ``scintigraphy.toml`` ``[tracers.*]``; time t in h after
injection; every fraction biological, physical decay applied on top):

* SSTR tissues (liver, spleen, adrenals, pancreas, lesions): SUV-equivalent =
  ``receptor_scale`` · (1 − 2^(−t/``receptor_t_uptake_h``)) · the patient's
  68Ga-DOTATATE SUV (:class:`sstrkit.phantom.biology.Biology`), so every tumour keeps the
  receptor expression it shows on PET; concentration = SUV-eq · A₀ / body mass.
* Kidneys: ``kidney_fraction`` (both kidneys at the reference mass, scaled by mass;
  cortex and medulla in the ratio of their DOTATATE SUVs) with uptake and slow washout.
* Blood (heart, aorta; red marrow at the blood concentration): a two-exponential fraction
  of A₀ in the whole blood volume.
* Urine: cumulative excretion U(t) = ``urine_plateau`` · (1 − 2^(−t/``urine_t_h``)); the
  bladder holds what is not yet voided (first-order voiding).
* Bowel (colon content of the CT tissue map) after hepatobiliary excretion, with a
  two-step transit; gallbladder (the CT map's gallbladder) filling.
* Remainder: 1 − U(t) minus every region above, shared by body, lungs and cortical bone
  as the 177Lu model does (:data:`sstrkit.phantom.biology.REMAINDER_WEIGHTS`); clipped at
  0 (recorded) should a large tumour burden exceed it.

Examples
--------
>>> t = sstr_tracer("111in-PENTETREOTIDE")
>>> t.name, t.nuclide, t.planar_h, t.spect_h
('111In-pentetreotide', 'In-111', (4.0, 24.0), (24.0,))
>>> k = t.kinetics
>>> round(k.blood(1 / 6), 3), round(k.blood(20.0), 4)     # Octreoscan label: 0.33, 0.01
(0.33, 0.0101)
>>> round(k.excreted(6.0), 3), round(k.excreted(24.0), 3)  # label: 0.50, 0.85
(0.5, 0.85)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import COMPOSITES, LABELS
from sstrkit.phantom.biology import REMAINDER_WEIGHTS, Biology
from sstrkit.phantom.ct_tissues import structure_mask
from sstrkit.phantom.parameters import scintigraphy_parameters
from sstrkit.phantom.positioning import MovedAnatomy
from sstrkit.phantom.scanners import fine_concentration
from sstrkit.physics.nuclides import get_nuclide

__all__ = [
    "BASELINE_TRACER",
    "SSTR_TRACERS",
    "SstrTracer",
    "TracerDistribution",
    "TracerKinetics",
    "canonical_tracer",
    "sstr_tracer",
    "tracer_distribution",
]

H = SECONDS_PER_HOUR
LN2 = math.log(2.0)

#: The tracers of ``--sstr-imaging``, in the order of their noise streams.
SSTR_TRACERS: tuple[str, ...] = (
    "111In-pentetreotide",
    "99mTc-HYNIC-TOC",
    "68Ga-DOTATATE",
    "64Cu-DOTATATE",
)
#: The study's baseline SSTR PET/CT (always written: the frame of the truth label maps).
BASELINE_TRACER = "68Ga-DOTATATE"
#: SSTR-expressing regions whose uptake follows the 68Ga-DOTATATE SUV.
SSTR_REGIONS: tuple[str, ...] = (
    "liver",
    "spleen",
    *COMPOSITES["adrenals"],
    *COMPOSITES["pancreas"],
)


def canonical_tracer(name: str) -> str:
    """The canonical spelling of an SSTR imaging tracer (case-insensitive match).

    >>> canonical_tracer("99MTC-hynic-toc")
    '99mTc-HYNIC-TOC'
    """
    for tracer in SSTR_TRACERS:
        if str(name).strip().lower() == tracer.lower():
            return tracer
    raise InvalidInputError(
        "SSTR imaging tracer",
        expected=" or ".join(SSTR_TRACERS),
        actual=name,
        fix="use --sstr-imaging with one of these names (repeat the option for several)",
    )


def _halving(t_h: float, half_h: float) -> float:
    return float(2.0 ** (-t_h / half_h))


@dataclass(frozen=True)
class TracerKinetics:
    """Biological fractions of the injected activity (no physical decay) vs time (h)."""

    receptor_scale: float
    receptor_t_uptake_h: float
    kidney_fraction: float
    kidney_t_uptake_h: float
    kidney_t_bio_h: float
    blood_a: tuple[float, ...]
    blood_t_h: tuple[float, ...]
    urine_plateau: float
    urine_t_h: float
    bladder_voiding_half_time_h: float
    bowel_fraction: float
    bowel_t_h: float
    gallbladder_fraction: float
    gallbladder_t_h: float

    @classmethod
    def from_table(cls, p: Mapping[str, Any]) -> TracerKinetics:
        names = cls.__dataclass_fields__
        values: dict[str, Any] = {
            k: (tuple(map(float, p[k])) if k.startswith("blood_") else float(p[k])) for k in names
        }
        return cls(**values)

    def receptor(self, t_h: float) -> float:
        """SUV-equivalent per unit 68Ga-DOTATATE SUV of an SSTR tissue."""
        return self.receptor_scale * (1.0 - _halving(t_h, self.receptor_t_uptake_h))

    def kidneys(self, t_h: float) -> float:
        """Fraction in both kidneys (reference mass)."""
        up = 1.0 - _halving(t_h, self.kidney_t_uptake_h)
        return self.kidney_fraction * up * _halving(t_h, self.kidney_t_bio_h)

    def blood(self, t_h: float) -> float:
        """Fraction in the whole blood volume."""
        return sum(
            a * _halving(t_h, th) for a, th in zip(self.blood_a, self.blood_t_h, strict=True)
        )

    def excreted(self, t_h: float) -> float:
        """Cumulative urinary excretion U(t) (bladder content included)."""
        return self.urine_plateau * (1.0 - _halving(t_h, self.urine_t_h))

    def bladder(self, t_h: float) -> float:
        """Fraction in the bladder: urine inflow dU/dt, first-order voiding (analytic)."""
        rho = LN2 / self.urine_t_h
        kv = LN2 / self.bladder_voiding_half_time_h
        if abs(kv - rho) < 1e-12:
            return self.urine_plateau * rho * t_h * math.exp(-rho * t_h)
        amp = self.urine_plateau * rho / (kv - rho)
        return amp * (math.exp(-rho * t_h) - math.exp(-kv * t_h))

    def bowel(self, t_h: float) -> float:
        """Fraction in the colon: hepatobiliary excretion with a two-step transit."""
        x = LN2 / self.bowel_t_h * t_h
        return self.bowel_fraction * (1.0 - math.exp(-x) * (1.0 + x))

    def gallbladder(self, t_h: float) -> float:
        """Fraction in the gallbladder."""
        return self.gallbladder_fraction * (1.0 - _halving(t_h, self.gallbladder_t_h))


@dataclass(frozen=True)
class SstrTracer:
    """An SSTR imaging tracer and its protocol (``scintigraphy.toml`` ``[tracers.*]``)."""

    name: str
    kind: Literal["scintigraphy", "pet"]
    nuclide: str
    activity_bq: float
    injection_days_before_therapy: float
    planar_h: tuple[float, ...] = ()
    spect_h: tuple[float, ...] = ()
    pet_h: tuple[float, ...] = ()
    scan_speed_cm_min: tuple[float, ...] = ()
    frame_duration_s: float | None = None
    kinetics: TracerKinetics | None = None
    source: str = ""

    @property
    def slug(self) -> str:
        """Folder- and role-safe name, e.g. ``in111_pentetreotide``, ``tc99m_hynic_toc``."""
        m = re.fullmatch(r"(\d+)(m?)([A-Z][a-z]?)-(.+)", self.name)
        if m is None:  # pragma: no cover - every tracer name has this form
            return re.sub(r"[^a-z0-9]+", "_", self.name.lower())
        mass, meta, symbol, rest = m.groups()
        return f"{symbol}{mass}{meta}_{rest}".lower().replace("-", "_")


def sstr_tracer(name: str) -> SstrTracer:
    """The tracer ``name`` (any case) with its protocol; 68Ga-DOTATATE is the baseline PET."""
    canon = canonical_tracer(name)
    if canon == BASELINE_TRACER:
        return SstrTracer(canon, "pet", "Ga-68", 0.0, 14.0, pet_h=(1.0,))
    p = scintigraphy_parameters()["tracers"][canon]
    floats = ("planar_h", "spect_h", "pet_h", "scan_speed_cm_min")
    seqs = {k: tuple(float(v) for v in p.get(k, ())) for k in floats}
    return SstrTracer(
        name=canon,
        kind=p["kind"],
        nuclide=str(p["nuclide"]),
        activity_bq=float(p["activity_mbq"]) * BQ_PER_MBQ,
        injection_days_before_therapy=float(p["injection_days_before_therapy"]),
        frame_duration_s=float(p["frame_duration_s"]) if "frame_duration_s" in p else None,
        kinetics=TracerKinetics.from_table(p) if p["kind"] == "scintigraphy" else None,
        source=str(p["source"]),
        **seqs,
    )


@dataclass(frozen=True)
class TracerDistribution:
    """True activity concentration of one tracer at one time.

    ``concentration`` (Bq/mL) is on the truth grid of the session's patient;
    ``regions_bq_ml`` holds every label name, lesion id, ``bowel`` and ``gallbladder``;
    ``fractions`` the fraction of the injected activity (decay included) per group.
    """

    concentration: NDArray[np.float32]
    regions_bq_ml: dict[str, float]
    fractions: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _kidney_table(
    seen: MovedAnatomy, biology: Biology, fraction: float, a_now: float
) -> dict[str, float]:
    """Bq/mL of every kidney label: ``fraction`` of A₀ at the reference kidney mass."""
    anat, counts = seen.anatomy, seen.counts
    model = anat.model
    ref = model.reference_mass_g["kidney_left"] + model.reference_mass_g["kidney_right"]
    total = fraction * a_now * anat.mass_g("kidneys", counts) / ref
    parts = COMPOSITES["kidneys"]
    weight = {n: biology.suv_dotatate[n] * anat.volume_ml(n, counts) for n in parts}
    norm = sum(weight.values())
    out = {}
    for n in parts:
        vol = anat.volume_ml(n, counts)
        out[n] = total * weight[n] / norm / vol if vol and norm else 0.0
    return out


def tracer_distribution(
    tracer: SstrTracer,
    seen: MovedAnatomy,
    biology: Biology,
    hours: float,
) -> TracerDistribution:
    """True activity concentration (Bq/mL) of a single-photon tracer ``hours`` after injection.

    ``seen`` is the patient as the session's scanners see it (its labels, effective
    voxel counts and CT tissue map;
    :meth:`sstrkit.phantom.study_scans.ScanSessions.session_patient`).
    """
    kin = tracer.kinetics
    if kin is None or seen.ct_map is None:
        raise InvalidInputError(
            "tracer",
            expected="a single-photon tracer and a patient with its CT map",
            actual=tracer.name,
        )
    anat, counts = seen.anatomy, seen.counts
    vox = anat.labels.voxel_volume_ml
    decay = math.exp(-get_nuclide(tracer.nuclide).decay_constant_per_s * hours * H)
    a_now = tracer.activity_bq * decay
    weight_g = float(anat.model.patient.weight_kg or 0.0) * G_PER_KG
    g = kin.receptor(hours)
    table: dict[str, float] = {}
    for name in SSTR_REGIONS:
        table[name] = g * biology.suv_dotatate[name] * a_now / weight_g
    for les in anat.model.lesions:
        table[les.id] = g * biology.suv_dotatate[les.id] * a_now / weight_g
    table.update(_kidney_table(seen, biology, kin.kidneys(hours), a_now))
    blood = kin.blood(hours) * a_now / biology.blood_volume_ml
    for name in (*COMPOSITES["blood_pool"], "spongiosa"):
        table[name] = blood
    bladder_ml = anat.volume_ml("bladder", counts)
    table["bladder"] = kin.bladder(hours) * a_now / bladder_ml if bladder_ml else 0.0
    labels = anat.labels.array
    structures = {
        "bowel": (structure_mask(seen.ct_map, labels, "colon_content"), kin.bowel(hours)),
        "gallbladder": (structure_mask(seen.ct_map, labels, "gallbladder"), kin.gallbladder(hours)),
    }
    notes: list[str] = []
    inside = 0.0  # activity (Bq) of every region above except the bladder
    for name, value in table.items():
        if name != "bladder":
            inside += value * anat.volume_ml(name, counts)
    struct_voxels = 0
    for name, (mask, frac) in structures.items():
        n_vox = int(np.count_nonzero(mask))
        struct_voxels += n_vox
        table[name] = frac * a_now / (n_vox * vox) if n_vox else 0.0
        inside += frac * a_now if n_vox else 0.0
        if frac > 0 and not n_vox:
            notes.append(f"no {name} voxels in the CT tissue map: its activity is left out")
    remainder = (1.0 - kin.excreted(hours)) * a_now - inside
    if remainder < 0:
        notes.append(f"remainder {remainder / a_now:.3g} of the activity clipped at 0")
        remainder = 0.0
    rem_counts = {n: float(counts[LABELS[n]]) for n in REMAINDER_WEIGHTS}
    rem_counts["body"] -= struct_voxels
    denom = sum(w * rem_counts[n] * vox for n, w in REMAINDER_WEIGHTS.items())
    for n, w in REMAINDER_WEIGHTS.items():
        table[n] = remainder * w / denom if denom > 0 else 0.0
    conc = fine_concentration(anat, _label_table(anat.model, table))
    for name, (mask, _) in structures.items():
        conc[mask] = np.float32(table[name])
    fractions = {
        "whole_body": (1.0 - kin.excreted(hours)) * decay,
        "bladder": kin.bladder(hours) * decay,
        "kidneys": kin.kidneys(hours)
        * decay
        * anat.mass_g("kidneys", counts)
        / (
            anat.model.reference_mass_g["kidney_left"] + anat.model.reference_mass_g["kidney_right"]
        ),
        "blood": kin.blood(hours) * decay,
        "bowel": kin.bowel(hours) * decay,
        "gallbladder": kin.gallbladder(hours) * decay,
        "remainder": remainder / tracer.activity_bq,
    }
    return TracerDistribution(conc, table, fractions, tuple(notes))


def _label_table(model: Any, table: Mapping[str, float]) -> dict[int, float]:
    """Region-name table -> label-value table (lesion ids by their label)."""
    out = {LABELS[n]: v for n, v in table.items() if n in LABELS}
    for i, les in enumerate(model.lesions):
        out[model.lesion_label(i)] = table[les.id]
    return out
