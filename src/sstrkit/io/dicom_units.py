"""What the pixel values of a DICOM series mean: SOP class, units, rescale.

* Only CT, PET and NM image storage is read (secondary captures and RT
  objects are refused with the reader to use instead).
* ``Units`` (0054,1001) → sstrkit quantity and unit (:data:`QUANTITIES`);
  an NM Real World Value Mapping names the unit with a UCUM code; NM without
  units is counts; relative units (PROPCNTS, ...) only on request.
* Derived CT images (``ImageType`` value 1 ``DERIVED``) whose Real World Value
  Mapping names a unit other than HU carry a derived quantity
  (:func:`derived_quantity`, units :data:`DERIVED_UNITS`); their ``units`` is
  ``"DERIVED"``.
* Pixel values are ``stored × slope + intercept``: the RescaleSlope/Intercept
  of the slice, or the Real World Value Mapping of an NM series without Units.
* NM series must be reconstructed tomograms (``RECON TOMO``).

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.Modality, ds.Units = "PT", "BQML"
>>> _resolve_units(ds, False), QUANTITIES["BQML"]
('BQML', ('activity_concentration', 'Bq/mL'))
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from sstrkit.errors import DicomMetadataError
from sstrkit.io.dicom_values import _float
from sstrkit.io.discover import (
    IMAGE_SOP_CLASSES,
    RTDOSE_SOP_CLASS,
    RTSTRUCT_SOP_CLASS,
    SECONDARY_CAPTURE_PREFIX,
    units_of,
)

__all__ = [
    "DERIVED_UNITS",
    "NON_QUANTITATIVE_UNITS",
    "PRIVATE_UNIT_SCHEME",
    "QUANTITIES",
    "derived_quantity",
]

#: Units read as-is: DICOM Units (0054,1001) → (sstrkit quantity, unit).
QUANTITIES: dict[str, tuple[str, str]] = {
    "BQML": ("activity_concentration", "Bq/mL"),
    "GML": ("suv", "g/mL"),
    "CM2ML": ("suv_bsa", "cm2/mL"),
    "CNTS": ("counts", "counts"),
    "CPS": ("count_rate", "counts/s"),
    "HU": ("ct_number", "HU"),
}
#: UCUM codes of NM Real World Value Mapping units we accept.
_RWVM_UNITS = {"bq/ml": "BQML", "{counts}": "CNTS", "{counts}/s": "CPS", "g/ml{suvbw}": "GML"}
#: sstrkit unit → UCUM code (case sensitive) of derived-series Real World Value Mappings.
DERIVED_UNITS: dict[str, str] = {
    "Gy": "Gy",
    "Bq/mL": "Bq/mL",
    "Bq": "Bq",
    "MBq": "MBq",
    "Bq*s": "Bq.s",
    "Bq*s/mL": "Bq.s/mL",
    "MBq*h": "MBq.h",
    "1": "1",
    "g/mL": "g/mL",
    "cm2/mL": "cm2/mL",
    "1/s": "/s",
    "s": "s",
    "h": "h",
    "mL": "mL",
    "g": "g",
    "counts": "{counts}",
    "counts/s": "{counts}/s",
}
#: Coding scheme of units that have no UCUM code in :data:`DERIVED_UNITS` (code = unit).
PRIVATE_UNIT_SCHEME = "99SSTRKIT"
_UCUM_HU = "[hnsf'U]"
#: Relative (not quantitative) PET units.
NON_QUANTITATIVE_UNITS = frozenset({"PROPCNTS", "PROPCPS", "NONE", "PCNT"})


def _check_sop_class(info_sop: str, modality: str) -> None:
    if info_sop.startswith(SECONDARY_CAPTURE_PREFIX):
        raise DicomMetadataError(
            "SOPClassUID (0008,0016)",
            expected="CT, PET or NM image storage",
            actual=f"{info_sop} (secondary capture, modality {modality}: a screenshot, "
            "not quantitative image data)",
            fix="select the original PET/SPECT/CT series (`sstrkit dicom ls DIR` lists them)",
        )
    if info_sop in (RTSTRUCT_SOP_CLASS, RTDOSE_SOP_CLASS):
        raise DicomMetadataError(
            "SOPClassUID (0008,0016)",
            expected="CT, PET or NM image storage",
            actual=f"{info_sop} (RT object)",
            fix="read RTSTRUCT with sstrkit.io.masks and RTDOSE with sstrkit.io.dicom_write"
            ".read_rtdose",
        )
    if info_sop not in IMAGE_SOP_CLASSES:
        raise DicomMetadataError(
            "SOPClassUID (0008,0016)",
            expected=f"one of {sorted(IMAGE_SOP_CLASSES)} (CT, PET, NM image storage)",
            actual=info_sop,
            fix="convert the series to a supported SOP class",
        )


def derived_quantity(ds: Dataset) -> tuple[str, str] | None:
    """(quantity, unit) of a derived CT image with a non-HU Real World Value Mapping, or None."""
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    rwvm = ds.get("RealWorldValueMappingSequence")
    if str(ds.get("Modality", "")) != "CT" or not image_type or image_type[0] != "DERIVED":
        return None
    if not rwvm or not rwvm[0].get("MeasurementUnitsCodeSequence"):
        return None
    item = rwvm[0]
    code = item.MeasurementUnitsCodeSequence[0]
    value = str(code.get("CodeValue", "")).strip()
    scheme = str(code.get("CodingSchemeDesignator", "")).strip().upper()
    if not value or value == _UCUM_HU:
        return None
    unit = value
    if scheme == "UCUM":
        unit = {v: k for k, v in DERIVED_UNITS.items()}.get(value, value)
    quantity = str(item.get("LUTExplanation") or item.get("LUTLabel") or "derived").strip()
    return quantity, unit


def _resolve_units(ds: Dataset, allow_non_quantitative: bool) -> str:
    modality = str(ds.get("Modality", ""))
    units = units_of(ds)
    if modality == "CT":
        return "DERIVED" if derived_quantity(ds) is not None else "HU"
    if units is not None and ds.get("Units") is None:  # from an RWVM code
        mapped = _RWVM_UNITS.get(units.lower())
        if mapped is None:
            raise DicomMetadataError(
                "RealWorldValueMappingSequence > MeasurementUnitsCodeSequence (0040,08EA)",
                expected=f"one of {sorted(_RWVM_UNITS)}",
                actual=repr(units),
                fix="export the SPECT in Bq/mL or counts",
            )
        units = mapped
    if units is None:
        if modality == "NM":
            return "CNTS"  # NM without units: counts per voxel (NM Image IOD)
        raise DicomMetadataError(
            "Units (0054,1001)",
            expected="BQML, GML, CM2ML, CNTS or CPS",
            actual="absent",
            fix="the series is not labelled quantitatively; re-export it from the scanner",
        )
    if units in NON_QUANTITATIVE_UNITS and not allow_non_quantitative:
        raise DicomMetadataError(
            "Units (0054,1001)",
            expected="quantitative units (BQML, GML, CM2ML, CNTS, CPS)",
            actual=f"{units} (relative values, no activity calibration)",
            fix="use a quantitative reconstruction; to read the relative values anyway pass "
            "allow_non_quantitative=True (no Bq/mL or SUV can be derived)",
        )
    if units not in QUANTITIES and units not in NON_QUANTITATIVE_UNITS:
        raise DicomMetadataError(
            "Units (0054,1001)",
            expected=f"one of {sorted(QUANTITIES)}",
            actual=units,
            fix="unsupported units (parametric image?); convert to Bq/mL first",
        )
    return units


def _rescale(ds: Dataset) -> tuple[float, float]:
    rwvm = ds.get("RealWorldValueMappingSequence")
    if rwvm and ds.get("Units") is None:
        item = rwvm[0]
        slope = _float(item, "RealWorldValueSlope", 1.0)
        icpt = _float(item, "RealWorldValueIntercept", 0.0)
    else:
        slope = _float(ds, "RescaleSlope", 1.0)
        icpt = _float(ds, "RescaleIntercept", 0.0)
    assert slope is not None and icpt is not None
    return slope, icpt


def _check_nm_image_type(first: Dataset) -> None:
    if str(first.get("Modality")) == "NM":
        image_type = [str(v).upper() for v in (first.get("ImageType") or [])]
        if len(image_type) > 2 and ("RECON" not in image_type[2] or "GATED" in image_type[2]):
            raise DicomMetadataError(
                "ImageType (0008,0008)",
                expected="an NM reconstructed tomogram (value 3 'RECON TOMO')",
                actual="\\".join(image_type),
                fix="planar, whole-body, gated and projection NM data are not volumes; select "
                "the reconstructed SPECT series (a whole-body anterior/posterior sweep is read "
                "with sstrkit.io.planar.read_planar_wholebody; `sstrkit read` accepts both)",
            )
