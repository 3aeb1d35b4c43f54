"""Where a study's label maps were drawn, and which one each scan uses.

A study's volumes of interest come as label maps keyed by the scan they were drawn on
(manifest ``segmentation.labels_nifti``, or the digital patient's ``truth`` maps):

* ``baseline``: on the baseline PET/CT (its CT carries them to other scans);
* ``cycle<k>_<h>h``: on one SPECT/CT time point (its CT; without it, cycle k's
  coordinates);
* ``cycle<k>`` (legacy): in cycle k's scan coordinates, carried to other cycles by
  cycle k's first CT.

:func:`label_sources` resolves them into :class:`LabelSource` records;
:func:`label_source_for_cycle` and :func:`label_source_for_baseline` choose one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.manifest import CtEntry, Manifest
from sstrkit.pipeline.study_records import TimePoint

__all__ = [
    "LabelSource",
    "label_maps",
    "label_source_for_baseline",
    "label_source_for_cycle",
    "label_sources",
]

_TP_KEY = re.compile(r"^cycle(\d+)_([0-9.]+)h$")
_CYCLE_KEY = re.compile(r"^cycle(\d+)$")


@dataclass(frozen=True)
class LabelSource:
    """A label map and the scan it was drawn on."""

    key: str
    path: Path
    ct_path: Path | None
    ct_series_uid: str | None
    same_coordinates_as_cycle: int | None = None

    @property
    def description(self) -> str:
        if self.same_coordinates_as_cycle is not None:
            return f"label map {self.key!r} (cycle {self.same_coordinates_as_cycle} coordinates)"
        return f"label map {self.key!r}"


def _time_point_source(
    model: Manifest, root: Path, key: str, rel: str, m_tp: re.Match[str]
) -> LabelSource:
    """A label map drawn on SPECT/CT time point ``key`` (``cycle<k>_<h>h``, matched)."""
    cyc, hours = int(m_tp.group(1)), float(m_tp.group(2))
    tp_ct = next(
        (
            c
            for c in model.series.spect_ct
            if c.cycle == cyc and abs(c.hours_post_injection - hours) < 0.05
        ),
        None,
    )
    if tp_ct is not None:
        return LabelSource(key, root / rel, root / tp_ct.path, tp_ct.series_uid)
    # drawn on that SPECT's grid, whose CT is not in the manifest: in cycle
    # cyc's coordinates, registered through cyc's reference CT if any
    tp_ct = next((c for c in model.series.spect_ct if c.cycle == cyc), None)
    return LabelSource(
        key,
        root / rel,
        root / tp_ct.path if tp_ct else None,
        tp_ct.series_uid if tp_ct else None,
        same_coordinates_as_cycle=cyc,
    )


#: Segmentation keys of the SIRT work-up (on the MAA SPECT/CT and the 90Y PET/CT CT grids):
#: read by :mod:`sstrkit.pipeline.sirt_inputs` / :mod:`sstrkit.pipeline.sirt_y90_inputs`,
#: not PRRT label maps.
SIRT_LABEL_KEYS = ("maa", "y90")


def label_maps(model: Manifest) -> dict[str, str]:
    """Label map key → path (as in the manifest) of the study's PRRT segmentation or truth maps.

    The SIRT keys (:data:`SIRT_LABEL_KEYS`) are left out.
    """
    seg = model.segmentation
    maps = dict(seg.labels_nifti) if seg is not None else {}
    maps = {k: v for k, v in maps.items() if k not in SIRT_LABEL_KEYS}
    if not maps:
        maps = dict((model.truth or {}).get("labels_nifti", {}))
    if not maps:
        raise InvalidInputError(
            "volumes of interest",
            expected="manifest 'segmentation' (a label map and its names) or truth/",
            actual="neither",
            fix="give --segmentation LABELS.nii.gz --label-names NAMES.json to "
            "'sstrkit study init' / 'sstrkit run'",
        )
    return maps


def label_sources(model: Manifest, root: Path) -> list[LabelSource]:
    """Every label map of the study with the CT of the scan it was drawn on."""
    out = []
    pet_ct: CtEntry | None = model.series.pet_ct
    for key, rel in label_maps(model).items():
        m_tp = _TP_KEY.match(key)
        m_cy = _CYCLE_KEY.match(key)
        if key == "baseline":
            out.append(
                LabelSource(
                    key,
                    root / rel,
                    root / pet_ct.path if pet_ct else None,
                    pet_ct.series_uid if pet_ct else None,
                    # legacy layout (no CT to register): same coordinates as the scans
                    same_coordinates_as_cycle=None,
                )
            )
        elif m_tp:
            out.append(_time_point_source(model, root, key, rel, m_tp))
        elif m_cy:
            # legacy: in cycle k's scan coordinates; its first CT carries it to other cycles
            cyc = int(m_cy[1])
            first_ct = min(
                (c for c in model.series.spect_ct if c.cycle == cyc),
                key=lambda c: c.hours_post_injection,
                default=None,
            )
            out.append(
                LabelSource(
                    key,
                    root / rel,
                    root / first_ct.path if first_ct else None,
                    first_ct.series_uid if first_ct else None,
                    same_coordinates_as_cycle=cyc,
                )
            )
        else:
            raise InvalidInputError(
                f"segmentation.labels_nifti.{key}",
                expected="'baseline', 'cycle<k>' or 'cycle<k>_<h>h'",
                actual=key,
            )
    return out


def label_source_for_cycle(
    sources: Sequence[LabelSource], time_points: Sequence[TimePoint], cycle: int
) -> LabelSource:
    """The label map used for ``cycle`` (same time point > same cycle > baseline > any)."""
    tps = [t for t in time_points if t.cycle == cycle]
    ref_uid = tps[0].ct_series_uid if tps else None
    for s in sources:
        if s.ct_series_uid is not None and s.ct_series_uid == ref_uid:
            return s
    for s in sources:
        if s.key.startswith(f"cycle{cycle}_"):
            return s
    for s in sources:
        if s.same_coordinates_as_cycle == cycle:
            # already in this cycle's coordinates: no registration
            return LabelSource(s.key, s.path, None, None, same_coordinates_as_cycle=cycle)
    for s in sources:
        if s.key == "baseline":
            return s
    return sources[0]


def label_source_for_baseline(sources: Sequence[LabelSource]) -> LabelSource:
    """The label map used for the baseline PET (baseline > first listed)."""
    return next((s for s in sources if s.key == "baseline"), sources[0])
