"""Organ and lesion absorbed doses by the MIRD schema: D(t) = Σ_s Ã(s) · S(t ← s).

Inputs are per-region time-integrated activities Ã (Bq·s) and patient-specific
masses (g, e.g. segmented volume × density). Each target's dose is reported in
three parts whose sizes are kept separate:

``self_electron_gy``
    Ã(t)·E_e·φ_e / m(t). E_e is the ICRP-107 mean electron energy per decay
    (β spectrum, internal conversion and Auger). φ_e = 1 (locally absorbed, the
    classical MIRD assumption for organs) for regions of kind ``"organ"``, and
    the sphere-model φ_e (:mod:`sstrkit.therapy.sphere`) for ``"lesion"``, or as
    chosen with ``electron_model``. α energy, if any, is locally absorbed.
``self_photon_gy``
    Ã(t)·E_γ·φ_γ(m) / m with the sphere-model photon absorbed fraction at the
    region's own mass (a sphere maximises self-absorption for a given mass, so
    this is an upper estimate for elongated organs).
``cross_photon_gy``
    Photons from every other source region, including the remainder of the body
    when a whole-body TIA is given. Two documented approximations:

    * ``"point"`` — both regions have a centroid: point source at distance r
      (cm), energy-absorption approximation consistent with the sphere model,
      D = Ã·Σᵢ yᵢEᵢ (μ_en/ρ)ᵢ e^(−μ_en,ᵢ r) / (4π r²).
    * ``"uniform"`` — photon energy absorbed in the body from the other sources,
      Ã_s·E_γ·φ_γ(m_WB), is spread uniformly over the whole-body mass m_WB.

    With ``cross_dose="auto"`` a pair uses ``"point"`` when both centroids are
    known and ``"uniform"`` otherwise (if the body mass is known).
    The remainder of the body (no centroid) always uses ``"uniform"``.

Mass scaling of tabulated S values (:func:`scale_self_s_value`) follows MIRD
Pamphlet 11 (Snyder et al. 1975) practice: non-penetrating (electron) self-dose
S ∝ 1/m, penetrating (photon) self-dose S ∝ m^(−2/3).

Examples
--------
>>> kidneys = Region("kidneys", tia_bq_s=5.4e12, mass_g=300.0)
>>> result = organ_doses("Lu-177", [kidneys])
>>> round(result["kidneys"].self_electron_gy, 2)     # 5.4e12 × 0.1479 MeV × 1.602e-13 / 0.3 kg
0.43
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np

from sstrkit.core.provenance import Step
from sstrkit.core.units import G_PER_KG, J_PER_MEV
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import Nuclide, get_nuclide
from sstrkit.therapy.sphere import (
    SOURCES,
    Tissue,
    mu_en_cm2_g,
    sphere_s_value,
)

__all__ = [
    "CrossDoseMethod",
    "OrganDoseResult",
    "Region",
    "RegionDose",
    "WholeBodyDose",
    "organ_doses",
    "scale_self_s_value",
    "whole_body_dose",
]

RegionKind = Literal["organ", "lesion"]
ElectronModel = Literal["local", "sphere"]
CrossDoseMethod = Literal["auto", "point", "uniform", "none"]

#: A source of cross irradiation: name, TIA (Bq·s), centroid (mm) and whether it is
#: the remainder of the body (always the uniform model).
_Source = tuple[str, float, tuple[float, float, float] | None, bool]

MIRD_SOURCES: Final[tuple[str, ...]] = (
    "Bolch et al., MIRD Pamphlet 21 (J Nucl Med 2009;50:477) generalized schema",
    "Snyder et al., MIRD Pamphlet 11 (1975): S-value mass scaling",
    *SOURCES,
)


def _positive(name: str, value: float, unit: str, *, allow_zero: bool = False) -> float:
    v = float(value)
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = "≥ 0" if allow_zero else "> 0"
        raise InvalidInputError(name, expected=f"a finite value {bound} {unit}", actual=value)
    return v


@dataclass(frozen=True)
class Region:
    """One source/target region.

    Attributes
    ----------
    name
        Unique label (``"kidneys"``, ``"lesion 1"``...).
    tia_bq_s
        Time-integrated activity Ã in Bq·s (0 for a target-only region).
    mass_g
        Patient-specific mass in g (segmented volume × density).
    kind
        ``"organ"`` (electrons locally absorbed by default) or ``"lesion"``
        (sphere-model electrons by default).
    tissue
        ``"soft"`` or ``"bone"`` (sphere-model photon and electron transport).
    centroid_mm
        Optional centroid (x, y, z) in mm, for point-source cross doses.
    electron_model
        Override of the electron absorbed-fraction model.
    """

    name: str
    tia_bq_s: float
    mass_g: float
    kind: RegionKind = "organ"
    tissue: Tissue = "soft"
    centroid_mm: tuple[float, float, float] | None = None
    electron_model: ElectronModel | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInputError("region name", expected="a non-empty label", actual=self.name)
        _positive(f"TIA of region {self.name!r}", self.tia_bq_s, "Bq·s", allow_zero=True)
        _positive(f"mass of region {self.name!r}", self.mass_g, "g")
        if self.kind not in ("organ", "lesion"):
            raise InvalidInputError(
                f"kind of region {self.name!r}", expected="'organ' or 'lesion'", actual=self.kind
            )
        if self.centroid_mm is not None and (
            len(self.centroid_mm) != 3 or not all(math.isfinite(c) for c in self.centroid_mm)
        ):
            raise InvalidInputError(
                f"centroid of region {self.name!r}",
                expected="three finite coordinates in mm",
                actual=self.centroid_mm,
            )

    @property
    def effective_electron_model(self) -> ElectronModel:
        if self.electron_model is not None:
            return self.electron_model
        return "local" if self.kind == "organ" else "sphere"


@dataclass(frozen=True)
class RegionDose:
    """Absorbed dose to one target region (Gy), split by contribution."""

    name: str
    kind: RegionKind
    mass_g: float
    tia_bq_s: float
    self_electron_gy: float
    self_photon_gy: float
    self_alpha_gy: float
    cross_photon_gy: float
    electron_absorbed_fraction: float
    photon_absorbed_fraction: float
    s_self_gy_per_bq_s: float
    cross_methods: Mapping[str, str]

    @property
    def self_gy(self) -> float:
        return self.self_electron_gy + self.self_photon_gy + self.self_alpha_gy

    @property
    def total_gy(self) -> float:
        return self.self_gy + self.cross_photon_gy

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "mass_g": self.mass_g,
            "tia_bq_s": self.tia_bq_s,
            "total_gy": self.total_gy,
            "self_gy": self.self_gy,
            "self_electron_gy": self.self_electron_gy,
            "self_photon_gy": self.self_photon_gy,
            "self_alpha_gy": self.self_alpha_gy,
            "cross_photon_gy": self.cross_photon_gy,
            "electron_absorbed_fraction": self.electron_absorbed_fraction,
            "photon_absorbed_fraction": self.photon_absorbed_fraction,
            "s_self_gy_per_bq_s": self.s_self_gy_per_bq_s,
            "cross_methods": dict(self.cross_methods),
        }


@dataclass(frozen=True)
class WholeBodyDose:
    """Mean whole-body absorbed dose (Gy): all electron (and α) energy plus photons at φ_γ(m_WB)."""

    tia_bq_s: float
    mass_g: float
    electron_gy: float
    photon_gy: float
    alpha_gy: float
    photon_absorbed_fraction: float

    @property
    def total_gy(self) -> float:
        return self.electron_gy + self.photon_gy + self.alpha_gy

    def to_dict(self) -> dict[str, Any]:
        return {
            "tia_bq_s": self.tia_bq_s,
            "mass_g": self.mass_g,
            "total_gy": self.total_gy,
            "electron_gy": self.electron_gy,
            "photon_gy": self.photon_gy,
            "alpha_gy": self.alpha_gy,
            "photon_absorbed_fraction": self.photon_absorbed_fraction,
        }


@dataclass(frozen=True)
class OrganDoseResult:
    """Doses to every region (and the whole body when known), with provenance."""

    nuclide: str
    regions: tuple[RegionDose, ...]
    whole_body: WholeBodyDose | None
    remainder_tia_bq_s: float | None
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    def __getitem__(self, name: str) -> RegionDose:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def cross_photon_fraction(self) -> float:
        """Share of the summed region doses that comes from cross irradiation."""
        total = sum(r.total_gy for r in self.regions)
        return sum(r.cross_photon_gy for r in self.regions) / total if total > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "nuclide": self.nuclide,
            "regions": [r.to_dict() for r in self.regions],
            "whole_body": None if self.whole_body is None else self.whole_body.to_dict(),
            "remainder_tia_bq_s": self.remainder_tia_bq_s,
            "cross_photon_fraction": self.cross_photon_fraction,
            "provenance": [s.to_dict() for s in self.provenance],
        }


def scale_self_s_value(
    s_reference: float,
    reference_mass_g: float,
    patient_mass_g: float,
    radiation: Literal["electron", "photon"],
) -> float:
    """Scale a reference self-dose S value to a patient's organ mass.

    Electrons (non-penetrating): S ∝ 1/m. Photons (penetrating): S ∝ m^(−2/3)
    (MIRD Pamphlet 11), because φ_γ grows like the linear size (m^(1/3)).

    >>> scale_self_s_value(1.0, 300.0, 150.0, "electron")
    2.0
    >>> round(scale_self_s_value(1.0, 300.0, 150.0, "photon"), 4)   # 2^(2/3)
    1.5874
    """
    s = _positive("reference S value", s_reference, "Gy/(Bq·s)", allow_zero=True)
    m_ref = _positive("reference mass", reference_mass_g, "g")
    m_pat = _positive("patient mass", patient_mass_g, "g")
    if radiation == "electron":
        return s * m_ref / m_pat
    if radiation == "photon":
        return float(s * (m_ref / m_pat) ** (2.0 / 3.0))
    raise InvalidInputError("radiation", expected="'electron' or 'photon'", actual=radiation)


def _photon_lines(nuc: Nuclide) -> tuple[np.ndarray[Any, np.dtype[np.float64]], ...]:
    lines = [
        (e, y)
        for kind in ("gamma", "X", "annihilation")
        for e, y in nuc.emissions.get(kind, ())
        if e <= 20.0
    ]
    arr = np.asarray(lines, dtype=float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def point_source_photon_dose_gy_per_decay(nuclide: str | Nuclide, distance_cm: float) -> float:
    """Absorbed dose (Gy) per decay at ``distance_cm`` from a point source in water.

    Energy-absorption approximation: Σ yᵢEᵢ (μ_en/ρ)ᵢ e^(−μ_en,ᵢ r) / (4πr²).
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    r = _positive("source–target distance", distance_cm, "cm")
    e, y = _photon_lines(nuc)
    if e.size == 0:
        return 0.0
    mu = mu_en_cm2_g(e, "soft")
    mev_per_g = float(np.sum(y * e * mu * np.exp(-mu * r))) / (4.0 * math.pi * r * r)
    return mev_per_g * J_PER_MEV * G_PER_KG


def whole_body_dose(nuclide: str | Nuclide, tia_bq_s: float, mass_g: float) -> WholeBodyDose:
    """Mean whole-body dose: electrons and α absorbed, photons at the sphere φ_γ(m_WB).

    >>> wb = whole_body_dose("Y-90", 1e15, 70000.0)
    >>> round(wb.electron_gy, 3)       # 1e15 × 0.9331 MeV × 1.602e-13 J/MeV / 70 kg
    2.136
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    tia = _positive("whole-body TIA", tia_bq_s, "Bq·s", allow_zero=True)
    m = _positive("whole-body mass", mass_g, "g")
    s = sphere_s_value(nuc, m, "soft")
    kg = m / G_PER_KG
    return WholeBodyDose(
        tia_bq_s=tia,
        mass_g=m,
        electron_gy=tia * s.electron_energy_mev * J_PER_MEV / kg,
        photon_gy=tia * s.s_photon_gy_per_bq_s,
        alpha_gy=tia * s.s_alpha_gy_per_bq_s,
        photon_absorbed_fraction=s.photon_absorbed_fraction,
    )


def organ_doses(
    nuclide: str | Nuclide,
    regions: Sequence[Region],
    *,
    whole_body_tia_bq_s: float | None = None,
    whole_body_mass_g: float | None = None,
    cross_dose: CrossDoseMethod = "auto",
    inputs: tuple[str, ...] = (),
) -> OrganDoseResult:
    """Absorbed doses to every region from every region (MIRD), see the module text.

    Parameters
    ----------
    nuclide
        ICRP-107 name or :class:`~sstrkit.physics.nuclides.Nuclide`.
    regions
        Source/target regions with TIA (Bq·s) and patient masses (g).
    whole_body_tia_bq_s
        Whole-body TIA; the remainder of body (whole body minus the regions)
        then irradiates every region with photons, and the whole-body dose is given.
    whole_body_mass_g
        Patient mass (g); needed for ``"uniform"`` cross doses and the whole-body dose.
    cross_dose
        ``"auto"``, ``"point"``, ``"uniform"`` or ``"none"``.
    inputs
        Identifiers recorded in provenance (case file name...).

    Raises
    ------
    InvalidInputError
        Duplicate names, the regions' TIA exceeding the whole-body TIA, a method
        that lacks its inputs (centroids for ``"point"``, body mass for
        ``"uniform"``), or coincident centroids.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    m_wb, remainder = _check_inputs(regions, cross_dose, whole_body_tia_bq_s, whole_body_mass_g)
    # Photon energy absorbed per decay in a body-sized sphere (uniform cross-dose model).
    wb_photon_abs_mev = None
    if m_wb is not None:
        s_wb = sphere_s_value(nuc, m_wb, "soft")
        wb_photon_abs_mev = s_wb.photon_energy_mev * s_wb.photon_absorbed_fraction
    sources: list[_Source] = [(r.name, r.tia_bq_s, r.centroid_mm, False) for r in regions]
    if remainder is not None:
        sources.append(("remainder of body", remainder, None, True))
    out = [
        _region_dose(
            nuc,
            target,
            [src for src in sources if src[3] or src[0] != target.name],
            cross_dose,
            m_wb,
            wb_photon_abs_mev,
        )
        for target in regions
    ]
    wb = None
    if whole_body_tia_bq_s is not None and m_wb is not None:
        wb = whole_body_dose(nuc, whole_body_tia_bq_s, m_wb)
    step = _organ_doses_step(nuc, regions, cross_dose, m_wb, whole_body_tia_bq_s, inputs)
    return OrganDoseResult(nuc.name, tuple(out), wb, remainder, (step,))


def _check_inputs(
    regions: Sequence[Region],
    cross_dose: CrossDoseMethod,
    whole_body_tia_bq_s: float | None,
    whole_body_mass_g: float | None,
) -> tuple[float | None, float | None]:
    """Validate :func:`organ_doses`'s inputs; the whole-body mass (g) and the remainder TIA.

    The remainder of the body is the whole-body TIA minus the regions' (Bq·s); both are
    ``None`` when not given.
    """
    if not regions:
        raise InvalidInputError("regions", expected="at least one region", actual="none")
    names = [r.name for r in regions]
    if len(set(names)) != len(names):
        raise InvalidInputError(
            "region names", expected="unique names", actual=names, fix="rename duplicate regions"
        )
    if cross_dose not in ("auto", "point", "uniform", "none"):
        raise InvalidInputError(
            "cross_dose", expected="auto, point, uniform or none", actual=cross_dose
        )
    m_wb = (
        None if whole_body_mass_g is None else _positive("whole-body mass", whole_body_mass_g, "g")
    )
    remainder: float | None = None
    if whole_body_tia_bq_s is not None:
        wb_tia = _positive("whole-body TIA", whole_body_tia_bq_s, "Bq·s", allow_zero=True)
        summed = sum(r.tia_bq_s for r in regions)
        if summed > wb_tia * (1.0 + 1e-9):
            raise InvalidInputError(
                "whole-body TIA",
                expected=f"≥ the sum of the regions' TIA ({summed:.4g} Bq·s)",
                actual=f"{wb_tia:.4g} Bq·s",
                fix="the whole body contains every region; check the whole-body curve",
            )
        remainder = wb_tia - summed
    if m_wb is not None and m_wb < sum(r.mass_g for r in regions):
        raise InvalidInputError(
            "whole-body mass",
            expected="at least the summed region masses",
            actual=f"{m_wb} g",
        )
    return m_wb, remainder


def _cross_photon_gy(
    nuc: Nuclide,
    target: Region,
    sources: Sequence[_Source],
    cross_dose: CrossDoseMethod,
    m_wb: float | None,
    wb_photon_abs_mev: float | None,
) -> tuple[float, dict[str, str]]:
    """Photon dose (Gy) to ``target`` from ``sources``, and the model used for each.

    Point model: Ã·D_point(r); uniform model: Ã·E_γ·φ_γ(m_WB) / m_WB (module text).
    """
    cross = 0.0
    methods: dict[str, str] = {}
    if cross_dose == "none":
        return cross, methods
    for name, tia, centroid, is_remainder in sources:
        requested: CrossDoseMethod = "uniform" if is_remainder else cross_dose
        method = _pick_method(requested, target, centroid, m_wb, name)
        methods[name] = method
        if method == "point":
            assert centroid is not None and target.centroid_mm is not None
            r_cm = math.dist(centroid, target.centroid_mm) / 10.0
            if r_cm <= 0:
                raise InvalidInputError(
                    f"centroids of {name!r} and {target.name!r}",
                    expected="distinct points",
                    actual=centroid,
                )
            cross += tia * point_source_photon_dose_gy_per_decay(nuc, r_cm)
        else:
            assert m_wb is not None and wb_photon_abs_mev is not None
            cross += tia * wb_photon_abs_mev * J_PER_MEV / (m_wb / G_PER_KG)
    return cross, methods


def _region_dose(
    nuc: Nuclide,
    target: Region,
    sources: Sequence[_Source],
    cross_dose: CrossDoseMethod,
    m_wb: float | None,
    wb_photon_abs_mev: float | None,
) -> RegionDose:
    """Self-dose (electrons, photons, α at the sphere model of ``target``'s mass) plus
    the cross photon dose from ``sources`` (every other region and the remainder)."""
    s = sphere_s_value(nuc, target.mass_g, target.tissue)
    kg = target.mass_g / G_PER_KG
    phi_e = 1.0 if target.effective_electron_model == "local" else s.electron_absorbed_fraction
    cross, methods = _cross_photon_gy(nuc, target, sources, cross_dose, m_wb, wb_photon_abs_mev)
    return RegionDose(
        name=target.name,
        kind=target.kind,
        mass_g=target.mass_g,
        tia_bq_s=target.tia_bq_s,
        self_electron_gy=target.tia_bq_s * s.electron_energy_mev * phi_e * J_PER_MEV / kg,
        self_photon_gy=target.tia_bq_s * s.s_photon_gy_per_bq_s,
        self_alpha_gy=target.tia_bq_s * s.s_alpha_gy_per_bq_s,
        cross_photon_gy=cross,
        electron_absorbed_fraction=phi_e,
        photon_absorbed_fraction=s.photon_absorbed_fraction,
        s_self_gy_per_bq_s=(
            s.electron_energy_mev * phi_e * J_PER_MEV / kg
            + s.s_photon_gy_per_bq_s
            + s.s_alpha_gy_per_bq_s
        ),
        cross_methods=methods,
    )


def _organ_doses_step(
    nuc: Nuclide,
    regions: Sequence[Region],
    cross_dose: CrossDoseMethod,
    m_wb: float | None,
    whole_body_tia_bq_s: float | None,
    inputs: tuple[str, ...],
) -> Step:
    """Provenance of :func:`organ_doses`: method, body inputs and every region."""
    return Step.make(
        "mird_organ_doses",
        {
            "nuclide": nuc.name,
            "cross_dose": cross_dose,
            "whole_body_mass_g": m_wb,
            "whole_body_tia_bq_s": whole_body_tia_bq_s,
            "regions": [
                {
                    "name": r.name,
                    "tia_bq_s": r.tia_bq_s,
                    "mass_g": r.mass_g,
                    "kind": r.kind,
                    "tissue": r.tissue,
                    "electron_model": r.effective_electron_model,
                }
                for r in regions
            ],
        },
        inputs=inputs,
        sources=(*MIRD_SOURCES, nuc.data_source),
    )


def _pick_method(
    requested: CrossDoseMethod,
    target: Region,
    centroid: tuple[float, float, float] | None,
    m_wb: float | None,
    source_name: str,
) -> Literal["point", "uniform"]:
    has_points = centroid is not None and target.centroid_mm is not None
    if requested == "point" or (requested == "auto" and has_points):
        if not has_points:
            raise InvalidInputError(
                f"centroids of {source_name!r} and {target.name!r}",
                expected="both regions with centroid_mm for point-source cross doses",
                actual="missing",
                fix="give centroids, or use cross_dose='uniform' with the body mass",
            )
        return "point"
    if m_wb is None:
        raise InvalidInputError(
            f"cross dose from {source_name!r} to {target.name!r}",
            expected="the whole-body mass (uniform model) or both centroids (point model)",
            actual="neither",
            fix="give whole_body_mass_g, centroids, or cross_dose='none'",
        )
    return "uniform"
