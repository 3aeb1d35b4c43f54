"""Planar whole-body scintigraphy (NM, anterior + posterior views) read and written.

:func:`read_planar_wholebody` reads one whole-body sweep — the two views of a
dual-head camera in one NM multi-frame file — into a :class:`PlanarWholeBody`
in sstrkit's units: pixel values in **counts**, spacing in mm, times tz-aware,
durations in s, the administered activity in Bq, the radionuclide by its
ICRP 107 name. :func:`sstrkit.io.planar_write.write_planar_wholebody` writes the
same layout.

**What is read** (DICOM PS3.3 C.8.4, NM Image IOD):

* SOP class NM Image Storage, Modality NM, ImageType value 3 ``WHOLE BODY``
  and NumberOfFrames 2; anything else is refused with a
  :class:`~sstrkit.errors.DicomMetadataError` naming what was found and the
  reader to use instead (a reconstructed SPECT goes through
  :func:`sstrkit.io.dicom_read.read_series`, which refuses planar data in turn
  and points here).
* The view of each frame: FrameIncrementPointer → DetectorVector (0054,0020)
  gives the detector of each frame, DetectorInformationSequence (0054,0022) >
  ViewCodeSequence (0054,0220) its view. Accepted codes: SNOMED-RT ``F-10440``
  anterior / ``F-10470`` posterior (as the issue-19 contract names them) and
  SNOMED CT ``399321004`` "Anterior projection" / ``399001007`` "Posterior
  projection" (DICOM CID 26, as pydicom's concept dictionary lists them), or a
  CodeMeaning naming the view. Without view codes the DetectorVector order
  (1 = anterior, 2 = posterior) is used with a warning; without either the
  series is refused.
* Orientation: ImageOrientationPatient of each detector item. The views are
  returned as a reader reads them, rows head → feet: the **anterior** view seen
  from the front (the patient's right on the image's left, row direction +x in
  LPS) and the **posterior** view seen from behind as the camera records it
  (the patient's left on the image's left, row direction −x). A view stored
  otherwise is flipped to these conventions (recorded in ``history``); without
  ImageOrientationPatient the camera convention is assumed, with a warning.
  :meth:`PlanarWholeBody.posterior_aligned` un-mirrors the posterior view onto
  the anterior one; :meth:`PlanarWholeBody.geometric_mean` is
  √(anterior × posterior aligned).
* Timing: ActualFrameDuration (0018,1242) in ms and/or ScanVelocity
  (0018,1300) in mm/s with ScanLength (0018,1302) in mm (the units of the NM
  Image Module; a velocity above 8 mm/s, 48 cm/min, is warned about as a
  possible cm/min value) — at least one of them, so that counts per second can
  be derived; the acquisition start from
  AcquisitionDateTime, AcquisitionDate/Time or SeriesDate/Time, in the zone of
  TimezoneOffsetFromUTC (else the offset of RadiopharmaceuticalStartDateTime,
  else UTC with a warning).
* Radiopharmaceutical: the nuclide from RadionuclideCodeSequence (CodeMeaning
  ``^111^Indium``, ``Indium^111``, ``^99m^Technetium``, ``Technetium^99m``), the
  Radiopharmaceutical name, RadionuclideTotalDose (Bq; a value below 0.1 MBq
  is read as MBq, as :mod:`sstrkit.io.suv` does) and the start date/time; the
  activity and the injection time can be given instead (keyword overrides).
* Energy windows (EnergyWindowInformationSequence, keV): for 111In both
  photopeak windows (171.3 and 245.4 keV) are summed into each frame; a window
  holding no γ line of the nuclide with ≥ 5 % yield (ICRP 107) is warned about.

**Conjugate-view caveat.** For a point source at depth d in a uniform body of
thickness T, anterior counts ∝ e^(−μd) and posterior ∝ e^(−μ(T−d)): their
geometric mean ∝ e^(−μT/2) does not depend on the depth, which is why planar
quantities are read on it (Sorenson JA, Quantitative measurement of radioactivity
in vivo by whole-body counting, in Hine & Sorenson (eds.), Instrumentation in
Nuclear Medicine vol. 2, 1974; Siegel JA et al., MIRD Pamphlet No. 16, J Nucl Med
1999;40:37S-61S). No attenuation correction (no transmission scan or body
thickness is in the header), no scatter correction (no scatter windows) and no
background subtraction is applied here: the geometric mean is proportional to
activity only up to e^(−μT/2), which varies over the body, and includes the
activity above and below each structure. :mod:`sstrkit.reading.planar` compares
lesions with liver and spleen on the GM as a reader does, and estimates
concentration ratios with a body-thickness attenuation model.

Examples
--------
>>> view_of_code("F-10440", ""), view_of_code("399001007", ""), view_of_code("", "Anterior")
('ANTERIOR', 'POSTERIOR', 'ANTERIOR')
>>> view_of_code("", "antero-posterior") is None
True
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from sstrkit.core.provenance import Step, jsonable
from sstrkit.core.units import BQ_PER_MBQ, KEV_PER_MEV, MS_PER_S, SECONDS_PER_HOUR
from sstrkit.errors import DicomMetadataError, InvalidInputError, SstrkitError
from sstrkit.io.dicom_time import parse_da_tm, parse_dt, tz_from_offset

__all__ = [
    "CONJUGATE_VIEW_SOURCES",
    "NM_IMAGE_STORAGE",
    "VIEW_CODES",
    "PlanarWholeBody",
    "is_planar_wholebody",
    "read_planar_wholebody",
    "view_of_code",
]

#: SOP class of NM images (planar, whole body and tomographic alike).
NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"

#: View codes (CodeValue → view): SNOMED-RT (issue-19 contract) and SNOMED CT (DICOM CID 26).
VIEW_CODES: dict[str, str] = {
    "F-10440": "ANTERIOR",
    "F-10470": "POSTERIOR",
    "399321004": "ANTERIOR",
    "399001007": "POSTERIOR",
}

CONJUGATE_VIEW_SOURCES = (
    "Sorenson JA. Quantitative measurement of radioactivity in vivo by whole-body counting. "
    "In: Hine GJ, Sorenson JA (eds.), Instrumentation in Nuclear Medicine, vol. 2, 1974",
    "Siegel JA et al. MIRD Pamphlet No. 16: techniques for quantitative radiopharmaceutical "
    "biodistribution data acquisition and analysis. J Nucl Med 1999;40:37S-61S",
)
_DICOM_NM = "DICOM PS3.3 C.8.4 NM Image Module (DetectorVector, ViewCodeSequence)"

#: A dose below this (in the header) can only be MBq (as io.suv reads RadionuclideTotalDose).
_MIN_DOSE_BQ = 1e5


def view_of_code(code_value: str, code_meaning: str) -> str | None:
    """``"ANTERIOR"``/``"POSTERIOR"`` for a view code (value first, then its meaning)."""
    value = VIEW_CODES.get(str(code_value).strip())
    if value is not None:
        return value
    words = re.findall(r"[a-z]+", str(code_meaning).lower())
    ant = any(w.startswith("anter") for w in words)
    post = any(w.startswith("poster") for w in words)
    if any("obl" in w for w in words) or ant == post:
        return None
    return "ANTERIOR" if ant else "POSTERIOR"


@dataclass(frozen=True, eq=False)
class PlanarWholeBody:
    """One planar whole-body study: two views in counts, their geometry, timing and tracer.

    ``anterior`` is the view from the front (patient's right on the image's left),
    ``posterior`` the view from behind as the camera records it (patient's left on
    the image's left); rows run head → feet in both. Arrays are read-only float32
    counts. ``pixel_spacing_mm`` is (row, column) spacing; ``frame_duration_s`` the
    sweep duration (ActualFrameDuration) and ``scan_speed_mm_per_s`` /
    ``scan_length_mm`` the bed motion, when the header gives them.
    """

    anterior: NDArray[np.float32] = field(repr=False)
    posterior: NDArray[np.float32] = field(repr=False)
    pixel_spacing_mm: tuple[float, float]
    frame_duration_s: float | None
    scan_speed_mm_per_s: float | None
    scan_length_mm: float | None
    radionuclide: str
    tracer: str | None
    injected_activity_bq: float
    injection_time: _dt.datetime
    acquisition_time: _dt.datetime
    energy_windows_kev: tuple[tuple[float, float], ...] = ()
    view_labels: tuple[str, str] = ("ANTERIOR", "POSTERIOR")
    series_uid: str = ""
    series_description: str = ""
    patient_id: str = ""
    patient_weight_kg: float | None = None
    patient_sex: str | None = None
    warnings: tuple[str, ...] = ()
    history: tuple[Step, ...] = ()

    def __post_init__(self) -> None:
        a = np.asarray(self.anterior, dtype=np.float32)
        p = np.asarray(self.posterior, dtype=np.float32)
        if a.ndim != 2 or a.shape != p.shape:
            raise InvalidInputError(
                "planar views",
                expected="two 2-D arrays of one shape (anterior, posterior)",
                actual=f"{a.shape} and {p.shape}",
            )
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(p))) or a.min() < 0 or p.min() < 0:
            raise InvalidInputError(
                "planar views", expected="finite counts >= 0", actual="negative or non-finite"
            )
        for t, what in ((self.injection_time, "injection"), (self.acquisition_time, "acquisition")):
            if t.tzinfo is None or t.utcoffset() is None:
                raise InvalidInputError(
                    f"{what} time", expected="a tz-aware datetime", actual=t.isoformat()
                )
        if not (math.isfinite(self.injected_activity_bq) and self.injected_activity_bq > 0):
            raise InvalidInputError(
                "injected activity", expected="> 0 Bq", actual=self.injected_activity_bq
            )
        for arr, name in ((a, "anterior"), (p, "posterior")):
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of each view."""
        return (int(self.anterior.shape[0]), int(self.anterior.shape[1]))

    @property
    def hours_post_injection(self) -> float:
        """Time from the injection to the start of the sweep, in hours (an edge unit)."""
        return (self.acquisition_time - self.injection_time).total_seconds() / SECONDS_PER_HOUR

    @property
    def acquisition_duration_s(self) -> float | None:
        """Sweep duration: ActualFrameDuration, else ScanLength / ScanVelocity."""
        if self.frame_duration_s is not None:
            return self.frame_duration_s
        if self.scan_speed_mm_per_s and self.scan_length_mm:
            return self.scan_length_mm / self.scan_speed_mm_per_s
        return None

    def posterior_aligned(self) -> NDArray[np.float32]:
        """The posterior view un-mirrored onto the anterior one (same pixel = same body column)."""
        out = np.ascontiguousarray(self.posterior[:, ::-1])
        out.flags.writeable = False
        return out

    def geometric_mean(self) -> NDArray[np.float32]:
        """√(anterior × posterior aligned), in counts (conjugate-view mean; module docstring)."""
        gm = np.sqrt(self.anterior.astype(np.float64) * self.posterior_aligned())
        out = gm.astype(np.float32)
        out.flags.writeable = False
        return out

    def counts_per_second(self, view: NDArray[np.float32]) -> NDArray[np.float64]:
        """``view`` divided by the sweep duration (counts/s per pixel over the whole sweep)."""
        duration = self.acquisition_duration_s
        if duration is None or duration <= 0:
            raise InvalidInputError(
                "planar sweep duration",
                expected="ActualFrameDuration or ScanLength/ScanVelocity",
                actual="absent",
            )
        return np.asarray(view, dtype=np.float64) / duration

    def to_dict(self) -> dict[str, Any]:
        """The study's description (no pixel data) for JSON."""
        return {
            "series_uid": self.series_uid,
            "series_description": self.series_description,
            "shape": list(self.shape),
            "pixel_spacing_mm": list(self.pixel_spacing_mm),
            "frame_duration_s": self.frame_duration_s,
            "scan_speed_mm_per_s": self.scan_speed_mm_per_s,
            "scan_length_mm": self.scan_length_mm,
            "radionuclide": self.radionuclide,
            "tracer": self.tracer,
            "injected_activity_bq": self.injected_activity_bq,
            "injection_time": self.injection_time.isoformat(),
            "acquisition_time": self.acquisition_time.isoformat(),
            "hours_post_injection": round(self.hours_post_injection, 3),
            "energy_windows_kev": [list(w) for w in self.energy_windows_kev],
            "view_labels": list(self.view_labels),
            "counts": {
                "anterior_total": float(self.anterior.sum(dtype=np.float64)),
                "posterior_total": float(self.posterior.sum(dtype=np.float64)),
            },
            "warnings": list(self.warnings),
            "history": [jsonable(s) for s in self.history],
        }


# --------------------------------------------------------------------------- reading
def read_planar_wholebody(
    path: str | os.PathLike[str],
    *,
    series_uid: str | None = None,
    injected_activity_bq: float | None = None,
    injection_time: _dt.datetime | None = None,
) -> PlanarWholeBody:
    """Read a planar whole-body NM series (two views) into a :class:`PlanarWholeBody`.

    ``path`` is the series' file or a folder (searched recursively; ``series_uid``
    picks one of several whole-body series). ``injected_activity_bq`` and
    ``injection_time`` (tz-aware) replace or supply the header's administration.
    """
    file = _planar_file(Path(path), series_uid)
    try:
        ds = pydicom.dcmread(file)
    except (InvalidDicomError, OSError, ValueError, KeyError, EOFError) as exc:
        raise DicomMetadataError(
            f"file {file}", expected="a readable DICOM file", actual=f"{type(exc).__name__}: {exc}"
        ) from None
    _check_planar(ds, str(file))
    warnings: list[str] = []
    frames = _frames(ds, str(file))
    views = _views(ds, warnings)
    by_view = {views[k]: frames[k] for k in range(2)}
    steps: list[Step] = []
    ant = _orient(by_view["ANTERIOR"], _view_iop(ds, views, "ANTERIOR"), +1.0, "anterior",
                  warnings, steps)  # fmt: skip
    post = _orient(by_view["POSTERIOR"], _view_iop(ds, views, "POSTERIOR"), -1.0, "posterior",
                   warnings, steps)  # fmt: skip
    spacing = _spacing(ds, str(file))
    duration, speed, length = _timing(ds, str(file), warnings)
    tz = _zone(ds, warnings)
    acquired = _acquisition_time(ds, tz, str(file))
    admin = _administration(ds, tz, acquired, injected_activity_bq, injection_time, warnings)
    windows = _energy_windows(ds)
    warnings += _window_warnings(windows, admin["nuclide"])
    weight = _positive(ds.get("PatientWeight"))
    steps.insert(
        0,
        Step.make(
            "read_planar_wholebody",
            {
                "file": str(file),
                "views": list(views),
                "frame_duration_s": duration,
                "scan_speed_mm_per_s": speed,
                "nuclide_source": admin["nuclide_source"],
                "activity_source": admin["activity_source"],
                "injection_source": admin["injection_source"],
            },
            inputs=(str(ds.get("SeriesInstanceUID", "")),),
            sources=(_DICOM_NM,),
        ),
    )
    return PlanarWholeBody(
        anterior=ant,
        posterior=post,
        pixel_spacing_mm=spacing,
        frame_duration_s=duration,
        scan_speed_mm_per_s=speed,
        scan_length_mm=length,
        radionuclide=admin["nuclide"],
        tracer=admin["tracer"],
        injected_activity_bq=admin["activity_bq"],
        injection_time=admin["injection_time"],
        acquisition_time=acquired,
        energy_windows_kev=tuple(windows),
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        series_description=str(ds.get("SeriesDescription", "") or ""),
        patient_id=str(ds.get("PatientID", "") or ""),
        patient_weight_kg=weight,
        patient_sex=_sex(ds),
        warnings=tuple(dict.fromkeys(warnings)),
        history=tuple(steps),
    )


def is_planar_wholebody(ds: Dataset) -> bool:
    """True for an NM dataset whose ImageType value 3 says WHOLE BODY."""
    image_type = [str(v).strip().upper() for v in (ds.get("ImageType") or [])]
    return str(ds.get("Modality", "")).upper() == "NM" and (
        len(image_type) > 2 and "WHOLE BODY" in image_type[2]
    )


def _planar_file(path: Path, series_uid: str | None) -> Path:
    """The one file of the planar series at ``path`` (a file, or a folder searched)."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise InvalidInputError(
            "planar series", expected="a DICOM file or folder", actual=str(path),
            fix="pass the folder or file of the whole-body series",
        )  # fmt: skip
    from sstrkit.io.discover import discover, select_series

    found = discover(path)
    planar = []
    for s in found.series:
        try:
            if s.modality.upper() == "NM" and is_planar_wholebody(s.header(0)):
                planar.append(s)
        except SstrkitError:
            continue
    if not planar:
        listing = "; ".join(
            f"{s.modality} '{s.description or 'no description'}' ({s.sop_class_name})"
            for s in found.series
        )
        raise DicomMetadataError(
            f"folder {path}",
            expected="a planar whole-body NM series (ImageType value 3 WHOLE BODY, two views)",
            actual=listing or "no DICOM series",
            fix="point to the whole-body scan; a reconstructed SPECT or a PET is read with "
            "`sstrkit read` / sstrkit.io.dicom_read.read_series",
        )
    info = select_series(planar, series_uid=series_uid)
    if info.n_files != 1:
        raise DicomMetadataError(
            f"whole-body series {info.series_uid}",
            expected="one multi-frame file holding both views",
            actual=f"{info.n_files} files",
            fix="export the whole-body scan as one NM multi-frame object (both views)",
        )
    return Path(info.files[0])


def _check_planar(ds: Dataset, where: str) -> None:
    """Refuse what is not a two-view whole-body NM image (typed errors with the fix)."""
    sop = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", ""))
    if sop != NM_IMAGE_STORAGE or modality.upper() != "NM":
        raise DicomMetadataError(
            f"SOPClassUID / Modality of {where}",
            expected="NM Image Storage (1.2.840.10008.5.1.4.1.1.20), Modality NM",
            actual=f"{sop or 'none'}, {modality or 'none'}",
            fix="a PET or CT is not a planar scintigraphy; read it with `sstrkit read` or "
            "sstrkit.io.dicom_read.read_series",
        )
    image_type = [str(v).strip().upper() for v in (ds.get("ImageType") or [])]
    if not is_planar_wholebody(ds):
        recon = len(image_type) > 2 and "RECON" in image_type[2]
        raise DicomMetadataError(
            f"ImageType (0008,0008) of {where}",
            expected="value 3 WHOLE BODY (a planar whole-body sweep)",
            actual="\\".join(image_type) or "absent",
            fix="a reconstructed SPECT is read with sstrkit.io.dicom_read.read_series "
            "(`sstrkit read` accepts both)"
            if recon
            else "export the whole-body sweep (anterior and posterior views)",
        )
    n = int(ds.get("NumberOfFrames") or 1)
    if n != 2:
        raise DicomMetadataError(
            f"NumberOfFrames (0028,0008) of {where}",
            expected="2 (one anterior and one posterior view)",
            actual=n,
            fix="export both views of the whole-body sweep in one object; a single-view or "
            "multi-window export is not read",
        )


def _frames(ds: Dataset, where: str) -> list[NDArray[np.float32]]:
    """The two frames in counts (stored × RescaleSlope + RescaleIntercept when present)."""
    try:
        px = np.asarray(ds.pixel_array)
    except (ValueError, AttributeError, TypeError, RuntimeError) as exc:
        raise DicomMetadataError(
            f"PixelData of {where}",
            expected="two readable frames",
            actual=f"{type(exc).__name__}: {exc}",
            fix="export the series again from the camera or archive",
        ) from None
    if px.ndim != 3 or px.shape[0] != 2:
        raise DicomMetadataError(
            f"PixelData of {where}", expected="2 frames of Rows × Columns", actual=px.shape
        )
    slope = _positive(ds.get("RescaleSlope")) or 1.0
    icpt = float(ds.get("RescaleIntercept") or 0.0)
    out = [px[k].astype(np.float32) * np.float32(slope) + np.float32(icpt) for k in range(2)]
    if min(float(f.min()) for f in out) < 0:
        raise DicomMetadataError(
            f"pixel values of {where}",
            expected="counts >= 0",
            actual="negative values after rescaling",
            fix="check RescaleSlope/RescaleIntercept of the export",
        )
    return out


def _views(ds: Dataset, warnings: list[str]) -> tuple[str, str]:
    """The view of frame 1 and frame 2 (ViewCodeSequence per detector, else DetectorVector)."""
    dets = list(ds.get("DetectorInformationSequence") or [])
    vector_raw = ds.get("DetectorVector")
    vector = [int(v) for v in vector_raw] if vector_raw is not None else None
    if vector is not None and (len(vector) != 2 or sorted(vector) != [1, 2]):
        raise DicomMetadataError(
            "DetectorVector (0054,0020)",
            expected="[1, 2] or [2, 1] (one frame per detector)",
            actual=vector,
            fix="export the two detector views of one sweep",
        )
    coded: list[str | None] = []
    for item in dets[:2]:
        codes = item.get("ViewCodeSequence") or []
        coded.append(
            view_of_code(str(codes[0].get("CodeValue", "")), str(codes[0].get("CodeMeaning", "")))
            if codes
            else None
        )
    order = vector or [1, 2]
    if len(coded) == 2 and None not in coded:
        views = tuple(coded[d - 1] for d in order)
        if sorted(v for v in views if v) != ["ANTERIOR", "POSTERIOR"]:
            raise DicomMetadataError(
                "ViewCodeSequence (0054,0220)",
                expected="one ANTERIOR and one POSTERIOR detector",
                actual=list(views),
                fix="this reader takes the conjugate anterior/posterior pair of a whole-body sweep",
            )
        return (str(views[0]), str(views[1]))
    if vector is None:
        raise DicomMetadataError(
            "ViewCodeSequence (0054,0220) / DetectorVector (0054,0020)",
            expected="the view of each frame (view codes, or the detector of each frame)",
            actual="neither",
            fix="export the whole-body series with its detector information",
        )
    warnings.append(
        "no view codes (ViewCodeSequence) for the detectors: the frames are taken as detector 1 "
        "= ANTERIOR, detector 2 = POSTERIOR (DetectorVector order); check the views"
    )
    by_detector = {1: "ANTERIOR", 2: "POSTERIOR"}
    return (by_detector[vector[0]], by_detector[vector[1]])


def _view_iop(ds: Dataset, views: tuple[str, str], view: str) -> list[float] | None:
    """ImageOrientationPatient of the detector recording ``view`` (else the top level)."""
    dets = list(ds.get("DetectorInformationSequence") or [])
    vector_raw = ds.get("DetectorVector")
    vector = [int(v) for v in vector_raw] if vector_raw is not None else [1, 2]
    det = vector[views.index(view)]
    item = dets[det - 1] if len(dets) >= det else None
    for src in (item, ds):
        iop = src.get("ImageOrientationPatient") if src is not None else None
        if iop is not None and len(iop) == 6:
            return [float(v) for v in iop]
    return None


def _orient(
    frame: NDArray[np.float32],
    iop: list[float] | None,
    row_x: float,
    name: str,
    warnings: list[str],
    steps: list[Step],
) -> NDArray[np.float32]:
    """Flip ``frame`` so that its row direction has x sign ``row_x`` and rows run head → feet."""
    if iop is None:
        warnings.append(
            f"no ImageOrientationPatient for the {name} view: the camera convention is assumed "
            "(anterior with the patient's right on the left, posterior mirrored, head at the top)"
        )
        return frame
    row, col = np.asarray(iop[:3]), np.asarray(iop[3:])
    flips: list[str] = []
    out = frame
    if abs(row[0]) > 0.5 and np.sign(row[0]) != np.sign(row_x):
        out, flips = out[:, ::-1], [*flips, "left-right"]
    if abs(col[2]) > 0.5 and col[2] > 0:
        out, flips = out[::-1, :], [*flips, "head-feet"]
    if flips:
        steps.append(
            Step.make(
                "orient_planar_view",
                {"view": name, "flips": flips, "image_orientation_patient": iop},
                sources=(_DICOM_NM,),
            )
        )
    return np.ascontiguousarray(out)


def _positive(value: Any) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def _sex(ds: Dataset) -> str | None:
    """PatientSex (0010,0040) as ``"M"``/``"F"``, else None."""
    value = str(ds.get("PatientSex", "") or "").strip().upper()
    return value if value in ("M", "F") else None


def _spacing(ds: Dataset, where: str) -> tuple[float, float]:
    ps = ds.get("PixelSpacing")
    vals = [_positive(v) for v in ps] if ps is not None and len(ps) == 2 else []
    if len(vals) != 2 or None in vals:
        raise DicomMetadataError(
            f"PixelSpacing (0028,0030) of {where}",
            expected="the row and column spacing in mm (> 0)",
            actual=ps,
            fix="export the whole-body series with its pixel spacing",
        )
    return (float(vals[0] or 0.0), float(vals[1] or 0.0))


#: Fastest usual whole-body bed speed (mm/s): 48 cm/min (sweeps run at 8-30 cm/min).
_MAX_USUAL_SPEED_MM_S = 8.0


def _timing(
    ds: Dataset, where: str, warnings: list[str]
) -> tuple[float | None, float | None, float | None]:
    """Sweep duration (s), scan speed (mm/s), scan length (mm); at least duration or speed."""
    duration_ms = _positive(ds.get("ActualFrameDuration"))
    speed = _positive(ds.get("ScanVelocity"))
    length = _positive(ds.get("ScanLength"))
    if duration_ms is None and speed is None:
        raise DicomMetadataError(
            f"ActualFrameDuration (0018,1242) / ScanVelocity (0018,1300) of {where}",
            expected="the sweep duration (ms) or the bed speed (mm/s)",
            actual="neither",
            fix="export the whole-body series with its acquisition timing; counts per second "
            "cannot be derived without it",
        )
    if speed is not None and speed > _MAX_USUAL_SPEED_MM_S:
        warnings.append(
            f"ScanVelocity {speed:g} mm/s ({speed * 6:g} cm/min) is faster than usual whole-body "
            "sweeps: check whether the header holds cm/min instead of mm/s"
        )
    duration = duration_ms / MS_PER_S if duration_ms is not None else None
    return duration, speed, length


def _zone(ds: Dataset, warnings: list[str]) -> _dt.tzinfo:
    off = ds.get("TimezoneOffsetFromUTC")
    if off:
        return tz_from_offset(str(off))
    item = _radiopharm_item(ds)
    start = str(item.get("RadiopharmaceuticalStartDateTime") or "") if item is not None else ""
    m = re.search(r"([+-]\d{4})$", start)
    if m:
        return tz_from_offset(m.group(1))
    warnings.append(
        "no TimezoneOffsetFromUTC: times are read as UTC (hours after injection are not affected)"
    )
    return _dt.UTC


def _acquisition_time(ds: Dataset, tz: _dt.tzinfo, where: str) -> _dt.datetime:
    adt = ds.get("AcquisitionDateTime")
    if adt:
        return parse_dt(str(adt), tz, tag="AcquisitionDateTime (0008,002A)")
    for date_kw, time_kw in (("AcquisitionDate", "AcquisitionTime"), ("SeriesDate", "SeriesTime")):
        d, t = ds.get(date_kw), ds.get(time_kw)
        if d and t:
            return parse_da_tm(str(d), str(t), tz, tag=f"{date_kw}/{time_kw}")
    raise DicomMetadataError(
        f"AcquisitionDate/AcquisitionTime (0008,0022/0032) of {where}",
        expected="the start of the sweep",
        actual="absent (nor SeriesDate/SeriesTime)",
        fix="export the series with its acquisition date and time",
    )


def _radiopharm_item(ds: Dataset) -> Dataset | None:
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    return seq[0] if seq else None


def _administration(
    ds: Dataset,
    tz: _dt.tzinfo,
    acquired: _dt.datetime,
    activity_override: float | None,
    injection_override: _dt.datetime | None,
    warnings: list[str],
) -> dict[str, Any]:
    """Nuclide, tracer, activity (Bq) and injection time, with where each came from."""
    from sstrkit.io import plausibility
    from sstrkit.io.suv_nuclide import _identify_nuclide

    item = _radiopharm_item(ds)
    nuclide, nuclide_source = _identify_nuclide(ds, None)
    if nuclide is None:
        raise DicomMetadataError(
            "RadionuclideCodeSequence (0054,0300)",
            expected="the radionuclide (e.g. ^111^Indium, ^99m^Technetium)",
            actual="absent or not recognised",
            fix="export the series with its RadiopharmaceuticalInformationSequence",
        )
    tracer = str(item.get("Radiopharmaceutical") or "") or None if item is not None else None
    if activity_override is not None:
        activity, activity_source = float(activity_override), "override"
    else:
        dose = _positive(item.get("RadionuclideTotalDose")) if item is not None else None
        if dose is None:
            raise DicomMetadataError(
                "RadionuclideTotalDose (0018,1074)",
                expected="the administered activity in Bq",
                actual="absent",
                fix="pass injected_activity_bq=... (CLI: the clinical data's administration)",
            )
        activity, activity_source = dose, "RadionuclideTotalDose (0018,1074)"
        if dose < _MIN_DOSE_BQ:
            activity, activity_source = (
                dose * BQ_PER_MBQ,
                activity_source + f" = {dose:g}, read as MBq",
            )
    warnings += plausibility.check_activity(
        activity, nuclide, what="administered activity", nuclide_source=nuclide_source,
        override=activity_override is not None,
    )  # fmt: skip
    injected, injection_source = _injection(item, tz, acquired, injection_override)
    if injected is None:
        raise DicomMetadataError(
            "RadiopharmaceuticalStartDateTime (0018,1078)",
            expected="the administration time",
            actual="absent (nor RadiopharmaceuticalStartTime)",
            fix="pass injection_time=... (a tz-aware datetime)",
        )
    if injected >= acquired:
        raise DicomMetadataError(
            "administration time",
            expected=f"before the acquisition {acquired.isoformat()}",
            actual=injected.isoformat(),
            fix="correct the administration time (RadiopharmaceuticalStartDateTime)",
        )
    return {
        "nuclide": nuclide,
        "nuclide_source": nuclide_source,
        "tracer": tracer,
        "activity_bq": activity,
        "activity_source": activity_source,
        "injection_time": injected,
        "injection_source": injection_source,
    }


def _injection(
    item: Dataset | None, tz: _dt.tzinfo, acquired: _dt.datetime, override: _dt.datetime | None
) -> tuple[_dt.datetime | None, str]:
    if override is not None:
        if override.tzinfo is None or override.utcoffset() is None:
            raise InvalidInputError(
                "injection_time", expected="a tz-aware datetime", actual=override.isoformat()
            )
        return override, "override"
    if item is None:
        return None, ""
    start_dt = item.get("RadiopharmaceuticalStartDateTime")
    if start_dt:
        return parse_dt(str(start_dt), tz), "RadiopharmaceuticalStartDateTime (0018,1078)"
    start_tm = item.get("RadiopharmaceuticalStartTime")
    if not start_tm:
        return None, ""
    t = parse_da_tm(acquired.strftime("%Y%m%d"), str(start_tm), acquired.tzinfo or tz)
    if t > acquired:  # a time of day after the scan: the day before (planar at 24 h)
        t -= _dt.timedelta(days=1)
    return t, "RadiopharmaceuticalStartTime (0018,1072), latest day before the scan"


def _energy_windows(ds: Dataset) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for item in ds.get("EnergyWindowInformationSequence") or []:
        for rng in item.get("EnergyWindowRangeSequence") or []:
            lo, hi = (
                _positive(rng.get("EnergyWindowLowerLimit")),
                _positive(rng.get("EnergyWindowUpperLimit")),
            )
            if lo is not None and hi is not None and hi > lo:
                out.append((lo, hi))
    return out


def _window_warnings(windows: Sequence[tuple[float, float]], nuclide: str) -> list[str]:
    """A warning per window holding no γ line (≥ 5 % yield, ICRP 107) of ``nuclide``."""
    if not windows:
        return ["no energy windows in the header (EnergyWindowInformationSequence)"]
    from sstrkit.physics.nuclides import get_nuclide

    try:
        lines = [e * KEV_PER_MEV for e, _ in get_nuclide(nuclide).gammas(0.05)]
    except SstrkitError:
        return []
    return [
        f"energy window {lo:g}-{hi:g} keV holds no {nuclide} photopeak (ICRP 107 lines "
        f"{', '.join(f'{e:.1f}' for e in lines)} keV): check the window or the nuclide"
        for lo, hi in windows
        if not any(lo <= e <= hi for e in lines)
    ]
