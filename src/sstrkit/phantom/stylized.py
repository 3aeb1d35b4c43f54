"""A second anatomy: the ORNL/MIRD stylized adult, from its published equations.

The organ shapes and positions are those of the adult stylized ("MIRD-type")
phantom of

* M. Cristy, K. F. Eckerman, *Specific absorbed fractions of energy at various ages
  from internal photon sources*, ORNL/TM-8381 (Oak Ridge National Laboratory, 1987),
  Vol. I-VII (the adult phantom);
* W. S. Snyder, M. R. Ford, G. G. Warner, *Estimates of specific absorbed fractions
  for photon sources uniformly distributed in various organs of a heterogeneous
  phantom*, MIRD Pamphlet No. 5, revised (Society of Nuclear Medicine, 1978).

Only the published equations are used (no code or data of another project). Phantom
coordinates are in cm: origin at the centre of the base of the trunk, x to the
phantom's left, y posterior, z up, i.e. DICOM LPS. A point (x, y, z) cm maps to
patient millimetres as (10 x s_x, 10 y s_y, (10 z - 325) s_z): the origin is moved up
to z = 32.5 cm, the centre of the kidneys (the renal hila, as in the simulator's own
layout), and s_x = s_y = sqrt((W/H) / (73/176)), s_z = H/176 scale the reference
adult (ICRP 89: 176 cm, 73 kg) to the patient, as :func:`sstrkit.phantom.layout._layout`
does. Both sexes use the (hermaphrodite) adult shapes.

What is stylized and what is ICRP 89: shapes and positions are the stylized ones;
:func:`sstrkit.phantom.anatomy.build_anatomy` then rescales every organ about its
centre (cut planes scale with it) until its voxelised mass equals the same ICRP 89
target as in the simulator's own layout. Uncalibrated volumes (``calibrate=False``
in the tests) are those of the equations.

Equations (cm; "verified" names the source the numbers were checked against):

============  ===========================================================  ==========
organ         region                                                       verified
============  ===========================================================  ==========
trunk         (x/20)² + (y/10)² ≤ 1, 0 ≤ z ≤ 70                            [G4]
liver         (x/16.5)² + (y/8)² ≤ 1, x/35 + y/45 − z/43 ≤ −1, 27 ≤ z ≤ 43  [brief]
kidneys       ((x ∓ 6)/4.5)² + ((y − 6)/1.5)² + ((z − 32.5)/5.5)² ≤ 1,     [G4]
              |x| ≥ 3
spleen        ((x − 11)/3.5)² + ((y − 3)/2)² + ((z − 37)/6)² ≤ 1           [G4]
lungs         ((x ∓ 8.5)/5)² + (y/7.5)² + ((z − 43.5)/24)² ≤ 1, z ≥ 43.5;  [G4]
              minus ((x ∓ 2.5)/5)² + (y/7.5)² + ((z − 43.5)/24)² ≤ 1, y < 0
adrenals      ((x ∓ 4.5)/1.5)² + ((y − 6.5)/0.5)² + ((z − 38)/5)² ≤ 1,     [G4]
              z ≥ 38
pancreas      (x/15)² + (y/1)² + ((z − 37)/3)² ≤ 1, x ≥ 0,                 [G4]
              and x ≤ 3 where z < 37
bladder       contents (x/4.706)² + ((y + 4.5)/3.206)² + ((z − 8)/3.206)²  [G4]
              ≤ 1 (wall: 4.958, 3.458, 3.458; soft tissue here)
heart         half-ellipsoid (4, 4, 7 cm, apex half) + hemisphere r = 4    [G4],
              at (0, −3, 50.32), long axis tilted 25° towards +x, apex     approx.
              down and left
spine         (x/2)² + ((y − 5.5)/2.5)² ≤ 1, 22 ≤ z ≤ 70                   [G4]
pelvis        (x/12)² + ((y + 3)/12)² ≤ 1, (x/11.3)² + ((y + 3.8)/11.3)²   [G4]
              ≥ 1, y ≥ −3, 0 ≤ z ≤ 22, not (y > 5 and z < 14)
============  ===========================================================  ==========

[G4]: the numbers agree with the adult MIRD phantom of the Geant4 ``human_phantom``
advanced example (G4MIRD*.cc, S. Guatelli et al.), read as a check only (nothing is
copied). [brief]: the liver plane and limits are the published equations as given
to this project; the ORNL report itself was not available to check them (the Geant4
example uses a rescaled liver), and their volume, 1834 cm³, is the one of the MIRD
liver (1833 cm³ as usually quoted).

Approximations and additions (documented model choices, not in the papers):

* heart: the ORNL report (1987) models the heart with chambers and walls; here it is
  the simpler MIRD-type heart of the Geant4 example (apex half-ellipsoid + base
  hemisphere), whose whole volume is the ``heart_blood`` region (calibrated to the
  same 560 mL x BSA ratio of blood as the simulator's own layout). Under a
  non-uniform patient scaling its semi-axes take the scale of the nearest patient axis;
* pancreas parts: the stylized pancreas is one organ; ``pancreas_head`` is its part
  with x ≤ 3 cm above z = 37 cm, ``pancreas_uncinate`` the part with x ≤ 3 cm below
  (the cut leaves only the head below the centre), ``pancreas_body_tail`` x ≥ 3 cm;
* kidney medulla: the cortex solid scaled by 0.65 about its centre (as in the own layout);
* aorta (not in the phantoms): an elliptic cylinder of radius 1 cm at x = 1.5,
  y = 2.0 cm (left-anterior of the spine), 26 ≤ z ≤ 50 cm (the descending aorta);
* skeleton: the spine is one elliptic cylinder (cortical shell 2.5 mm, spongiosa
  inside); vertebral levels for ``model.vertebrae`` divide it into five lumbar
  levels of 3.6 cm (22-40 cm) and twelve thoracic levels of 2.5 cm (40-70 cm);
  the pelvis ring gets a 2.5 mm cortical shell too; ribs, skull, arms, legs,
  stomach, intestines, thyroid and gonads are not modelled (soft tissue).

Examples
--------
>>> from sstrkit.phantom.anatomy import PatientSpec
>>> lay = stylized_layout(PatientSpec("M", 176.0, 73.0))
>>> round(lay.solids["spleen"].volume_ml, 1)  # (4/3) pi 3.5 x 2 x 6 cm^3
175.9
>>> lay.solids["kidney_left_cortex"].center_mm
(60.0, 60.0, 0.0)
"""

from __future__ import annotations

import math
from typing import Literal

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import PatientSpec
from sstrkit.phantom.layout import _ORDER, _ORGAN_TARGETS, LayoutSolids
from sstrkit.phantom.solids import Ellipsoid, Vec3

__all__ = [
    "HEART_TILT_DEG",
    "LIVER_CENTROID_CM",
    "ORIGIN_Z_CM",
    "SOURCES",
    "stylized_layout",
]

#: Height (cm, phantom coordinates) of the patient-coordinate origin: the kidney centres.
ORIGIN_Z_CM = 32.5
#: Centroid of the liver region (cm; numerical integration of its equations).
LIVER_CENTROID_CM: Vec3 = (-8.90, -1.63, 37.08)
#: Tilt of the heart's long axis from the z axis towards +x (degrees).
HEART_TILT_DEG = 25.0
#: Citations of the published phantom.
SOURCES = (
    "M. Cristy, K. F. Eckerman, Specific absorbed fractions of energy at various ages from "
    "internal photon sources, ORNL/TM-8381 (Oak Ridge National Laboratory, 1987)",
    "W. S. Snyder, M. R. Ford, G. G. Warner, Estimates of specific absorbed fractions for "
    "photon sources uniformly distributed in various organs of a heterogeneous phantom, "
    "MIRD Pamphlet No. 5 (revised), Society of Nuclear Medicine, 1978",
)

_SHELL_MM = 2.5  # cortical shell of the spine and pelvis (model choice, as the own layout)
_Kind = Literal["ellipsoid", "cylinder", "box"]


class _Frame:
    """Phantom cm -> patient mm for one patient (scale about the z = 32.5 cm origin)."""

    def __init__(self, spec: PatientSpec) -> None:
        if spec.height_cm is None or spec.weight_kg is None:
            raise InvalidInputError("patient size", expected="resolved height and weight")
        area_ratio = (spec.weight_kg / spec.height_cm) / (73.0 / 176.0)
        self.s = (math.sqrt(area_ratio), math.sqrt(area_ratio), spec.height_cm / 176.0)

    def point(self, x: float, y: float, z: float) -> Vec3:
        sx, sy, sz = self.s
        return (10.0 * x * sx, 10.0 * y * sy, (10.0 * z - 10.0 * ORIGIN_Z_CM) * sz)

    def lengths(self, a: float, b: float, c: float) -> Vec3:
        sx, sy, sz = self.s
        return (10.0 * a * sx, 10.0 * b * sy, 10.0 * c * sz)

    def plane(self, n: Vec3, d: float) -> tuple[Vec3, float]:
        """The half-space n·p ≤ d (phantom cm) in patient mm (exact under the scaling)."""
        sx, sy, sz = self.s
        n_mm = (n[0] / (10.0 * sx), n[1] / (10.0 * sy), n[2] / (10.0 * sz))
        return n_mm, d - n[2] * ORIGIN_Z_CM

    def solid(
        self,
        centre: Vec3,
        semi: Vec3,
        kind: _Kind = "ellipsoid",
        cuts: tuple[tuple[Vec3, float], ...] = (),
        holes: tuple[Ellipsoid, ...] = (),
    ) -> Ellipsoid:
        return Ellipsoid(
            self.point(*centre),
            self.lengths(*semi),
            kind=kind,
            cuts=tuple(self.plane(n, d) for n, d in cuts),
            holes=holes,
        )


def stylized_layout(spec: PatientSpec) -> LayoutSolids:
    """The stylized adult's solids for a resolved patient (uncalibrated, LPS mm)."""
    f = _Frame(spec)
    solids: dict[str, Ellipsoid] = {}
    x_pos: Vec3 = (1.0, 0.0, 0.0)
    x_neg: Vec3 = (-1.0, 0.0, 0.0)
    z_pos: Vec3 = (0.0, 0.0, 1.0)
    z_neg: Vec3 = (0.0, 0.0, -1.0)

    body = f.solid((0.0, 0.0, 35.0), (20.0, 10.0, 35.0), kind="cylinder")
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        notch = f.solid((2.5 * sgn, 0.0, 43.5), (5.0, 7.5, 24.0), cuts=(((0.0, 1.0, 0.0), 0.0),))
        solids[f"lung_{side}"] = f.solid(
            (8.5 * sgn, 0.0, 43.5), (5.0, 7.5, 24.0), cuts=((z_neg, -43.5),), holes=(notch,)
        )
    solids["heart_blood"], solids["heart_blood#base"] = _heart(f)
    solids["liver"] = f.solid(
        (0.0, 0.0, 35.0),
        (16.5, 8.0, 8.0),
        kind="cylinder",
        cuts=(((1 / 35, 1 / 45, -1 / 43), -1.0),),
    )
    solids["spleen"] = f.solid((11.0, 3.0, 37.0), (3.5, 2.0, 6.0))
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        # |x| >= 3 cm: -x <= -3 on the left, x <= -3 on the right.
        cortex = f.solid((6.0 * sgn, 6.0, 32.5), (4.5, 1.5, 5.5), cuts=(((-sgn, 0.0, 0.0), -3.0),))
        solids[f"kidney_{side}_cortex"] = cortex
        solids[f"kidney_{side}_medulla"] = cortex.scaled(0.65)
        solids[f"adrenal_{side}"] = f.solid(
            (4.5 * sgn, 6.5, 38.0), (1.5, 0.5, 5.0), cuts=((z_neg, -38.0),)
        )
    pancreas = ((0.0, 0.0, 37.0), (15.0, 1.0, 3.0))
    solids["pancreas_body_tail"] = f.solid(*pancreas, cuts=((x_neg, -3.0), (z_neg, -37.0)))
    solids["pancreas_head"] = f.solid(*pancreas, cuts=((x_neg, 0.0), (x_pos, 3.0), (z_neg, -37.0)))
    solids["pancreas_uncinate"] = f.solid(
        *pancreas, cuts=((x_neg, 0.0), (x_pos, 3.0), (z_pos, 37.0))
    )
    solids["bladder"] = f.solid((0.0, -4.5, 8.0), (4.706, 3.206, 3.206))
    # Model addition: the descending aorta (not in the stylized phantoms).
    aorta_r = 10.0 * f.s[0]
    solids["aorta"] = Ellipsoid(
        f.point(1.5, 2.0, 38.0), (aorta_r, aorta_r, 10.0 * 12.0 * f.s[2]), kind="cylinder"
    )
    # the default layout's painting order and mass groups, with the heart's base added
    i = _ORDER.index("heart_blood") + 1
    order = (*_ORDER[:i], "heart_blood#base", *_ORDER[i:])
    groups = {**_ORGAN_TARGETS, "heart_blood": ("heart_blood", "heart_blood#base")}
    bones, vertebrae = _skeleton(f)
    lo, hi = body.bounds()
    return LayoutSolids(
        body=body,
        solids=solids,
        order=order,
        groups=groups,
        bones=bones,
        vertebrae=vertebrae,
        lo=lo,
        hi=hi,
        # The liver's cylinder axis lies outside the liver: scale it about its centroid.
        pivots={"liver": f.point(*LIVER_CENTROID_CM)},
    )


def _heart(f: _Frame) -> tuple[Ellipsoid, Ellipsoid]:
    """Apex half-ellipsoid (4, 4, 7 cm) and base hemisphere (4 cm) on a tilted long axis."""
    t = math.radians(HEART_TILT_DEG)
    u: Vec3 = (math.cos(t), 0.0, math.sin(t))
    v: Vec3 = (0.0, 1.0, 0.0)
    w: Vec3 = (-math.sin(t), 0.0, math.cos(t))  # apex at centre - 7 cm w: down and left
    c = f.point(0.0, -3.0, 50.32)
    w_c = w[0] * c[0] + w[1] * c[1] + w[2] * c[2]
    apex = Ellipsoid(c, f.lengths(4.0, 4.0, 7.0), axes=(u, v, w), cuts=((w, w_c),))
    minus_w: Vec3 = (-w[0], -w[1], -w[2])
    base = Ellipsoid(c, f.lengths(4.0, 4.0, 4.0), axes=(u, v, w), cuts=((minus_w, -w_c),))
    return apex, base


def _skeleton(f: _Frame) -> tuple[tuple[tuple[str, Ellipsoid], ...], dict[str, Vec3]]:
    """Spine and pelvis (cortical shell + spongiosa) and the vertebral level centres."""
    shell = _SHELL_MM
    bones: list[tuple[str, Ellipsoid]] = []
    spine = f.solid((0.0, 5.5, 46.0), (2.0, 2.5, 24.0), kind="cylinder")
    bones.append(("cortical_bone", spine))
    a, b, c = spine.semi_axes_mm
    bones.append(
        ("spongiosa", Ellipsoid(spine.center_mm, (a - shell, b - shell, c - shell), "cylinder"))
    )
    y_neg: Vec3 = (0.0, -1.0, 0.0)
    for label, d in (("cortical_bone", 0.0), ("spongiosa", shell / 10.0)):
        # Ring between two circular cylinders, posterior to y = -3 cm, without the part
        # y > 5 cm below z = 14 cm; the spongiosa is the ring shrunk by the shell.
        inner = f.solid((0.0, -3.8, 11.0), (11.3 + d, 11.3 + d, 12.0), kind="cylinder")
        notch = f.solid((0.0, 17.0 - d, 2.0 + d), (30.0, 12.0, 12.0), kind="box")
        bones.append(
            (
                label,
                f.solid(
                    (0.0, -3.0, 11.0),
                    (12.0 - d, 12.0 - d, 11.0 - d),
                    kind="cylinder",
                    cuts=((y_neg, 3.0 - d),),
                    holes=(inner, notch),
                ),
            )
        )
    vertebrae: dict[str, Vec3] = {}
    levels = [(f"L{5 - k}", 22.0 + 3.6 * (k + 0.5)) for k in range(5)]
    levels += [(f"T{12 - k}", 40.0 + 2.5 * (k + 0.5)) for k in range(12)]
    for name, z in levels:
        vertebrae[name] = f.point(0.0, 5.5, z)
    return tuple(bones), vertebrae
