"""Voxelised torso of the digital NET patient: organs, skeleton, lesions.

The anatomy is built from simple solids (ellipsoids, elliptic and circular
cylinders) placed in DICOM patient coordinates (LPS: +x patient left, +y
posterior, +z head; origin at the level of the renal hila, on the body axis).
Organ sizes are calibrated so that the voxelised mass of every organ equals
its target: the ICRP Publication 89 reference mass (Table 2.8) of the
patient's sex, scaled by body surface area (Du Bois) relative to the ICRP
reference adult and multiplied by an individual lognormal factor (seeded).

The field of view is the torso from the urinary bladder to the lung apices
(head, neck, arms and legs are not modelled); the whole-body mass is the
patient's weight.

A second layout, ``build_anatomy(..., layout="ornl-stylized")``, takes the organ
shapes and positions of the ORNL/MIRD stylized adult (Cristy & Eckerman 1987;
:mod:`sstrkit.phantom.stylized`), whose cut solids (:class:`Ellipsoid` with
``cuts`` and ``holes``) are calibrated to the same ICRP 89 masses.

This module holds the labels, the patient, the painted anatomy and the calibration
(:func:`build_anatomy`); the solids and grids are in :mod:`sstrkit.phantom.solids`,
the layouts' common form and the simulator's own layout in :mod:`sstrkit.phantom.layout`
(their names stay importable from here).

Labels
------
``LABELS`` maps region names to label values; lesions use ``LESION_LABEL0 + i``.
Composite regions (``kidneys``, ``pancreas``, ``blood_pool`` ...) are in
``COMPOSITES``.

Examples
--------
>>> spec = PatientSpec(sex="M", seed=3).resolved()
>>> model = build_anatomy(spec, voxel_mm=8.0, lesions=False)
>>> a = model.voxelise()
>>> round(a.mass_g("liver") / model.target_mass_g["liver"], 2)
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.body import Sex
from sstrkit.core.body import du_bois_formula_m2 as bsa_du_bois_m2
from sstrkit.core.units import G_PER_KG, MM3_PER_ML
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.layout import _ORDER as _ORDER
from sstrkit.phantom.layout import _ORGAN_TARGETS as _ORGAN_TARGETS
from sstrkit.phantom.layout import LAYOUTS, Layout, LayoutSolids, _sstrkit_layout
from sstrkit.phantom.parameters import parameters, sources_of
from sstrkit.phantom.solids import Ellipsoid, Grid, Vec3
from sstrkit.phantom.solids import _paint as _paint

__all__ = [
    "COMPOSITES",
    "LABELS",
    "LAYOUTS",
    "LESION_LABEL0",
    "Anatomy",
    "AnatomyModel",
    "Ellipsoid",
    "Grid",
    "Layout",
    "LayoutSolids",
    "PatientSpec",
    "bsa_du_bois_m2",
    "build_anatomy",
]

LABELS: dict[str, int] = {
    "body": 1,
    "lungs": 2,
    "cortical_bone": 3,
    "spongiosa": 4,
    "liver": 5,
    "spleen": 6,
    "kidney_left_cortex": 7,
    "kidney_left_medulla": 8,
    "kidney_right_cortex": 9,
    "kidney_right_medulla": 10,
    "pancreas_head": 11,
    "pancreas_uncinate": 12,
    "pancreas_body_tail": 13,
    "adrenal_left": 14,
    "adrenal_right": 15,
    "heart_blood": 16,
    "aorta": 17,
    "bladder": 18,
}
LESION_LABEL0 = 100

#: Regions made of several labels.
COMPOSITES: dict[str, tuple[str, ...]] = {
    "kidney_left": ("kidney_left_cortex", "kidney_left_medulla"),
    "kidney_right": ("kidney_right_cortex", "kidney_right_medulla"),
    "kidneys": (
        "kidney_left_cortex",
        "kidney_left_medulla",
        "kidney_right_cortex",
        "kidney_right_medulla",
    ),
    "pancreas": ("pancreas_head", "pancreas_uncinate", "pancreas_body_tail"),
    "adrenals": ("adrenal_left", "adrenal_right"),
    "blood_pool": ("heart_blood", "aorta"),
    "skeleton": ("cortical_bone", "spongiosa"),
}

#: Tissue (density / SUV / HU key) of each label.
TISSUE: dict[str, str] = {
    "body": "body",
    "lungs": "lungs",
    "cortical_bone": "cortical_bone",
    "spongiosa": "spongiosa",
    "liver": "liver",
    "spleen": "spleen",
    "kidney_left_cortex": "kidney",
    "kidney_left_medulla": "kidney",
    "kidney_right_cortex": "kidney",
    "kidney_right_medulla": "kidney",
    "pancreas_head": "pancreas",
    "pancreas_uncinate": "pancreas",
    "pancreas_body_tail": "pancreas",
    "adrenal_left": "adrenal",
    "adrenal_right": "adrenal",
    "heart_blood": "blood",
    "aorta": "blood",
    "bladder": "urine",
}


# ---------------------------------------------------------------- patient
@dataclass(frozen=True)
class PatientSpec:
    """Sex, size and seed of a digital patient.

    ``height_cm``/``weight_kg`` left ``None`` are drawn from the seed around the
    ICRP 89 reference adult of that sex (height ±3 %, BMI-like weight ±10 %).
    """

    sex: Sex = "M"
    height_cm: float | None = None
    weight_kg: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sex not in ("F", "M"):
            raise InvalidInputError("sex", expected="'F' or 'M'", actual=self.sex)
        if self.height_cm is not None and not 140.0 <= self.height_cm <= 210.0:
            raise InvalidInputError(
                "height", expected="140-210 cm (adult torso model)", actual=self.height_cm
            )
        if self.weight_kg is not None and not 40.0 <= self.weight_kg <= 150.0:
            raise InvalidInputError(
                "weight", expected="40-150 kg (adult torso model)", actual=self.weight_kg
            )

    @property
    def reference(self) -> dict[str, float]:
        ref = parameters()["reference_adult"]["male" if self.sex == "M" else "female"]
        return {"height_cm": float(ref["height_cm"]), "weight_kg": float(ref["mass_g"]) / G_PER_KG}

    def resolved(self) -> PatientSpec:
        """A copy with height and weight filled in (deterministic per seed)."""
        rng = np.random.default_rng([self.seed, 1])
        ref = self.reference
        h = self.height_cm
        if h is None:
            h = round(ref["height_cm"] * float(np.clip(rng.normal(1.0, 0.03), 0.94, 1.06)), 1)
        w = self.weight_kg
        if w is None:
            bmi_factor = float(np.clip(rng.normal(1.0, 0.10), 0.8, 1.2))
            w = round(ref["weight_kg"] * (h / ref["height_cm"]) ** 2 * bmi_factor, 1)
        return replace(self, height_cm=float(h), weight_kg=float(w))

    @property
    def bsa_ratio(self) -> float:
        """BSA of this patient / BSA of the ICRP reference adult of the same sex."""
        if self.height_cm is None or self.weight_kg is None:
            raise InvalidInputError("patient size", expected="resolved height and weight")
        ref = self.reference
        return bsa_du_bois_m2(self.weight_kg, self.height_cm) / bsa_du_bois_m2(
            ref["weight_kg"], ref["height_cm"]
        )


# ---------------------------------------------------------------- lesions (geometry)
@dataclass(frozen=True)
class LesionGeometry:
    """A spherical lesion placed relative to its host solid.

    ``offset_unit`` is the centre in units of the host's semi-axes (so that the
    lesion moves with the host when the organ size is calibrated); hosts without
    a solid (lymph nodes) use ``host=''`` and ``offset_unit`` in mm.
    """

    id: str
    site: str
    host: str
    offset_unit: Vec3
    diameter_mm: float
    sstr_positive: bool = True
    fdg_positive: bool = False
    low_sstr: bool = False


# ---------------------------------------------------------------- model
@dataclass(frozen=True)
class AnatomyModel:
    """Calibrated solids of one patient; :meth:`voxelise` paints a label map."""

    patient: PatientSpec
    grid: Grid
    body: Ellipsoid
    solids: tuple[tuple[str, Ellipsoid], ...]
    bones: tuple[tuple[str, Ellipsoid], ...]
    lesions: tuple[LesionGeometry, ...]
    target_mass_g: Mapping[str, float]
    reference_mass_g: Mapping[str, float]
    vertebrae: Mapping[str, Vec3] = field(default_factory=dict)
    fat_rim_mm: float = 12.0
    layout: Layout = "sstrkit"

    def lesion_center_mm(self, lesion: LesionGeometry) -> Vec3:
        """Centre of a lesion in LPS mm."""
        if not lesion.host:
            return lesion.offset_unit
        host = self.solid(lesion.host)
        return tuple(  # type: ignore[return-value]
            host.center_mm[i] + lesion.offset_unit[i] * host.semi_axes_mm[i] for i in range(3)
        )

    def solid(self, name: str) -> Ellipsoid:
        for n, s in (*self.solids, *self.bones):
            if n == name:
                return s
        raise InvalidInputError(
            "solid", expected=f"one of {[n for n, _ in self.solids]}", actual=name
        )

    def lesion_label(self, index: int) -> int:
        return LESION_LABEL0 + 1 + index

    def paint_organs(self, grid: Grid | None = None) -> NDArray[np.int16]:
        """Label map of body, organs and bones (no lesions) on ``grid`` (default: own grid).

        Organs are painted in order over body and lungs only (an earlier organ keeps
        an overlap), bones over everything.
        """
        grid = self.grid if grid is None else grid
        labels = np.zeros(grid.shape, dtype=np.int16)
        _paint(labels, grid, self.body, LABELS["body"])
        for name, solid in self.solids:
            _paint(labels, grid, solid, LABELS[_label_of(name)], only=_paint_over(name))
        for name, solid in self.bones:
            _paint(labels, grid, solid, LABELS[_label_of(name)])
        return labels

    def voxelise(self, lesion_volume_factors: Mapping[str, float] | None = None) -> Anatomy:
        """Paint the label map; lesion volumes are multiplied by the given factors."""
        factors = dict(lesion_volume_factors or {})
        labels = self.paint_organs()
        diam: dict[str, float] = {}
        for i, les in enumerate(self.lesions):
            d = les.diameter_mm * factors.get(les.id, 1.0) ** (1 / 3)
            diam[les.id] = d
            r = d / 2
            centre = self.lesion_center_mm(les)
            painted = _paint(
                labels,
                self.grid,
                Ellipsoid(centre, (r, r, r)),
                self.lesion_label(i),
                only=[v for v in range(1, LESION_LABEL0) if v != 0],
            )
            if painted == 0:
                # Smaller than a voxel (a strong response): keep it as the voxel holding its
                # centre, so that its activity stays in the images and the truth agrees.
                idx = tuple(
                    int(np.clip(np.rint((centre[k] - self.grid.origin[k]) / self.grid.spacing[k]),
                                0, self.grid.shape[2 - k] - 1))
                    for k in (2, 1, 0)
                )  # fmt: skip
                if 0 < labels[idx] < LESION_LABEL0:
                    labels[idx] = self.lesion_label(i)
        vol = Volume.from_array(
            labels,
            spacing=self.grid.spacing,
            origin=self.grid.origin,
            modality="SEG",
            quantity="label",
            unit="1",
            name="phantom_labels",
            operation="phantom_voxelise",
            parameters={"seed": self.patient.seed, "lesion_volume_factors": factors},
            sources=sources_of(
                "reference_masses_g",
                "density_g_ml",
                *(("stylized_adult",) if self.layout == "ornl-stylized" else ()),
            ),
        )
        return Anatomy(model=self, labels=vol, lesion_diameters_mm=diam)


def _label_of(name: str) -> str:
    """Solid name to label name (lungs share a label; ``label#part`` is a part of ``label``)."""
    name = name.split("#", 1)[0]
    if name.startswith("lung_"):
        return "lungs"
    return name


def _paint_over(name: str) -> list[int] | None:
    """Labels a solid may overwrite (organs overwrite body, lungs and blood; not each other)."""
    if name in ("kidney_left_medulla", "kidney_right_medulla"):
        return [LABELS[name.replace("medulla", "cortex")]]
    if name == "aorta":
        return [LABELS["body"], LABELS["heart_blood"]]
    return [LABELS["body"], LABELS["lungs"]]


@dataclass(frozen=True)
class Anatomy:
    """A painted label map with masses and lesion sizes."""

    model: AnatomyModel
    labels: Volume
    lesion_diameters_mm: Mapping[str, float]

    def label_values(self, region: str) -> tuple[int, ...]:
        """Label values of a region, composite region or lesion id."""
        if region in LABELS:
            return (LABELS[region],)
        if region in COMPOSITES:
            return tuple(LABELS[r] for r in COMPOSITES[region])
        for i, les in enumerate(self.model.lesions):
            if les.id == region:
                return (self.model.lesion_label(i),)
        raise InvalidInputError(
            "region",
            expected=f"one of {sorted(LABELS) + sorted(COMPOSITES)} or a lesion id",
            actual=region,
        )

    def mask(self, region: str) -> NDArray[np.bool_]:
        return np.isin(self.labels.array, self.label_values(region))

    def counts(self) -> NDArray[np.int64]:
        """Voxel count per label value (index = label)."""
        return np.bincount(self.labels.array.ravel().astype(np.int64), minlength=LESION_LABEL0 + 64)

    def volume_ml(self, region: str, counts: NDArray[np.int64] | None = None) -> float:
        c = self.counts() if counts is None else counts
        return float(sum(c[v] for v in self.label_values(region))) * self.labels.voxel_volume_ml

    def density(self, region: str) -> float:
        dens = parameters()["density_g_ml"]
        if region in LABELS:
            return float(dens[TISSUE[region]])
        if region in COMPOSITES:
            return float(dens[TISSUE[COMPOSITES[region][0]]])
        return float(dens["tumour"])

    def mass_g(self, region: str, counts: NDArray[np.int64] | None = None) -> float:
        """Voxelised mass (volume × nominal density); composites sum their parts.

        A lesion that shrank below the truth grid keeps the voxel holding its
        centre (:meth:`AnatomyModel.voxelise`); should even that be impossible,
        it keeps the mass of its sphere, so that its uptake and dose stay defined.
        """
        c = self.counts() if counts is None else counts
        if region in COMPOSITES:
            return sum(self.mass_g(r, c) for r in COMPOSITES[region])
        m = self.volume_ml(region, c) * self.density(region)
        if m == 0.0 and region in self.lesion_diameters_mm:
            sphere_ml = math.pi / 6.0 * self.lesion_diameters_mm[region] ** 3 / MM3_PER_ML
            m = sphere_ml * self.density(region)
        return m

    def centroid_mm(self, region: str) -> Vec3:
        """Centroid of a region in LPS mm."""
        idx = np.argwhere(self.mask(region))  # (z, y, x)
        if idx.size == 0:
            raise InvalidInputError("region", expected="a non-empty region", actual=region)
        xyz = self.labels.index_to_physical(idx[:, ::-1].mean(axis=0))
        return (float(xyz[0]), float(xyz[1]), float(xyz[2]))


# ---------------------------------------------------------------- building
def _targets(
    spec: PatientSpec, rng: np.random.Generator, variability: bool
) -> tuple[dict[str, float], dict[str, float]]:
    """Target and reference (size-scaled ICRP 89) masses in g per calibrated group."""
    p = parameters()
    sexkey = "male" if spec.sex == "M" else "female"
    ref = {k: float(v[sexkey]) for k, v in p["reference_masses_g"].items() if isinstance(v, dict)}
    scale = spec.bsa_ratio
    sigma = float(p["variability"]["organ_mass_sigma"]) if variability else 0.0

    def indiv() -> float:
        return float(math.exp(np.clip(rng.normal(0.0, 1.0), -2.0, 2.0) * sigma))

    split = p["pancreas_split"]
    reference = {
        "liver": ref["liver"] * scale,
        "spleen": ref["spleen"] * scale,
        "kidney_left": ref["kidneys"] * scale / 2,
        "kidney_right": ref["kidneys"] * scale / 2,
        "pancreas_head": ref["pancreas"] * scale * float(split["head"]),
        "pancreas_uncinate": ref["pancreas"] * scale * float(split["uncinate"]),
        "pancreas_body_tail": ref["pancreas"] * scale * float(split["body_tail"]),
        "adrenal_left": ref["adrenals"] * scale / 2,
        "adrenal_right": ref["adrenals"] * scale / 2,
        "lungs": ref["lungs"] * scale,
        # model choices (not ICRP 89 organ masses): blood in the heart chambers, urine
        "heart_blood": 560.0 * scale * float(p["density_g_ml"]["blood"]),
        "bladder": 150.0 * float(p["density_g_ml"]["urine"]),
    }
    pancreas_f = indiv()
    kidney_f = indiv()
    adrenal_f = indiv()
    target = {}
    for k, v in reference.items():
        if k.startswith("pancreas"):
            f = pancreas_f
        elif k.startswith("kidney"):
            f = kidney_f * float(math.exp(rng.normal(0.0, 0.03)))
        elif k.startswith("adrenal"):
            f = adrenal_f
        elif k in ("heart_blood", "bladder"):
            f = 1.0
        else:
            f = indiv()
        target[k] = v * f
    return target, reference


def _calibrate(
    model: AnatomyModel,
    base: Mapping[str, Ellipsoid],
    groups: Mapping[str, tuple[str, ...]],
    target: Mapping[str, float],
    scale: dict[str, float],
    rounds: int,
    *,
    pivots: Mapping[str, Vec3] | None = None,
    keep_best: bool = False,
) -> AnatomyModel:
    """Rescale every group's solids by (target/voxelised mass)^(1/3), ``rounds`` times.

    ``scale`` (group -> factor relative to ``base``) is updated in place. Solids scale
    about their centre or about ``pivots[name]``. ``keep_best``: voxelise once more and
    keep, per group, the scale whose voxelised mass came closest to the target (solids
    with flat faces gain or lose a whole voxel layer at once, so that the plain iteration
    can alternate around the target instead of converging).
    """
    order = [n for n, _ in model.solids]
    piv = dict(pivots or {})
    best: dict[str, tuple[float, float]] = {}

    def rebuilt(m: AnatomyModel) -> AnatomyModel:
        new = {
            p: base[p].scaled(scale[g], about=piv.get(p))
            for g, members in groups.items()
            for p in members
        }
        return replace(m, solids=tuple((n, new.get(n, base[n])) for n in order))

    for r in range(rounds + int(keep_best)):
        anat = model.voxelise()
        counts = anat.counts()
        for group, members in groups.items():
            names = {_label_of(p) for p in members}
            mass = sum(anat.mass_g(n, counts) for n in names)
            if mass <= 0:
                raise InvalidInputError(
                    f"voxelised {group}",
                    expected="a non-empty organ",
                    actual="0 voxels",
                    fix="use a smaller voxel size",
                )
            err = abs(mass / target[group] - 1.0)
            if group not in best or err < best[group][0]:
                best[group] = (err, scale[group])
            if r < rounds:
                scale[group] *= (target[group] / mass) ** (1 / 3)
        if r < rounds:
            model = rebuilt(model)
    if keep_best:
        scale.update({g: s for g, (_, s) in best.items()})
        model = rebuilt(model)
    return model


def build_anatomy(
    spec: PatientSpec,
    *,
    voxel_mm: float = 2.0,
    lesions: bool | tuple[LesionGeometry, ...] = True,
    variability: bool = True,
    fdg_lesion: bool = True,
    iterations: int = 4,
    layout: Layout = "sstrkit",
) -> AnatomyModel:
    """Build and calibrate the anatomy of a (resolved) patient.

    Parameters
    ----------
    spec
        The patient; unresolved height/weight are drawn from its seed.
    voxel_mm
        Isotropic voxel size of the truth grid (2 mm default; tests use 4-8 mm).
    lesions
        ``True``: draw the NET lesions from the seed (:mod:`sstrkit.phantom.lesions`);
        ``False``: none; or an explicit tuple.
    variability
        Individual organ-mass factors (lognormal, ``variability.organ_mass_sigma``);
        ``False`` gives exactly the size-scaled ICRP 89 masses.
    fdg_lesion
        Include an FDG-avid, SSTR-negative liver lesion.
    iterations
        Rounds of size calibration (each rescales every organ by (target/actual)^(1/3));
        the stylized layout runs two more and keeps, per organ, the round closest to the
        target (its flat faces make the voxelised mass jump by a voxel layer).
    layout
        ``"sstrkit"`` (default): the simulator's own ellipsoids; ``"ornl-stylized"``: the
        organ shapes and positions of the ORNL/MIRD stylized adult
        (:mod:`sstrkit.phantom.stylized`), calibrated to the same ICRP 89 target masses.
        With drawn lesions, the stylized layout moves each liver and pancreas lesion to
        the nearest position inside its (cut) host organ
        (:func:`sstrkit.phantom.lesions.fit_lesions`).
    """
    if voxel_mm <= 0 or voxel_mm > 10:
        raise InvalidInputError("voxel size", expected="0 < voxel_mm <= 10", actual=voxel_mm)
    if layout not in LAYOUTS:
        raise InvalidInputError(
            "anatomy layout",
            expected=" or ".join(repr(v) for v in LAYOUTS),
            actual=layout,
            fix="use layout='sstrkit' (default) or layout='ornl-stylized'",
        )
    spec = spec.resolved()
    rng = np.random.default_rng([spec.seed, 2])
    target, reference = _targets(spec, rng, variability)
    if layout == "sstrkit":
        parts = _sstrkit_layout(spec)
    else:
        from sstrkit.phantom.stylized import stylized_layout

        parts = stylized_layout(spec)
    body, solids, order, groups = parts.body, dict(parts.solids), parts.order, parts.groups
    vertebrae = dict(parts.vertebrae)
    margin = 12.0
    grid = Grid.covering(
        tuple(v - margin for v in parts.lo),  # type: ignore[arg-type]
        tuple(v + margin for v in parts.hi),  # type: ignore[arg-type]
        (voxel_mm, voxel_mm, voxel_mm),
    )
    if lesions is True:
        from sstrkit.phantom.lesions import draw_lesions

        lesion_list = draw_lesions(spec.seed, vertebrae=vertebrae, fdg_lesion=fdg_lesion)
    elif lesions is False:
        lesion_list = ()
    else:
        lesion_list = tuple(lesions)
    model = AnatomyModel(
        patient=spec,
        grid=grid,
        body=body,
        solids=tuple((n, solids[n]) for n in order),
        bones=tuple(parts.bones),
        lesions=lesion_list,
        target_mass_g=target,
        reference_mass_g=reference,
        vertebrae=vertebrae,
        layout=layout,
    )
    scale = dict.fromkeys(groups, 1.0)
    if lesions is True and layout != "sstrkit":
        # Stylized organs are cut solids: calibrate without lesions, put every lesion
        # inside its host, recalibrate (the hosts lose the lesion voxels), refit.
        from sstrkit.phantom.lesions import fit_lesions

        kw: dict[str, Any] = {"pivots": parts.pivots, "keep_best": True}
        rounds = iterations + 2  # cut solids overlap more after scaling: converge further
        model = _calibrate(replace(model, lesions=()), solids, groups, target, scale, rounds, **kw)
        model = fit_lesions(replace(model, lesions=lesion_list), spread=True)
        model = _calibrate(model, solids, groups, target, scale, iterations, **kw)
        return fit_lesions(model)
    model = _calibrate(
        model,
        solids,
        groups,
        target,
        scale,
        iterations + (0 if layout == "sstrkit" else 2),
        pivots=parts.pivots,
        keep_best=layout != "sstrkit",
    )
    if lesions is True:
        from sstrkit.phantom.lesions import separate_lesions

        model = separate_lesions(model)
    return model
