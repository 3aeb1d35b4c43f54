"""Physiological SSTR uptake patterns with automatic organs, on a synthetic abdomen.

The abdomen (tests/reading/abdomen.py) has set SUVs (liver 6, spleen 20, kidneys 14,
bladder 40, soft tissue 0.8) and class labels as the automatic segmentation writes
them; added structures are drawn at set SUVs and blurred with a 6 mm FWHM Gaussian.
Reference values are these set geometries and SUVs. Each rule is checked with a
control in which the rule cannot act (the lesion it must keep, or the rule switched
off), so that a test passes because of the rule and not by accident.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pytest

from sstrkit.reading.metrics import lesion_metrics
from sstrkit.reading.reader import select_targets
from sstrkit.reading.reference import measure_references
from sstrkit.reading.scores import krenning_score
from sstrkit.reading.segmentation import (
    PHYSIOLOGICAL_ORGAN_FLAG,
    UNCINATE_FLAG,
    Segmentation,
    SegmentationSettings,
    region_shape,
    segment_lesions,
)

from .abdomen import Abdomen, Vec, organ_map

#: Ureter: 6 mm urine-filled tube from below the left kidney to above the bladder.
URETER = ((60.0, 40.0, -45.0), (35.0, 10.0, -115.0))
#: A 16 mm lesion of the ureter's SUV, 37 mm from it, in the same kidney-bladder corridor.
ROUND_NEAR_URETER = (15.0, 30.0, -75.0)
#: A bowel loop (8 mm tube bent through 200° of a 25 mm radius) and a round lesion of
#: the same SUV (4.0, below the liver lesion threshold 1.25 × 6) beside it.
BOWEL_CENTRE = (-20.0, -50.0, -40.0)
ROUND_NEAR_BOWEL = (30.0, -55.0, -40.0)
#: Uncinate region (right of the spine, anterior to it and the kidneys, at the hila)
#: and its mirror image on the patient's left.
UNCINATE = (-20.0, 10.0, -5.0)
MIRROR = (40.0, 10.0, -5.0)
#: Gallbladder fossa: outside the liver, below and in front of it, on the right.
GALLBLADDER = (-45.0, -45.0, 38.0)


def _near(seg: Segmentation, point: Vec, tol_mm: float) -> list[Any]:
    suv = _study()["suv"]
    refs = measure_references(suv, organ_map(_study()))
    return [
        m
        for m in lesion_metrics(suv, seg, refs)
        if np.linalg.norm(np.subtract(m.centroid_mm, point)) <= tol_mm
    ]


@lru_cache(maxsize=1)
def _study() -> dict[str, Any]:
    a = Abdomen()
    a.add_tube(URETER, 3.0, 25.0)
    a.add_ball(ROUND_NEAR_URETER, 8.0, 25.0)
    a.add_arc(BOWEL_CENTRE, 25.0, 4.0, 4.0)
    a.add_ball(ROUND_NEAR_BOWEL, 8.0, 4.0)
    a.add_ball(UNCINATE, 7.0, 8.0)
    a.add_ball(MIRROR, 7.0, 8.0)
    a.add_ball(GALLBLADDER, 10.0, 15.0)
    return a.build()


@lru_cache(maxsize=8)
def _segment(tracer: str = "68Ga-DOTATATE", **settings: Any) -> Segmentation:
    st = _study()
    om = organ_map(st)
    refs = measure_references(st["suv"], om)
    return segment_lesions(st["suv"], refs, om, SegmentationSettings(**settings), tracer=tracer)


def _ureter_points(n: int = 9) -> list[Vec]:
    a, b = (np.asarray(p) for p in URETER)
    # the middle of the tube, clear of the kidney and bladder zones at its ends
    return [tuple(a + (b - a) * t) for t in np.linspace(0.3, 0.8, n)]  # type: ignore[misc]


def test_ureter_suppressed_round_lesion_of_equal_suv_kept() -> None:
    seg = _segment()
    lab = np.asarray(seg.labels.array)
    suv = _study()["suv"]
    for p in _ureter_points():
        zyx = tuple(np.rint(suv.physical_to_index(p)).astype(int)[::-1])
        assert lab[zyx] == 0, p  # no lesion voxel on the ureter
    ureter = [s for s in seg.suppressed if s.organ == "ureter"]
    assert len(ureter) >= 1 and "between kidney and bladder" in ureter[0].reason
    # the round 16 mm lesion of the same SUV in the same corridor is a lesion; its
    # centroid within one voxel (3 mm) of the set centre
    hits = _near(seg, ROUND_NEAR_URETER, 3.0)
    assert len(hits) == 1, [m.centroid_mm for m in hits]


def test_ureter_is_read_as_lesion_when_the_rule_is_off() -> None:
    # control: the same tube is detected (as one or more lesions) without the rule, so
    # the suppression above is the rule's doing
    seg = _segment(suppress_urinary_tract=False)
    assert not [s for s in seg.suppressed if s.organ == "ureter"]
    assert any(_near(seg, p, 8.0) for p in _ureter_points())


def test_bowel_loop_suppressed_round_lesion_of_equal_suv_kept() -> None:
    seg = _segment()
    bowel = [s for s in seg.suppressed if s.organ == "bowel"]
    assert len(bowel) == 1 and "below the liver lesion threshold" in bowel[0].reason
    # the suppressed focus is the loop: its centroid lies within the loop's radius
    # (25 mm) of the loop's centre; the round lesion beside it (50 mm away) is kept
    assert np.linalg.norm(np.subtract(bowel[0].centroid_mm, BOWEL_CENTRE)) <= 25.0
    assert len(_near(seg, ROUND_NEAR_BOWEL, 3.0)) == 1
    off = _segment(suppress_bowel=False)
    assert not [s for s in off.suppressed if s.organ == "bowel"]
    assert len(_near(off, BOWEL_CENTRE, 30.0)) >= 1  # control: the loop is detected


def test_uncinate_focus_kept_and_flagged_mirror_not() -> None:
    seg = _segment()
    (unc,) = _near(seg, UNCINATE, 3.0)
    (mirror,) = _near(seg, MIRROR, 3.0)
    assert UNCINATE_FLAG in unc.flags
    assert UNCINATE_FLAG not in mirror.flags  # same focus left of the spine: not flagged
    assert unc.id not in select_targets([unc, mirror]) and mirror.id in select_targets(
        [unc, mirror]
    )


def test_gallbladder_only_for_99mtc_tracers() -> None:
    tc = _segment("99mTc-EDDA/HYNIC-TOC")
    assert [s.organ for s in tc.suppressed].count("gallbladder") == 1
    assert not _near(tc, GALLBLADDER, 5.0)
    ga = _segment("68Ga-DOTATATE")
    assert "gallbladder" not in [s.organ for s in ga.suppressed]
    assert len(_near(ga, GALLBLADDER, 5.0)) == 1  # a 68Ga focus there stays a lesion


def test_region_shape_of_rod_and_ball() -> None:
    # A rod of 3 x 3 voxels x 21 voxels (3 mm): length 63 mm along z (20 steps + one
    # voxel), inscribed width 9 mm; axis ratio = sqrt of the ratio of the discrete
    # variances of 21 and 3 equally spaced points, sqrt((21² - 1) / (3² - 1)) = sqrt(55).
    # A voxel ball (r² ≤ 25 voxels², 2 mm): axis ratio 1 by symmetry, length 22 mm; its
    # nearest outside voxel centre is at sqrt(26) voxels (offset 4, 3, 1), so the
    # inscribed width is 2 × 2 × sqrt(26) - 2 = 18.4 mm.
    from sstrkit.core.volume import Volume

    m = np.zeros((30, 9, 9), dtype=bool)
    m[4:25, 3:6, 3:6] = True
    vol = Volume.from_array(np.zeros(m.shape), spacing=(3.0, 3.0, 3.0))
    rod = region_shape(m, vol)
    assert rod.length_mm == pytest.approx(63.0)
    assert rod.width_mm == pytest.approx(9.0)
    assert abs(rod.axis[2]) == pytest.approx(1.0)
    assert rod.axis_ratio == pytest.approx(np.sqrt(55.0), rel=1e-9)
    zz, yy, xx = np.indices((15, 15, 15))
    ball = (zz - 7) ** 2 + (yy - 7) ** 2 + (xx - 7) ** 2 <= 25
    b = region_shape(ball, Volume.from_array(np.zeros(ball.shape), spacing=(2.0, 2.0, 2.0)))
    assert b.axis_ratio == pytest.approx(1.0, abs=1e-6)
    assert b.length_mm == pytest.approx(22.0)
    assert b.width_mm == pytest.approx(4.0 * np.sqrt(26.0) - 2.0)


# ------------------------------------------------------------- organs with lesions
def test_liver_lesion_twice_liver_found_bright_kidney_not() -> None:
    # 20 mm liver lesion at 2 × liver (12 vs 6); kidneys bright as a whole (SUV 40)
    a = Abdomen(organ_suv={"kidney_left": 40.0, "kidney_right": 40.0})
    a.add_ball((-70.0, 10.0, 80.0), 10.0, 12.0)
    st = a.build()
    om = organ_map(st)
    refs = measure_references(st["suv"], om)
    seg = segment_lesions(st["suv"], refs, om)
    ms = lesion_metrics(st["suv"], seg, refs)
    assert [m.organ for m in ms] == ["liver"]
    (m,) = ms
    # centroid within one voxel; the 50 % isocontour of a blurred uniform 20 mm sphere
    # (4.19 mL) recovers its volume within ±40 % on a 3 mm grid
    assert np.linalg.norm(np.subtract(m.centroid_mm, (-70.0, 10.0, 80.0))) <= 3.0
    assert m.volume_ml == pytest.approx(4.19, rel=0.40)
    # the bright kidneys are suppressed as physiological (the left one merges with the
    # spleen's zone, named after the majority organ), never read as lesions
    assert "kidney_right" in {s.organ for s in seg.suppressed}
    assert refs.liver is not None and refs.liver.suv_mean == pytest.approx(6.0, abs=1e-3)


def test_focal_spleen_lesion_found_and_flagged() -> None:
    # 20 mm focus at 2.25 × spleen (45 vs 20) inside the spleen: found against the
    # spleen's own level (threshold 1.6 × its median), flagged for CT, not a target
    a = Abdomen()
    a.add_ball((75.0, 30.0, 85.0), 10.0, 45.0)
    st = a.build()
    om = organ_map(st)
    refs = measure_references(st["suv"], om)
    ms = lesion_metrics(st["suv"], segment_lesions(st["suv"], refs, om), refs)
    (m,) = [m for m in ms if m.organ == "spleen"]
    assert PHYSIOLOGICAL_ORGAN_FLAG in m.flags
    assert np.linalg.norm(np.subtract(m.centroid_mm, (75.0, 30.0, 85.0))) <= 3.0
    assert select_targets([m]) == ()
    # control: the spleen without the focus yields no spleen lesion
    plain = Abdomen().build()
    om0 = organ_map(plain)
    refs0 = measure_references(plain["suv"], om0)
    seg0 = segment_lesions(plain["suv"], refs0, om0)
    assert not [m for m in lesion_metrics(plain["suv"], seg0, refs0) if m.organ == "spleen"]


# ----------------------------------------------------------------- absent organs
def test_splenectomy_krenning_against_liver_with_note() -> None:
    # spleen removed (no uptake, segmentation: absent); a lesion of SUV 30 (> 1.1 × liver)
    a = Abdomen().remove("spleen")
    a.add_ball((-20.0, -40.0, -60.0), 10.0, 30.0)
    st = a.build()
    om = organ_map(st)
    refs = measure_references(st["suv"], om)
    assert refs.spleen is None and refs.spleen_missing
    assert any("splenectomy" in n for n in refs.notes)
    # Without the guard the no-label heuristic would take the left kidney (SUV 14 > liver,
    # on the left at liver level) as "spleen": it must not be used.
    assert refs.liver is not None and refs.liver.suv_mean == pytest.approx(6.0, abs=1e-3)
    seg = segment_lesions(st["suv"], refs, om)
    (m,) = lesion_metrics(st["suv"], seg, refs)
    grade = krenning_score(
        m.suv_max, liver=refs.liver_mean, spleen=None, spleen_missing=refs.spleen_missing
    )
    assert grade == 3  # above liver; 4 cannot be read without a spleen (lower bound)
    assert krenning_score(m.suv_max, liver=refs.liver_mean, spleen=None) is None


def test_single_kidney_is_fine() -> None:
    a = Abdomen().remove("kidney_left")
    st = a.build()
    om = organ_map(st)
    assert om.usable("kidney") and om.status("kidney") == "plausible"
    refs = measure_references(st["suv"], om)
    assert refs.liver_reliable and not refs.spleen_missing
    seg = segment_lesions(st["suv"], refs, om)
    assert [s.organ for s in seg.suppressed].count("kidney_right") == 1
    assert lesion_metrics(st["suv"], seg, refs) == ()


def test_flagged_organ_suppresses_nothing() -> None:
    """A segmentation-flagged outline never hides uptake (safety: missing data never
    loosens a rule). Seen on a digital patient: a 1 mL 'urinary_bladder' that was an
    18 mm para-aortic node suppressed that node as bladder uptake. Reference: the same
    labels without the flag give a physiological zone; with 'implausible' none."""
    from sstrkit.core.volume import Volume
    from sstrkit.reading.organs import OrganMap
    from sstrkit.reading.segmentation import _physiological_zone

    lab = np.zeros((10, 10, 10), dtype=np.int32)
    lab[4:6, 4:6, 4:6] = 5
    vol = Volume(np.zeros(lab.shape, dtype=np.float32), spacing=(4.0, 4.0, 4.0))
    names = {5: "urinary_bladder"}
    plausible = OrganMap(lab, names, quality={"urinary_bladder": "plausible"})
    flagged = OrganMap(lab, names, quality={"urinary_bladder": "implausible"})
    assert _physiological_zone(plausible, vol, 10.0)[0].any()
    assert not _physiological_zone(flagged, vol, 10.0)[0].any()
