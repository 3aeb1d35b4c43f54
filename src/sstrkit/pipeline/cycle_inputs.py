"""One cycle's dosimetry inputs read from a study folder, handed to therapy as volumes.

:func:`load_cycle_inputs` reads what the voxel dosimetry of one cycle needs from a
:class:`~sstrkit.pipeline.study.Study` — the SPECT (activity at acquisition time) and CT
of each time point, the label map of the volumes of interest and the CT of the scan it
was drawn on, the SPECT resolution and, for the digital patient, the true region doses —
and returns them as a :class:`CycleInputs` of typed therapy objects
(:class:`~sstrkit.therapy.voxel_dose.ScanTimePoint`,
:class:`~sstrkit.therapy.voxel_dose.VoiInput`). Each series is read once: a CT that is
both a time point's and the one the labels were drawn on (or that a DICOM SEG is
resampled on) is the same volume, and the dosimetry then reuses that time point's
registration for the labels.

:func:`cycle_dosimetry` runs :func:`~sstrkit.therapy.voxel_dose.cycle_dosimetry_from_scans`
on them; :func:`study_cycle_dosimetry` does it all for a study folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.label_sources import LabelSource
from sstrkit.pipeline.study_records import TimePoint
from sstrkit.therapy.pvc import PvcMethod
from sstrkit.therapy.voxel_dose import (
    DoseMethod,
    ScanTimePoint,
    StudyDosimetry,
    VoiInput,
    cycle_dosimetry_from_scans,
)

if TYPE_CHECKING:
    from sstrkit.pipeline.study import Study

__all__ = [
    "CycleInputs",
    "cycle_dosimetry",
    "load_cycle_inputs",
    "read_spect",
    "study_cycle_dosimetry",
]


@dataclass(frozen=True)
class CycleInputs:
    """What one cycle's voxel dosimetry needs, read from the study (no paths left).

    ``inputs`` names the files (study, SPECT series, label map) for the provenance of
    the result's parameters, and a SPECT resolution estimated from the header
    (``spect_fwhm_estimate``: value, method, inputs, sources) when ``fwhm_mm`` is one.
    """

    cycle: int
    nuclide: str
    scans: tuple[ScanTimePoint, ...]
    voi: VoiInput
    fwhm_mm: float | None
    truth_gy: Mapping[str, float] = field(default_factory=dict)
    inputs: Mapping[str, Any] = field(default_factory=dict)


def read_spect(tp: TimePoint, notes: list[str]) -> Volume:
    """A SPECT as activity concentration at its acquisition time (not decay corrected).

    A series decay-corrected to the administration (DecayCorrection ADMIN) is
    brought back to its acquisition time, and ``notes`` says so: kinetics fits the
    physically decaying activity.
    """
    from sstrkit.io.dicom_read import read_series
    from sstrkit.physics.nuclides import get_nuclide

    path = tp.spect_path
    series = read_series(path, series_uid=tp.series_uid if path.is_dir() else None)
    vol = series.volume
    if str(series.header.get("DecayCorrection", "")).upper() == "ADMIN":
        lam = get_nuclide(tp.nuclide).decay_constant_per_s
        dt = (tp.time - tp.injection_time).total_seconds()
        factor = float(np.exp(-lam * dt))
        vol = vol.with_array(
            np.asarray(vol.array) * factor, operation="undo_decay_correction_to_admin"
        )
        notes.append(
            f"SPECT {tp.label} was decay corrected to the administration (DecayCorrection "
            f"ADMIN); multiplied by {factor:.4f} to its acquisition time"
        )
    return vol


class _SeriesReads:
    """The study's series read once each (by path and series UID) while a cycle is loaded."""

    def __init__(self, study: Study) -> None:
        self._study = study
        self._read: dict[tuple[Path, str | None], Volume] = {}

    def __call__(self, path: Path, series_uid: str | None) -> Volume:
        key = (path, series_uid)
        if key not in self._read:
            self._read[key] = self._study.read(path, series_uid)
        return self._read[key]


def _read_scans(
    tps: list[TimePoint], read: _SeriesReads, notes: list[str]
) -> tuple[ScanTimePoint, ...]:
    """Each time point's SPECT (at acquisition time) and CT, with its time after injection."""
    scans = []
    for tp in tps:
        spect = read_spect(tp, notes)
        ct = read(tp.ct_path, tp.ct_series_uid) if tp.ct_path is not None else None
        scans.append(
            ScanTimePoint(spect, ct, (tp.time - tp.injection_time).total_seconds(), label=tp.label)
        )
    return tuple(scans)


def _voi_input(
    study: Study,
    src: LabelSource,
    cycle: int,
    tps: list[TimePoint],
    read: _SeriesReads,
    notes: list[str],
) -> VoiInput:
    """The cycle's label map ``src``, its regions and the CT of the scan it was drawn on."""
    rmap = study.region_map
    voi_ct = None
    same = False
    if src.ct_path is not None:
        same = src.ct_series_uid == tps[0].ct_series_uid
        voi_ct = None if same else read(src.ct_path, src.ct_series_uid)
    if src.ct_path is None and src.same_coordinates_as_cycle != cycle:
        source_note: str | None = (
            f"{src.description} has no CT of the scan it was drawn on: placed on cycle "
            f"{cycle} by patient coordinates (repositioning not corrected)"
        )
    else:
        source_note = None
    if src.key == "baseline" and cycle > 1 and rmap.lesions:
        follow = (
            f"lesion VOIs of cycle {cycle} are the baseline's ({src.description}): a lesion "
            "that shrank since has a VOI larger than itself and its dose reads low (one that "
            "grew: high); give this cycle's lesion contours to follow them"
        )
        source_note = f"{source_note}; {follow}" if source_note else follow
    if notes:  # the SPECT notes ride with the VOI note (one line in the results)
        source_note = "; ".join([*notes, *([source_note] if source_note else [])])
    return VoiInput(
        note=source_note,
        labels=study.read_label_map(src, read=read),
        regions=rmap.regions,
        ct=voi_ct,
        kinds=dict(rmap.kinds),
        source=src.description,
        same_scan=same,
    )


def load_cycle_inputs(
    study: Study, cycle: int, *, progress: Callable[[str], None] | None = None
) -> CycleInputs:
    """Read cycle ``cycle`` of ``study``: SPECT/CT time points, VOIs, resolution, truth.

    The resolution is the first time point's: the manifest's ``fwhm_mm``, else the one
    estimated from its DICOM header (:mod:`sstrkit.pipeline.study_records`), else None.
    """
    say = progress or (lambda _m: None)
    tps = [t for t in study.time_points if t.cycle == cycle]
    if not tps:
        raise InvalidInputError(
            "cycle", expected=f"one of {list(study.cycles)} (with SPECT on disk)", actual=cycle
        )
    say("reading SPECT/CT")
    read = _SeriesReads(study)
    notes: list[str] = []
    scans = _read_scans(tps, read, notes)
    src = study.label_source_for_cycle(cycle)
    voi = _voi_input(study, src, cycle, tps, read, notes)
    return CycleInputs(
        cycle=cycle,
        nuclide=tps[0].nuclide,
        scans=scans,
        voi=voi,
        fwhm_mm=tps[0].fwhm_mm,
        truth_gy=study.truth_doses().get(str(cycle), {}),
        inputs={
            "study": str(study.root),
            "spect_series": [t.series_uid for t in tps],
            "labels": str(src.path),
            **_estimate_input(tps[0]),
        },
    )


def _estimate_input(tp: TimePoint) -> dict[str, Any]:
    """The header estimate behind ``tp.fwhm_mm``, for the provenance (nothing when the
    resolution is the manifest's or none)."""
    est = tp.resolution
    if est is None or est.fwhm_mm is None:
        return {}
    return {"spect_fwhm_estimate": est.to_dict()}


def cycle_dosimetry(study: Study, cycle: int, **options: Any) -> StudyDosimetry:
    """Voxel and region dosimetry of ``cycle`` of ``study``.

    :func:`load_cycle_inputs`, then :func:`~sstrkit.therapy.voxel_dose.
    cycle_dosimetry_from_scans` with ``options`` (its keyword arguments; an explicit
    ``fwhm_mm`` wins over the first time point's resolution, measured or estimated).
    """
    cin = load_cycle_inputs(study, cycle, progress=options.get("progress"))
    fwhm = options.pop("fwhm_mm", None)
    return cycle_dosimetry_from_scans(
        cin.scans,
        cin.nuclide,
        cycle=cin.cycle,
        voi=cin.voi,
        fwhm_mm=cin.fwhm_mm if fwhm is None else fwhm,
        truth_gy=cin.truth_gy,
        inputs=cin.inputs,
        **options,
    )


def study_cycle_dosimetry(
    study_dir: str | os.PathLike[str],
    cycle: int,
    *,
    method: DoseMethod = "convolution",
    tia_method: str = "trapezoid",
    register: bool = True,
    density_correction: bool = True,
    registration_levels: tuple[int, ...] = (4, 2),
    pvc: PvcMethod = "gtm",
    fwhm_mm: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> StudyDosimetry:
    """Voxel and region dosimetry of one cycle of a study folder.

    The study (:class:`sstrkit.pipeline.study.Study`) gives the cycle's SPECT/CT
    time points, its volumes of interest (the study's segmentation, or the
    digital patient's truth label maps) and, for the digital patient, the true
    region doses (:func:`load_cycle_inputs`);
    :func:`~sstrkit.therapy.voxel_dose.cycle_dosimetry_from_scans` computes the
    dose map, DVHs, partial-volume-corrected region doses and region activities.
    ``fwhm_mm`` defaults to the SPECT resolution in the manifest.
    """
    from sstrkit.pipeline.study import Study

    return cycle_dosimetry(
        Study.load(Path(study_dir)),
        cycle,
        method=method,
        tia_method=tia_method,
        register=register,
        density_correction=density_correction,
        registration_levels=registration_levels,
        pvc=pvc,
        fwhm_mm=fwhm_mm,
        progress=progress,
    )
