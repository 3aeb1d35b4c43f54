"""The second anatomy: the ORNL/MIRD stylized adult (Cristy & Eckerman 1987, ORNL/TM-8381).

The equations are typed here again, independently of ``sstrkit.phantom.stylized``, from
the published phantom (cm; origin at the base of the trunk, x left, y posterior, z up);
for the ICRP 89 reference male (176 cm, 73 kg) the patient coordinates are
(10 x, 10 y, 10 z - 325) mm.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import integrate
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import (
    LABELS,
    Ellipsoid,
    Grid,
    PatientSpec,
    _paint,
    build_anatomy,
)
from sstrkit.phantom.lesions import MIN_GAP_MM, draw_lesions
from sstrkit.phantom.study import StudyConfig
from sstrkit.phantom.stylized import LIVER_CENTROID_CM, stylized_layout

REFERENCE = {"M": (176.0, 73.0), "F": (163.0, 60.0)}  # ICRP 89 height cm, mass kg
PI = math.pi

# ------------------------------------------------------------ the equations, in cm


def _liver(x: NDArray[np.float64], y: NDArray[np.float64], z: NDArray[np.float64]) -> NDArray:
    return (
        ((x / 16.5) ** 2 + (y / 8.0) ** 2 <= 1)
        & (x / 35 + y / 45 - z / 43 <= -1)
        & (z >= 27)
        & (z <= 43)
    )


def _kidney(sgn: float):
    def f(x, y, z):
        e = ((x - 6 * sgn) / 4.5) ** 2 + ((y - 6) / 1.5) ** 2 + ((z - 32.5) / 5.5) ** 2 <= 1
        return e & (sgn * x >= 3)

    return f


def _lung(sgn: float):
    def f(x, y, z):
        e = ((x - 8.5 * sgn) / 5) ** 2 + (y / 7.5) ** 2 + ((z - 43.5) / 24) ** 2 <= 1
        notch = ((x - 2.5 * sgn) / 5) ** 2 + (y / 7.5) ** 2 + ((z - 43.5) / 24) ** 2 <= 1
        return e & (z >= 43.5) & ~(notch & (y < 0))

    return f


def _spleen(x, y, z):
    return ((x - 11) / 3.5) ** 2 + ((y - 3) / 2) ** 2 + ((z - 37) / 6) ** 2 <= 1


def _adrenal(sgn: float):
    def f(x, y, z):
        e = ((x - 4.5 * sgn) / 1.5) ** 2 + ((y - 6.5) / 0.5) ** 2 + ((z - 38) / 5) ** 2 <= 1
        return e & (z >= 38)

    return f


def _pancreas(x, y, z):
    e = (x / 15) ** 2 + (y / 1) ** 2 + ((z - 37) / 3) ** 2 <= 1
    return e & (x >= 0) & ~((z < 37) & (x > 3))


def _pelvis(x, y, z):
    ring = ((x / 12) ** 2 + ((y + 3) / 12) ** 2 <= 1) & (
        (x / 11.3) ** 2 + ((y + 3.8) / 11.3) ** 2 > 1
    )
    return ring & (y >= -3) & (z >= 0) & (z <= 22) & ~((y > 5) & (z < 14))


EQUATIONS = {
    "liver": _liver,
    "kidney_left_cortex": _kidney(1.0),
    "kidney_right_cortex": _kidney(-1.0),
    "lung_left": _lung(1.0),
    "lung_right": _lung(-1.0),
    "spleen": _spleen,
    "adrenal_left": _adrenal(1.0),
    "adrenal_right": _adrenal(-1.0),
}


def _liver_volume_cm3() -> float:
    """Liver volume from its equations: a 1-D integral of the area of an ellipse cut by a line.

    At height z the liver is the ellipse (x/16.5)² + (y/8)² ≤ 1 on the side x/35 + y/45 ≤
    z/43 - 1 of a line; in coordinates scaled to the unit disk the line is at distance d
    from the centre and the disk area on that side is π - acos(d) + d·sqrt(1 - d²).
    """
    norm = math.hypot(16.5 / 35, 8.0 / 45)

    def area(z: float) -> float:
        d = min(1.0, max(-1.0, (z / 43 - 1) / norm))
        return 16.5 * 8.0 * (PI - math.acos(d) + d * math.sqrt(1 - d * d))

    return float(integrate.quad(area, 27.0, 43.0)[0])


# Volumes by hand from the equations (cm³ = mL).
_HALF_PANCREAS = 2 / 3 * PI * 15 * 1 * 3
_HEAD_FRACTION = (0.2 - 0.2**3 / 3) / (2 / 3)  # share of the half with x <= 3 cm (x/a <= 0.2)
# Two unit balls 6/5 apart overlap in a lens of π(4 + d)(2 - d)²/12; the lung notch is the
# quarter of it with z >= 43.5 and y < 0, scaled by 5 x 7.5 x 24 cm.
_NOTCH = PI * (4 + 1.2) * (2 - 1.2) ** 2 / 12 / 4 * 5 * 7.5 * 24
HAND_ML = {
    "liver": _liver_volume_cm3(),  # 1833.3
    "spleen": 4 / 3 * PI * 3.5 * 2 * 6,  # 175.9
    # |x| >= 3 cm removes the part u <= -2/3 of the ellipsoid: (3/4)(1/27 + ...) = 2/27 of it
    "kidney_left_cortex": 4 / 3 * PI * 4.5 * 1.5 * 5.5 * 25 / 27,  # 144.0
    "kidney_right_cortex": 4 / 3 * PI * 4.5 * 1.5 * 5.5 * 25 / 27,
    "lung_left": 2 / 3 * PI * 5 * 7.5 * 24 - _NOTCH,  # 1689.0
    "lung_right": 2 / 3 * PI * 5 * 7.5 * 24 - _NOTCH,
    "adrenal_left": 2 / 3 * PI * 1.5 * 0.5 * 5,  # 7.85
    "adrenal_right": 2 / 3 * PI * 1.5 * 0.5 * 5,
    "pancreas_head": _HALF_PANCREAS / 2 * _HEAD_FRACTION,  # 13.95
    "pancreas_uncinate": _HALF_PANCREAS / 2 * _HEAD_FRACTION,
    "pancreas_body_tail": _HALF_PANCREAS / 2 * (1 - _HEAD_FRACTION),  # 33.2
    "bladder": 4 / 3 * PI * 4.706 * 3.206 * 3.206,  # 202.6 (contents)
    "heart_blood": 2 / 3 * PI * 4 * 4 * 7,  # 234.6 (apex half-ellipsoid)
    "heart_blood#base": 2 / 3 * PI * 4**3,  # 134.0 (base hemisphere)
}
THIN = {"adrenal_left", "adrenal_right", "pancreas_head", "pancreas_uncinate", "pancreas_body_tail"}


@pytest.fixture(scope="module")
def layout():
    return stylized_layout(PatientSpec("M", *REFERENCE["M"]))


def _mm_to_cm(p: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
    return p[:, 0] / 10, p[:, 1] / 10, p[:, 2] / 10 + 32.5


def test_hand_volumes_are_the_published_mird_values() -> None:
    # The liver integral reproduces the MIRD liver volume usually quoted, 1833 cm³
    # (Snyder et al. 1978); the kidney cut fraction 2/27 by direct integration.
    assert HAND_ML["liver"] == pytest.approx(1833.3, abs=0.1)
    cut = integrate.quad(lambda t: 1 - t * t, -1, -2 / 3)[0] / (4 / 3)
    assert cut == pytest.approx(2 / 27, rel=1e-12)


@pytest.mark.parametrize("name", sorted(HAND_ML))
def test_voxelised_uncalibrated_organs_have_the_volumes_of_the_equations(layout, name) -> None:
    # Each solid painted alone on a 1 mm grid vs its volume by hand. Tolerance: 1 % for
    # organs at least 3 cm thick, 2 % for the 1 cm thick adrenals and pancreas parts
    # (counting errors at the boundary scale with voxel/thickness; measured <= 0.7 %).
    solid = layout.solids[name]
    lo, hi = solid.bounds()
    grid = Grid.covering(tuple(v - 2 for v in lo), tuple(v + 2 for v in hi), (1.0, 1.0, 1.0))
    labels = np.zeros(grid.shape, dtype=np.int16)
    voxel_ml = _paint(labels, grid, solid, 1) * grid.voxel_ml
    tol = 0.02 if name in THIN else 0.01
    assert voxel_ml == pytest.approx(HAND_ML[name], rel=tol)
    # Solid.volume_ml (midpoint rule for cut solids; docstring: < 0.5 %).
    assert solid.volume_ml == pytest.approx(HAND_ML[name], rel=0.005)


def test_trunk_is_the_70_cm_elliptic_cylinder(layout) -> None:
    # Trunk (x/20)² + (y/10)² <= 1, 0 <= z <= 70 cm: π 20 10 70 cm³; patient z -325..375 mm.
    assert layout.body.volume_ml == pytest.approx(PI * 20 * 10 * 70, rel=1e-12)
    assert layout.lo == pytest.approx((-200.0, -100.0, -325.0))
    assert layout.hi == pytest.approx((200.0, 100.0, 375.0))


@pytest.mark.parametrize("name", [*sorted(EQUATIONS), "pancreas", "pelvis"])
def test_cut_solids_are_exactly_the_published_regions(layout, name) -> None:
    # 200 000 random points around the organ: inside the solid (patient mm) if and only if
    # the published inequalities hold (cm). Cut planes, holes and half-solids are exact,
    # so not a single point may disagree (points on a boundary have probability zero).
    rng = np.random.default_rng(1)
    if name == "pancreas":
        parts = [
            layout.solids[p] for p in ("pancreas_head", "pancreas_uncinate", "pancreas_body_tail")
        ]
        eq = _pancreas
        lo, hi = parts[0].bounds()
    elif name == "pelvis":
        parts = [b for n, b in layout.bones if n == "cortical_bone"][1:]
        eq = _pelvis
        lo, hi = parts[0].bounds()
    else:
        parts = [layout.solids[name]]
        eq = EQUATIONS[name]
        lo, hi = parts[0].bounds()
    pts = rng.uniform(np.asarray(lo) - 5, np.asarray(hi) + 5, size=(200_000, 3))
    inside = np.zeros(len(pts), dtype=bool)
    counts = np.zeros(len(pts), dtype=int)
    for s in parts:
        hit = s.contains(pts[:, 0], pts[:, 1], pts[:, 2])
        inside |= hit
        counts += hit
    expected = eq(*_mm_to_cm(pts))
    assert expected.sum() > 1000  # the test exercises the organ
    assert np.array_equal(inside, expected)
    assert counts.max() == 1  # pancreas parts do not overlap


def test_cuts_and_holes_scale_with_the_solid(layout) -> None:
    # Solid.scaled(s, about=o) is the image of the solid under p -> o + s (p - o):
    # a point is in the solid iff its image is in the scaled one (cuts, holes included).
    rng = np.random.default_rng(2)
    for name in ("liver", "lung_left", "kidney_right_cortex", "heart_blood"):
        solid = layout.solids[name]
        lo, hi = solid.bounds()
        pts = rng.uniform(np.asarray(lo) - 5, np.asarray(hi) + 5, size=(50_000, 3))
        for s, about in ((0.8, None), (1.3, (-89.0, -16.0, 46.0))):
            o = np.asarray(solid.center_mm if about is None else about)
            img = o + s * (pts - o)
            scaled = solid.scaled(s, about=about)
            a = solid.contains(pts[:, 0], pts[:, 1], pts[:, 2])
            b = scaled.contains(img[:, 0], img[:, 1], img[:, 2])
            assert a.sum() > 1000 and np.array_equal(a, b), (name, s)


def test_rotated_solid_volume_and_bounds() -> None:
    # A rotated ellipsoid without cuts keeps (4/3)πabc; a too small bounding box would
    # lose volume in the midpoint estimate (tolerance 0.5 %, its documented accuracy).
    t = math.radians(25.0)
    axes = ((math.cos(t), 0.0, math.sin(t)), (0.0, 1.0, 0.0), (-math.sin(t), 0.0, math.cos(t)))
    e = Ellipsoid((0.0, 0.0, 0.0), (40.0, 40.0, 70.0), axes=axes)
    assert e.volume_ml == pytest.approx(4 / 3 * PI * 40 * 40 * 70 / 1000, rel=0.005)
    _lo, hi = e.bounds()
    # Extent along x of the tilted ellipsoid: sqrt((40 cos t)² + (70 sin t)²).
    assert hi[0] == pytest.approx(math.hypot(40 * math.cos(t), 70 * math.sin(t)), rel=1e-12)


def test_heart_apex_points_down_and_to_the_left(layout) -> None:
    # Long axis tilted 25° from z towards +x: the apex (7 cm from the base centre along
    # -w) is at dx = 7 sin 25° = 29.6 mm, dz = -7 cos 25° = -63.4 mm.
    apex = layout.solids["heart_blood"]
    c = np.asarray(apex.center_mm)
    tip = c + np.array([70 * math.sin(math.radians(25)), 0.0, -70 * math.cos(math.radians(25))])
    assert apex.contains(*(c + 0.99 * (tip - c)))
    assert not apex.contains(*(c + 1.01 * (tip - c)))
    assert not layout.solids["heart_blood#base"].contains(*(c + 0.5 * (tip - c)))


@pytest.mark.parametrize("sex", ["M", "F"])
def test_stylized_organ_masses_are_the_icrp89_targets(sex: str) -> None:
    # Same calibration and tolerance as the own layout (test_anatomy_biology): 3 % at 2 mm;
    # the stylized shapes are scaled, their masses are ICRP 89 Table 2.8.
    icrp89 = {
        "M": {"liver": 1800, "spleen": 150, "kidneys": 310, "pancreas": 140, "lungs": 1200},
        "F": {"liver": 1400, "spleen": 130, "kidneys": 275, "pancreas": 120, "lungs": 950},
    }
    model = build_anatomy(
        PatientSpec(sex, *REFERENCE[sex], seed=1),
        voxel_mm=2.0,
        lesions=False,
        variability=False,
        layout="ornl-stylized",
    )
    anat = model.voxelise()
    counts = anat.counts()
    for organ, ref in icrp89[sex].items():
        assert anat.mass_g(organ, counts) == pytest.approx(ref, rel=0.03), organ
    assert model.layout == "ornl-stylized"


def test_organ_centroids_differ_from_the_own_layout_by_the_documented_amounts() -> None:
    # docs/phantom.md "Second anatomy": centroid differences (stylized - own layout) of the
    # calibrated reference male, mm. Reference: the stylized centres from the equations
    # (spleen (11, 3, 37) cm -> (110, 30, 45) mm; liver centroid LIVER_CENTROID_CM) and the
    # own layout's solids; tolerance 4 mm (one voxel of the 4 mm grid).
    spec = PatientSpec("M", *REFERENCE["M"], seed=1)
    own = build_anatomy(spec, voxel_mm=4.0, lesions=False, variability=False).voxelise()
    sty = build_anatomy(
        spec, voxel_mm=4.0, lesions=False, variability=False, layout="ornl-stylized"
    ).voxelise()
    documented = {
        "liver": (-38, -15, -50),
        "spleen": (15, -10, -40),
        "kidney_left": (-12, 5, 0),
        "kidney_right": (12, 5, 15),
        "heart_blood": (-20, -5, -39),
        "lungs": (3, -9, -36),
    }
    for organ, delta in documented.items():
        d = np.subtract(sty.centroid_mm(organ), own.centroid_mm(organ))
        assert d == pytest.approx(delta, abs=4.0), organ
    x, y, z = LIVER_CENTROID_CM
    assert sty.centroid_mm("liver") == pytest.approx((10 * x, 10 * y, 10 * z - 325), abs=4.0)
    assert sty.centroid_mm("spleen") == pytest.approx((110.0, 30.0, 45.0), abs=4.0)


@pytest.mark.parametrize("seed", [0, 3, 7, 9])
def test_lesions_lie_inside_their_host_organs(seed: int) -> None:
    # Every liver lesion voxel is a liver voxel of the lesion-free label map, liver lesions
    # stay MIN_GAP_MM apart (surface to surface), the pancreatic primary is centred in the
    # pancreatic head, bone lesions in the spine's spongiosa and lymph nodes in soft tissue.
    model = build_anatomy(PatientSpec(seed=seed), voxel_mm=4.0, layout="ornl-stylized")
    anat = model.voxelise()
    free = model.paint_organs()
    grid = model.grid
    liver = [x for x in model.lesions if x.host == "liver"]
    assert len(liver) >= 4
    for i, les in enumerate(model.lesions):
        voxels = anat.labels.array == model.lesion_label(i)
        assert voxels.any(), les.id
        c = model.lesion_center_mm(les)
        k = tuple(round((c[j] - grid.origin[j]) / grid.spacing[j]) for j in (2, 1, 0))
        if les.host == "liver":
            assert set(np.unique(free[voxels])) == {LABELS["liver"]}, les.id
        elif les.site == "pancreas":
            assert free[k] == LABELS["pancreas_head"], les.id
        elif les.site == "bone":
            assert free[k] == LABELS["spongiosa"], les.id
        else:
            assert free[k] == LABELS["body"], les.id
    for i, a in enumerate(liver):
        for b in liver[i + 1 :]:
            ca, cb = np.asarray(model.lesion_center_mm(a)), np.asarray(model.lesion_center_mm(b))
            gap = float(np.linalg.norm(ca - cb)) - (a.diameter_mm + b.diameter_mm) / 2
            assert gap >= MIN_GAP_MM, (a.id, b.id, gap)


def test_drawn_offsets_alone_would_miss_the_cut_liver(layout) -> None:
    # Why fit_lesions exists: the drawn unit offsets applied to the stylized liver's
    # uncut cylinder (centre + offset x semi-axes) put lesion centres outside the liver.
    liver = layout.solids["liver"]
    c, a = np.asarray(liver.center_mm), np.asarray(liver.semi_axes_mm)
    outside = [
        not bool(liver.contains(*(c + np.asarray(les.offset_unit) * a)))
        for seed in (0, 3, 7, 9)
        for les in draw_lesions(seed, vertebrae=layout.vertebrae)
        if les.host == "liver"
    ]
    assert sum(outside) > 0


def test_layout_is_deterministic_and_validated() -> None:
    a = build_anatomy(PatientSpec("F", seed=4), voxel_mm=6.0, layout="ornl-stylized").voxelise()
    b = build_anatomy(PatientSpec("F", seed=4), voxel_mm=6.0, layout="ornl-stylized").voxelise()
    assert np.array_equal(a.labels.array, b.labels.array)
    with pytest.raises(InvalidInputError, match="anatomy layout"):
        build_anatomy(PatientSpec(seed=1), voxel_mm=8.0, layout="icrp110")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="anatomy layout"):
        StudyConfig(anatomy="icrp110")  # type: ignore[arg-type]


def test_cli_builds_a_coarse_stylized_study(tmp_path: Path) -> None:
    # The whole study on the stylized anatomy through `sstrkit phantom make --anatomy`,
    # at 8 mm (coarse, for speed); the layout is recorded in the manifest and truth.json.
    runner = CliRunner()
    out = tmp_path / "study"
    args = ["phantom", "make", str(out), "--seed", "3", "--voxel-mm", "8", "--cycles", "1"]
    args += ["--timepoints-h", "24", "--no-fdg", "--anatomy", "ornl-stylized", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["anatomy"]["layout"] == "ornl-stylized"
    assert any("ORNL/TM-8381" in s for s in manifest["anatomy"]["sources"])
    truth = json.loads((out / "truth" / "truth.json").read_text("utf-8"))
    assert truth["anatomy"]["layout"] == "ornl-stylized"
    assert manifest["provenance"]["parameters"]["anatomy"] == "ornl-stylized"
    assert len(manifest["series"]["spect"]) == 1 and manifest["series"]["fdg"] is None
    # Organ masses near ICRP 89 x BSA even at 8 mm (liver 1800 g; 25 % at this coarse grid).
    assert truth["organs"]["liver"]["mass_g"] == pytest.approx(
        truth["organs"]["liver"]["target_mass_g"], rel=0.25
    )
    bad = runner.invoke(
        app, ["phantom", "make", str(tmp_path / "x"), "--anatomy", "icrp", "--json"]
    )
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["error"]["what"] == "--anatomy"
