"""Lesions and dosimetry VOIs as DICOM Segmentation (SEG, BINARY) objects (highdicom).

* :func:`lesion_seg` — the SSTR PET reading's lesions (``OUT/reading/lesions.nii.gz``,
  label value = lesion id) on the PET grid, referencing the PET series (patient,
  study and frame of reference of the PET/CT); segment *k* is ``lesion_<id>``
  (``lesion_01``…, the names the dosimetry VOIs give the same lesions);
* :func:`voi_seg` — the VOIs one cycle's dosimetry used (``OUT/dose/vois_cycleN.nii.gz``)
  on the dose grid, one segment per region of results.json
  (``stages.dosimetry.regions``: ``kidneys`` is the union of both kidneys, so segments
  overlap), referencing the CT of that cycle's reference SPECT/CT — the frame of
  reference and study of the cycle's RTDOSE.

Each segment is coded with SNOMED CT (organs as in :mod:`sstrkit.io.seg_write`,
lesions as Morphologically abnormal structure / Neoplasm). The label maps are
given to highdicom as volumes with their geometry, so the SEG's plane positions
are the label map's own (no resampling); frames without a segment are omitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from sstrkit import __version__
from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, InvalidInputError
from sstrkit.io.seg_write import CLASS_CODES, SegmentCode
from sstrkit.pacs.conformance import EXPORT_MODEL_NAME

__all__ = ["LESION_CODE", "lesion_name", "lesion_seg", "segment_code", "voi_seg"]

#: Code of a lesion segment.
LESION_CODE = SegmentCode(codes.SCT.MorphologicallyAbnormalStructure, codes.SCT.Neoplasm)
_REGION_CODES: Mapping[str, SegmentCode] = {
    **CLASS_CODES,
    "kidneys": SegmentCode(codes.SCT.AnatomicalStructure, codes.SCT.Kidney),
    "pancreas": SegmentCode(codes.SCT.AnatomicalStructure, Code("15776009", "SCT", "Pancreas")),
}


def lesion_name(lesion_id: int) -> str:
    """``lesion_01`` for lesion 1: the name the reading's lesions have as dosimetry VOIs."""
    return f"lesion_{lesion_id:02d}"


def segment_code(name: str) -> SegmentCode:
    """SNOMED CT code of a region or lesion name (generic anatomical structure if unknown)."""
    if name.startswith("lesion"):
        return LESION_CODE
    return _REGION_CODES.get(
        name, SegmentCode(codes.SCT.AnatomicalStructure, codes.SCT.AnatomicalStructure)
    )


def _hd_volume(volume: Volume, array: NDArray[Any]) -> Any:
    """``array`` (z, y, x[, segment]) on ``volume``'s grid as a highdicom Volume."""
    import highdicom as hd

    d = volume.direction_matrix
    sx, sy, sz = volume.spacing
    channels: Any = None
    if array.ndim == 4:  # stacked segments: the 4th axis is the segment number
        channels = {"SegmentNumber": list(range(1, array.shape[3] + 1))}
    direction: Any = np.stack([d[:, 2], d[:, 1], d[:, 0]], axis=1)  # array axes (z, y, x)
    return hd.Volume.from_components(
        array,
        position=list(volume.origin),
        direction=direction,
        spacing=[sz, sy, sx],
        coordinate_system="PATIENT",
        frame_of_reference_uid=volume.frame_of_reference_uid,
        channels=channels,
    )


def _description(number: int, name: str, algorithm: str, kind: str, seg_uid: str) -> Any:
    import highdicom as hd

    code = segment_code(name)
    family = codes.cid7162.MorphologicalOperations
    desc = hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=name[:64],
        segmented_property_category=code.category,
        segmented_property_type=code.type,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=algorithm,
            version=__version__,
            family=hd.sr.CodedConcept(family.value, family.scheme_designator, family.meaning),
        ),
        tracking_id=f"{kind} {name}"[:64],
        tracking_uid=generate_uid(entropy_srcs=[seg_uid, name]),
        anatomic_regions=[code.anatomic_region] if code.anatomic_region else None,
    )
    if code.modifier is not None:
        m = code.modifier
        desc.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
            hd.sr.CodedConcept(m.value, m.scheme_designator, m.meaning)
        ]
    return desc


def _segmentation(
    source: Sequence[Dataset],
    grid: Volume,
    masks: NDArray[np.uint8],
    names: Sequence[str],
    *,
    algorithm: str,
    kind: str,
    uids: tuple[str, str],
    series_number: int,
    description: str,
) -> Dataset:
    import highdicom as hd

    if not names:
        raise InvalidInputError(description, expected="at least one segment", actual="none")
    try:
        seg = hd.seg.Segmentation(
            source_images=list(source),
            pixel_array=_hd_volume(grid, masks),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=[
                _description(n, name, algorithm, kind, uids[1])
                for n, name in enumerate(names, start=1)
            ],
            series_instance_uid=uids[0],
            series_number=series_number,
            sop_instance_uid=uids[1],
            instance_number=1,
            manufacturer="sstrkit",
            manufacturer_model_name=EXPORT_MODEL_NAME,
            software_versions=__version__,
            device_serial_number="0",
            content_label=kind.upper()[:16],
            content_description=description[:64],
            series_description=description[:64],
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise DicomMetadataError(
            f"source series of the {description}",
            expected="headers from which a DICOM SEG can be built (patient, study, geometry)",
            actual=" ".join(str(exc).split())[:200],
        ) from None
    return seg


def lesion_seg(
    lesions: Volume,
    lesion_ids: Sequence[int],
    pet: Sequence[Dataset],
    *,
    uids: tuple[str, str],
    series_number: int = 902,
) -> tuple[Dataset, dict[str, int]] | None:
    """The reading's lesions as a SEG on the PET series ``pet``, and name → segment number;
    None without lesions."""
    labels = np.rint(np.asarray(lesions.array)).astype(np.int64)
    ids = [i for i in lesion_ids if np.any(labels == i)]
    if not ids:
        return None
    masks = np.stack([labels == i for i in ids], axis=-1).astype(np.uint8)
    names = [lesion_name(i) for i in ids]
    seg = _segmentation(
        pet,
        lesions,
        masks,
        names,
        algorithm="sstrkit reading",
        kind="lesion",
        uids=uids,
        series_number=series_number,
        description="sstrkit SSTR PET lesions",
    )
    return seg, {name: n for n, name in enumerate(names, start=1)}


def voi_seg(
    vois: Volume,
    regions: Mapping[str, Sequence[int]],
    ct: Sequence[Dataset],
    *,
    cycle: int,
    uids: tuple[str, str],
    series_number: int,
) -> tuple[Dataset, dict[str, int]] | None:
    """One cycle's VOIs as a SEG referencing its SPECT/CT's CT ``ct``; also name → segment
    number. None when no region has a voxel on the grid."""
    labels = np.rint(np.asarray(vois.array)).astype(np.int64)
    names, masks = [], []
    for name, values in regions.items():
        mask = np.isin(labels, [int(v) for v in values])
        if mask.any():
            names.append(name)
            masks.append(mask)
    if not names:
        return None
    seg = _segmentation(
        ct,
        vois,
        np.stack(masks, axis=-1).astype(np.uint8),
        names,
        algorithm="sstrkit dosimetry VOIs",
        kind="voi",
        uids=uids,
        series_number=series_number,
        description=f"sstrkit dosimetry VOIs cycle {cycle}",
    )
    return seg, {name: n for n, name in enumerate(names, start=1)}
