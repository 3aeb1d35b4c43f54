"""Plausibility checks of the values an SUV is computed from (one place, one table).

Two kinds of finding:

* **errors** — values that are physically impossible (a body weight below
  1 kg, a half-life of 0 s, weight and height swapped...). They raise a typed
  :mod:`sstrkit.errors` exception (:class:`~sstrkit.errors.DicomMetadataError`
  for header values, :class:`~sstrkit.errors.InvalidInputError` for values the
  user passed) that names the value found and the fix; the CLI prints it on one
  line and exits with status 2.
* **warnings** — possible but unusual values (outside the usual adult and
  paediatric ranges, an administered activity outside the usual range of its
  radionuclide, a header half-life that is not the ICRP 107 one). They are
  returned as strings and end up in the ``warnings`` of the result
  (:class:`sstrkit.io.suv.SuvResult`, :class:`sstrkit.io.dicom_read.DicomSeries`),
  as every other heuristic of :mod:`sstrkit.io.suv` does.

The limits are module constants; ``docs/dicom.md`` lists them in one table
(a test checks that the table and the constants agree). Ranges labelled
*model* are sstrkit's choice (a wide band around a cited typical value), not
published limits.

Examples
--------
>>> check_weight(80.0, what="PatientWeight (0010,1030)")
[]
>>> try:
...     check_weight(0.5, what="PatientWeight (0010,1030)")
... except DicomMetadataError as err:
...     print(err.actual)
0.5 kg (physically impossible)
>>> check_activity(150e6, "Ga-68", what="RadionuclideTotalDose (0018,1074)")
[]
>>> check_activity(1.5e9, "Ga-68", what="RadionuclideTotalDose (0018,1074)")[0][:60]
'RadionuclideTotalDose (0018,1074) = 1.5 GBq is outside the u'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sstrkit.core.body import HEIGHT_POSSIBLE_CM, WEIGHT_POSSIBLE_KG, bmi_kg_m2
from sstrkit.core.units import BQ_PER_GBQ, BQ_PER_MBQ
from sstrkit.errors import DicomMetadataError, InvalidInputError, SstrkitError

__all__ = [
    "ACTIVITY_RANGES",
    "BMI_USUAL",
    "HALF_LIFE_TOLERANCE",
    "HEIGHT_POSSIBLE_CM",
    "HEIGHT_USUAL_CM",
    "SWAP_BMI_MAX",
    "WEIGHT_POSSIBLE_KG",
    "WEIGHT_USUAL_KG",
    "ActivityRange",
    "check_activity",
    "check_bmi",
    "check_half_life",
    "check_height",
    "check_slice_count",
    "check_swapped_weight_height",
    "check_weight",
]

# WEIGHT_POSSIBLE_KG, HEIGHT_POSSIBLE_CM (physically possible body weight in kg and height in
# cm, inclusive; outside → error) are defined with the body-size formulas in sstrkit.core.body.
#: Usual weight (kg) from a newborn to the heaviest adults PET/CT tables carry; outside → warning.
WEIGHT_USUAL_KG = (2.5, 200.0)
#: Usual height (cm) from a newborn to a very tall adult; outside → warning.
HEIGHT_USUAL_CM = (45.0, 210.0)
#: Usual body-mass index (kg/m²); outside → warning (weight and height do not fit together).
BMI_USUAL = (10.0, 80.0)
#: A header weight/size pair is "swapped" when read as given it has a BMI below this
#: (kg/m²) while the swapped reading (size as kg, weight as m) has a usual BMI.
SWAP_BMI_MAX = 8.0
#: Relative difference between RadionuclideHalfLife and ICRP 107 that is reported.
HALF_LIFE_TOLERANCE = 0.01
#: Above this relative difference the header half-life and the nuclide code disagree.
HALF_LIFE_CONFLICT = 0.05

_WEIGHT_FIX = "pass the weight (CLI --weight-kg, API Overrides(weight_kg=...))"
_HEIGHT_FIX = "pass the height (CLI --height-cm, API Overrides(height_cm=...))"
_DOSE_FIX = (
    "pass the administered activity (CLI --dose-mbq, API Overrides(injected_activity_bq=...))"
)


@dataclass(frozen=True)
class ActivityRange:
    """Usual administered activity of one radionuclide (Bq), inclusive, and its basis."""

    nuclide: str
    low_bq: float
    high_bq: float
    use: str
    basis: str


#: Usual administered activities; outside → warning. Every range is a *model*
#: (sstrkit's choice) around the typical activity of the cited source.
ACTIVITY_RANGES: dict[str, ActivityRange] = {
    r.nuclide: r
    for r in (
        ActivityRange(
            "F-18",
            70e6,
            800e6,
            "PET (FDG and other 18F tracers)",
            "model; typical adult FDG 3D PET ≈ 150–400 MBq (weight-based activities of the "
            "EANM FDG procedure guideline, Boellaard et al., EJNMMI 2015;42:328–354)",
        ),
        ActivityRange(
            "Ga-68",
            40e6,
            400e6,
            "PET (68Ga-DOTA peptides, PSMA)",
            "model; 100–200 MBq recommended for 68Ga-DOTA-conjugated peptides (EANM procedure "
            "guideline, Virgolini et al., EJNMMI 2010;37:2004–2010)",
        ),
        ActivityRange(
            "Cu-64",
            50e6,
            400e6,
            "PET (64Cu-DOTATATE)",
            "model; 148 MBq for 64Cu-DOTATATE (Detectnet prescribing information, 2020)",
        ),
        ActivityRange(
            "Zr-89",
            10e6,
            200e6,
            "PET (89Zr immuno-PET)",
            "model; typical 37–74 MBq for 89Zr-labelled antibodies",
        ),
        ActivityRange(
            "Tc-99m",
            40e6,
            1200e6,
            "SPECT (99mTc agents)",
            "model; agent-dependent, e.g. 99mTc-EDDA/HYNIC-TOC ≈ 400–700 MBq",
        ),
        ActivityRange(
            "In-111",
            50e6,
            400e6,
            "SPECT (111In-pentetreotide)",
            "model; 111 MBq planar, 222 MBq SPECT (OctreoScan prescribing information)",
        ),
        ActivityRange(
            "Lu-177",
            1e9,
            10e9,
            "therapy (177Lu-DOTATATE, 177Lu-PSMA) and its post-therapy SPECT",
            "model; 7.4 GBq per cycle (NETTER-1, Strosberg et al., N Engl J Med "
            "2017;376:125–135; VISION, Sartor et al., N Engl J Med 2021;385:1091–1103)",
        ),
        ActivityRange(
            "Y-90",
            0.5e9,
            10e9,
            "therapy (90Y peptides, radioembolisation)",
            "model; 90Y-DOTATOC cycles of ≈ 1.5–4.4 GBq, radioembolisation ≈ 1–3 GBq",
        ),
    )
}


def _error(override: bool) -> type[SstrkitError]:
    return InvalidInputError if override else DicomMetadataError


def _num(value: float) -> str:
    return f"{value:g}"


def check_weight(weight_kg: float, *, what: str, override: bool = False) -> list[str]:
    """Raise for an impossible body weight; warn outside the usual range.

    ``what`` names the source (header attribute or override) in the messages;
    ``override=True`` raises :class:`InvalidInputError` instead of
    :class:`DicomMetadataError`.
    """
    lo, hi = WEIGHT_POSSIBLE_KG
    if not (math.isfinite(weight_kg) and lo <= weight_kg <= hi):
        fix = (
            "pass the weight in kg of a human patient; for small-animal data use "
            "`sstrkit preclinical quantify` (%ID/g)"
            if override
            else f"correct PatientWeight (0010,1030) in the header, or {_WEIGHT_FIX}"
        )
        raise _error(override)(
            what,
            expected=f"a body weight between {lo:g} and {hi:g} kg",
            actual=f"{_num(weight_kg)} kg (physically impossible)",
            fix=fix,
        )
    ulo, uhi = WEIGHT_USUAL_KG
    if not ulo <= weight_kg <= uhi:
        return [
            f"{what} = {_num(weight_kg)} kg is outside the usual adult and paediatric range "
            f"{ulo:g}–{uhi:g} kg: check it ({_WEIGHT_FIX})"
        ]
    return []


def check_height(height_cm: float, *, what: str, override: bool = False) -> list[str]:
    """Raise for an impossible body height (cm); warn outside the usual range."""
    lo, hi = HEIGHT_POSSIBLE_CM
    if not (math.isfinite(height_cm) and lo <= height_cm <= hi):
        fix = (
            "pass the height in cm (--height-cm 175 for 1.75 m)"
            if override
            else f"correct PatientSize (0010,1020) in the header (metres), or {_HEIGHT_FIX}"
        )
        raise _error(override)(
            what,
            expected=f"a body height between {lo / 100:g} and {hi / 100:g} m",
            actual=f"{_num(height_cm / 100)} m (physically impossible)",
            fix=fix,
        )
    ulo, uhi = HEIGHT_USUAL_CM
    if not ulo <= height_cm <= uhi:
        return [
            f"{what} = {_num(height_cm / 100)} m is outside the usual adult and paediatric "
            f"range {ulo / 100:g}–{uhi / 100:g} m: check it ({_HEIGHT_FIX})"
        ]
    return []


def check_bmi(weight_kg: float, height_cm: float) -> list[str]:
    """Warn when weight and height give an unusual body-mass index.

    >>> check_bmi(80.0, 180.0)
    []
    >>> check_bmi(70.0, 70.0)[0][:45]
    'weight 70 kg and height 0.7 m give a BMI of 1'
    """
    bmi = bmi_kg_m2(weight_kg, height_cm)
    lo, hi = BMI_USUAL
    if lo <= bmi <= hi:
        return []
    return [
        f"weight {_num(weight_kg)} kg and height {_num(height_cm / 100)} m give a BMI of "
        f"{bmi:.1f} kg/m², outside the usual {lo:g}–{hi:g} kg/m²: are they in the wrong units "
        "or swapped? (check PatientWeight (0010,1030) and PatientSize (0010,1020), or pass "
        "--weight-kg and --height-cm)"
    ]


def check_swapped_weight_height(patient_weight: float, patient_size: float) -> None:
    """Raise when PatientWeight looks like metres and PatientSize like kilograms.

    PatientWeight 1.75 with PatientSize 70 reads as a 1.75 kg patient 70 cm
    tall (BMI 3.6) and gives SUVbw 40× too low; swapped, 70 kg at 1.75 m is an
    ordinary adult. The pair is reported when the weight could be a height in
    metres (30 cm–2.6 m), the size could be a weight in kilograms (> 3, so it is
    not metres), the BMI as given is below :data:`SWAP_BMI_MAX` and the swapped
    BMI is within :data:`BMI_USUAL`.

    >>> check_swapped_weight_height(80.0, 1.8)
    >>> try:
    ...     check_swapped_weight_height(1.75, 70.0)
    ... except DicomMetadataError as err:
    ...     print(err.fix[:72])
    correct the header, or pass both values: --weight-kg 70 --height-cm 175
    """
    w, s = patient_weight, patient_size
    if not (math.isfinite(w) and math.isfinite(s)):
        return
    lo_h, hi_h = HEIGHT_POSSIBLE_CM
    if not (lo_h / 100 <= w <= hi_h / 100 and s > 3.0):
        return
    height_m = s / 100.0  # a size > 3 is read as cm
    bmi_given = w / height_m**2
    bmi_swapped = s / w**2
    if bmi_given >= SWAP_BMI_MAX or not BMI_USUAL[0] <= bmi_swapped <= BMI_USUAL[1]:
        return
    cm = w * 100.0
    raise DicomMetadataError(
        f"PatientWeight (0010,1030) = {_num(w)} and PatientSize (0010,1020) = {_num(s)}",
        expected="a weight in kg and a size in m",
        actual="a weight that looks like metres and a size that looks like kilograms "
        f"(as given: {_num(w)} kg, {_num(height_m)} m, BMI {bmi_given:.1f} kg/m²; swapped: "
        f"{_num(s)} kg, {_num(w)} m, BMI {bmi_swapped:.1f} kg/m²)",
        fix=f"correct the header, or pass both values: --weight-kg {_num(s)} --height-cm "
        f"{_num(cm)} (API Overrides(weight_kg={_num(s)}, height_cm={_num(cm)}))",
    )


def check_activity(
    activity_bq: float,
    nuclide: str | None,
    *,
    what: str,
    nuclide_source: str = "",
    override: bool = False,
) -> list[str]:
    """Raise for an activity ≤ 0; warn outside the usual range of ``nuclide``.

    Nuclides without an entry in :data:`ACTIVITY_RANGES` (or ``None``) are
    only checked for a positive value.
    """
    if not (math.isfinite(activity_bq) and activity_bq > 0):
        raise _error(override)(
            what,
            expected="an administered activity > 0 Bq",
            actual=f"{_num(activity_bq)} Bq (physically impossible)",
            fix=_DOSE_FIX,
        )
    rng = ACTIVITY_RANGES.get(nuclide) if nuclide else None
    if rng is None or rng.low_bq <= activity_bq <= rng.high_bq:
        return []
    src = f" ({nuclide_source})" if nuclide_source else ""
    return [
        f"{what} = {_fmt_activity(activity_bq)} is outside the usual range "
        f"{_fmt_activity(rng.low_bq)}–{_fmt_activity(rng.high_bq)} for {rng.nuclide}{src} "
        f"{rng.use}: check the activity and its unit ({_DOSE_FIX})"
    ]


def _fmt_activity(bq: float) -> str:
    return f"{bq / BQ_PER_GBQ:g} GBq" if bq >= BQ_PER_GBQ else f"{bq / BQ_PER_MBQ:g} MBq"


def check_half_life(
    header_s: float | None, icrp_s: float | None, nuclide: str | None
) -> tuple[float | None, list[str]]:
    """The half-life to use and the warnings: header value checked against ICRP 107.

    * header ≤ 0 (0 is what many writers store for "unknown"): ICRP 107 of
      ``nuclide`` with a warning, else an error (physically impossible);
    * header differs from ICRP 107 by more than :data:`HALF_LIFE_TOLERANCE` (1 %) and
      at most :data:`HALF_LIFE_CONFLICT` (5 %; rounding, older tables): ICRP 107 with a
      warning naming both values;
    * by more than 5 %: the two name different nuclides; the header value (which the
      scanner used for its decay correction) is kept, with a warning;
    * otherwise the header value (or ICRP 107 when the header has none; ``None``
      when neither is known — the caller reports it missing).

    >>> check_half_life(6586.2, 6586.2, "F-18")
    (6586.2, [])
    >>> value, warn = check_half_life(0.0, 4062.6, "Ga-68")
    >>> value, warn[0][:52]
    (4062.6, 'RadionuclideHalfLife (0018,1075) = 0 s is not a half')
    """
    what = "RadionuclideHalfLife (0018,1075)"
    if header_s is None:
        return icrp_s, []
    if not (math.isfinite(header_s) and header_s > 0):
        if icrp_s is None:
            raise DicomMetadataError(
                what,
                expected="a half-life > 0 s",
                actual=f"{_num(header_s)} s (physically impossible; no RadionuclideCodeSequence "
                "naming the nuclide)",
                fix="pass the half-life (CLI --half-life-s, API Overrides(half_life_s=...))",
            )
        return icrp_s, [
            f"{what} = {_num(header_s)} s is not a half-life: ICRP 107 {nuclide} "
            f"{_num(icrp_s)} s is used (override with --half-life-s)"
        ]
    if icrp_s is not None and abs(header_s - icrp_s) > HALF_LIFE_CONFLICT * icrp_s:
        # Not rounding or an old table: the header's half-life and its nuclide code name
        # different nuclides (e.g. a code copied from another protocol). The scanner decay
        # corrected with the header value: keep it and say so.
        pct = 100.0 * (header_s - icrp_s) / icrp_s
        return header_s, [
            f"{what} = {_num(header_s)} s contradicts the nuclide code {nuclide} (ICRP 107 "
            f"{_num(icrp_s)} s, {pct:+.0f} %): the header half-life, which the scanner used, is "
            "kept; check the radionuclide and pass --half-life-s if it is wrong"
        ]
    if icrp_s is not None and abs(header_s - icrp_s) > HALF_LIFE_TOLERANCE * icrp_s:
        pct = 100.0 * (header_s - icrp_s) / icrp_s
        return icrp_s, [
            f"{what} = {_num(header_s)} s differs from ICRP 107 {nuclide} {_num(icrp_s)} s by "
            f"{pct:+.1f} % (more than {100 * HALF_LIFE_TOLERANCE:g} %): the ICRP 107 value is used "
            "(override with --half-life-s)"
        ]
    return header_s, []


def check_slice_count(
    n_read: int,
    *,
    modality: str,
    number_of_slices: int | None,
    images_in_acquisition: int | None,
    allow_incomplete: bool = False,
) -> list[str]:
    """Compare the slices read with NumberOfSlices / ImagesInAcquisition.

    * PT/NM with NumberOfSlices (0054,0081) > slices read: error "missing
      slices" (a warning with ``allow_incomplete``); fewer: warning.
    * One slice read where ImagesInAcquisition (0020,1002) counts more: error
      (a single file of a multi-slice series; warning with ``allow_incomplete``).
    * Otherwise fewer slices than ImagesInAcquisition: warning (the acquisition
      may hold other series, e.g. a second CT reconstruction).

    >>> check_slice_count(300, modality="PT", number_of_slices=300, images_in_acquisition=300)
    []
    >>> try:
    ...     check_slice_count(1, modality="PT", number_of_slices=300, images_in_acquisition=None)
    ... except DicomMetadataError as err:
    ...     print(err.actual)
    1 file (a single slice of a 300-slice series: missing slices)
    """
    problems: list[tuple[str, int, str]] = []
    warnings: list[str] = []
    ns = number_of_slices if modality in ("PT", "NM") and number_of_slices else None
    iia = images_in_acquisition or None
    if ns is not None:
        if n_read < ns:
            problems.append(("NumberOfSlices (0054,0081)", ns, "missing slices"))
        elif n_read > ns:
            warnings.append(
                f"{n_read} slices read but NumberOfSlices (0054,0081) is {ns}: check that the "
                "folder holds one series only"
            )
    elif iia is not None and n_read < iia:
        if n_read == 1:
            problems.append(("ImagesInAcquisition (0020,1002)", iia, "missing slices"))
        else:
            warnings.append(
                f"{n_read} slices read but ImagesInAcquisition (0020,1002) is {iia}: slices may "
                "be missing (or the acquisition holds other series)"
            )
    for tag, expected, why in problems:
        single = f"a single slice of a {expected}-slice series: " if n_read == 1 else ""
        got = f"{n_read} file{'s' if n_read != 1 else ''} ({single}{why})"
        if allow_incomplete:
            warnings.append(f"{tag}: {expected} slices expected, {got}; read as it is")
            continue
        raise DicomMetadataError(
            tag,
            expected=f"{expected} slices in the series",
            actual=got,
            fix=f"read the folder that holds all {expected} files of the series, or read the "
            "partial series with --allow-incomplete (sstrkit suv / convert; library: "
            "allow_incomplete=True)",
        )
    return warnings
