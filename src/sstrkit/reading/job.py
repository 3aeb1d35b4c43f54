"""The reading job: read an SSTR PET and write its outputs, for ``sstrkit read`` and ``run``.

:func:`run_reading_job` reads the volumes of :class:`ReadingInputs` with
:func:`~sstrkit.reading.reader.read_sstr_pet` and writes, through
:func:`write_reading_outputs`, what :class:`ReadingOutputs` asks for into one folder
(index key in ``reading.json``; when):

* ``lesions.nii.gz`` — the lesion label map (``lesion_labels``, or ``lesions_nifti`` in
  the ``run`` layout); always, with ``reading.json`` (listed as ``reading_json`` in the
  ``read`` layout);
* ``organs.nii.gz`` and ``labels.json`` — the automatic organ segmentation
  (``organs_nifti``, ``organs_labels_json``); ``organ_segmentation``, when one was made;
* ``mip.png`` (``mip``), ``lesions.png`` (``lesion_table``, unless ``lesion_table`` is
  off) and ``slices/lesion_NNN.png`` (``lesion_slices``, a list); ``images``;
* ``mip_rotating.gif`` (``mip_rotating``); ``rotating_mip``;
* ``suv.nii.gz`` (``suv_nifti``), and with the PET's DICOM the SUV series ``suv_dicom/``
  (``suv_dicom``) and the lesion RTSTRUCT ``lesions_rtstruct.dcm``
  (``lesions_rtstruct``, when there are lesions); ``exports``.

SSTR scintigraphy has its own jobs: :func:`run_planar_reading_job` (a planar
whole-body study → :func:`~sstrkit.reading.planar.read_planar`; ``reading.json`` with
``"modality": "planar"``, ``planar_views.png`` — anterior and posterior side by side,
inverted grey scale, lesions marked — and ``planar_gm.png``, the geometric mean with the
reference ROIs) and :func:`run_spect_reading_job` (an 111In/99mTc SPECT loaded by
:func:`load_sstr_spect` → :func:`~sstrkit.reading.spect.read_sstr_spect`, written by
:func:`write_reading_outputs` like a PET reading, ``"modality": "spect"``).

``reading.json`` is :meth:`~sstrkit.reading.reader.ReadingResult.to_dict` followed by
the input ``warnings`` (``warnings_in_json``), the caller's ``extra`` keys and the file
index under ``index_key``. :meth:`ReadingOutputs.for_read` is what ``sstrkit read``
writes; :meth:`ReadingOutputs.for_run` what the reading stage of ``sstrkit run`` writes
into ``OUT/reading`` (the PACS exports; no lesion table, organ files or warnings, which
the run reports elsewhere; at most six lesion slices listed, all written).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from sstrkit.core.atomic import write_json_atomic
from sstrkit.core.units import G_PER_KG, SECONDS_PER_HOUR
from sstrkit.core.volume import Volume
from sstrkit.reading.eligibility import Labs, Rule
from sstrkit.reading.reader import ReadingResult, read_sstr_pet, write_organ_segmentation
from sstrkit.reading.segmentation import SegmentationSettings

if TYPE_CHECKING:
    import datetime as _dt

    from sstrkit.io.planar import PlanarWholeBody
    from sstrkit.organs.model import OrganSegmentation
    from sstrkit.reading.planar import PlanarReading, PlanarSettings

__all__ = [
    "READING_SOURCE",
    "PlanarJob",
    "ReadingInputs",
    "ReadingJob",
    "ReadingOutputs",
    "SpectInput",
    "load_sstr_spect",
    "run_planar_reading_job",
    "run_reading_job",
    "run_spect_reading_job",
    "write_planar_images",
    "write_reading_outputs",
]

Say = Callable[[str], None]


class _Caption(enum.Enum):
    READING = "the reading's organs_source"


#: ``mip_organs_source`` default: caption the MIP with the reading's ``organs_source``.
READING_SOURCE: Final = _Caption.READING


@dataclass(frozen=True)
class ReadingInputs:
    """The volumes a reading is made on (the PET in SUV) and where they came from.

    ``organs``/``organ_names`` are supplied labels (``organs_source`` says how they
    were obtained); ``organ_segmentation`` an automatic segmentation already made on
    this PET/CT. ``warnings`` are the input readers' (SUV header) warnings.
    ``pet_dicom`` (the PET's DICOM folder, ``pet_series_uid`` its series) is the source
    of the DICOM exports (SUV series, lesion RTSTRUCT).
    """

    suv: Volume
    ct: Volume | None = None
    organs: Volume | None = None
    organ_names: Mapping[int, str] | None = None
    organs_source: str | None = None
    organ_segmentation: OrganSegmentation | None = None
    resample_labels: bool = False
    fdg: Volume | None = None
    fdg_organs: Volume | None = None
    fdg_organ_names: Mapping[int, str] | None = None
    labs: Labs | None = None
    warnings: tuple[str, ...] = ()
    pet_dicom: Path | None = None
    pet_series_uid: str | None = None


@dataclass(frozen=True)
class ReadingOutputs:
    """Which outputs a reading job writes and how ``reading.json`` indexes them.

    ``layout`` ``"read"`` lists ``reading_json`` and the lesion label map
    (``lesion_labels``) first; ``"run"`` lists the label map as ``lesions_nifti``
    after the images, with the exports. ``max_listed_slices`` caps the listed lesion
    slices (all are written).
    """

    images: bool = True
    lesion_table: bool = True
    rotating_mip: bool = False
    organ_segmentation: bool = True
    exports: bool = False
    warnings_in_json: bool = True
    max_listed_slices: int | None = None
    index_key: str = "files"
    layout: Literal["read", "run"] = "read"

    @classmethod
    def for_read(cls, *, images: bool = True, gif: bool = False) -> ReadingOutputs:
        """What ``sstrkit read`` writes (``--images/--no-images``, ``--gif``)."""
        return cls(images=images, rotating_mip=gif)

    @classmethod
    def for_run(cls) -> ReadingOutputs:
        """What the reading stage of ``sstrkit run`` writes into ``OUT/reading``."""
        return cls(
            lesion_table=False,
            organ_segmentation=False,
            exports=True,
            warnings_in_json=False,
            max_listed_slices=6,
            index_key="images",
            layout="run",
        )


@dataclass(frozen=True)
class ReadingJob:
    """A reading with the inputs it was made on and what was written (``files``).

    ``files`` is the file index (name → path; ``lesion_slices`` a list of paths) and
    ``document`` the content of ``reading.json`` at ``json_path``.
    """

    result: ReadingResult
    inputs: ReadingInputs
    json_path: Path
    files: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def suv(self) -> Volume:
        """The SUV PET the reading was made on."""
        return self.inputs.suv


def run_reading_job(
    inputs: ReadingInputs,
    out: str | os.PathLike[str],
    outputs: ReadingOutputs | None = None,
    *,
    rules: tuple[Sequence[Rule], str] | None = None,
    therapy: str | None = "177Lu-DOTATATE",
    tracer: str | None = None,
    settings: SegmentationSettings | None = None,
    seeds_mm: Sequence[Sequence[float]] = (),
    auto_organs: bool = True,
    mip_organs_source: str | _Caption | None = READING_SOURCE,
    extra: Mapping[str, Any] | None = None,
    say: Say | None = None,
) -> ReadingJob:
    """Read ``inputs`` (:func:`~sstrkit.reading.reader.read_sstr_pet`) and write the outputs.

    ``rules`` … ``auto_organs`` are passed to ``read_sstr_pet``; ``outputs`` (default
    :meth:`ReadingOutputs.for_read`), ``mip_organs_source``, ``extra`` and ``say`` to
    :func:`write_reading_outputs`. ``say`` also announces the automatic organ
    segmentation. Errors of the reading and of the writing propagate (typed
    :class:`~sstrkit.errors.SstrkitError`).
    """
    tell = say or (lambda _m: None)
    segments = (
        inputs.organs is None
        and inputs.organ_segmentation is None
        and inputs.ct is not None
        and auto_organs
    )
    if segments:
        tell("segmenting the organs on the CT (automatic)…")
    result = read_sstr_pet(
        inputs.suv,
        ct=inputs.ct,
        organs=inputs.organs,
        organ_names=inputs.organ_names,
        resample_labels=inputs.resample_labels,
        fdg=inputs.fdg,
        fdg_organs=inputs.fdg_organs,
        fdg_organ_names=inputs.fdg_organ_names,
        labs=inputs.labs,
        rules=rules,
        therapy=therapy,
        tracer=tracer,
        settings=settings,
        seeds_mm=seeds_mm,
        auto_organs=auto_organs,
        organs_source=inputs.organs_source,
        organ_segmentation=inputs.organ_segmentation,
    )
    return write_reading_outputs(
        result,
        inputs,
        out,
        outputs,
        mip_organs_source=mip_organs_source,
        extra=extra,
        say=say,
    )


def write_reading_outputs(
    result: ReadingResult,
    inputs: ReadingInputs,
    out: str | os.PathLike[str],
    outputs: ReadingOutputs | None = None,
    *,
    mip_organs_source: str | _Caption | None = READING_SOURCE,
    extra: Mapping[str, Any] | None = None,
    say: Say | None = None,
) -> ReadingJob:
    """Write a reading's files into ``out`` and ``reading.json`` last (atomic files).

    ``mip_organs_source`` is the MIP's organ caption (default: the reading's
    ``organs_source``; None: no caption); ``extra`` keys are added to ``reading.json``
    before the file index; ``say`` announces the images.
    """
    spec = outputs or ReadingOutputs.for_read()
    folder = Path(out)
    json_path = folder / "reading.json"
    files: dict[str, Any] = {}
    if spec.layout == "read":
        files["reading_json"] = str(json_path)
        files["lesion_labels"] = _write_lesion_labels(result, folder)
    if spec.organ_segmentation and result.organ_segmentation is not None:
        files.update(write_organ_segmentation(result.organ_segmentation, folder))
    if spec.images:
        if say is not None:
            say("writing images…")
        caption = result.organs_source if mip_organs_source is READING_SOURCE else mip_organs_source
        files.update(_write_images(result, inputs.suv, folder, spec, caption))
    if spec.rotating_mip:
        from sstrkit.reading.images import write_rotating_mip

        files["mip_rotating"] = str(write_rotating_mip(inputs.suv, folder / "mip_rotating.gif"))
    if spec.exports:
        files["suv_nifti"] = _write_suv_nifti(inputs.suv, folder)
    if spec.layout == "run":
        files["lesions_nifti"] = _write_lesion_labels(result, folder)
    if spec.exports:
        files.update(_write_dicom_exports(result, inputs, folder))
    doc = result.to_dict()
    if spec.warnings_in_json:
        doc["warnings"] = list(dict.fromkeys(inputs.warnings))
    doc.update(extra or {})
    doc[spec.index_key] = files
    write_json_atomic(json_path, doc)
    return ReadingJob(result, inputs, json_path, files, doc)


def _write_lesion_labels(result: ReadingResult, folder: Path) -> str:
    """``lesions.nii.gz``: the lesion label map on the PET grid (values = lesion ids)."""
    from sstrkit.io.nifti import write_nifti

    return str(write_nifti(result.segmentation.labels, folder / "lesions.nii.gz"))


def _write_suv_nifti(suv: Volume, folder: Path) -> str:
    """``suv.nii.gz``: the SUV volume the reading was made on."""
    from sstrkit.io.nifti import write_nifti

    return str(write_nifti(suv, folder / "suv.nii.gz"))


def _write_images(
    result: ReadingResult,
    suv: Volume,
    folder: Path,
    spec: ReadingOutputs,
    caption: str | None,
) -> dict[str, Any]:
    """MIP with lesions and organ outlines, lesion table (optional), one slice per lesion."""
    from sstrkit.reading.images import write_lesion_slices, write_lesion_table, write_mip

    files: dict[str, Any] = {
        "mip": str(
            write_mip(
                suv,
                folder / "mip.png",
                result.lesions,
                organs=result.organs,
                organs_source=caption,
            )
        )
    }
    if spec.lesion_table:
        files["lesion_table"] = str(write_lesion_table(result.lesions, folder / "lesions.png"))
    slices = [
        str(p)
        for p in write_lesion_slices(
            suv,
            result.segmentation.labels,
            result.lesions,
            folder / "slices",
            ct=result.ct_on_pet_grid,
        )
    ]
    files["lesion_slices"] = (
        slices if spec.max_listed_slices is None else slices[: spec.max_listed_slices]
    )
    return files


def _write_dicom_exports(
    result: ReadingResult, inputs: ReadingInputs, folder: Path
) -> dict[str, str]:
    """SUV series (``suv_dicom/``) and lesion RTSTRUCT on the PET's DICOM, when given."""
    if inputs.pet_dicom is None:
        return {}
    from sstrkit.io.dicom_derived import write_suv_series
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.rtstruct_write import write_rtstruct

    files: dict[str, str] = {}
    source = read_series(inputs.pet_dicom, series_uid=inputs.pet_series_uid)
    written = write_suv_series(
        inputs.suv, folder / "suv_dicom", source=source, series_description="sstrkit SUVbw"
    )
    files["suv_dicom"] = str(written[0].parent)
    names = {int(le.id): f"lesion {le.id}" for le in result.lesions}
    if names:
        summary = write_rtstruct(
            result.segmentation.labels,
            names,
            folder / "lesions_rtstruct.dcm",
            reference=inputs.pet_dicom,
            structure_set_label="SSTR lesions",
            series_description="sstrkit SSTR PET lesions",
        )
        files["lesions_rtstruct"] = str(summary.path)
    return files


# --------------------------------------------------------------------------- scintigraphy
@dataclass(frozen=True)
class PlanarJob:
    """A planar reading and what was written (``files``, ``document`` = ``reading.json``)."""

    reading: PlanarReading
    study: PlanarWholeBody
    json_path: Path
    files: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict)


def run_planar_reading_job(
    study: PlanarWholeBody,
    out: str | os.PathLike[str],
    *,
    settings: PlanarSettings | None = None,
    images: bool = True,
    extra: Mapping[str, Any] | None = None,
    say: Say | None = None,
) -> PlanarJob:
    """Read a planar whole-body study (:func:`~sstrkit.reading.planar.read_planar`) and write
    ``reading.json`` (the reading, the study's description under ``"study"``, its
    warnings, ``extra`` keys, the file index ``files``) and, with ``images``,
    :func:`write_planar_images`."""
    from sstrkit.reading.planar import read_planar

    reading = read_planar(study, settings=settings)
    folder = Path(out)
    json_path = folder / "reading.json"
    files: dict[str, Any] = {"reading_json": str(json_path)}
    if images:
        if say is not None:
            say("writing images…")
        files.update(write_planar_images(study, reading, folder))
    doc = reading.to_dict()
    doc["study"] = study.to_dict()
    doc["warnings"] = list(dict.fromkeys(study.warnings))
    doc.update(extra or {})
    doc["files"] = files
    write_json_atomic(json_path, doc)
    return PlanarJob(reading, study, json_path, files, doc)


def write_planar_images(
    study: PlanarWholeBody, reading: PlanarReading, folder: Path
) -> dict[str, str]:
    """``planar_views.png`` (anterior and posterior side by side, inverted grey scale, as a
    reader reads them: patient's right on the left of the anterior view, on the right of
    the posterior; lesions circled and numbered) and ``planar_gm.png`` (the geometric
    mean with the liver and spleen ROIs outlined and each lesion's grade)."""
    from matplotlib.figure import Figure

    from sstrkit.reading.images import save_figure

    ant, post, gm = study.anterior, study.posterior, study.geometric_mean()
    rows = np.nonzero(gm.sum(axis=1) > 0.02 * float(gm.sum(axis=1).max()))[0]
    lo, hi = (int(rows.min()), int(rows.max()) + 1) if rows.size else (0, gm.shape[0])
    pad = max((hi - lo) // 20, 5)
    lo, hi = max(lo - pad, 0), min(hi + pad, gm.shape[0])
    dy, dx = study.pixel_spacing_mm
    extent = (0.0, gm.shape[1] * dx, hi * dy, lo * dy)
    width = gm.shape[1] * dx
    top = float(np.percentile(np.concatenate([ant[lo:hi].ravel(), post[lo:hi].ravel()]), 99.5))
    fig = Figure(figsize=(9, 9))
    axes = fig.subplots(1, 2)
    panels = ((axes[0], ant, "ANT", ("R", "L")), (axes[1], post, "POST", ("L", "R")))
    for ax, view, label, sides in panels:
        ax.imshow(view[lo:hi], cmap="gray_r", vmin=0, vmax=max(top, 1.0), extent=extent)
        ax.set_title(f"{label} {study.hours_post_injection:.0f} h p.i.")
        ax.text(0.02, 0.01, sides[0], transform=ax.transAxes, fontsize=12, color="tab:blue")
        ax.text(0.95, 0.01, sides[1], transform=ax.transAxes, fontsize=12, color="tab:blue")
        ax.set_xlabel("mm")
    for le in reading.lesions:
        r, c = le.position_mm
        for ax, col in ((axes[0], c), (axes[1], width - c)):
            ax.add_patch(_circle((col, r), max(le.diameter_mm / 2 + 6.0, 10.0)))
            ax.text(col + 12, r, str(le.id), color="tab:red", fontsize=9)
    fig.suptitle(f"{reading.tracer or study.radionuclide}: planar whole body (inverted grey)")
    views = save_figure(fig, folder / "planar_views.png")
    fig2 = Figure(figsize=(5, 9))
    ax = fig2.subplots(1, 1)
    gm_top = max(float(np.percentile(gm[lo:hi], 99.5)), 1.0)
    ax.imshow(gm[lo:hi], cmap="gray_r", vmin=0, vmax=gm_top, extent=extent)
    for ref, colour in ((reading.liver, "tab:green"), (reading.spleen, "tab:purple")):
        if ref is not None:
            ax.contour(
                ref.mask[lo:hi].astype(float),
                levels=[0.5],
                colors=colour,
                linewidths=0.8,
                extent=(0.0, width, lo * dy, hi * dy),
            )
    for le in reading.lesions:
        r, c = le.position_mm
        ax.add_patch(_circle((c, r), max(le.diameter_mm / 2 + 6.0, 10.0)))
        grade = "-" if le.krenning is None else str(le.krenning)
        ax.text(c + 12, r, f"{le.id}: K{grade}", color="tab:red", fontsize=8)
    ax.set_title("geometric mean: liver (green), spleen (purple) ROIs")
    gm_png = save_figure(fig2, folder / "planar_gm.png")
    return {"planar_views": str(views), "planar_gm": str(gm_png)}


def _circle(centre: tuple[float, float], radius: float) -> Any:
    from matplotlib.patches import Circle

    return Circle(centre, radius, fill=False, edgecolor="tab:red", linewidth=1.0)


@dataclass(frozen=True)
class SpectInput:
    """An SSTR SPECT read from DICOM: Bq/mL and SUVbw volumes and its administration."""

    activity: Volume
    suv: Volume
    nuclide: str | None
    tracer: str | None
    injected_activity_bq: float
    injection_time: _dt.datetime
    weight_kg: float
    hours_post_injection: float
    warnings: tuple[str, ...] = ()


def load_sstr_spect(
    path: Path,
    *,
    series_uid: str | None = None,
    calibration_cps_per_mbq: float | None = None,
) -> SpectInput:
    """An 111In/99mTc SPECT (NM or PET-slice layout) as Bq/mL and SUVbw.

    Counts (Units ``CNTS``) need the camera calibration ``calibration_cps_per_mbq``
    (as the 177Lu SPECT's ``calibration_cps_per_mbq``); BQML is used as is. The SUV is
    body-weight SUV with the dose decayed to the scan (:func:`sstrkit.io.suv.compute_suv`,
    half-life of the header's nuclide, ICRP 107).
    """
    import datetime as dt

    from sstrkit.errors import DicomMetadataError
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.suv import Overrides, compute_suv
    from sstrkit.io.suv_nuclide import _identify_nuclide

    series = read_series(path, series_uid=series_uid, modalities=("NM", "PT"))
    overrides = Overrides(sensitivity_cps_per_mbq=calibration_cps_per_mbq)
    res = compute_suv(series, "bw", overrides)
    if res.suv is None or res.activity is None:
        raise DicomMetadataError("SPECT SUV", expected="computable SUVbw", actual="none")
    params = res.parameters
    injection = dt.datetime.fromisoformat(str(params["injection_time"]))
    reference = res.reference_time or injection
    nuclide, _ = _identify_nuclide(series.header, None)
    item = (series.header.get("RadiopharmaceuticalInformationSequence") or [None])[0]
    tracer = str(item.get("Radiopharmaceutical") or "") or None if item is not None else None
    return SpectInput(
        activity=res.activity,
        suv=res.suv,
        nuclide=nuclide,
        tracer=tracer,
        injected_activity_bq=float(params["injected_activity_bq"]),
        injection_time=injection,
        weight_kg=float(params["normalizing_measure"]) / G_PER_KG,
        hours_post_injection=(reference - injection).total_seconds() / SECONDS_PER_HOUR,
        warnings=tuple(dict.fromkeys([*series.warnings, *res.warnings])),
    )


#: The SSTR scintigraphy tracer assumed from the nuclide when the header names none.
DEFAULT_SCINTIGRAPHY_TRACER = {"In-111": "111In-pentetreotide", "Tc-99m": "99mTc-HYNIC-TOC"}


def run_spect_reading_job(
    spect: SpectInput,
    out: str | os.PathLike[str],
    outputs: ReadingOutputs | None = None,
    *,
    ct: Volume | None = None,
    tracer: str | None = None,
    organs: Volume | None = None,
    organ_names: Mapping[int, str] | None = None,
    organs_source: str | None = None,
    resample_labels: bool = False,
    auto_organs: bool = True,
    labs: Labs | None = None,
    rules: tuple[Sequence[Rule], str] | None = None,
    therapy: str | None = "177Lu-DOTATATE",
    fwhm_mm: float | None = None,
    seeds_mm: Sequence[Sequence[float]] = (),
    say: Say | None = None,
) -> ReadingJob:
    """Read an SSTR SPECT (:func:`~sstrkit.reading.spect.read_sstr_spect`) and write its
    outputs like a PET reading (:func:`write_reading_outputs`; images on the SUVbw).

    ``tracer`` defaults to the header's radiopharmaceutical, else the usual tracer of the
    nuclide (:data:`DEFAULT_SCINTIGRAPHY_TRACER`).
    """
    from sstrkit.reading.patterns import tracer_pattern
    from sstrkit.reading.spect import read_sstr_spect

    name = tracer
    if name is None and spect.tracer and tracer_pattern(spect.tracer) is not None:
        name = spect.tracer
    if name is None:
        name = DEFAULT_SCINTIGRAPHY_TRACER.get(spect.nuclide or "", spect.tracer or "")
    tell = say or (lambda _m: None)
    if organs is None and ct is not None and auto_organs:
        tell("segmenting the organs on the CT (automatic)…")
    result = read_sstr_spect(
        spect.activity,
        ct=ct,
        tracer=name,
        hours_post_injection=spect.hours_post_injection,
        injected_activity_bq=spect.injected_activity_bq,
        weight_kg=spect.weight_kg,
        injection_time=spect.injection_time,
        organs=organs,
        organ_names=organ_names,
        resample_labels=resample_labels,
        auto_organs=auto_organs,
        organs_source=organs_source,
        labs=labs,
        rules=rules,
        therapy=therapy,
        fwhm_mm=fwhm_mm,
        seeds_mm=seeds_mm,
    )
    inputs = ReadingInputs(
        suv=spect.suv,
        ct=ct,
        organs=organs,
        organ_names=organ_names,
        organs_source=organs_source,
        labs=labs,
        warnings=spect.warnings,
    )
    return write_reading_outputs(result, inputs, out, outputs, say=say)
