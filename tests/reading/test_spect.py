"""SSTR SPECT reading (`sstrkit.reading.spect`): SUV, tracer patterns, Krenning, eligibility.

The synthetic abdomen (tests/reading/abdomen.py: liver 6, spleen 20, kidneys 14,
bladder 40, soft tissue 0.8 SUV, automatic-segmentation labels) is blurred further to
the 13 mm FWHM of 111In SPECT (the total of its 6 mm PET blur and an added Gaussian,
variances adding), so that every structure is seen at SPECT resolution. Reference values
are the set SUVs and geometries; each pattern rule is checked with a control in which it
cannot act (another tracer or time, or a round focus of the same uptake).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.reading.eligibility import Labs
from sstrkit.reading.patterns import scintigraphy_pattern, tracer_pattern
from sstrkit.reading.reader import ReadingResult, read_sstr_pet
from sstrkit.reading.spect import (
    KRENNING_SPECT_METHOD,
    LIVER_FLOOR,
    SpectReadingResult,
    read_sstr_spect,
    spect_settings,
    spect_suv,
)

from .abdomen import FWHM_MM, SPACING, Abdomen, Vec

SPECT_FWHM_MM = 13.0
#: A straight bowel segment (transverse colon-like), anterior, outside the solid organs and
#: the kidney-bladder corridor, and a round focus beside it (in the same abdomen).
BOWEL = ((-60.0, -55.0, -45.0), (50.0, -55.0, -45.0))
ROUND = (45.0, -45.0, 5.0)
#: Gallbladder fossa: outside the liver, below and in front of it, on the right.
GALLBLADDER = (-45.0, -45.0, 38.0)
#: A faint and a Krenning-1 focus outside organs (set SUV; blurred peak below it).
FAINT = (60.0, -40.0, -100.0)
LIVER = 6.0
_NAMES_EXTRA = {99: "thyroid"}
THYROID = (0.0, -60.0, 120.0)


def _spect_blur(suv: Volume) -> Volume:
    """Blur the abdomen's 6 mm-FWHM image to 13 mm FWHM (Gaussian variances add)."""
    sigma_mm = math.sqrt(SPECT_FWHM_MM**2 - FWHM_MM**2) / math.sqrt(8.0 * math.log(2.0))
    arr = ndimage.gaussian_filter(np.asarray(suv.array, dtype=np.float64), sigma_mm / SPACING)
    return suv.with_array(arr.astype(np.float32), operation="test_spect_blur", modality="NM")


def _peak_of_ball(radius_mm: float) -> float:
    """Blurred peak / set value of a uniform ball at 13 mm FWHM: erf-based closed form.

    For a ball of radius R blurred by a Gaussian of σ, the centre value is
    erf(R/(σ√2)) − √(2/π)(R/σ) exp(−R²/2σ²).
    """
    s = SPECT_FWHM_MM / math.sqrt(8.0 * math.log(2.0))
    u = radius_mm / s
    return math.erf(u / math.sqrt(2.0)) - math.sqrt(2.0 / math.pi) * u * math.exp(-u * u / 2.0)


@lru_cache(maxsize=1)
def _study() -> dict[str, Any]:
    a = Abdomen()
    a.add_tube(BOWEL, 7.0, 25.0)
    a.add_ball(ROUND, 12.0, 12.0)
    a.add_ball(GALLBLADDER, 12.0, 15.0)
    a.add_ball(FAINT, 12.0, 0.4 * LIVER / _peak_of_ball(12.0) * 0.97)
    a.add_ball(THYROID, 10.0, 6.0)
    st = a.build()
    labels = np.asarray(st["labels"].array).copy()
    x, y, z = a.centres()
    thyroid = (x - THYROID[0]) ** 2 + (y - THYROID[1]) ** 2 + (z - THYROID[2]) ** 2 <= 15.0**2
    labels[thyroid] = 99
    return {
        **st,
        "suv": _spect_blur(st["suv"]),
        "labels": st["labels"].with_array(labels, operation="test_thyroid_label"),
        "names": {**st["names"], **_NAMES_EXTRA},
    }


@lru_cache(maxsize=8)
def _read(tracer: str = "111In-pentetreotide", hours: float = 24.0) -> SpectReadingResult:
    st = _study()
    return read_sstr_spect(
        st["suv"],
        tracer=tracer,
        hours_post_injection=hours,
        organs=st["labels"],
        organ_names=st["names"],
        fwhm_mm=SPECT_FWHM_MM,
    )


@lru_cache(maxsize=1)
def _read_as_pet() -> ReadingResult:
    """Control: the same image read by the PET reader (no scintigraphy rules, PET margins)."""
    st = _study()
    return read_sstr_pet(st["suv"], organs=st["labels"], organ_names=st["names"])


def _near(r: ReadingResult, p: Vec, tol: float) -> list[Any]:
    return [m for m in r.lesions if np.linalg.norm(np.subtract(m.centroid_mm, p)) <= tol]


def _suppressed_near(r: ReadingResult, p: Vec, tol: float) -> list[Any]:
    return [
        s for s in r.segmentation.suppressed if np.linalg.norm(np.subtract(s.centroid_mm, p)) <= tol
    ]


# ------------------------------------------------------------------------------- SUV
def test_bq_per_ml_to_suv_by_hand() -> None:
    # SUVbw = C × W / (A0 e^(−λt)); 111In half-life 67.3128 h (ICRP 107 via
    # sstrkit.physics.nuclides): 24 h → e^(−ln2 × 24/67.3128) = 0.78103. 5 kBq/mL,
    # 80 kg, 185 MBq → 5000 × 80000 / (185e6 × 0.78103) = 2.7683. Float32 voxels: 1e-6.
    half_life_h = get_nuclide("In-111").half_life_s / 3600.0
    assert half_life_h == pytest.approx(67.3128, abs=1e-3)
    decay = math.exp(-math.log(2.0) * 24.0 / half_life_h)
    vol = Volume.from_array(
        np.full((4, 4, 4), 5000.0), quantity="activity_concentration", unit="Bq/mL"
    )
    suv, q = spect_suv(
        vol,
        scintigraphy_pattern("111In-pentetreotide"),
        hours_post_injection=24.0,
        injected_activity_bq=185e6,
        weight_kg=80.0,
    )
    expected = 5000.0 * 80000.0 / (185e6 * decay)
    assert expected == pytest.approx(2.7683, abs=1e-4)
    assert float(suv.array[0, 0, 0]) == pytest.approx(expected, rel=1e-6)
    assert suv.unit == "g/mL" and q.method == "bq_per_ml" and q.nuclide == "In-111"
    assert suv.history[-1].operation == "spect_suv"


def test_decay_from_reference_time_when_known() -> None:
    # 99mTc (6.015 h): values referenced 4 h after injection decay by 2^(−4/6.015) = 0.6309;
    # the volume's reference time wins over hours_post_injection (given as 3 h here).
    import datetime as dt

    t0 = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
    vol = Volume.from_array(
        np.full((2, 2, 2), 1000.0),
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=t0 + dt.timedelta(hours=4),
    )
    _, q = spect_suv(
        vol,
        scintigraphy_pattern("99mTc-HYNIC-TOC"),
        hours_post_injection=3.0,
        injected_activity_bq=740e6,
        weight_kg=70.0,
        injection_time=t0,
    )
    assert q.decay_interval_s == pytest.approx(4 * 3600.0)
    assert q.decay_factor == pytest.approx(2.0 ** (-4.0 / 6.015), rel=1e-4)


@pytest.mark.parametrize(
    ("unit", "kwargs", "what"),
    [
        ("CNTS", {"injected_activity_bq": 185e6, "weight_kg": 80.0}, "SPECT volume"),
        ("Bq/mL", {"injected_activity_bq": 185e6, "weight_kg": None}, "patient weight"),
        ("Bq/mL", {"injected_activity_bq": None, "weight_kg": 80.0}, "injected activity"),
    ],
)
def test_suv_inputs_refused(unit: str, kwargs: dict[str, Any], what: str) -> None:
    vol = Volume.from_array(np.ones((2, 2, 2)), quantity="x", unit=unit)
    with pytest.raises(InvalidInputError) as exc:
        spect_suv(
            vol, scintigraphy_pattern("111In-pentetreotide"), hours_post_injection=24.0, **kwargs
        )
    assert what in str(exc.value)


def test_pet_tracer_and_foreign_ct_refused() -> None:
    st = _study()
    with pytest.raises(InvalidInputError, match="scintigraphy tracer"):
        read_sstr_spect(st["suv"], tracer="68Ga-DOTATATE", hours_post_injection=1.0)
    ct = st["ct"].with_metadata(frame_of_reference_uid="9.9.9")
    with pytest.raises(GeometryMismatchError, match="SPECT"):
        read_sstr_spect(st["suv"], ct=ct, tracer="Octreoscan", hours_post_injection=24.0)


def test_tracer_aliases_and_settings() -> None:
    assert tracer_pattern("111In-DTPA-octreotide").tracer == "111In-pentetreotide"  # type: ignore[union-attr]
    assert tracer_pattern("99mTc-EDDA/HYNIC-TOC").tracer == "99mTc-HYNIC-TOC"  # type: ignore[union-attr]
    # margins 1.25 FWHM, rim 1 FWHM, minimum volume a sphere of 1 FWHM: π/6 × 13³ mm³
    s = spect_settings(13.0)
    assert (s.physiological_margin_mm, s.organ_margin_mm, s.candidate_rim_mm) == (
        16.25,
        16.25,
        13.0,
    )
    assert s.min_volume_ml == pytest.approx(math.pi / 6 * 13.0**3 / 1000.0)
    with pytest.raises(InvalidInputError):
        spect_settings(0.5)


# -------------------------------------------------------------------- patterns
def _bowel_points(n: int = 7) -> list[Vec]:
    a, b = (np.asarray(p) for p in BOWEL)
    return [tuple(a + (b - a) * t) for t in np.linspace(0.2, 0.8, n)]  # type: ignore[misc]


def test_bowel_at_24h_suppressed_round_focus_kept() -> None:
    r = _read("111In-pentetreotide", 24.0)
    # no lesion on the bowel segment; it is listed as bowel with the 24 h reason
    assert not any(_near(r, p, 12.0) for p in _bowel_points())
    bowel = [s for s in r.segmentation.suppressed if s.organ == "bowel"]
    assert bowel and "bowel activity expected" in bowel[0].reason
    # the round 24 mm focus in the same abdomen (set SUV 12 = 2 × liver) is a lesion,
    # centroid within one voxel (3 mm)
    assert len(_near(r, ROUND, SPACING)) == 1


def test_bowel_at_4h_is_a_lesion() -> None:
    # control: at 4 h no bowel activity is expected from 111In (bowel factor 1), and the
    # segment's blurred peak lies above the liver's lesion threshold: read as a lesion, so
    # the 24 h suppression above is the tracer rule's doing
    r = _read("111In-pentetreotide", 4.0)
    thr = r.segmentation.thresholds["detect_in_liver_suv"]
    assert thr is not None
    peaks = [m.suv_max for p in _bowel_points() for m in _near(r, p, 12.0)]
    assert peaks and max(peaks) > thr
    assert not [s for s in r.segmentation.suppressed if s.organ == "bowel"]


def test_gallbladder_suppressed_for_99mtc_only() -> None:
    tc = _read("99mTc-HYNIC-TOC", 4.0)
    assert [s.organ for s in _suppressed_near(tc, GALLBLADDER, 10.0)] == ["gallbladder"]
    assert not _near(tc, GALLBLADDER, 10.0)
    inn = _read("111In-pentetreotide", 4.0)
    assert len(_near(inn, GALLBLADDER, 6.0)) == 1  # control: 111In keeps it


def test_faint_thyroid_suppressed() -> None:
    # a 20 mm focus of liver SUV in a labelled thyroid: its blurred peak is below the liver
    # lesion threshold, so it is faint physiological thyroid uptake
    r = _read()
    assert not _near(r, THYROID, 15.0)
    assert [s.organ for s in _suppressed_near(r, THYROID, 15.0)] == ["thyroid"]
    # control: the PET reader (no faint-thyroid rule) calls it a lesion (above 2.5 × the
    # soft-tissue background)
    assert len(_near(_read_as_pet(), THYROID, 6.0)) == 1


def test_faint_focus_below_half_liver_not_called() -> None:
    # set so that its blurred peak is 0.97 × 0.4 × liver: below the 0.5 × liver floor
    r = _read()
    assert not _near(r, FAINT, 10.0)
    sup = _suppressed_near(r, FAINT, 10.0)
    assert len(sup) == 1 and "faint focus" in sup[0].reason
    assert sup[0].suv_max < LIVER_FLOOR * LIVER
    # control: the PET reader (no liver floor) calls the same focus a lesion
    assert len(_near(_read_as_pet(), FAINT, 6.0)) == 1


# ------------------------------------------------------------ Krenning and JSON
def test_krenning_against_liver_and_spleen() -> None:
    # ROUND: 24 mm ball of SUV 12; its blurred peak (13 mm FWHM, closed form) is
    # 12 × 0.807 = 9.7 > 1.1 × liver (6.6) and < spleen (20): grade 3; SUVmax within 5 %
    # (the 3 mm grid samples the peak). Liver and spleen
    # references within 3 % of the set 6 and 20 (large organs: recovered at their depth).
    r = _read()
    (m,) = _near(r, ROUND, SPACING)
    assert m.suv_max == pytest.approx(12.0 * _peak_of_ball(12.0), rel=0.05)
    assert m.krenning == 3
    assert r.references.liver_mean == pytest.approx(LIVER, rel=0.03)
    assert r.references.spleen_mean == pytest.approx(20.0, rel=0.03)
    d = r.to_dict()
    assert d["modality"] == "spect" and d["tracer"] == "111In-pentetreotide"
    assert d["krenning_method"] == KRENNING_SPECT_METHOD
    assert d["quantification"]["method"] == "suv_supplied"
    assert d["physiological_pattern"]["bowel_from_h"] == 12.0
    assert d["frame_of_reference_uid"] == _study()["suv"].frame_of_reference_uid
    assert isinstance(r, ReadingResult)


def test_eligibility_uses_the_scintigraphy_rule() -> None:
    # NETTER-1: Krenning >= 2 in every target lesion (scintigraphy); the PET rule T/L >= 1
    # does not apply to 111In. With normal labs the decision is made on the Krenning rule.
    labs = Labs.from_mapping(
        {
            "age_years": 60,
            "sex": "female",
            "creatinine_mg_dl": 0.8,
            "haemoglobin_g_dl": 12.0,
            "platelets_1e9_per_l": 200.0,
            "wbc_1e9_per_l": 6.0,
        }
    )
    st = _study()
    r = read_sstr_spect(
        st["suv"],
        tracer="111In-pentetreotide",
        hours_post_injection=24.0,
        organs=st["labels"],
        organ_names=st["names"],
        fwhm_mm=SPECT_FWHM_MM,
        labs=labs,
    )
    status = {o.id: o.status for o in r.eligibility.rules}
    assert status["uptake_ge_liver"] == "not_applicable"
    assert status["krenning_ge_2_scintigraphy"] == "pass"
    assert r.eligibility.tracer == "111In-pentetreotide"
    # control: the PET reading of a 68Ga tracer keeps the T/L rule, not the Krenning one
    pet = read_sstr_pet(
        st["suv"], organs=st["labels"], organ_names=st["names"], tracer="68Ga-DOTATATE"
    )
    pstatus = {o.id: o.status for o in pet.eligibility.rules}
    assert pstatus["krenning_ge_2_scintigraphy"] == "not_applicable"
    assert pstatus["uptake_ge_liver"] in ("pass", "fail")
