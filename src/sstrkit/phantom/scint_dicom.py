"""DICOM of the digital patient's planar whole-body scintigraphy (NM, two frames).

:func:`write_planar_wholebody` writes one NM Image Storage file per whole-body scan:

* ImageType ``ORIGINAL\\PRIMARY\\WHOLE BODY\\EMISSION``; NumberOfFrames 2 with
  FrameIncrementPointer → (EnergyWindowVector (0054,0010), DetectorVector (0054,0020)), as
  the NM Multi-frame Module requires for WHOLE BODY: EnergyWindowVector [1, 1],
  DetectorVector [1, 2]: frame 1 the anterior view, frame 2 the posterior view;
  NumberOfDetectors 2.
* DetectorInformationSequence, one item per head: ViewCodeSequence (DICOM CID 26,
  SNOMED CT: ``399321004`` "anterior projection", ``399001007`` "posterior projection",
  scheme ``SCT``), ImageOrientationPatient and ImagePositionPatient of the stored frame (the
  posterior frame is stored mirrored, as the posterior camera sees the patient: its rows run
  towards the patient's right), CollimatorGridName/CollimatorType ``PARA``,
  FieldOfViewShape ``RECTANGLE`` and FieldOfViewDimensions = [axial length along the scan,
  transaxial width] (mm).
* PixelSpacing (row, column; mm), Rows × Columns (1024 × 256), uint16 raw counts.
* Whole-body timing: ScanVelocity (0018,1300) in mm/s and ScanLength (0018,1302) in mm (the
  units of the DICOM NM Image Module), WholeBodyTechnique ``1PS``, ActualFrameDuration (ms) =
  ScanLength / ScanVelocity; a point is seen for FieldOfViewDimensions[0] / ScanVelocity
  seconds (the dwell time), so counts / dwell time are counts per second.
* EnergyWindowInformationSequence: one energy window (NumberOfEnergyWindows 1), the sum of
  the photopeak windows, with one EnergyWindowRangeSequence item (lower, upper keV) per
  photopeak (two for 111In: 154.17-188.43 and 220.86-269.94 keV).
* RadiopharmaceuticalInformationSequence (name, RadionuclideCodeSequence as
  :data:`sstrkit.io.dicom_modules.RADIONUCLIDE_CODES`, RadionuclideTotalDose in Bq,
  RadiopharmaceuticalStartDateTime).
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from sstrkit.core.units import MS_PER_S
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_modules import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    _atomic_save,
    _base,
    _pixel_module,
    _radiopharm,
    _set_times,
    _unknown_position,
)
from sstrkit.phantom.gamma_camera import PlanarCamera, PlanarGeometry

__all__ = ["NM_SOP", "VIEW_CODES", "write_planar_wholebody"]

NM_SOP = "1.2.840.10008.5.1.4.1.1.20"
#: DICOM CID 26 (Nuclear Medicine Projection) codes, SNOMED CT: (value, meaning).
VIEW_CODES: dict[str, tuple[str, str]] = {
    "ANTERIOR": ("399321004", "anterior projection"),
    "POSTERIOR": ("399001007", "posterior projection"),
}


def _code(value: str, meaning: str, scheme: str = "SCT") -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _detector(view: str, camera: PlanarCamera, geometry: PlanarGeometry) -> Dataset:
    """One head: view code, orientation and position of its stored frame, collimator."""
    det = Dataset()
    px = camera.pixel_mm
    z0 = geometry.z_top_mm - px / 2.0
    if view == "ANTERIOR":  # rows towards the patient's left (+x), columns towards the feet
        det.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]
        x0 = geometry.x_first_mm
        y0 = geometry.y_anterior_face_mm
    else:  # mirrored: rows towards the patient's right (-x)
        det.ImageOrientationPatient = ["-1", "0", "0", "0", "0", "-1"]
        x0 = geometry.x_first_mm + px * (camera.columns - 1)
        y0 = geometry.y_posterior_face_mm
    det.ImagePositionPatient = [f"{x0:.4f}", f"{y0:.4f}", f"{z0:.4f}"]
    det.CollimatorGridName = camera.collimator
    det.CollimatorType = "PARA"
    det.FieldOfViewShape = "RECTANGLE"
    det.FieldOfViewDimensions = [
        round(camera.detector_axial_fov_mm),
        round(camera.detector_transaxial_fov_mm),
    ]
    det.ViewCodeSequence = DicomSequence([_code(*VIEW_CODES[view])])
    return det


def _energy_windows(camera: PlanarCamera) -> DicomSequence:
    """One energy window (the frames' counts) with one range per photopeak window."""
    ranges = []
    for w in camera.windows:
        rng = Dataset()
        rng.EnergyWindowLowerLimit = f"{w.lower_kev:.6g}"
        rng.EnergyWindowUpperLimit = f"{w.upper_kev:.6g}"
        ranges.append(rng)
    item = Dataset()
    item.EnergyWindowRangeSequence = DicomSequence(ranges)
    peaks = "+".join(f"{round(w.centre_kev)}" for w in camera.windows)
    item.EnergyWindowName = f"{camera.nuclide} {peaks}"[:16]  # SH: at most 16 characters
    return DicomSequence([item])


def write_planar_wholebody(
    out_path: str | os.PathLike[str],
    anterior: NDArray[np.uint16],
    posterior_stored: NDArray[np.uint16],
    *,
    patient: PatientInfo,
    study: StudyInfo,
    radiopharmaceutical: Radiopharmaceutical,
    acquisition_time: _dt.datetime,
    camera: PlanarCamera,
    geometry: PlanarGeometry,
    scan_speed_cm_min: float,
    series_uid: str,
    series_number: int,
    series_description: str,
) -> Path:
    """Write the two views (counts; the posterior frame as stored, mirrored) as one NM file."""
    ant = np.asarray(anterior)
    post = np.asarray(posterior_stored)
    shape = (camera.rows, camera.columns)
    if ant.shape != shape or post.shape != shape or ant.dtype != np.uint16 != post.dtype:
        raise InvalidInputError(
            "planar views",
            expected=f"two uint16 arrays of shape {shape}",
            actual=f"{ant.dtype} {ant.shape}, {post.dtype} {post.shape}",
        )
    ds = _base(NM_SOP, "NM", patient, study)
    _set_times(ds, acquisition_time, study)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"]
    _unknown_position(ds)
    _wholebody_acquisition(ds, camera, geometry, scan_speed_cm_min)
    ds.NumberOfEnergyWindows = 1
    ds.EnergyWindowInformationSequence = _energy_windows(camera)
    _radiopharm(ds, radiopharmaceutical)
    _pixel_module(ds, camera.rows, camera.columns, 16, False)
    ds.PixelSpacing = [f"{camera.pixel_mm:.6g}", f"{camera.pixel_mm:.6g}"]
    ds.CountsAccumulated = int(ant.sum(dtype=np.int64) + post.sum(dtype=np.int64))
    ds.PixelData = np.stack([ant, post]).astype("<u2").tobytes()
    path = Path(out_path)
    _atomic_save(ds, path)
    return path


def _wholebody_acquisition(
    ds: Any, camera: PlanarCamera, geometry: PlanarGeometry, scan_speed_cm_min: float
) -> None:
    """NM multi-frame, detector and whole-body timing attributes."""
    ds.NumberOfFrames = 2
    # WHOLE BODY frames are indexed by energy window and detector (DICOM PS3.3 C.8.4.8.1)
    ds.FrameIncrementPointer = [
        pydicom.tag.Tag("EnergyWindowVector"),
        pydicom.tag.Tag("DetectorVector"),
    ]
    ds.EnergyWindowVector = [1, 1]
    ds.DetectorVector = [1, 2]
    ds.NumberOfDetectors = 2
    ds.DetectorInformationSequence = DicomSequence(
        [_detector("ANTERIOR", camera, geometry), _detector("POSTERIOR", camera, geometry)]
    )
    speed_mm_s = scan_speed_cm_min * 10.0 / 60.0
    ds.ScanVelocity = f"{speed_mm_s:.6g}"
    ds.ScanLength = round(camera.scan_length_mm)
    ds.WholeBodyTechnique = ["1PS"]
    ds.ActualFrameDuration = str(round(camera.scan_length_mm / speed_mm_s * MS_PER_S))
