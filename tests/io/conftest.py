"""Synthetic DICOM factories for the io tests (files written by the tests themselves)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PET_SOP = "1.2.840.10008.5.1.4.1.1.128"

#: Defaults of the synthetic PET: 400 MBq injected at 09:00, scan at 10:00, half-life 3600 s,
#: 80 kg, so the dose decayed to the scan is exactly 200 MBq and SUVbw = C × 80000 / 2e8.
DEFAULTS: dict[str, Any] = {
    "Units": "BQML",
    "DecayCorrection": "START",
    "CorrectedImage": ["DECY", "ATTN"],
    "SeriesDate": "20260105",
    "SeriesTime": "100000",
    "AcquisitionDate": "20260105",
    "AcquisitionTime": "100000",
    "PatientWeight": "80",
    "PatientSize": "1.80",
    "PatientSex": "M",
}
RADIO_DEFAULTS: dict[str, Any] = {
    "RadionuclideTotalDose": "400000000",
    "RadiopharmaceuticalStartTime": "090000",
    "RadionuclideHalfLife": "3600",
}


def make_slice(
    path: Path,
    stored: np.ndarray,
    *,
    z: float,
    series_uid: str,
    slope: float = 1.0,
    intercept: float = 0.0,
    attrs: dict[str, Any] | None = None,
    radio: dict[str, Any] | None = None,
    sop_class: str = PET_SOP,
    modality: str = "PT",
    iop: Sequence[float] = (1, 0, 0, 0, 1, 0),
    ipp_xy: tuple[float, float] = (-10.0, -20.0),
    hook: Callable[[Dataset], None] | None = None,
) -> Path:
    """One PET-like slice; attrs/radio entries set to None are removed."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = "1.2.3.4"
    ds.FrameOfReferenceUID = "1.2.3.4.5"
    ds.PatientID = "P1"
    ds.ImageOrientationPatient = [str(v) for v in iop]
    ds.ImagePositionPatient = [str(ipp_xy[0]), str(ipp_xy[1]), str(z)]
    ds.PixelSpacing = ["2.0", "3.0"]  # row spacing (y) 2 mm, column spacing (x) 3 mm
    ds.RescaleSlope = str(slope)
    ds.RescaleIntercept = str(intercept)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    for k, v in {**DEFAULTS, **(attrs or {})}.items():
        if v is not None:
            setattr(ds, k, v)
    item = Dataset()
    for k, v in {**RADIO_DEFAULTS, **(radio or {})}.items():
        if v is not None:
            setattr(item, k, v)
    ds.RadiopharmaceuticalInformationSequence = DicomSequence([item])
    ds.PixelData = np.ascontiguousarray(stored, dtype="<i2").tobytes()
    if hook is not None:
        hook(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


PetFactory = Callable[..., list[Path]]


@pytest.fixture
def make_pet(tmp_path: Path) -> PetFactory:
    """Write a small PET series; returns the files (in a shuffled-name order)."""

    def factory(
        values: np.ndarray | None = None,
        *,
        folder: str = "pet",
        slopes: Sequence[float] | None = None,
        z0: float = 50.0,
        dz: float = 4.0,
        attrs: dict[str, Any] | None = None,
        radio: dict[str, Any] | None = None,
        per_slice: Sequence[dict[str, Any]] | None = None,
        series_uid: str | None = None,
        **kw: Any,
    ) -> list[Path]:
        stored = values if values is not None else np.full((3, 4, 5), 5000, dtype=np.int16)
        out = tmp_path / folder
        out.mkdir(exist_ok=True)
        uid = series_uid or generate_uid()
        files = []
        n = stored.shape[0]
        for k in range(n):
            # file names in reverse slice order: the reader must sort by position
            a = {**(attrs or {}), **(per_slice[k] if per_slice else {})}
            files.append(
                make_slice(
                    # names run against the slice order (and are unique): the reader must
                    # sort by ImagePositionPatient
                    out / f"img_{int(1e6 - 10 * (z0 + dz * k)):07d}_{generate_uid()[-8:]}",
                    stored[k],
                    z=z0 + dz * k,
                    series_uid=uid,
                    slope=(slopes[k] if slopes else 1.0),
                    attrs=a,
                    radio=radio,
                    **kw,
                )
            )
        return files

    return factory
