"""The run's numbers as a DICOM Structured Report, TID 1500 Measurement Report (highdicom).

One Comprehensive 3D SR, titled "PET Measurement Report" (CID 7021), observer the
sstrkit device, with one measurement group (TID 1411, volumetric ROI) per

* **lesion** of the SSTR PET reading, referencing its segment in the lesion SEG:
  SUVbw maximum, mean and peak (DCM 126401 with the derivations SCT 56851009,
  SCT 373098007, DCM 126031) and volume (SCT 118565006, mL); time point "baseline
  SSTR PET";
* **region and cycle** of the dosimetry, referencing the region's segment in that
  cycle's VOI SEG: time-integrated activity (MBq·h), absorbed dose (DCM 128513 "Absorbed
  Dose", Gy; the organ-level MIRD value planning uses), BED (Gy, where results give
  one: mono-exponential kinetics, as the registry computes it) and the voxel mean
  absorbed dose (DCM 128533 "Mean Absorbed Radiation Dose", Gy); time point
  "cycle N";
* **region, cumulative** over the cycles (planning's delivered absorbed dose and BED),
  referencing the latest cycle's segment; time point "cumulative, N cycles".

A region without a segment (red marrow by the blood method) gets a TID 1501 group
without ROI. DICOM has no code for the time-integrated activity and the BED yet, so
they are coded in the private scheme ``99SSTRKIT`` (:data:`TIA`, :data:`BED`),
declared in the CodingSchemeIdentificationSequence. Values are those of
results.json, unchanged (units: results.json's MBq·h and Gy; the SR is an edge).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from sstrkit import __version__
from sstrkit.pacs.conformance import EXPORT_MODEL_NAME

__all__ = [
    "BED",
    "SUV_BW",
    "TIA",
    "LesionValues",
    "RegionValues",
    "SegmentRef",
    "measurement_report",
]

SUV_BW = Code("126401", "DCM", "SUVbw")
ABSORBED_DOSE = Code("128513", "DCM", "Absorbed Dose")
MEAN_ABSORBED_DOSE = Code("128533", "DCM", "Mean Absorbed Radiation Dose")
VOLUME = Code("118565006", "SCT", "Volume")
MAXIMUM, MEAN = Code("56851009", "SCT", "Maximum"), Code("373098007", "SCT", "Mean")
PEAK = Code("126031", "DCM", "Peak Value Within ROI")
TIA = Code("TIA", "99SSTRKIT", "Time-integrated activity")
BED = Code("BED", "99SSTRKIT", "Biologically effective dose")
PET_REPORT = Code("126003", "DCM", "PET Measurement Report")
UNITS = {
    "suv": Code("{SUVbw}g/ml", "UCUM", "Standardized Uptake Value body weight"),
    "ml": Code("mL", "UCUM", "milliliter"),
    "gy": Code("Gy", "UCUM", "gray"),
    "mbq_h": Code("MBq.h", "UCUM", "megabecquerel hour"),
}


@dataclass(frozen=True)
class SegmentRef:
    """A segment of a SEG instance."""

    seg: Dataset
    number: int


@dataclass(frozen=True)
class LesionValues:
    """One lesion of the reading (results.json ``stages.reading.lesions``)."""

    name: str
    suv_max: float | None
    suv_mean: float | None
    suv_peak: float | None
    volume_ml: float | None
    segment: SegmentRef


@dataclass(frozen=True)
class RegionValues:
    """One region at one time point ("cycle N" or "cumulative")."""

    name: str
    time_point: str
    tia_mbq_h: float | None = None
    dose_gy: float | None = None
    bed_gy: float | None = None
    voxel_mean_gy: float | None = None
    segment: SegmentRef | None = None


def _concept(code: Code) -> Any:
    import highdicom as hd

    return hd.sr.CodedConcept(code.value, code.scheme_designator, code.meaning)


def _measurements(items: Sequence[tuple[Code, float | None, str, Code | None]]) -> list[Any]:
    import highdicom as hd

    return [
        hd.sr.Measurement(
            name=_concept(name),
            value=float(value),
            unit=_concept(UNITS[unit]),
            derivation=None if derivation is None else _concept(derivation),
        )
        for name, value, unit, derivation in items
        if value is not None
    ]


def _referenced(ref: SegmentRef) -> Any:
    import highdicom as hd

    seg = ref.seg
    return hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=ref.number,
        source_series=hd.sr.SourceSeriesForSegmentation(
            seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        ),
    )


def _tracking(uid_root: str, identifier: str) -> Any:
    import highdicom as hd

    return hd.sr.TrackingIdentifier(
        uid=generate_uid(entropy_srcs=[uid_root, identifier]), identifier=identifier[:64]
    )


def _lesion_group(lesion: LesionValues, uid_root: str) -> Any:
    import highdicom as hd

    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(uid_root, lesion.name),
        referenced_segment=_referenced(lesion.segment),
        finding_type=_concept(codes.SCT.Neoplasm),
        time_point_context=hd.sr.TimePointContext(time_point="baseline SSTR PET"),
        measurements=_measurements(
            [
                (SUV_BW, lesion.suv_max, "suv", MAXIMUM),
                (SUV_BW, lesion.suv_mean, "suv", MEAN),
                (SUV_BW, lesion.suv_peak, "suv", PEAK),
                (VOLUME, lesion.volume_ml, "ml", None),
            ]
        ),
    )


def _region_group(region: RegionValues, uid_root: str) -> Any:
    import highdicom as hd

    measurements = _measurements(
        [
            (TIA, region.tia_mbq_h, "mbq_h", None),
            (ABSORBED_DOSE, region.dose_gy, "gy", None),
            (BED, region.bed_gy, "gy", None),
            (MEAN_ABSORBED_DOSE, region.voxel_mean_gy, "gy", None),
        ]
    )
    tracking = _tracking(uid_root, f"{region.name} {region.time_point}")
    context = hd.sr.TimePointContext(time_point=region.time_point)
    if region.segment is None:
        return hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, time_point_context=context, measurements=measurements
        )
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=tracking,
        referenced_segment=_referenced(region.segment),
        time_point_context=context,
        measurements=measurements,
    )


def measurement_report(
    lesions: Sequence[LesionValues],
    regions: Sequence[RegionValues],
    evidence: Sequence[Dataset],
    *,
    uids: tuple[str, str],
    series_number: int = 904,
    procedures: Mapping[str, Code] | None = None,
) -> Dataset:
    """The TID 1500 SR (module docstring); patient and study are ``evidence[0]``'s."""
    import highdicom as hd

    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(entropy_srcs=["sstrkit", __version__]),
            name="sstrkit",
            manufacturer_name="sstrkit",
            model_name=EXPORT_MODEL_NAME,
        ),
    )
    groups = [_lesion_group(les, uids[1]) for les in lesions]
    groups += [_region_group(reg, uids[1]) for reg in regions]
    procedure = list((procedures or {"pet": codes.cid100.PETWholeBody}).values())
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=device),
        procedure_reported=procedure,
        imaging_measurements=groups,
        title=PET_REPORT,
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=list(evidence),
        content=report,
        series_instance_uid=uids[0],
        series_number=series_number,
        sop_instance_uid=uids[1],
        instance_number=1,
        manufacturer="sstrkit",
        is_complete=True,
        is_final=False,
        series_description="sstrkit dosimetry measurement report",
    )
    sr.ManufacturerModelName = EXPORT_MODEL_NAME
    sr.SoftwareVersions = __version__
    scheme = Dataset()
    scheme.CodingSchemeDesignator = "99SSTRKIT"
    scheme.CodingSchemeName = "sstrkit local codes (TIA, BED)"
    scheme.CodingSchemeResponsibleOrganization = "sstrkit"
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr
