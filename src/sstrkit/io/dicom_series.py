"""A series read from DICOM: the volume in native units, its header and per-slice timing.

:class:`DicomSeries` holds the volume in the series' own units (Bq/mL, SUV
g/mL, counts, HU...; :data:`~sstrkit.io.dicom_units.QUANTITIES`), the first
slice's header and a :class:`SliceMeta` per slice (rescale and the timing
:mod:`sstrkit.io.suv` needs). :func:`_finish` builds it from the rescaled
pixels and the checked geometry; it is what every read path of
:mod:`sstrkit.io.dicom_read` returns. Both classes are re-exported there.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.RescaleSlope, ds.AcquisitionTime = "2", "093000"
>>> m = _slice_meta(ds, "a.dcm", 12.5)
>>> m.rescale_slope, m.rescale_intercept, m.acquisition_time, m.position_mm
(2.0, 0.0, '093000', 12.5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from sstrkit.core.volume import Volume
from sstrkit.io.dicom_units import QUANTITIES, _rescale, derived_quantity
from sstrkit.io.dicom_values import _float
from sstrkit.io.discover import SeriesInfo

__all__ = ["DicomSeries", "SliceMeta"]


@dataclass(frozen=True)
class SliceMeta:
    """Per-slice (per-frame) values needed for quantification, in z order."""

    file: str
    position_mm: float
    rescale_slope: float
    rescale_intercept: float
    acquisition_date: str | None
    acquisition_time: str | None
    frame_reference_time_ms: float | None
    actual_frame_duration_ms: float | None


@dataclass(frozen=True)
class DicomSeries:
    """A series read from DICOM: the volume in native units plus its header.

    Attributes
    ----------
    volume
        Rescaled pixel values in the series' own units (see :data:`QUANTITIES`).
    header
        The first (most inferior along the normal) slice's dataset, without pixels.
    units
        DICOM units code (``BQML``, ``GML``, ``CM2ML``, ``CNTS``, ``CPS``, ``HU``).
    slices
        :class:`SliceMeta` per slice, in the volume's z order.
    warnings
        Findings about the series and its folder that are not errors: files
        skipped as unreadable (``skip_unreadable=True``), files a DICOMDIR
        lists that are missing, plausibility findings (e.g. fewer slices than
        ImagesInAcquisition); :mod:`sstrkit.io.suv` copies them into its results.
    skipped
        ``(file, reason)`` of every DICOM file left out because it could not be
        read (``skip_unreadable=True``); :attr:`warnings` names them too.
    """

    volume: Volume
    header: Dataset = field(repr=False)
    units: str
    slices: tuple[SliceMeta, ...] = field(repr=False)
    files: tuple[str, ...] = field(repr=False)
    warnings: tuple[str, ...] = field(default=(), repr=False)
    skipped: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def modality(self) -> str:
        return str(self.header.get("Modality", "OT"))

    @property
    def series_uid(self) -> str:
        return str(self.header.get("SeriesInstanceUID", ""))


def _slice_meta(ds: Dataset, file: str, position: float) -> SliceMeta:
    slope, icpt = _rescale(ds)
    return SliceMeta(
        file=file,
        position_mm=position,
        rescale_slope=slope,
        rescale_intercept=icpt,
        acquisition_date=str(ds.get("AcquisitionDate") or "") or None,
        acquisition_time=str(ds.get("AcquisitionTime") or "") or None,
        frame_reference_time_ms=_float(ds, "FrameReferenceTime"),
        actual_frame_duration_ms=_float(ds, "ActualFrameDuration"),
    )


def _finish(
    info: SeriesInfo,
    out: NDArray[np.float32],
    header: Dataset,
    units: str,
    slices: Sequence[SliceMeta],
    files: Sequence[str],
    row: NDArray[np.float64],
    col: NDArray[np.float64],
    normal: NDArray[np.float64],
    origin: NDArray[np.float64],
    pixel_spacing: NDArray[np.float64],
    dz: float,
) -> DicomSeries:
    if "PixelData" in header:
        header = header.copy()
        del header.PixelData
    direction = np.column_stack([row, col, normal]).ravel()
    quantity, unit = QUANTITIES.get(units, ("relative", "1"))
    derived = derived_quantity(header) if units == "DERIVED" else None
    if derived is not None:
        quantity, unit = derived
    if units == "GML":
        suv_type = str(header.get("SUVType") or "BW").upper()
        quantity = f"suv_{suv_type.lower()}"
    out.flags.writeable = False  # Volume keeps read-only arrays without copying
    volume = Volume.from_array(
        out,
        spacing=(float(pixel_spacing[1]), float(pixel_spacing[0]), float(abs(dz))),
        origin=tuple(float(v) for v in origin),
        direction=tuple(float(v) for v in direction),
        frame_of_reference_uid=str(header.get("FrameOfReferenceUID") or "") or None,
        modality=str(header.get("Modality") or "OT"),
        quantity=quantity,
        unit=unit,
        name=str(header.get("SeriesDescription") or info.series_uid),
        operation="read_dicom_series",
        parameters={
            "units": units,
            "n_slices": len(slices),
            "per_slice_rescale": len({(s.rescale_slope, s.rescale_intercept) for s in slices}) > 1,
            "sop_class_uid": info.sop_class_uid,
        },
        inputs=(info.series_uid,),
        sources=("DICOM PS3.3 C.7.6.2 Image Plane Module",),
    )
    return DicomSeries(volume, header, units, tuple(slices), tuple(files))
