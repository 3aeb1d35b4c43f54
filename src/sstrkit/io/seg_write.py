"""An organ segmentation written as a DICOM Segmentation (SEG) on its CT series.

:func:`write_seg` writes one BINARY SEG instance (highdicom) that references
the CT series the label map was made on: one segment per organ present in the
label map, numbered 1, 2, … in label-value order (DICOM numbers segments from
1 without gaps, so a segment number equals the label value only when no class
below it is absent; the SegmentLabel carries the class name, e.g.
``kidney_left``, and :func:`sstrkit.io.masks.read_dicom_seg` reads the names
back). Each segment is coded with SNOMED CT (CID 7150 category, CID 7151 type,
laterality as a type modifier) where a code exists (:data:`CLASS_CODES`), its
algorithm type is AUTOMATIC and the algorithm is identified as
``sstrkit organs`` with the sstrkit version. The file is written atomically.

Examples
--------
>>> CLASS_CODES["kidney_left"].type.value, CLASS_CODES["kidney_left"].modifier.meaning
('64033007', 'Left')
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from sstrkit import __version__
from sstrkit.core.atomic import atomic_path
from sstrkit.errors import DicomMetadataError, GeometryMismatchError, InvalidInputError
from sstrkit.organs.model import OrganSegmentation

__all__ = ["ALGORITHM_FAMILY", "ALGORITHM_NAME", "CLASS_CODES", "SegmentCode", "write_seg"]

#: AlgorithmName (0066,0036) of the segments.
ALGORITHM_NAME = "sstrkit organs"
#: AlgorithmFamilyCodeSequence (CID 7162): the organ segmentation is image processing
#: (thresholds, connected components and morphology on CT and the emission scan).
ALGORITHM_FAMILY: Code = codes.cid7162.MorphologicalOperations

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


@dataclass(frozen=True)
class SegmentCode:
    """Segmented property category (CID 7150) and type (CID 7151) of one class."""

    category: Code
    type: Code
    modifier: Code | None = None
    anatomic_region: Code | None = None


_ANATOMY = codes.SCT.AnatomicalStructure  # SCT 91723000
_TISSUE = codes.SCT.Tissue  # SCT 85756007

#: SNOMED CT codes of the default classes (:data:`sstrkit.organs.model.CLASS_NAMES`).
CLASS_CODES: Mapping[str, SegmentCode] = {
    "liver": SegmentCode(_ANATOMY, codes.SCT.Liver),
    "spleen": SegmentCode(_ANATOMY, codes.SCT.Spleen),
    "kidney_left": SegmentCode(_ANATOMY, codes.SCT.Kidney, codes.SCT.Left),
    "kidney_right": SegmentCode(_ANATOMY, codes.SCT.Kidney, codes.SCT.Right),
    "urinary_bladder": SegmentCode(_ANATOMY, Code("89837001", "SCT", "Urinary bladder")),
    "adrenal_gland_left": SegmentCode(_ANATOMY, codes.SCT.AdrenalGland, codes.SCT.Left),
    "adrenal_gland_right": SegmentCode(_ANATOMY, codes.SCT.AdrenalGland, codes.SCT.Right),
    "pituitary_gland": SegmentCode(_ANATOMY, Code("56329008", "SCT", "Pituitary gland")),
    "lung_left": SegmentCode(_ANATOMY, codes.SCT.Lung, codes.SCT.Left),
    "lung_right": SegmentCode(_ANATOMY, codes.SCT.Lung, codes.SCT.Right),
    "bone": SegmentCode(_TISSUE, codes.SCT.Bone),
    "red_marrow_lumbar": SegmentCode(
        _TISSUE, codes.SCT.BoneMarrow, anatomic_region=codes.SCT.LumbarSpine
    ),
    "body": SegmentCode(_ANATOMY, Code("38266002", "SCT", "Entire body")),
}
#: Code of a class without its own entry (a name the table does not know).
_GENERIC = SegmentCode(_ANATOMY, _ANATOMY)


def _ct_headers(
    source: str | os.PathLike[str] | Sequence[pydicom.Dataset],
) -> list[pydicom.Dataset]:
    if isinstance(source, str | os.PathLike):
        root = Path(source)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        headers: list[pydicom.Dataset] = []
        for f in files:
            if f.name.endswith((".nii", ".nii.gz", ".json")):
                continue
            try:
                ds = pydicom.dcmread(str(f), stop_before_pixels=True)
            except Exception:  # not a DICOM file: skipped (a DICOM folder may hold others)
                continue
            if str(ds.get("SOPClassUID", "")) == CT_IMAGE_STORAGE:
                headers.append(ds)
        where = str(root)
    else:
        headers = [ds for ds in source if str(ds.get("SOPClassUID", "")) == CT_IMAGE_STORAGE]
        where = "the datasets given"
    if not headers:
        raise InvalidInputError(
            "CT series of the segmentation",
            expected="CT Image Storage files (the CT the label map was made on)",
            actual=f"none in {where}",
            fix="pass the DICOM folder of the CT that was segmented",
        )
    return headers


def _match_series(
    headers: list[pydicom.Dataset], segmentation: OrganSegmentation
) -> list[pydicom.Dataset]:
    """The CT slices of the label map's grid, in its z order (one per slice)."""
    from sstrkit.io.masks import _on_grid

    grid = segmentation.labels
    nz, ny, nx = grid.shape
    by_series: dict[str, list[pydicom.Dataset]] = {}
    for ds in headers:
        by_series.setdefault(str(ds.get("SeriesInstanceUID", "")), []).append(ds)
    problems: list[str] = []
    for uid, series in by_series.items():
        for_uid = str(series[0].get("FrameOfReferenceUID") or "") or None
        if grid.frame_of_reference_uid and for_uid and for_uid != grid.frame_of_reference_uid:
            problems.append(f"series {uid}: FrameOfReferenceUID {for_uid}")
            continue
        slices: dict[int, pydicom.Dataset] = {}
        why = ""
        for ds in series:
            if int(ds.Rows) != ny or int(ds.Columns) != nx:
                why = f"{int(ds.Rows)}×{int(ds.Columns)} pixels vs label map {ny}×{nx}"
                break
            at, reason = _on_grid(
                grid,
                np.asarray([float(v) for v in ds.ImagePositionPatient]),
                np.asarray([float(v) for v in ds.ImageOrientationPatient]),
                np.asarray([float(v) for v in ds.PixelSpacing]),
            )
            if at is None or at[1:] != (0, 0) or not 0 <= at[0] < nz:
                why = reason or "a slice outside the label map"
                break
            slices[at[0]] = ds
        if not why and len(slices) != nz:
            why = f"{len(slices)} distinct slices for {nz} label-map slices"
        if not why:
            return [slices[k] for k in range(nz)]
        problems.append(f"series {uid}: {why}")
    raise GeometryMismatchError(
        "CT series of the segmentation",
        expected=f"the CT whose grid the label map is on ({nz}×{ny}×{nx} voxels, frame of "
        f"reference {grid.frame_of_reference_uid or 'unknown'})",
        actual="; ".join(problems),
        fix="pass the DICOM folder of the CT that was segmented (the one given to "
        "'sstrkit segment')",
    )


def write_seg(
    segmentation: OrganSegmentation,
    ct: str | os.PathLike[str] | Sequence[pydicom.Dataset],
    out_path: str | os.PathLike[str],
    *,
    series_number: int = 901,
    series_description: str = "sstrkit organs",
) -> Path:
    """Write ``segmentation`` as a DICOM SEG referencing the CT series ``ct``; return the path.

    ``ct`` is the CT's DICOM folder (or file list root) or its datasets (headers
    suffice); the series whose grid is the label map's is used. Organs absent
    from the label map get no segment.
    """
    import highdicom as hd

    headers = _ct_headers(ct)
    source = _match_series(headers, segmentation)
    labels = np.asarray(segmentation.labels.array)
    values = [int(v) for v in np.unique(labels) if int(v) != 0]
    if not values:
        raise InvalidInputError(
            "organ segmentation",
            expected="at least one labelled voxel",
            actual="an empty label map",
            fix="nothing to write: no organ was found",
        )
    family = hd.sr.CodedConcept(
        ALGORITHM_FAMILY.value, ALGORITHM_FAMILY.scheme_designator, ALGORITHM_FAMILY.meaning
    )
    algorithm = hd.AlgorithmIdentificationSequence(
        name=ALGORITHM_NAME, version=__version__, family=family
    )
    descriptions = []
    mapped = np.zeros(labels.shape, dtype=np.uint8 if len(values) < 256 else np.uint16)
    for number, value in enumerate(values, start=1):
        name = segmentation.names.get(value, f"label {value}")
        code = CLASS_CODES.get(name, _GENERIC)
        desc = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name[:64],
            segmented_property_category=code.category,
            segmented_property_type=code.type,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
            tracking_id=name[:64],
            tracking_uid=hd.UID(),
            anatomic_regions=[code.anatomic_region] if code.anatomic_region else None,
        )
        if code.modifier is not None:
            desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept(
                    code.modifier.value, code.modifier.scheme_designator, code.modifier.meaning
                )
            ]
        descriptions.append(desc)
        mapped[labels == value] = number
    try:
        seg = hd.seg.Segmentation(
            source_images=source,
            pixel_array=mapped,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=series_number,
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="sstrkit",
            manufacturer_model_name=ALGORITHM_NAME,
            software_versions=__version__,
            device_serial_number="0",
            content_label="ORGANS",
            content_description=f"{series_description} ({segmentation.method})"[:64],
            series_description=series_description[:64],
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise DicomMetadataError(
            "CT series of the segmentation",
            expected="CT headers from which a DICOM SEG can be built (patient, study, geometry)",
            actual=" ".join(str(exc).split())[:200],
            fix="export the CT series with complete headers",
        ) from None
    out = Path(out_path)
    with atomic_path(out) as tmp:
        seg.save_as(tmp)
    return out
