"""A patient study on disk, parsed once into typed objects (README, "Study layout").

:class:`Study` reads ``manifest.json`` (series by role, validated by
:mod:`sstrkit.pipeline.manifest`), ``clinical.json`` (labs, administrations,
blood samples) and, when present, a legacy ``case.json``; it resolves:

* the post-therapy SPECT/CT **time points** of each cycle (a listed file that is
  missing is dropped and flagged, never silently);
* the **administrations**, one source of truth per cycle: a measured net
  activity from the clinical record (``clinical.json``, then ``case.json``) wins
  over the nominal DICOM header value; copies differing by more than 5 % are
  flagged, and the one used is named;
* the **volumes of interest**: the study's label map (manifest ``segmentation``,
  drawn on the baseline PET/CT or on one SPECT/CT time point) or, for the
  digital patient without one, its ``truth/`` label maps; region names are
  mapped to dosimetry regions by :mod:`sstrkit.pipeline.regions`;
* the therapy :class:`~sstrkit.therapy.case.Case` (patient, administrations,
  blood samples) that region dosimetry completes with image-derived data.

Problems that do not stop the run are collected as :class:`DataFlag` (shown in
the report's data-quality box).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.manifest import (
    ClinicalRecord,
    CtEntry,
    Manifest,
    parse_clinical,
    parse_manifest,
)
from sstrkit.pipeline.regions import DOSIMETRY_ORGANS, RegionMap, classify_regions

__all__ = ["DOSIMETRY_ORGANS", "Administration", "DataFlag", "LabelSource", "Study", "TimePoint"]

#: Relative difference between two records of one administered activity that is flagged.
ACTIVITY_TOLERANCE = 0.05


@dataclass(frozen=True)
class DataFlag:
    """Something missing or inconsistent that the results carry (data-quality box)."""

    kind: str
    message: str
    cycle: int | None = None
    region: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cycle": self.cycle,
            "region": self.region,
            "message": self.message,
        }


@dataclass(frozen=True)
class TimePoint:
    """One post-therapy SPECT/CT acquisition."""

    cycle: int
    hours_post_injection: float
    spect_path: Path
    ct_path: Path | None
    injection_time: _dt.datetime
    time: _dt.datetime
    nuclide: str
    injected_activity_bq: float
    fwhm_mm: float | None = None
    series_uid: str = ""
    ct_series_uid: str | None = None
    frame_of_reference_uid: str | None = None

    @property
    def label(self) -> str:
        return f"cycle {self.cycle} {self.hours_post_injection:g} h"


@dataclass(frozen=True)
class Administration:
    """One therapy administration with the record its activity comes from."""

    cycle: int
    nuclide: str
    agent: str
    activity_bq: float
    time: _dt.datetime
    source: str
    copies: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "nuclide": self.nuclide,
            "agent": self.agent,
            "activity_bq": self.activity_bq,
            "time": self.time.isoformat(),
            "source": self.source,
            "copies": [{"source": s, "activity_bq": a} for s, a in self.copies],
        }


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


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(
            what,
            expected=f"{path.name} in the study folder",
            actual="missing",
            fix="create the study with 'sstrkit study init DICOM_DIR --out STUDY' "
            "(README, 'Study layout')",
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(what, expected="readable JSON", actual=f"{path}: {exc}") from None


_TP_KEY = re.compile(r"^cycle(\d+)_([0-9.]+)h$")
_CYCLE_KEY = re.compile(r"^cycle(\d+)$")


@dataclass(frozen=True)
class Study:
    """A study folder: manifest, clinical data (and legacy case file), parsed and validated."""

    root: Path
    manifest: dict[str, Any]
    case: dict[str, Any] | None
    clinical: dict[str, Any] | None
    model: Manifest = field(repr=False)
    clinical_record: ClinicalRecord | None = field(repr=False)

    @classmethod
    def load(cls, root: str | Path) -> Study:
        root = Path(root)
        if not root.is_dir():
            raise InvalidInputError(
                "study folder",
                expected="an existing folder",
                actual=str(root),
                fix="give a study folder, or a DICOM folder to 'sstrkit run' (intake)",
            )
        if not (root / "manifest.json").is_file():
            raise InvalidInputError(
                "study manifest",
                expected="manifest.json in the study folder",
                actual=f"none in {root}",
                fix="create it from the DICOM headers with 'sstrkit study init DICOM_DIR --out "
                "STUDY', or give the DICOM folder itself to 'sstrkit run'",
            )
        raw = _read_json(root / "manifest.json", "study manifest")
        model = parse_manifest(raw, name=str(root / "manifest.json"))
        case_rel = model.case_file or "case.json"
        case = _read_json(root / case_rel, "case file") if (root / case_rel).is_file() else None
        clin_rel = model.clinical or "clinical.json"
        clinical = (
            _read_json(root / clin_rel, "clinical data") if (root / clin_rel).is_file() else None
        )
        record = parse_clinical(clinical, name=str(root / clin_rel)) if clinical else None
        return cls(root, raw, case, clinical, model, record)

    # ---------------------------------------------------------------- series
    def series(self, role: str) -> dict[str, Any] | None:
        entry = self.manifest["series"].get(role)
        return entry if isinstance(entry, dict) else None

    def path(self, relative: str) -> Path:
        return self.root / relative

    def _read_spect(self, tp: TimePoint, notes: list[str]) -> Volume:
        """A SPECT as activity concentration at its acquisition time (not decay corrected).

        A series decay-corrected to the administration (DecayCorrection ADMIN) is
        brought back to its acquisition time, and the note says so: kinetics fits the
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

    def first_spect_header(self, cycle: int) -> Any:
        """Header (no pixels) of the first SPECT of ``cycle``, or None.

        Derived objects (RTDOSE) copy their patient, study and frame of reference from
        it. In a folder, the first file in path order with the time point's series UID.
        """
        import warnings

        import pydicom
        from pydicom.errors import InvalidDicomError

        tp = next((t for t in self.time_points if t.cycle == cycle), None)
        if tp is None:
            return None
        path = tp.spect_path
        files = [path] if path.is_file() else sorted(f for f in path.rglob("*") if f.is_file())
        for file in files:
            try:
                try:
                    ds = pydicom.dcmread(file, stop_before_pixels=True)
                except InvalidDicomError:  # no preamble: the reader accepts such files too
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ds = pydicom.dcmread(file, stop_before_pixels=True, force=True)
                if "SOPClassUID" not in ds:
                    continue
            except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError):
                continue
            if (
                path.is_dir()
                and tp.series_uid
                and str(ds.get("SeriesInstanceUID")) != tp.series_uid
            ):
                continue
            return ds
        return None

    def read(self, path: Path, series_uid: str | None) -> Volume:
        """One series of the study as a Volume (a folder may hold several series)."""
        from sstrkit.io.dicom_read import read_series

        return read_series(path, series_uid=series_uid if path.is_dir() else None).volume

    @cached_property
    def _time_points_and_flags(self) -> tuple[tuple[TimePoint, ...], tuple[DataFlag, ...]]:
        cts = {(c.cycle, float(c.hours_post_injection)): c for c in self.model.series.spect_ct}
        out: list[TimePoint] = []
        flags: list[DataFlag] = []
        for s in self.model.series.spect:
            key = (s.cycle, float(s.hours_post_injection))
            spect_path = self.path(s.path)
            if not spect_path.exists():
                flags.append(
                    DataFlag(
                        "missing_time_point",
                        f"SPECT of cycle {s.cycle} at {s.hours_post_injection:g} h is listed in "
                        f"the manifest but missing on disk ({spect_path}); computed without it",
                        cycle=s.cycle,
                    )
                )
                continue
            ct = cts.get(key)
            ct_path = self.path(ct.path) if ct else None
            if ct_path is not None and not ct_path.exists():
                flags.append(
                    DataFlag(
                        "missing_ct",
                        f"CT of cycle {s.cycle} at {s.hours_post_injection:g} h is missing "
                        f"({ct_path}); that SPECT is placed by patient coordinates",
                        cycle=s.cycle,
                    )
                )
                ct_path = None
            out.append(
                TimePoint(
                    cycle=key[0],
                    hours_post_injection=key[1],
                    spect_path=spect_path,
                    ct_path=ct_path,
                    injection_time=s.injection_time,
                    time=s.time,
                    nuclide=s.nuclide,
                    injected_activity_bq=s.injected_activity_bq,
                    fwhm_mm=s.fwhm_mm,
                    series_uid=s.series_uid,
                    ct_series_uid=ct.series_uid if ct else None,
                    frame_of_reference_uid=s.frame_of_reference_uid,
                )
            )
        tps = tuple(sorted(out, key=lambda t: (t.cycle, t.hours_post_injection)))
        return tps, tuple(flags)

    @property
    def time_points(self) -> tuple[TimePoint, ...]:
        return self._time_points_and_flags[0]

    @property
    def intake_flags(self) -> tuple[DataFlag, ...]:
        """Flags found while reading the study (missing files, differing activities)."""
        return self._time_points_and_flags[1] + self._administrations_and_flags[1]

    @property
    def cycles(self) -> tuple[int, ...]:
        """Cycles with at least one post-therapy SPECT on disk."""
        return tuple(sorted({t.cycle for t in self.time_points}))

    @property
    def listed_cycles(self) -> tuple[int, ...]:
        """Cycles with SPECTs listed in the manifest (on disk or not)."""
        return tuple(sorted({s.cycle for s in self.model.series.spect}))

    # ------------------------------------------------------- administrations
    @cached_property
    def _administrations_and_flags(
        self,
    ) -> tuple[tuple[Administration, ...], tuple[DataFlag, ...]]:
        copies: dict[int, list[tuple[str, float, str, str, _dt.datetime]]] = {}
        if self.clinical_record is not None:
            for a in self.clinical_record.administrations:
                if a.cycle is not None:
                    copies.setdefault(a.cycle, []).append(
                        (
                            "clinical.json (measured net activity)",
                            a.activity_bq,
                            a.nuclide,
                            a.radiopharmaceutical or "",
                            a.time,
                        )
                    )
        for a in (self.case or {}).get("administrations", []):
            try:
                t = _dt.datetime.fromisoformat(str(a["datetime"]))
                copies.setdefault(int(a["cycle"]), []).append(
                    (
                        "case.json",
                        float(a["activity_mbq"]) * 1e6,
                        str(a["nuclide"]),
                        str(a.get("agent", "")),
                        t,
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue  # the case file is validated in full where it is used
        for s in self.model.series.spect:
            copies.setdefault(s.cycle, []).append(
                (
                    f"DICOM header of SPECT {s.series_uid} (nominal)",
                    s.injected_activity_bq,
                    s.nuclide,
                    s.tracer or "",
                    s.injection_time,
                )
            )
        admins: list[Administration] = []
        flags: list[DataFlag] = []
        for cycle in sorted(copies):
            recs = copies[cycle]
            src, act, nuc, agent, t = recs[0]
            seen: dict[str, float] = {}
            for s2, a2, *_ in recs:
                short = s2.split(" of SPECT")[0]
                seen.setdefault(short, a2)
            for s2, a2 in seen.items():
                if abs(a2 / act - 1.0) > ACTIVITY_TOLERANCE:
                    flags.append(
                        DataFlag(
                            "activity_mismatch",
                            f"cycle {cycle}: administered activity {a2 / 1e9:.3f} GBq in {s2} "
                            f"differs by {100 * (a2 / act - 1):+.1f} % from {act / 1e9:.3f} GBq "
                            f"in {src.split(' of SPECT')[0]}; the latter is used",
                            cycle=cycle,
                        )
                    )
            for s2, _a2, _n2, _g2, t2 in recs[1:]:
                if abs((t2 - t).total_seconds()) > 3600.0:
                    flags.append(
                        DataFlag(
                            "administration_time_mismatch",
                            f"cycle {cycle}: administration time {t2.isoformat()} in "
                            f"{s2.split(' of SPECT')[0]} differs by more than 1 h from "
                            f"{t.isoformat()} in {src.split(' of SPECT')[0]}; check that the "
                            "cycle numbers of the records and the images agree",
                            cycle=cycle,
                        )
                    )
                    break
            admins.append(Administration(cycle, nuc, agent, act, t, src, tuple(seen.items())))
        return tuple(admins), tuple(flags)

    @property
    def administrations(self) -> tuple[Administration, ...]:
        """Therapy administrations by cycle (clinical record > case file > DICOM header)."""
        return self._administrations_and_flags[0]

    # ------------------------------------------------------------------ VOIs
    @property
    def has_labels(self) -> bool:
        """True when the study supplies VOIs (manifest segmentation or phantom truth)."""
        if self.model.segmentation is not None:
            return True
        return bool((self.model.truth or {}).get("labels_nifti"))

    def with_segmentation(
        self, labels: dict[str, Path], label_names: Path, *, source: str
    ) -> Study:
        """The same study with ``labels`` (key → NIfTI) as its segmentation.

        Paths may lie outside the study folder (an automatic segmentation written
        into the run's output); ``source`` says where they came from (``voi_source``).
        """
        from sstrkit.pipeline.manifest import Segmentation

        seg = Segmentation(
            labels_nifti={k: str(Path(v).resolve()) for k, v in labels.items()},
            label_names=str(Path(label_names).resolve()),
        )
        model = self.model.model_copy(update={"segmentation": seg})
        raw = {**self.manifest, "segmentation": seg.model_dump(exclude_none=True)}
        new = replace(self, manifest=raw, model=model)
        object.__setattr__(new, "_voi_source", source)
        return new

    @property
    def voi_source(self) -> str:
        own = self.__dict__.get("_voi_source")
        if own:
            return str(own)
        if self.model.segmentation is not None:
            return "study segmentation (manifest 'segmentation')"
        return "digital-patient organ and lesion contours (truth/ label maps)"

    def _label_sources(self) -> list[LabelSource]:
        seg = self.model.segmentation
        maps = dict(seg.labels_nifti) if seg is not None else {}
        if seg is None:
            maps = dict((self.model.truth or {}).get("labels_nifti", {}))
        if not maps:
            raise InvalidInputError(
                "volumes of interest",
                expected="manifest 'segmentation' (a label map and its names) or truth/",
                actual="neither",
                fix="give --segmentation LABELS.nii.gz --label-names NAMES.json to "
                "'sstrkit study init' / 'sstrkit run'",
            )
        out = []
        pet_ct = self.model.series.pet_ct
        for key, rel in maps.items():
            m_tp = _TP_KEY.match(key)
            m_cy = _CYCLE_KEY.match(key)
            if key == "baseline":
                ct: CtEntry | None = pet_ct
                out.append(
                    LabelSource(
                        key,
                        self.path(rel),
                        self.path(ct.path) if ct else None,
                        ct.series_uid if ct else None,
                        # legacy layout (no CT to register): same coordinates as the scans
                        same_coordinates_as_cycle=None,
                    )
                )
            elif m_tp:
                cyc, hours = int(m_tp.group(1)), float(m_tp.group(2))
                tp_ct = next(
                    (
                        c
                        for c in self.model.series.spect_ct
                        if c.cycle == cyc and abs(c.hours_post_injection - hours) < 0.05
                    ),
                    None,
                )
                if tp_ct is None:
                    # drawn on that SPECT's grid, whose CT is not in the manifest: in cycle
                    # cyc's coordinates, registered through cyc's reference CT if any
                    tp_ct = next((c for c in self.model.series.spect_ct if c.cycle == cyc), None)
                    out.append(
                        LabelSource(
                            key,
                            self.path(rel),
                            self.path(tp_ct.path) if tp_ct else None,
                            tp_ct.series_uid if tp_ct else None,
                            same_coordinates_as_cycle=cyc,
                        )
                    )
                    continue
                out.append(
                    LabelSource(key, self.path(rel), self.path(tp_ct.path), tp_ct.series_uid)
                )
            elif m_cy:
                # legacy: in cycle k's scan coordinates; its first CT carries it to other cycles
                cyc = int(m_cy[1])
                first_ct = min(
                    (c for c in self.model.series.spect_ct if c.cycle == cyc),
                    key=lambda c: c.hours_post_injection,
                    default=None,
                )
                out.append(
                    LabelSource(
                        key,
                        self.path(rel),
                        self.path(first_ct.path) if first_ct else None,
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

    def label_source_for_cycle(self, cycle: int) -> LabelSource:
        """The label map used for ``cycle`` (same time point > same cycle > baseline > any)."""
        sources = self._label_sources()
        tps = [t for t in self.time_points if t.cycle == cycle]
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

    def label_source_for_baseline(self) -> LabelSource:
        """The label map used for the baseline PET (baseline > first listed)."""
        sources = self._label_sources()
        return next((s for s in sources if s.key == "baseline"), sources[0])

    @cached_property
    def region_map(self) -> RegionMap:
        """Dosimetry regions (name → label values, kinds) from the study's label names."""
        seg = self.model.segmentation
        names = self.label_names()
        if seg is not None and seg.regions:
            return classify_regions(
                seg.regions, source="manifest segmentation.regions", label_names=names
            )
        if seg is not None:
            if not names:
                raise InvalidInputError(
                    "segmentation label names",
                    expected="a label-names file (value → name) for the label map",
                    actual="none",
                    fix='give --label-names NAMES.json ({"1": "liver", ...})',
                )
            from sstrkit.pipeline.regions import dosimetry_regions

            return dosimetry_regions(names, source="segmentation label names")
        truth = self.truth
        if truth is None:
            raise InvalidInputError(
                "volumes of interest",
                expected="manifest 'segmentation' or a truth/ folder",
                actual="neither",
                fix="add the organ/lesion label map of the study to the manifest",
            )
        from sstrkit.therapy.voxel_dose import truth_regions

        return classify_regions(truth_regions(truth), source="truth regions", label_names=names)

    def label_table(self) -> dict[str, tuple[int, ...]]:
        """Region name → label values of the dosimetry regions."""
        return dict(self.region_map.regions)

    @cached_property
    def _dicom_seg_reads(self) -> dict[str, Volume]:
        return {}

    def read_label_map(self, src: LabelSource) -> Volume:
        """Label map of ``src``: a NIfTI as stored, or a DICOM SEG (file, or folder holding
        one) as segment numbers on the grid of the CT of its scan (``src.ct_path``; by
        nearest neighbour when drawn on another grid of that frame of reference)."""
        from sstrkit.io.nifti import read_nifti

        if src.path.name.endswith((".nii", ".nii.gz")):
            return read_nifti(src.path)
        from sstrkit.io.masks import find_dicom_seg, read_dicom_seg

        seg_file = find_dicom_seg(src.path)
        if seg_file is None:
            return read_nifti(src.path)  # not a SEG either: the NIfTI reader names the problem
        cached = self._dicom_seg_reads.get(str(seg_file))
        if cached is not None:
            return cached
        if src.ct_path is None:
            raise InvalidInputError(
                f"segmentation.labels_nifti.{src.key}",
                expected="a DICOM SEG of a scan whose CT is in the manifest (series.pet_ct for "
                "'baseline', series.spect_ct for a time point)",
                actual=f"{seg_file.name} without the CT of its scan",
                fix="add the CT to the manifest, or convert the SEG with 'sstrkit study init "
                "DICOM_DIR --segmentation SEG'",
            )
        labels = read_dicom_seg(
            seg_file, self.read(src.ct_path, src.ct_series_uid), resample_labels=True
        ).labels
        self._dicom_seg_reads[str(seg_file)] = labels
        return labels

    def label_volume(self, key: str) -> Volume:
        """Label map ``key`` as stored (a DICOM SEG on the grid of its CT)."""
        src = next((s for s in self._label_sources() if s.key == key), None)
        if src is None:
            raise InvalidInputError(
                "label map",
                expected=f"one of {[s.key for s in self._label_sources()]}",
                actual=key,
            )
        return self.read_label_map(src)

    def labels_on(
        self,
        reference: Volume,
        reference_ct: Volume | None,
        *,
        ct_uid: str | None,
        notes: list[str] | None = None,
    ) -> NDArray[np.int32]:
        """The baseline label map on ``reference``'s grid.

        When the label map was drawn on another scan than ``reference_ct``
        (series ``ct_uid``), the label CT is registered to ``reference_ct`` and
        the labels follow that transform; otherwise they are placed by patient
        coordinates (nearest neighbour). ``notes`` receives a line when labels
        from another session are placed by coordinates or the registration is doubtful.
        """
        src = self.label_source_for_baseline()
        lab = self.read_label_map(src)
        name = reference.name or reference.modality
        if src.ct_path is not None and reference_ct is not None and src.ct_series_uid != ct_uid:
            from sstrkit.therapy.registration import apply_to_labels, register_ct

            label_ct = self.read(src.ct_path, src.ct_series_uid)
            reg = register_ct(reference_ct, label_ct, shrink_factors=(4, 2))
            if not reg.acceptable and notes is not None:
                notes.append(
                    f"organ labels on the {name}: CT registration doubtful (NCC "
                    f"{reg.ncc_after:.2f} < 0.8); check the organ references"
                )
            return np.asarray(apply_to_labels(lab, reg, reference).array, dtype=np.int32)
        if (
            notes is not None
            and src.ct_series_uid != ct_uid
            and (src.ct_path is not None or src.same_coordinates_as_cycle is not None)
        ):
            notes.append(
                f"organ labels placed on the {name} by patient coordinates (no CT to register "
                "the scan they were drawn on): repositioning is not corrected"
            )
        lab = lab.with_metadata(
            operation="assign_frame_of_reference",
            frame_of_reference_uid=reference.frame_of_reference_uid,
        )
        return np.asarray(lab.resample_to(reference, mode="nearest").array, dtype=np.int32)

    def labels(self, key: str, reference: Volume) -> NDArray[np.int32]:
        """Label map ``key`` on ``reference``'s grid by patient coordinates (nearest)."""
        lab = self.label_volume(key).with_metadata(
            operation="assign_frame_of_reference",
            frame_of_reference_uid=reference.frame_of_reference_uid,
        )
        return np.asarray(lab.resample_to(reference, mode="nearest").array, dtype=np.int32)

    @cached_property
    def truth(self) -> dict[str, Any] | None:
        rel = (self.model.truth or {}).get("truth_json")
        if not rel or not self.path(rel).is_file():
            return None
        data: dict[str, Any] = _read_json(self.path(rel), "truth")
        return data

    def truth_doses(self) -> dict[str, dict[str, float]]:
        """Digital patient: true absorbed dose (Gy) per cycle and region."""
        truth = self.truth
        if truth is None:
            return {}
        return {
            str(c["cycle"]): {
                k: float(v["total_gy"]) for k, v in c.get("regions", {}).items() if "total_gy" in v
            }
            for c in truth.get("cycles", [])
        }

    def label_names(self) -> dict[int, str]:
        """Label value → name (organ names as the reader expects them)."""
        rel = (self.model.truth or {}).get("label_names")
        seg = self.model.segmentation
        if seg is not None:
            rel = seg.label_names
        if not rel and seg is not None:  # a DICOM SEG names its segments
            from sstrkit.io.masks import dicom_seg_info, find_dicom_seg

            for src in self._label_sources():
                if not src.path.name.endswith((".nii", ".nii.gz")) and find_dicom_seg(src.path):
                    return dict(dicom_seg_info(src.path).names)
        if not rel:
            return {}
        raw = _read_json(self.path(rel), "label names")
        from sstrkit.reading.inputs import parse_label_names

        return parse_label_names(raw, "label names")

    # ------------------------------------------------------------- dosimetry
    def cycle_dosimetry(self, cycle: int, **options: Any) -> Any:
        """Voxel and region dosimetry of ``cycle`` (:func:`~sstrkit.therapy.voxel_dose.
        cycle_dosimetry_from_scans` on this study's scans, VOIs and truth)."""
        from sstrkit.therapy.voxel_dose import (
            ScanTimePoint,
            VoiInput,
            cycle_dosimetry_from_scans,
        )

        say = options.get("progress") or (lambda _m: None)
        tps = [t for t in self.time_points if t.cycle == cycle]
        if not tps:
            raise InvalidInputError(
                "cycle", expected=f"one of {list(self.cycles)} (with SPECT on disk)", actual=cycle
            )
        say("reading SPECT/CT")
        scans = []
        admin_notes: list[str] = []
        for tp in tps:
            spect = self._read_spect(tp, admin_notes)
            ct = self.read(tp.ct_path, tp.ct_series_uid) if tp.ct_path is not None else None
            scans.append(
                ScanTimePoint(
                    spect, ct, (tp.time - tp.injection_time).total_seconds(), label=tp.label
                )
            )
        src = self.label_source_for_cycle(cycle)
        rmap = self.region_map
        voi_ct = None
        same = False
        if src.ct_path is not None:
            same = src.ct_series_uid == tps[0].ct_series_uid
            voi_ct = None if same else self.read(src.ct_path, src.ct_series_uid)
        if src.ct_path is None and src.same_coordinates_as_cycle != cycle:
            source_note = (
                f"{src.description} has no CT of the scan it was drawn on: placed on cycle "
                f"{cycle} by patient coordinates (repositioning not corrected)"
            )
        else:
            source_note = None
        if admin_notes:
            source_note = "; ".join([*admin_notes, *([source_note] if source_note else [])])
        voi = VoiInput(
            note=source_note,
            labels=self.read_label_map(src),
            regions=rmap.regions,
            ct=voi_ct,
            kinds=dict(rmap.kinds),
            source=src.description,
            same_scan=same,
        )
        fwhm = options.pop("fwhm_mm", None)
        if fwhm is None:
            fwhm = tps[0].fwhm_mm
        truth = self.truth_doses().get(str(cycle), {})
        return cycle_dosimetry_from_scans(
            scans,
            tps[0].nuclide,
            cycle=cycle,
            voi=voi,
            fwhm_mm=fwhm,
            truth_gy=truth,
            inputs={
                "study": str(self.root),
                "spect_series": [t.series_uid for t in tps],
                "labels": str(src.path),
            },
            **options,
        )

    # ------------------------------------------------------------------ case
    def patient(self) -> dict[str, Any]:
        """Patient for dosimetry: case file > clinical record > DICOM headers (named)."""
        case_pat = dict((self.case or {}).get("patient", {}))
        clin = self.clinical_record.patient if self.clinical_record is not None else None
        man = self.model.patient
        sex_map = {"M": "male", "F": "female", "male": "male", "female": "female"}
        out: dict[str, Any] = {"id": case_pat.get("id") or man.id or "anonymous"}
        sources: dict[str, str] = {}
        for key, dicom_value in (
            ("sex", sex_map.get(man.sex or "")),
            ("weight_kg", man.weight_kg),
            ("height_cm", man.height_cm),
            ("age_y", None),
        ):
            clin_value = getattr(clin, key, None) if clin is not None else None
            if key == "sex" and clin_value is not None:
                clin_value = sex_map[clin_value]
            for value, src in (
                (case_pat.get(key), "case.json"),
                (clin_value, "clinical.json"),
                (dicom_value, "DICOM header"),
            ):
                if value is not None:
                    out[key] = value
                    sources[key] = src
                    break
        if clin is not None and clin.risk_factors:
            out["risk_factors"] = clin.risk_factors
        elif "risk_factors" in case_pat:
            out["risk_factors"] = case_pat["risk_factors"]
        out["sources"] = sources
        return out

    def base_case(self) -> dict[str, Any]:
        """The therapy case document (patient, administrations, blood) without regions."""
        pat = self.patient()
        missing = [k for k in ("sex", "weight_kg") if k not in pat]
        if missing:
            raise InvalidInputError(
                "patient " + " and ".join(missing),
                expected="PatientSex / PatientWeight in the DICOM headers or 'patient' in "
                "clinical.json",
                actual="missing",
                fix='add {"patient": {"sex": "F", "weight_kg": 70}} to clinical.json',
            )
        admins = [
            {
                "id": f"C{a.cycle}",
                "cycle": a.cycle,
                "nuclide": a.nuclide,
                "agent": a.agent,
                "activity_mbq": a.activity_bq / 1e6,
                "datetime": a.time.isoformat(),
            }
            for a in self.administrations
        ]
        # a legacy case file's blood samples, renamed to this case's administration ids
        case_ids = {
            str(a.get("id")): a.get("cycle") for a in (self.case or {}).get("administrations", [])
        }
        blood = [
            {**b, "administration": f"C{case_ids[str(b.get('administration'))]}"}
            for b in (self.case or {}).get("blood", [])
            if case_ids.get(str(b.get("administration"))) is not None
        ]
        if not blood and self.clinical_record is not None:
            by_cycle: dict[int, list[Any]] = {}
            for b in self.clinical_record.blood_samples:
                by_cycle.setdefault(b.cycle, []).append(b)
            for cycle, samples in sorted(by_cycle.items()):
                samples.sort(key=lambda b: b.hours_post_injection)
                if cycle not in {a.cycle for a in self.administrations}:
                    continue
                entry: dict[str, Any] = {
                    "administration": f"C{cycle}",
                    "times_h": [b.hours_post_injection for b in samples],
                    "concentration_kbq_per_ml": [
                        b.activity_concentration_bq_ml / 1e3 for b in samples
                    ],
                }
                if self.clinical_record.blood_rmblr is not None:
                    entry["rmblr"] = self.clinical_record.blood_rmblr
                blood.append(entry)
        doc: dict[str, Any] = {
            "schema_version": 1,
            "case_id": str((self.case or {}).get("case_id") or pat["id"]),
            "patient": {k: v for k, v in pat.items() if k != "sources"},
            "administrations": admins,
            "blood": blood,
        }
        for key in ("ebrt", "planning"):
            if self.case and key in self.case:
                doc[key] = self.case[key]
        return doc

    def baseline_labs(self) -> dict[str, Any]:
        """Labs before cycle 1 (or the first record), with age and sex of the patient."""
        labs = self.clinical_record.labs if self.clinical_record is not None else []
        first = min(labs, key=lambda r: r.time).model_dump() if labs else {}
        out = {
            k: v for k, v in first.items() if k not in ("time", "before_cycle") and v is not None
        }
        if not out:
            return {}
        pat = self.patient()
        if pat.get("age_y") is not None:
            out["age_years"] = pat["age_y"]
        if pat.get("sex"):
            out["sex"] = pat["sex"]
        return out
