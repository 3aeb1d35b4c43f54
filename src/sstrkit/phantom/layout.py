"""Organ layouts of the digital patient, and the simulator's own ("sstrkit") layout.

A layout places the uncalibrated solids of one patient (:class:`LayoutSolids`): the
body outline, the organs in painting order, the calibrated groups, the skeleton and
the named vertebrae. :func:`_sstrkit_layout` is the simulator's own: ellipsoids and
cylinders scaled to the patient's height and weight (:func:`_layout`) and a skeleton of
vertebral bodies, arches, ilia and sacrum (:func:`_skeleton`). The ORNL/MIRD stylized
adult is the other layout (:func:`sstrkit.phantom.stylized.stylized_layout`);
:func:`sstrkit.phantom.anatomy.build_anatomy` calibrates either to the organ masses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.solids import Ellipsoid, Vec3

if TYPE_CHECKING:
    from sstrkit.phantom.anatomy import PatientSpec

__all__ = ["LAYOUTS", "Layout", "LayoutSolids"]

#: Anatomy layouts: the simulator's own (ICRP 89 calibrated ellipsoids) and the ORNL/MIRD
#: stylized adult (:mod:`sstrkit.phantom.stylized`).
Layout = Literal["sstrkit", "ornl-stylized"]
LAYOUTS: tuple[Layout, ...] = ("sstrkit", "ornl-stylized")


@dataclass(frozen=True)
class LayoutSolids:
    """The uncalibrated solids of one anatomy layout for one patient (LPS mm).

    ``order`` is the painting order of ``solids``; ``groups`` maps each calibrated
    group of :func:`sstrkit.phantom.anatomy._targets` to the solids it scales;
    ``lo``/``hi`` bound the body; ``pivots`` are the points a solid is scaled about,
    where not its centre.
    """

    body: Ellipsoid
    solids: Mapping[str, Ellipsoid]
    order: tuple[str, ...]
    groups: Mapping[str, tuple[str, ...]]
    bones: tuple[tuple[str, Ellipsoid], ...]
    vertebrae: Mapping[str, Vec3]
    lo: Vec3
    hi: Vec3
    pivots: Mapping[str, Vec3] = field(default_factory=dict)


_ORDER = (
    "lung_left",
    "lung_right",
    "heart_blood",
    "liver",
    "spleen",
    "kidney_left_cortex",
    "kidney_left_medulla",
    "kidney_right_cortex",
    "kidney_right_medulla",
    "pancreas_body_tail",
    "pancreas_head",
    "pancreas_uncinate",
    "adrenal_left",
    "adrenal_right",
    "bladder",
    "aorta",
)

#: The sstrkit layout's calibrated groups (see ``_targets``) and the solids each scales.
_ORGAN_TARGETS = {
    "liver": ("liver",),
    "spleen": ("spleen",),
    "kidney_left": ("kidney_left_cortex", "kidney_left_medulla"),
    "kidney_right": ("kidney_right_cortex", "kidney_right_medulla"),
    "pancreas_head": ("pancreas_head",),
    "pancreas_uncinate": ("pancreas_uncinate",),
    "pancreas_body_tail": ("pancreas_body_tail",),
    "adrenal_left": ("adrenal_left",),
    "adrenal_right": ("adrenal_right",),
    "lungs": ("lung_left", "lung_right"),
    "heart_blood": ("heart_blood",),
    "bladder": ("bladder",),
}


def _layout(spec: PatientSpec) -> tuple[Ellipsoid, dict[str, Ellipsoid], dict[str, Any]]:
    """Body outline and initial organ solids for the patient's size (LPS mm)."""
    if spec.height_cm is None or spec.weight_kg is None:
        raise InvalidInputError("patient size", expected="resolved height and weight")
    # Torso cross-section area scales with weight/height (cylinder of equal density).
    area_ratio = (spec.weight_kg / spec.height_cm) / (73.0 / 176.0)
    sx = sy = math.sqrt(area_ratio)
    sz = spec.height_cm / 176.0
    a, b = 165.0 * sx, 110.0 * sy
    z_lo, z_hi = -285.0 * sz, 330.0 * sz
    body = Ellipsoid((0.0, 0.0, (z_lo + z_hi) / 2), (a, b, (z_hi - z_lo) / 2), kind="cylinder")

    def e(c: Vec3, s: Vec3) -> Ellipsoid:
        return Ellipsoid((c[0] * sx, c[1] * sy, c[2] * sz), (s[0] * sx, s[1] * sy, s[2] * sz))

    solids = {
        "lung_left": e((85, 10, 235), (60, 75, 90)),
        "lung_right": e((-85, 10, 235), (60, 75, 90)),
        "liver": e((-50, 0, 95), (95, 80, 55)),
        "spleen": e((95, 40, 85), (30, 45, 25)),
        "kidney_left_cortex": e((75, 55, 0), (28, 25, 50)),
        "kidney_right_cortex": e((-75, 55, -15), (28, 25, 50)),
        "pancreas_body_tail": e((40, -15, 30), (65, 12, 22)),
        "pancreas_head": e((-25, -12, 18), (24, 18, 24)),
        "pancreas_uncinate": e((-15, 0, -5), (14, 10, 14)),
        "adrenal_left": e((45, 50, 60), (10, 8, 20)),
        "adrenal_right": e((-40, 55, 45), (10, 8, 20)),
        "heart_blood": e((25, -25, 205), (55, 45, 55)),
        "bladder": e((0, -45, -235), (42, 32, 30)),
    }
    for side in ("left", "right"):
        c = solids[f"kidney_{side}_cortex"]
        solids[f"kidney_{side}_medulla"] = c.scaled(0.65)
    # Aorta: from the bifurcation (L4) up into the heart, left-anterior of the spine.
    aorta_lo, aorta_hi = -110.0 * sz, 200.0 * sz
    solids["aorta"] = Ellipsoid(
        (15.0 * sx, 8.0 * sy, (aorta_lo + aorta_hi) / 2),
        (10.0 * sx, 10.0 * sx, (aorta_hi - aorta_lo) / 2),
        kind="cylinder",
    )
    geo = {"sx": sx, "sy": sy, "sz": sz, "z_lo": z_lo, "z_hi": z_hi, "a": a, "b": b}
    return body, solids, geo


def _skeleton(geo: Mapping[str, float]) -> tuple[list[tuple[str, Ellipsoid]], dict[str, Vec3]]:
    """Vertebral bodies (cortical shell + spongiosa), posterior arches, ilia and sacrum."""
    sx, sy, sz = geo["sx"], geo["sy"], geo["sz"]
    y_v = 40.0 * sy
    bones: list[tuple[str, Ellipsoid]] = []
    centres: dict[str, Vec3] = {}
    levels: list[tuple[str, float, float, float]] = []  # name, z centre, radius, half height
    lumbar_pitch, thoracic_pitch = 36.0 * sz, 27.0 * sz
    z = -126.0 * sz
    for name in ("L5", "L4", "L3", "L2", "L1"):
        levels.append((name, z, 22.0 * sx, 0.38 * lumbar_pitch))
        z += lumbar_pitch
    z += (thoracic_pitch - lumbar_pitch) / 2
    for k in range(12, 0, -1):
        if z + thoracic_pitch / 2 > geo["z_hi"]:
            break
        levels.append((f"T{k}", z, 17.0 * sx, 0.38 * thoracic_pitch))
        z += thoracic_pitch
    shell = 2.5
    for name, zc, r, h in levels:
        centres[name] = (0.0, y_v, zc)
        bones.append(("cortical_bone", Ellipsoid((0.0, y_v, zc), (r, r, h), kind="cylinder")))
        bones.append(
            (
                "spongiosa",
                Ellipsoid((0.0, y_v, zc), (r - shell, r - shell, h - shell), kind="cylinder"),
            )
        )
        arch_y = y_v + r + 12.0 * sy
        bones.append(
            (
                "cortical_bone",
                Ellipsoid((0.0, arch_y, zc), (12.0 * sx, 12.0 * sy, h), kind="cylinder"),
            )
        )
    for name, c, s in (
        ("ilium_left", (95.0, 35.0, -170.0), (12.0, 45.0, 50.0)),
        ("ilium_right", (-95.0, 35.0, -170.0), (12.0, 45.0, 50.0)),
        ("sacrum", (0.0, 70.0, -175.0), (40.0, 16.0, 35.0)),
    ):
        cc = (c[0] * sx, c[1] * sy, c[2] * sz)
        ss = (s[0] * sx, s[1] * sy, s[2] * sz)
        bones.append(("cortical_bone", Ellipsoid(cc, ss)))
        bones.append(("spongiosa", Ellipsoid(cc, tuple(v - 4.0 for v in ss))))  # type: ignore[arg-type]
        centres[name] = cc
    return bones, centres


def _sstrkit_layout(spec: PatientSpec) -> LayoutSolids:
    """The simulator's own layout (:func:`_layout`, :func:`_skeleton`)."""
    body, solids, geo = _layout(spec)
    bones, vertebrae = _skeleton(geo)
    return LayoutSolids(
        body=body,
        solids=solids,
        order=_ORDER,
        groups=_ORGAN_TARGETS,
        bones=tuple(bones),
        vertebrae=vertebrae,
        lo=(-geo["a"], -geo["b"], geo["z_lo"]),
        hi=(geo["a"], geo["b"], geo["z_hi"]),
    )
