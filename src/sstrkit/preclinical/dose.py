"""Small-animal dosimetry and its extrapolation to humans.

Data flow
---------
1. **Organ time–activity curves** (:class:`OrganTac`): mean %ID/g per time point
   (decay corrected to injection) and the organ mass of the animal, built from
   ex-vivo biodistribution (:func:`tacs_from_biodistribution`) or from serial
   images (:func:`tacs_from_images`). Whole-organ %ID = %ID/g × organ mass.
2. **Therapy nuclide.** The biological curve is re-decayed with the nuclide the
   dose is wanted for (the imaging surrogate, e.g. ¹¹¹In or ⁶⁸Ga, may differ from
   the therapeutic ¹⁷⁷Lu or ⁹⁰Y): A(t) = A₀·%ID(t)/100·e^(−λ t), A₀ = 1 MBq.
3. **TIA** with :func:`sstrkit.therapy.kinetics.fit_curve` (default: trapezoid
   with a physical-decay tail — no biological clearance is assumed after the last
   point, the conservative choice for sparse preclinical time points; or any of
   its exponential models). The share of the TIA after the last time point is
   reported and a warning is given above 50 %.
4. **Absorbed dose** with :func:`sstrkit.therapy.mird.organ_doses`: self-dose
   electrons with the **sphere-model electron absorbed fraction** of
   :mod:`sstrkit.therapy.sphere` at the organ's mass (mouse and rat organs of
   0.01–2 g lose a large share of high-energy β energy: ⁹⁰Y φ_e ≈ 0.2 at 0.01 g,
   0.7 at 2 g), self-dose photons with the sphere photon absorbed fraction,
   photon cross-doses between organs spread uniformly over the body mass.
5. **Human extrapolation** by relative mass scaling, the "%kg/g" method of
   Kirschner, Ice and Beierwaltes (J Nucl Med 1975;16:248–249)::

       (%ID organ)_human = (%ID/g)_animal × (m_body,animal / kg) × (m_organ,human / g)
                           / (m_body,human / kg)

   applied at every time point (no time scaling), followed by steps 2–4 with
   ICRP Publication 89 reference human masses and locally absorbed electrons.

Limits of the sphere model (stated in every result's provenance)
    A sphere maximises self-absorption for a given mass, so φ_e of elongated or
    flat organs (kidneys, intestine, skin) is overestimated; straight-ahead
    electron tracks bias φ_e low for spheres comparable to the electron range;
    electron cross-dose between adjacent small organs (e.g. ⁹⁰Y kidney →
    adrenal) and the non-uniform activity inside organs (kidney cortex vs
    medulla) are ignored. For organs below 0.01 g a voxel or Monte Carlo model
    is recommended (a warning is given).

Organ masses scaled to the animal
    Measured organ masses come first. Otherwise m = f × body mass of the animal
    with the fractions f of Brown et al. (Toxicol Ind Health 1997;13:407–484,
    Table 4) in ``data/reference_organs.toml`` (mouse: kidneys, heart, liver,
    skin, gastrointestinal tract; rat: kidneys, brain, muscle, skin).

Examples
--------
>>> reference_organ_mass_g("mouse", "kidneys", 25.0)     # 1.7 % of 25 g
0.425
>>> round(kirschner_pct_id(2.0, animal_body_mass_g=25.0, human_organ_mass_g=310.0,
...                        human_body_mass_g=73000.0), 6)  # 2 × 0.025 × 310 / 73
0.212329
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np

from sstrkit.core.body import Sex, parse_sex
from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_GBQ, G_PER_KG, SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import Nuclide, get_nuclide
from sstrkit.preclinical.biodist import Biodistribution
from sstrkit.preclinical.quantify import Quantification
from sstrkit.therapy.kinetics import KineticsFit, fit_curve
from sstrkit.therapy.marrow import reference_mass_g, sex_word
from sstrkit.therapy.mird import Region, organ_doses
from sstrkit.therapy.sphere import sphere_s_values

__all__ = [
    "SMALL_ORGAN_RANGE_G",
    "DoseResult",
    "OrganDose",
    "OrganTac",
    "extrapolate_to_human",
    "kirschner_pct_id",
    "reference_organ_mass_g",
    "resolve_organ_mass",
    "small_animal_doses",
    "small_organ_electron_fractions",
    "tacs_from_biodistribution",
    "tacs_from_images",
]

Species = Literal["mouse", "rat"]
KineticsModel = Literal["trapezoid", "auto", "mono", "bi_uptake", "bi", "tri"]
CrossDose = Literal["uniform", "none"]

#: Organ masses (g) for which the sphere-model electron absorbed fraction matters most.
SMALL_ORGAN_RANGE_G = (0.01, 2.0)
_A0_BQ = 1.0e6  # doses are computed per MBq administered
_BQ_S_PER_MBQ_H = 3.6e9

KIRSCHNER = "Kirschner AS, Ice RD, Beierwaltes WH. J Nucl Med 1975;16:248-249 (%kg/g method)"
BROWN = "Brown RP et al. Toxicol Ind Health 1997;13:407-484, Table 4 (organ mass fractions)"
ICRP89 = "ICRP Publication 89 (2002) reference human masses"
SPHERE_LIMITS = (
    "sphere-model electron absorbed fraction at the organ mass: shape ignored (overestimates "
    "self-absorption of elongated organs), straight-ahead electron tracks, no electron "
    "cross-dose between adjacent organs, uniform activity in each organ"
)

_ALIASES = {"kidney": "kidneys", "gi": "gastrointestinal_tract", "gut": "gastrointestinal_tract"}


def _organ_key(name: str) -> str:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return _ALIASES.get(key, key)


@cache
def _fractions() -> dict[str, Any]:
    text = (
        resources.files("sstrkit.preclinical")
        .joinpath("data", "reference_organs.toml")
        .read_text(encoding="utf-8")
    )
    return tomllib.loads(text)


def reference_organ_mass_g(species: str, organ: str, body_mass_g: float) -> float:
    """Organ mass of an animal of ``body_mass_g`` from the Brown et al. (1997) fractions."""
    table = _fractions()
    if species not in ("mouse", "rat"):
        raise InvalidInputError("species", expected="'mouse' or 'rat'", actual=repr(species))
    bm = float(body_mass_g)
    if not (math.isfinite(bm) and bm > 0):
        raise InvalidInputError("body mass", expected="a value > 0 g", actual=body_mass_g)
    fractions = {k: v for k, v in table[species].items() if isinstance(v, float)}
    key = _organ_key(organ)
    if key not in fractions:
        raise InvalidInputError(
            f"reference mass of {organ!r} ({species})",
            expected=f"one of {sorted(fractions)}",
            actual=repr(organ),
            fix="give the organ's measured mass (--mass ORGAN=GRAMS)",
        )
    return float(fractions[key]) * bm


def kirschner_pct_id(
    pct_id_per_g_animal: float,
    *,
    animal_body_mass_g: float,
    human_organ_mass_g: float,
    human_body_mass_g: float,
) -> float:
    """Human whole-organ %ID from animal %ID/g by the %kg/g method (Kirschner et al. 1975)."""
    for what, v in (
        ("animal body mass", animal_body_mass_g),
        ("human organ mass", human_organ_mass_g),
        ("human body mass", human_body_mass_g),
    ):
        if not (math.isfinite(v) and v > 0):
            raise InvalidInputError(what, expected="a value > 0 g", actual=v)
    return (
        float(pct_id_per_g_animal)
        * (animal_body_mass_g / G_PER_KG)
        * human_organ_mass_g
        / (human_body_mass_g / G_PER_KG)
    )


def small_organ_electron_fractions(
    nuclide: str | Nuclide, masses_g: Sequence[float], tissue: Literal["soft", "bone"] = "soft"
) -> list[tuple[float, float]]:
    """(mass g, sphere-model electron self-absorbed fraction) for small organs.

    >>> [round(phi, 2) for _, phi in small_organ_electron_fractions("Y-90", [0.01, 2.0])]
    [0.2, 0.71]
    """
    return [
        (s.mass_g, s.electron_absorbed_fraction) for s in sphere_s_values(nuclide, masses_g, tissue)
    ]


# --------------------------------------------------------------------------- TACs


@dataclass(frozen=True)
class OrganTac:
    """Mean %ID/g of one organ over time (decay corrected to injection) and its mass."""

    organ: str
    times_s: tuple[float, ...]
    pct_id_per_g: tuple[float, ...]
    mass_g: float
    mass_source: str

    def __post_init__(self) -> None:
        t = np.asarray(self.times_s, dtype=float)
        v = np.asarray(self.pct_id_per_g, dtype=float)
        if t.size == 0 or t.shape != v.shape:
            raise InvalidInputError(
                f"time-activity curve of {self.organ!r}",
                expected="one %ID/g value per time point (at least one)",
                actual=(t.size, v.size),
            )
        if np.any(~np.isfinite(t)) or np.any(t < 0) or np.any(np.diff(t) <= 0):
            raise InvalidInputError(
                f"times of {self.organ!r}", expected="finite, ≥ 0 and increasing", actual=t.tolist()
            )
        if np.any(~np.isfinite(v)):
            raise InvalidInputError(
                f"%ID/g of {self.organ!r}", expected="finite values", actual=v.tolist()
            )
        if not (math.isfinite(self.mass_g) and self.mass_g > 0):
            raise InvalidInputError(
                f"mass of {self.organ!r}", expected="a value > 0 g", actual=self.mass_g
            )

    @property
    def pct_id(self) -> tuple[float, ...]:
        """Whole-organ %ID at each time point."""
        return tuple(v * self.mass_g for v in self.pct_id_per_g)

    def to_dict(self) -> dict[str, Any]:
        return {
            "organ": self.organ,
            "times_h": [t / SECONDS_PER_HOUR for t in self.times_s],
            "pct_id_per_g": list(self.pct_id_per_g),
            "pct_id": list(self.pct_id),
            "mass_g": self.mass_g,
            "mass_source": self.mass_source,
        }


def resolve_organ_mass(
    organ: str,
    masses_g: Mapping[str, float] | None,
    species: str | None,
    body_mass_g: float | None,
) -> tuple[float, str]:
    """(mass g, source): a given mass first, else the reference fraction × body mass."""
    given = {_organ_key(k): v for k, v in (masses_g or {}).items()}
    key = _organ_key(organ)
    if key in given:
        m = float(given[key])
        if not (math.isfinite(m) and m > 0):
            raise InvalidInputError(f"mass of {organ!r}", expected="a value > 0 g", actual=m)
        return m, "given"
    if species is None or body_mass_g is None:
        raise InvalidInputError(
            f"mass of {organ!r}",
            expected="a measured organ mass, or the species and body mass for reference scaling",
            actual="missing",
            fix="give --mass ORGAN=GRAMS, or --species and --body-mass-g",
        )
    m = reference_organ_mass_g(species, organ, body_mass_g)
    return m, f"{BROWN} x body mass {body_mass_g:g} g"


def tacs_from_biodistribution(
    biodist: Biodistribution,
    *,
    group: str | None = None,
    organs: Sequence[str] | None = None,
    masses_g: Mapping[str, float] | None = None,
    species: str | None = None,
    body_mass_g: float | None = None,
) -> list[OrganTac]:
    """Mean %ID/g per nominal time point of one group, for each organ.

    ``body_mass_g`` defaults to the mean body mass of the group's animals (when
    every animal has one) and is used only for reference-mass scaling.
    """
    groups = biodist.groups
    if group is None:
        if len(groups) != 1:
            raise InvalidInputError(
                "group",
                expected=f"one of {list(groups)}",
                actual="not given",
                fix="choose the group to compute doses for (--group)",
            )
        group = groups[0]
    if group not in groups:
        raise InvalidInputError("group", expected=f"one of {list(groups)}", actual=repr(group))
    animals = [a for a in biodist.animals if a.group == group]
    if body_mass_g is None and animals and all(a.body_mass_g for a in animals):
        body_mass_g = float(np.mean([float(a.body_mass_g or 0.0) for a in animals]))
    summary = [s for s in biodist.summary() if s.group == group]
    wanted = list(organs) if organs is not None else list(dict.fromkeys(s.tissue for s in summary))
    out: list[OrganTac] = []
    for organ in wanted:
        rows = sorted((s for s in summary if s.tissue == organ), key=lambda s: s.time_point_h)
        if not rows:
            raise InvalidInputError(
                f"organ {organ!r}",
                expected=f"a tissue of group {group!r}: {sorted({s.tissue for s in summary})}",
                actual="absent",
            )
        mass, source = resolve_organ_mass(organ, masses_g, species, body_mass_g)
        out.append(
            OrganTac(
                organ,
                tuple(s.time_point_h * SECONDS_PER_HOUR for s in rows),
                tuple(s.mean for s in rows),
                mass,
                source,
            )
        )
    return out


def tacs_from_images(
    quantifications: Sequence[Quantification],
    *,
    organs: Sequence[str] | None = None,
    masses_g: Mapping[str, float] | None = None,
) -> list[OrganTac]:
    """Organ curves from serial images of one animal (regions with the same names).

    The organ mass is the given mass, else the mean region mass over the images
    (segmented volume × density).
    """
    if not quantifications:
        raise InvalidInputError("images", expected="at least one quantified image", actual="none")
    qs = sorted(quantifications, key=lambda q: q.time_since_injection_s)
    names = organs if organs is not None else qs[0].region_names
    out: list[OrganTac] = []
    given = {_organ_key(k): v for k, v in (masses_g or {}).items()}
    for organ in names:
        regions = [q[organ] for q in qs]
        if _organ_key(organ) in given:
            mass, source = resolve_organ_mass(organ, masses_g, None, None)
        else:
            mass = float(np.mean([r.mass_g for r in regions]))
            source = "segmented volume × density (mean over images)"
        out.append(
            OrganTac(
                organ,
                tuple(q.time_since_injection_s for q in qs),
                tuple(r.total_pct_id / mass for r in regions),
                mass,
                source,
            )
        )
    return out


# --------------------------------------------------------------------------- doses


@dataclass(frozen=True)
class OrganDose:
    """Absorbed dose per administered activity to one organ."""

    organ: str
    mass_g: float
    mass_source: str
    tia_per_administered_s: float
    tail_fraction: float
    kinetics: KineticsFit
    electron_absorbed_fraction: float
    photon_absorbed_fraction: float
    self_gy_per_bq: float
    cross_gy_per_bq: float

    @property
    def total_gy_per_bq(self) -> float:
        return self.self_gy_per_bq + self.cross_gy_per_bq

    @property
    def in_small_organ_range(self) -> bool:
        lo, hi = SMALL_ORGAN_RANGE_G
        return lo <= self.mass_g <= hi

    def to_dict(self) -> dict[str, Any]:
        return {
            "organ": self.organ,
            "mass_g": self.mass_g,
            "mass_source": self.mass_source,
            "residence_time_h": self.tia_per_administered_s / SECONDS_PER_HOUR,
            "tia_mbq_h_per_mbq": self.tia_per_administered_s / SECONDS_PER_HOUR,
            "tail_fraction": self.tail_fraction,
            "kinetics_model": self.kinetics.model,
            "t_eff_h": self.kinetics.t_eff_s / SECONDS_PER_HOUR,
            "electron_absorbed_fraction": self.electron_absorbed_fraction,
            "photon_absorbed_fraction": self.photon_absorbed_fraction,
            "in_small_organ_range": self.in_small_organ_range,
            "self_mgy_per_mbq": self.self_gy_per_bq * BQ_PER_GBQ,
            "cross_mgy_per_mbq": self.cross_gy_per_bq * BQ_PER_GBQ,
            "total_mgy_per_mbq": self.total_gy_per_bq * BQ_PER_GBQ,
        }


@dataclass(frozen=True)
class DoseResult:
    """Organ doses per administered activity for one subject (animal or extrapolated human)."""

    subject: str
    nuclide: str
    body_mass_g: float
    organs: tuple[OrganDose, ...]
    tacs: tuple[OrganTac, ...]
    warnings: tuple[str, ...] = ()
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    def __getitem__(self, organ: str) -> OrganDose:
        for o in self.organs:
            if o.organ == organ:
                return o
        raise InvalidInputError(
            "organ", expected=f"one of {[o.organ for o in self.organs]}", actual=repr(organ)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "nuclide": self.nuclide,
            "body_mass_g": self.body_mass_g,
            "organs": [o.to_dict() for o in self.organs],
            "tacs": [t.to_dict() for t in self.tacs],
            "warnings": list(self.warnings),
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _tail_fraction(fit: KineticsFit) -> float:
    t_last = fit.times_s[-1]
    grid = np.linspace(0.0, t_last, 4001)
    inside = float(np.trapezoid(fit.activity_at(grid), grid))
    return max(0.0, 1.0 - inside / fit.tia_bq_s) if fit.tia_bq_s > 0 else 0.0


def _doses(
    subject: str,
    tacs: Sequence[OrganTac],
    nuc: Nuclide,
    body_mass_g: float,
    kinetics_model: KineticsModel,
    cross_dose: CrossDose,
    electron_model: Literal["sphere", "local"],
    warnings: list[str],
    extra_sources: tuple[str, ...],
    parameters: Mapping[str, Any],
) -> DoseResult:
    if not tacs:
        raise InvalidInputError("organs", expected="at least one organ curve", actual="none")
    names = [t.organ for t in tacs]
    if len(set(names)) != len(names):
        raise InvalidInputError("organ names", expected="unique", actual=names)
    if cross_dose not in ("uniform", "none"):
        raise InvalidInputError("cross_dose", expected="'uniform' or 'none'", actual=cross_dose)
    lam = nuc.decay_constant_per_s
    fits: list[KineticsFit] = []
    regions: list[Region] = []
    for tac in tacs:
        t = np.asarray(tac.times_s, dtype=float)
        frac = np.asarray(tac.pct_id, dtype=float) / 100.0
        if np.any(frac < 0):
            warnings.append(f"{tac.organ}: negative %ID (below background) set to 0")
            frac = np.clip(frac, 0.0, None)
        activity = _A0_BQ * frac * np.exp(-lam * t)
        fit = fit_curve(t, activity, nuc.half_life_s, model=kinetics_model, region=tac.organ)
        warnings.extend(f"{tac.organ}: {w}" for w in fit.warnings)
        fits.append(fit)
        regions.append(
            Region(tac.organ, fit.tia_bq_s, tac.mass_g, kind="organ", electron_model=electron_model)
        )
        if tac.mass_g < SMALL_ORGAN_RANGE_G[0]:
            warnings.append(
                f"{tac.organ}: {tac.mass_g:.3g} g is below 0.01 g; the sphere model is a rough "
                "estimate there (use a voxel or Monte Carlo model)"
            )
    total_mass = sum(t.mass_g for t in tacs)
    if total_mass > body_mass_g:
        raise InvalidInputError(
            "body mass",
            expected=f"≥ the summed organ masses ({total_mass:.4g} g)",
            actual=f"{body_mass_g:g} g",
        )
    mird = organ_doses(
        nuc,
        regions,
        whole_body_mass_g=body_mass_g,
        cross_dose="uniform" if cross_dose == "uniform" else "none",
        inputs=(subject,),
    )
    organs: list[OrganDose] = []
    for tac, fit in zip(tacs, fits, strict=True):
        rd = mird[tac.organ]
        tail = _tail_fraction(fit)
        if tail > 0.5:
            warnings.append(
                f"{tac.organ}: {100 * tail:.0f} % of the TIA lies after the last time point "
                f"({tac.times_s[-1] / SECONDS_PER_HOUR:.3g} h); it depends on the assumed tail"
            )
        organs.append(
            OrganDose(
                organ=tac.organ,
                mass_g=tac.mass_g,
                mass_source=tac.mass_source,
                tia_per_administered_s=fit.tia_bq_s / _A0_BQ,
                tail_fraction=tail,
                kinetics=fit,
                electron_absorbed_fraction=rd.electron_absorbed_fraction,
                photon_absorbed_fraction=rd.photon_absorbed_fraction,
                self_gy_per_bq=rd.self_gy / _A0_BQ,
                cross_gy_per_bq=rd.cross_photon_gy / _A0_BQ,
            )
        )
    step = Step.make(
        "preclinical_dose",
        {
            "subject": subject,
            "nuclide": nuc.name,
            "body_mass_g": body_mass_g,
            "kinetics_model": kinetics_model,
            "cross_dose": cross_dose,
            "electron_model": electron_model,
            "sphere_model_limits": SPHERE_LIMITS if electron_model == "sphere" else None,
            **parameters,
        },
        inputs=(subject,),
        sources=extra_sources,
    )
    prov = (*mird.provenance, *(s for f in fits for s in f.provenance), step)
    return DoseResult(
        subject, nuc.name, body_mass_g, tuple(organs), tuple(tacs), tuple(warnings), prov
    )


def small_animal_doses(
    tacs: Sequence[OrganTac],
    *,
    nuclide: str | Nuclide,
    body_mass_g: float,
    species: str = "mouse",
    kinetics_model: KineticsModel = "trapezoid",
    cross_dose: CrossDose = "uniform",
) -> DoseResult:
    """Organ doses (Gy per Bq administered) of a small animal; see the module text.

    Raises :class:`InvalidInputError` for bad curves, masses larger than the
    body, or kinetics that cannot be integrated.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    bm = float(body_mass_g)
    if not (math.isfinite(bm) and bm > 0):
        raise InvalidInputError("body mass", expected="a value > 0 g", actual=body_mass_g)
    return _doses(
        species,
        tacs,
        nuc,
        bm,
        kinetics_model,
        cross_dose,
        "sphere",
        [],
        (BROWN,),
        {"administered_activity_reference_bq": _A0_BQ},
    )


def extrapolate_to_human(
    tacs: Sequence[OrganTac],
    *,
    nuclide: str | Nuclide,
    animal_body_mass_g: float,
    sex: Sex | str = "M",
    human_body_mass_g: float | None = None,
    human_masses_g: Mapping[str, float] | None = None,
    kinetics_model: KineticsModel = "trapezoid",
    cross_dose: CrossDose = "uniform",
) -> DoseResult:
    """Human organ doses (Gy per Bq) from animal curves by the %kg/g method (no time scaling).

    Human organ masses: ``human_masses_g`` first, else ICRP 89 reference masses
    (kidneys, liver, spleen, red marrow). The human body mass defaults to the
    ICRP 89 reference (73 kg male, 60 kg female). ``sex`` is ``"F"`` or ``"M"``; other
    spellings (``"female"``...) are read by :func:`~sstrkit.core.body.parse_sex`.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    body_sex = parse_sex(sex, fix="give the human reference sex (F or M, CLI --sex)")
    word = sex_word(body_sex)
    body = (
        human_body_mass_g
        if human_body_mass_g is not None
        else reference_mass_g("total_body", body_sex)
    )
    given = {_organ_key(k): float(v) for k, v in (human_masses_g or {}).items()}
    warnings: list[str] = []
    human: list[OrganTac] = []
    for tac in tacs:
        key = _organ_key(tac.organ)
        if key in given:
            m_h, src = given[key], "given"
        else:
            try:
                m_h = reference_mass_g(key, body_sex)
            except InvalidInputError:
                raise InvalidInputError(
                    f"human mass of {tac.organ!r}",
                    expected="a given mass or an ICRP 89 reference organ "
                    "(kidneys, liver, spleen, red_marrow)",
                    actual="missing",
                    fix="give the human organ mass (--human-mass ORGAN=GRAMS)",
                ) from None
            src = f"{ICRP89} ({word})"
        pct_h = [
            kirschner_pct_id(
                v,
                animal_body_mass_g=animal_body_mass_g,
                human_organ_mass_g=m_h,
                human_body_mass_g=body,
            )
            for v in tac.pct_id_per_g
        ]
        human.append(OrganTac(tac.organ, tac.times_s, tuple(p / m_h for p in pct_h), m_h, src))
    sums = np.sum([t.pct_id for t in human], axis=0)
    if np.any(sums > 100.0):
        warnings.append(
            f"extrapolated organs hold up to {float(sums.max()):.0f} %ID (> 100 %): the %kg/g "
            "method does not conserve activity; interpret with care"
        )
    return _doses(
        "human",
        human,
        nuc,
        body,
        kinetics_model,
        cross_dose,
        "local",
        warnings,
        (KIRSCHNER, ICRP89),
        {
            "extrapolation": "%kg/g relative mass scaling (Kirschner et al. 1975)",
            "time_scaling": "none",
            "animal_body_mass_g": animal_body_mass_g,
            "sex": word,
        },
    )
