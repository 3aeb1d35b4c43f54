"""A patient study on disk, parsed once into typed objects (README, "Study layout").

:class:`Study` reads ``manifest.json`` (series by role, validated by
:mod:`sstrkit.pipeline.manifest`), ``clinical.json`` (labs, administrations,
blood samples) and, when present, a legacy ``case.json``; it resolves:

* the post-therapy SPECT/CT **time points** of each cycle (a listed file that is
  missing is dropped and flagged, never silently; :mod:`sstrkit.pipeline.study_records`);
* the **administrations**, one source of truth per cycle: a measured net
  activity from the clinical record (``clinical.json``, then ``case.json``) wins
  over the nominal DICOM header value; copies differing by more than 5 % are
  flagged, and the one used is named (:mod:`sstrkit.pipeline.administrations`);
* the **volumes of interest**: the study's label map (manifest ``segmentation``,
  drawn on the baseline PET/CT or on one SPECT/CT time point) or, for the
  digital patient without one, its ``truth/`` label maps
  (:mod:`sstrkit.pipeline.label_sources`); region names are mapped to dosimetry
  regions by :mod:`sstrkit.pipeline.regions`;
* the therapy :class:`~sstrkit.therapy.case.Case` (patient, administrations,
  blood samples) that region dosimetry completes with image-derived data
  (:mod:`sstrkit.pipeline.patient_case`).

One cycle's dosimetry inputs (volumes, times, label maps) are read by
:mod:`sstrkit.pipeline.cycle_inputs`. Problems that do not stop the run are
collected as :class:`DataFlag` (shown in the report's data-quality box).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline import label_sources as vois
from sstrkit.pipeline import patient_case
from sstrkit.pipeline.administrations import (
    ACTIVITY_TOLERANCE,
    Administration,
    resolve_administrations,
)
from sstrkit.pipeline.label_sources import SIRT_LABEL_KEYS, LabelSource
from sstrkit.pipeline.manifest import (
    ClinicalRecord,
    Manifest,
    parse_clinical,
    parse_manifest,
)
from sstrkit.pipeline.regions import DOSIMETRY_ORGANS, RegionMap, classify_regions
from sstrkit.pipeline.study_records import DataFlag, TimePoint, resolve_time_points

if TYPE_CHECKING:
    from sstrkit.therapy.voxel_dose import StudyDosimetry

__all__ = [
    "ACTIVITY_TOLERANCE",
    "DOSIMETRY_ORGANS",
    "Administration",
    "DataFlag",
    "LabelSource",
    "Study",
    "TimePoint",
]


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
        """A SPECT at its acquisition time (:func:`sstrkit.pipeline.cycle_inputs.read_spect`)."""
        from sstrkit.pipeline.cycle_inputs import read_spect

        return read_spect(tp, notes)

    def first_spect_header(self, cycle: int) -> Any:
        """Header (no pixels) of the first SPECT of ``cycle``, or None.

        Derived objects (RTDOSE) copy their patient, study and frame of reference from
        it. In a folder, the first file in path order with the time point's series UID.
        """
        from sstrkit.io.dicom_read import first_series_header

        tp = next((t for t in self.time_points if t.cycle == cycle), None)
        return None if tp is None else first_series_header(tp.spect_path, tp.series_uid)

    def read(self, path: Path, series_uid: str | None) -> Volume:
        """One series of the study as a Volume (a folder may hold several series)."""
        from sstrkit.io.dicom_read import read_series

        return read_series(path, series_uid=series_uid if path.is_dir() else None).volume

    @cached_property
    def _time_points_and_flags(self) -> tuple[tuple[TimePoint, ...], tuple[DataFlag, ...]]:
        return resolve_time_points(self.model, self.root)

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
        return resolve_administrations(self.model, self.clinical_record, self.case)

    @property
    def administrations(self) -> tuple[Administration, ...]:
        """Therapy administrations by cycle (clinical record > case file > DICOM header)."""
        return self._administrations_and_flags[0]

    # ------------------------------------------------------------------ VOIs
    @property
    def has_labels(self) -> bool:
        """True when the study supplies VOIs (manifest segmentation or phantom truth)."""
        seg = self.model.segmentation
        if seg is not None and set(seg.labels_nifti) - set(SIRT_LABEL_KEYS):
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
        return vois.label_sources(self.model, self.root)

    def label_source_for_cycle(self, cycle: int) -> LabelSource:
        """The label map used for ``cycle`` (same time point > same cycle > baseline > any)."""
        return vois.label_source_for_cycle(self._label_sources(), self.time_points, cycle)

    def label_source_for_baseline(self) -> LabelSource:
        """The label map used for the baseline PET (baseline > first listed)."""
        return vois.label_source_for_baseline(self._label_sources())

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
        from sstrkit.phantom.truth_files import truth_regions

        return classify_regions(truth_regions(truth), source="truth regions", label_names=names)

    def label_table(self) -> dict[str, tuple[int, ...]]:
        """Region name → label values of the dosimetry regions."""
        return dict(self.region_map.regions)

    @cached_property
    def _dicom_seg_reads(self) -> dict[str, Volume]:
        return {}

    def read_label_map(
        self, src: LabelSource, *, read: Callable[[Path, str | None], Volume] | None = None
    ) -> Volume:
        """Label map of ``src``: a NIfTI as stored, or a DICOM SEG (file, or folder holding
        one) as segment numbers on the grid of the CT of its scan (``src.ct_path``; by
        nearest neighbour when drawn on another grid of that frame of reference).

        ``read`` reads that CT (default :meth:`read`; a caller that holds it already
        passes a reader that returns it)."""
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
        ct = (read or self.read)(src.ct_path, src.ct_series_uid)
        labels = read_dicom_seg(seg_file, ct, resample_labels=True).labels
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
        coordinates (nearest neighbour; small regions keep their volume,
        :func:`sstrkit.therapy.label_transfer.transfer_labels`). ``notes`` receives a line
        when labels from another session are placed by coordinates or the registration is
        doubtful.
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
        from sstrkit.therapy.label_transfer import transfer_labels

        return transfer_labels(lab, reference)

    def labels(self, key: str, reference: Volume) -> NDArray[np.int32]:
        """Label map ``key`` on ``reference``'s grid by patient coordinates (nearest
        neighbour, small regions keeping their volume:
        :func:`sstrkit.therapy.label_transfer.transfer_labels`)."""
        from sstrkit.therapy.label_transfer import transfer_labels

        return transfer_labels(self.label_volume(key), reference)

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
    def cycle_dosimetry(self, cycle: int, **options: Any) -> StudyDosimetry:
        """Voxel and region dosimetry of ``cycle``
        (:func:`sstrkit.pipeline.cycle_inputs.cycle_dosimetry`: this study's scans, VOIs
        and truth through :func:`~sstrkit.therapy.voxel_dose.cycle_dosimetry_from_scans`)."""
        from sstrkit.pipeline.cycle_inputs import cycle_dosimetry

        return cycle_dosimetry(self, cycle, **options)

    # ------------------------------------------------------------------ case
    def patient(self) -> dict[str, Any]:
        """Patient for dosimetry: case file > clinical record > DICOM headers (named)."""
        return patient_case.resolve_patient(self.case, self.clinical_record, self.model.patient)

    def base_case(self) -> dict[str, Any]:
        """The therapy case document (patient, administrations, blood) without regions."""
        return patient_case.base_case_document(
            self.patient(), self.administrations, self.case, self.clinical_record
        )
