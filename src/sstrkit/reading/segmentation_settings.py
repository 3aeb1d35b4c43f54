"""Settings, flags and per-focus records of the lesion segmentation (no algorithms).

:class:`SegmentationSettings` holds every parameter of
:func:`~sstrkit.reading.segmentation.segment_lesions` (recorded in its provenance);
:class:`LesionRegion` and :class:`SuppressedUptake` are what the segmentation steps
(:mod:`~sstrkit.reading.detection`, :mod:`~sstrkit.reading.delineation`,
:mod:`~sstrkit.reading.patterns`) produce; the flags mark uncertain lesions.

>>> SegmentationSettings(percent=0.41).method
'percent_max'
>>> try:
...     SegmentationSettings(percent=1.2)
... except InvalidInputError as exc:
...     print(exc.one_line())  # doctest: +ELLIPSIS
isocontour fraction...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sstrkit.errors import InvalidInputError

__all__ = [
    "FLAG_TEXT",
    "NON_TARGET_FLAGS",
    "PHYSIOLOGICAL_ORGAN_FLAG",
    "UNCINATE_FLAG",
    "LesionRegion",
    "Method",
    "SegmentationSettings",
    "SuppressedUptake",
]

Method = Literal["percent_max", "fixed", "liver_relative"]
UNCINATE_FLAG = "uncinate_process_focal_uptake"
PHYSIOLOGICAL_ORGAN_FLAG = "focal_uptake_in_physiological_organ"

#: What a flag means, for the lesion table and the report.
FLAG_TEXT: dict[str, str] = {
    UNCINATE_FLAG: "possible physiological uncinate uptake (known pitfall; compare with CT/prior)",
    PHYSIOLOGICAL_ORGAN_FLAG: "focal uptake above the organ's own level in spleen or kidney "
    "(check CT: accessory spleen, renal collecting system)",
    "below_min_volume": "smaller than the minimum lesion volume (seed point kept)",
}

#: Flags that keep a lesion out of the target lesions (uncertain lesions).
NON_TARGET_FLAGS = frozenset({UNCINATE_FLAG, PHYSIOLOGICAL_ORGAN_FLAG})


@dataclass(frozen=True)
class SegmentationSettings:
    """Parameters of :func:`segment_lesions` (all recorded in the provenance)."""

    method: Method = "percent_max"
    percent: float = 0.5
    fixed_suv: float = 4.0
    liver_factor: float = 1.0
    background_factor: float = 2.5
    liver_detect_sd: float = 3.0
    liver_detect_ratio: float = 1.25
    min_volume_ml: float = 0.5
    physiological_margin_mm: float = 10.0
    suppress_physiological: bool = True
    split_by_organ: bool = True
    split_min_fraction: float = 0.3
    seed_search_radius_mm: float = 10.0
    max_extent_mm: float = 40.0
    detect_smoothing_mm: float = 3.0
    organ_margin_mm: float = 10.0
    organ_noise_sd: float = 3.0
    candidate_rim_mm: float = 8.0
    suppress_urinary_tract: bool = True
    suppress_bowel: bool = True
    flag_uncinate_region: bool = True
    tube_max_width_mm: float = 14.0
    tube_min_length_mm: float = 25.0
    tube_min_elongation: float = 3.0
    bowel_min_elongation: float = 2.5
    bowel_max_width_mm: float = 20.0
    gallbladder_fossa_mm: float = 25.0
    physiological_focal_ratio: float = 1.6
    physiological_focal_sd: float = 5.0
    adrenal_max_volume_ml: float = 15.0
    liver_extension_mm: float = 30.0
    liver_extension_level: float = 0.5

    def __post_init__(self) -> None:
        if self.method not in ("percent_max", "fixed", "liver_relative"):
            raise InvalidInputError(
                "segmentation method",
                expected="'percent_max', 'fixed' or 'liver_relative'",
                actual=self.method,
            )
        if not 0.05 <= self.percent <= 0.95:
            raise InvalidInputError(
                "isocontour fraction",
                expected="0.05–0.95 (typically 0.41–0.5)",
                actual=self.percent,
            )
        for name in (
            "fixed_suv",
            "liver_factor",
            "background_factor",
            "liver_detect_ratio",
            "physiological_focal_ratio",
        ):
            if getattr(self, name) <= 0:
                raise InvalidInputError(name, expected="> 0", actual=getattr(self, name))
        for name in (
            "min_volume_ml",
            "physiological_margin_mm",
            "organ_margin_mm",
            "organ_noise_sd",
            "candidate_rim_mm",
            "tube_max_width_mm",
            "tube_min_length_mm",
            "tube_min_elongation",
            "bowel_min_elongation",
            "bowel_max_width_mm",
            "gallbladder_fossa_mm",
            "physiological_focal_sd",
            "adrenal_max_volume_ml",
            "liver_extension_mm",
            "liver_extension_level",
        ):
            if getattr(self, name) < 0:
                raise InvalidInputError(name, expected="≥ 0", actual=getattr(self, name))


@dataclass(frozen=True)
class LesionRegion:
    """One segmented lesion: its label value in :attr:`Segmentation.labels`."""

    label: int
    organ: str
    origin: str  # "auto" or "seed"
    threshold_suv: float
    background_suv: float
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuppressedUptake:
    """A focus removed as physiological uptake."""

    organ: str
    suv_max: float
    volume_ml: float
    centroid_mm: tuple[float, float, float]
    reason: str = ""
