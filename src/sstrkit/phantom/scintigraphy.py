"""SSTR scintigraphy, SSTR SPECT/CT and 64Cu-DOTATATE PET/CT of the digital patient.

``sstrkit phantom make --sstr-imaging TRACER`` (repeatable; ``StudyConfig.sstr_imaging``)
adds, for the same patient (anatomy, lesions and their ids, SSTR expression), the imaging
of another SSTR tracer (:mod:`sstrkit.phantom.scint_biodistribution`):

* ``111In-pentetreotide``: planar whole-body views (anterior and posterior) at 4 h and
  24 h after 222 MBq, both photopeaks summed, medium-energy collimator
  (:mod:`sstrkit.phantom.gamma_camera`), and SPECT/CT at 24 h;
* ``99mTc-HYNIC-TOC``: whole-body views at 2 h and 4 h after 740 MBq, LEHR collimator,
  SPECT/CT at 4 h;
* ``64Cu-DOTATATE``: PET/CT at 1 h and 3 h after 148 MBq, the baseline PET path with the
  nuclide changed (:meth:`sstrkit.phantom.scanners.EmissionScanner.pet_for`);
* ``68Ga-DOTATATE``: the study's baseline PET/CT, which every study has (it is the frame
  of the truth label maps): naming it changes nothing.

The SPECT is the phantom's own SPECT path (image-domain model or projection + OSEM,
``StudyConfig.spect_recon``; SPECT format ``spect_format``), made nuclide-aware. Every
visit is its own scan session (patient repositioned: ``truth.json`` "positioning" records
the SPECT/CT and PET/CT sessions). Each tracer draws its noise from its own stream
(``[seed, 19, index in SSTR_TRACERS]``) after every other scan of the study, so that a
study made without ``--sstr-imaging`` is unchanged.

Study folder (added only when requested)::

    dicom/<slug>/wb_<hhh>h/NM.dcm          planar whole body (NM, 2 frames: ANT, POST)
    dicom/<slug>/spect_<hhh>h/NM.dcm       SSTR SPECT (or PT_*.dcm slices, "pet-slices")
    dicom/<slug>/spect_<hhh>h_ct/          its CT (same frame of reference)
    dicom/<slug>/pet_<hhh>h/, pet_<hhh>h_ct/   64Cu-DOTATATE PET/CT
    truth/scintigraphy_<tracer>.json       per-lesion truth (:mod:`sstrkit.phantom.scint_truth`)

and the manifest's ``series`` roles ``scintigraphy_planar``, ``sstr_spect``, ``sstr_spect_ct``,
``sstr_pet``, ``sstr_pet_ct`` (lists; every entry names its ``tracer``) and
``truth.scintigraphy`` (tracer -> truth file).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.io.dicom_write import (
    Radiopharmaceutical,
    StudyInfo,
    write_nm_series,
    write_pet_series,
)
from sstrkit.phantom.anatomy import Anatomy
from sstrkit.phantom.biology import Biology
from sstrkit.phantom.ct_tissues import structure_mask
from sstrkit.phantom.gamma_camera import (
    PlanarCamera,
    PlanarGeometry,
    acquire,
    mirror,
    project_thickness,
    project_views,
)
from sstrkit.phantom.parameters import scintigraphy_parameters
from sstrkit.phantom.positioning import MovedAnatomy
from sstrkit.phantom.scanners import (
    EmissionScanner,
    ct_fine_hu,
    fine_concentration,
    spect_camera_parameters,
)
from sstrkit.phantom.scint_biodistribution import (
    BASELINE_TRACER,
    SSTR_TRACERS,
    SstrTracer,
    TracerDistribution,
    canonical_tracer,
    sstr_tracer,
    tracer_distribution,
)
from sstrkit.phantom.scint_dicom import write_planar_wholebody
from sstrkit.phantom.scint_truth import (
    LesionSpot,
    TruthSettings,
    planar_lesion_truth,
    reference_region,
    spect_lesion_truth,
)
from sstrkit.phantom.spect_recon import attenuation_map
from sstrkit.phantom.study_scans import (
    PetAcquisition,
    ScanSessions,
    _pet_table,
    _spect_units,
    _uid,
    _volume,
)
from sstrkit.phantom.truth_files import _atomic_json

__all__ = [
    "BASELINE_TRACER",
    "SSTR_TRACERS",
    "ScintigraphyRecords",
    "canonical_tracer",
    "normalise_sstr_imaging",
    "sstr_imaging_exams",
]

H = SECONDS_PER_HOUR
Progress = Callable[[str], None]
#: Regions whose projection is kept out of the planar liver and spleen reference regions.
_PLANAR_EXCLUDE = ("kidneys", "adrenals", "pancreas")


def normalise_sstr_imaging(values: Sequence[str]) -> tuple[str, ...]:
    """Canonical tracer names, in the given order, each once (raises on an unknown name).

    >>> normalise_sstr_imaging(["111in-pentetreotide", "68Ga-DOTATATE"])
    ('111In-pentetreotide', '68Ga-DOTATATE')
    """
    out: list[str] = []
    for value in (values,) if isinstance(values, str) else values:
        name = canonical_tracer(value)
        if name not in out:
            out.append(name)
    return tuple(out)


@dataclass
class ScintigraphyRecords:
    """What the SSTR imaging adds to the study: administrations, truth files by tracer."""

    administrations: list[dict[str, Any]] = field(default_factory=list)
    truth_files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Exam:
    """One tracer's exam: the sessions' shared context."""

    sc: ScanSessions
    tracer: SstrTracer
    injection: _dt.datetime
    study: StudyInfo
    baseline: Anatomy
    biology: Biology

    @property
    def folder(self) -> Path:
        return self.sc.root / "dicom" / self.tracer.slug

    @property
    def rp(self) -> Radiopharmaceutical:
        t = self.tracer
        return Radiopharmaceutical(t.name, t.nuclide, t.activity_bq, self.injection)

    def hours(self, t: _dt.datetime) -> float:
        return (t - self.injection).total_seconds() / H

    def spots(
        self,
        seen: MovedAnatomy,
        index: Callable[[Any], tuple[float, ...]],
        regions: dict[str, float],
    ) -> list[LesionSpot]:
        """Every lesion where the session sees it (``index``: session mm -> image index)."""
        out = []
        liver, spleen = regions["liver"], regions["spleen"]
        for les in self.baseline.model.lesions:
            centre = seen.motion.to_session([self.baseline.centroid_mm(les.id)])[0]
            value = regions[les.id]
            out.append(
                LesionSpot(
                    id=les.id,
                    diameter_mm=float(
                        self.baseline.lesion_diameters_mm.get(les.id, les.diameter_mm)
                    ),
                    centroid_mm=(float(centre[0]), float(centre[1]), float(centre[2])),
                    index=index(centre),
                    ratio_liver=value / liver if liver > 0 else math.inf,
                    ratio_spleen=value / spleen if spleen > 0 else math.inf,
                )
            )
        return out


# ---------------------------------------------------------------- planar whole body
def _energy_windows(camera: PlanarCamera) -> list[dict[str, Any]]:
    """The manifest's ``energy_windows``: one entry per photopeak window (keV)."""
    return [
        {"name": f"{w.centre_kev:g} keV", "lower_kev": w.lower_kev, "upper_kev": w.upper_kev}
        for w in camera.windows
    ]


def _planar_rois(
    seen: MovedAnatomy,
    camera: PlanarCamera,
    geo: PlanarGeometry,
    spots: list[LesionSpot],
) -> tuple[Any, Any]:
    """Liver and spleen reference regions of the planar views (see scint_truth)."""
    anat, grid = seen.anatomy, seen.anatomy.model.grid
    settings = TruthSettings.load()
    fwhm_px = float(camera.fwhm_mm(100.0)) / camera.pixel_mm
    excl = np.zeros((camera.rows, camera.columns), dtype=bool)
    for region in _PLANAR_EXCLUDE:
        excl |= project_thickness(anat.mask(region), grid, camera, geo) > 0
    if seen.ct_map is not None:
        gb = structure_mask(seen.ct_map, anat.labels.array, "gallbladder", "colon_content")
        excl |= project_thickness(gb, grid, camera, geo) > 0
    excl = ndimage.binary_dilation(excl, iterations=max(1, round(fwhm_px)))
    yy, xx = np.ogrid[: camera.rows, : camera.columns]
    for s in spots:
        r = (s.diameter_mm / 2.0 + float(camera.fwhm_mm(100.0))) / camera.pixel_mm
        excl |= (yy - s.index[0]) ** 2 + (xx - s.index[1]) ** 2 <= r * r
    out = []
    for organ in ("liver", "spleen"):
        thick = project_thickness(anat.mask(organ), grid, camera, geo)
        out.append(reference_region(thick, excl, settings.reference_min_thickness))
    return out[0], out[1]


def _planar_session(
    ex: _Exam, seen: MovedAnatomy, h: float, speed_cm_min: float, step: Progress
) -> tuple[dict[str, Any], dict[str, Any], float]:
    """One whole-body scan ``h`` hours after injection: DICOM, manifest entry, truth entry
    and its duration (s)."""
    sc, tracer = ex.sc, ex.tracer
    step(f"{tracer.name} whole body {h:g} h")
    t = ex.injection + _dt.timedelta(hours=h)
    dist = tracer_distribution(tracer, seen, ex.biology, h)
    camera = PlanarCamera.for_nuclide(tracer.nuclide)
    model = seen.anatomy.model
    geo = PlanarGeometry.for_patient(
        model.grid, model.body.center_mm, model.body.semi_axes_mm, camera
    )
    assert seen.ct_map is not None  # session_patient always moves the CT map
    hu = ct_fine_hu(seen.anatomy, seen.ct_map)
    mus = [attenuation_map(hu, w.energy_mev) for w in camera.windows]
    dwell = camera.dwell_time_s(speed_cm_min)
    views = project_views(dist.concentration, mus, model.grid, camera, geo, dwell)
    ant, sat_a = acquire(views.anterior, sc.noise_rng)
    post, sat_p = acquire(views.posterior, sc.noise_rng)
    role = f"{tracer.slug}_wb_{h:g}h"
    uid = _uid(sc.cfg.seed, role, "series")
    path = write_planar_wholebody(
        ex.folder / f"wb_{h:03.0f}h" / "NM.dcm",
        ant,
        mirror(post),
        patient=sc.patient,
        study=ex.study,
        radiopharmaceutical=ex.rp,
        acquisition_time=t,
        camera=camera,
        geometry=geo,
        scan_speed_cm_min=speed_cm_min,
        series_uid=uid,
        series_number=next(sc.number),
        series_description=f"WB {tracer.name} {h:g}h",
    )
    duration = camera.scan_length_mm / (speed_cm_min * 10.0 / 60.0)
    entry = {
        "tracer": tracer.name,
        "nuclide": tracer.nuclide,
        "hours_post_injection": h,
        "path": sc.rel(path),
        "series_uid": uid,
        "time": t.isoformat(),
        "injection_time": ex.injection.isoformat(),
        "injected_activity_bq": tracer.activity_bq,
        "views": ["ANTERIOR", "POSTERIOR"],
        "posterior_stored_mirrored": True,
        "units": "counts",
        "matrix": [camera.rows, camera.columns],
        "pixel_spacing_mm": [camera.pixel_mm, camera.pixel_mm],
        "collimator": camera.collimator,
        "energy_windows": _energy_windows(camera),
        "scan_speed_cm_min": speed_cm_min,
        "scan_duration_s": duration,
        "dwell_time_s": dwell,
        "sensitivity_cps_per_mbq_per_head": camera.sensitivity_cps_per_mbq,
        "fwhm_mm_at_100mm": float(camera.fwhm_mm(100.0)),
        "saturated_pixels": sat_a + sat_p,
    }
    truth = _planar_truth(ex, seen, camera, geo, views.geometric_mean(), dist)
    truth.update(
        {
            "hours_post_injection": h,
            "series_uid": uid,
            "time": t.isoformat(),
            "primary_fraction": views.primary_fraction,
        }
    )
    return entry, truth, duration


def _planar_truth(
    ex: _Exam,
    seen: MovedAnatomy,
    camera: PlanarCamera,
    geo: PlanarGeometry,
    gm: Any,
    dist: TracerDistribution,
) -> dict[str, Any]:
    """Lesion truth of one whole-body scan (noise-free geometric mean)."""
    px = camera.pixel_mm

    def index(p: Any) -> tuple[float, ...]:
        row, col = geo.row_col_mm(p, camera)
        return (row / px, col / px)

    spots = ex.spots(seen, index, dist.regions_bq_ml)
    liver_roi, spleen_roi = _planar_rois(seen, camera, geo, spots)
    lesions, refs = planar_lesion_truth(
        gm,
        spots,
        liver_roi,
        spleen_roi,
        pixel_mm=px,
        fwhm_mm=float(camera.fwhm_mm(100.0)),
        settings=TruthSettings.load(),
    )
    return {
        "reference": {
            **refs,
            "liver_roi_pixels": int(liver_roi.sum()),
            "spleen_roi_pixels": int(spleen_roi.sum()),
        },
        "fractions_of_injected_activity": dist.fractions,
        "notes": list(dist.notes),
        "lesions": lesions,
    }


# ---------------------------------------------------------------- SSTR SPECT/CT
def _spect_session(
    ex: _Exam, seen: MovedAnatomy, t: _dt.datetime, h_nominal: float, step: Progress
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The SSTR SPECT/CT at time ``t``: DICOM, manifest entries (SPECT, CT) and truth."""
    sc, tracer = ex.sc, ex.tracer
    step(f"{tracer.name} SPECT/CT {h_nominal:g} h")
    h = ex.hours(t)
    dist = tracer_distribution(tracer, seen, ex.biology, h)
    img, grid, info, fwhm = sc._spect_image(seen, dist.concentration, tracer.nuclide)
    role = f"{tracer.slug}_spect_{h_nominal:g}h"
    for_uid = _uid(sc.cfg.seed, role, "for")
    pet_slices = sc.cfg.spect_format == "pet-slices"
    vol = _volume(
        img,
        grid,
        unit="Bq/mL",
        quantity="activity_concentration",
        modality="PT" if pet_slices else "NM",
        time=t,
        for_uid=for_uid,
        name=role,
        params=info,
    )
    folder = ex.folder / f"spect_{h_nominal:03.0f}h"
    uid = _uid(sc.cfg.seed, role, "series")
    cam = spect_camera_parameters(tracer.nuclide)
    duration = float(cam["spect_duration_s"])
    desc = f"SPECT {tracer.name} {h_nominal:g}h"
    number = next(sc.number)
    if pet_slices:  # Siemens xSPECT Quant style: PET Image Storage slices, BQML
        write_pet_series(
            vol,
            folder,
            patient=sc.patient,
            study=ex.study,
            radiopharmaceutical=ex.rp,
            series_description=desc,
            series_number=number,
            series_uid=uid,
            frame_duration_s=duration,
        )
        path = folder
    else:
        path = write_nm_series(
            vol,
            folder / "NM.dcm",
            patient=sc.patient,
            study=ex.study,
            radiopharmaceutical=ex.rp,
            series_description=desc,
            series_number=number,
            series_uid=uid,
            acquisition_duration_s=duration,
        )
    system_keys = ("n_views", "radius_of_rotation_mm", "fwhm_at_rotation_axis_mm", "energy_mev")
    entry = {
        "tracer": tracer.name,
        "hours_post_injection": h,
        "path": sc.rel(path),
        "series_uid": uid,
        "frame_of_reference_uid": for_uid,
        "time": t.isoformat(),
        "injection_time": ex.injection.isoformat(),
        "injected_activity_bq": tracer.activity_bq,
        "nuclide": tracer.nuclide,
        "calibration_cps_per_mbq": float(cam["spect_calibration_cps_per_mbq"]),
        "energy_windows": _energy_windows(PlanarCamera.for_nuclide(tracer.nuclide)),
        "acquisition_duration_s": duration,
        "voxel_mm": float(grid.spacing[0]),
        "fwhm_mm": fwhm,
        "simulation": sc.cfg.spect_recon,
        "spect_format": sc.cfg.spect_format,
        "units": _spect_units(sc.cfg.spect_recon),
        "system": {k: info[k] for k in system_keys if k in info} or None,
    }
    ct = sc.write_ct(
        seen,
        folder.with_name(folder.name + "_ct"),
        t - _dt.timedelta(minutes=1),
        for_uid,
        ex.study,
        f"{role}_ct",
    )
    ct_entry = {"tracer": tracer.name, "hours_post_injection": h, **ct}
    sc.record_position(role, seen, for_uid, uid, ct["series_uid"])
    truth = _spect_truth(ex, seen, dist, duration)
    truth.update(
        {
            "hours_post_injection": h,
            "series_uid": uid,
            "frame_of_reference_uid": for_uid,
            "time": t.isoformat(),
        }
    )
    return {"spect": entry, "ct": ct_entry}, truth


def _spect_truth(
    ex: _Exam, seen: MovedAnatomy, dist: TracerDistribution, duration_s: float
) -> dict[str, Any]:
    """Lesion truth of one SSTR SPECT (true ratios; visibility on the noise-free image of
    the image-domain model, also for OSEM: same FWHM at the rotation axis)."""
    scanner = EmissionScanner.spect_for(ex.tracer.nuclide)
    img, grid, _ = scanner.image(
        dist.concentration, ex.sc.truth_grid, duration_s=duration_s, rng=None
    )
    return {
        "regions_bq_ml": _region_summary(dist.regions_bq_ml),
        "fractions_of_injected_activity": dist.fractions,
        "notes": list(dist.notes),
        "lesions": _volume_lesions(ex, seen, img, grid, dist.regions_bq_ml, scanner, duration_s),
    }


def _volume_lesions(
    ex: _Exam,
    seen: MovedAnatomy,
    img: Any,
    grid: Any,
    regions: dict[str, float],
    scanner: EmissionScanner,
    duration_s: float,
) -> list[dict[str, Any]]:
    """Per-lesion truth of a tomographic image (SPECT or PET) on ``grid``."""

    def index(p: Any) -> tuple[float, ...]:
        return tuple((float(p[i]) - grid.origin[i]) / grid.spacing[i] for i in (2, 1, 0))

    spots = ex.spots(seen, index, regions)
    lesions = spect_lesion_truth(
        np.asarray(img, dtype=np.float64),
        grid,
        spots,
        counts_per_bq_ml=grid.voxel_ml * duration_s * scanner.counts_per_bq_s,
        variance_factor=scanner.noise_variance_factor,
        fwhm_mm=scanner.fwhm_mm,
        settings=TruthSettings.load(),
    )
    for lesion in lesions:
        lesion["centroid_baseline_mm"] = list(ex.baseline.centroid_mm(lesion["id"]))
    return lesions


def _region_summary(regions: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in regions.items()}


# ---------------------------------------------------------------- one tracer
def _single_photon_exam(ex: _Exam, step: Progress) -> dict[str, Any]:
    """Every visit of a 111In / 99mTc exam; returns its truth document's imaging part."""
    sc, tracer = ex.sc, ex.tracer
    planar: list[dict[str, Any]] = []
    spect: list[dict[str, Any]] = []
    speeds = dict(zip(tracer.planar_h, tracer.scan_speed_cm_min, strict=True))
    for h in sorted(set(tracer.planar_h) | set(tracer.spect_h)):
        seen = sc.session_patient(ex.baseline, f"{tracer.slug}_{h:g}h")
        wait_s = 0.0
        if h in speeds:
            entry, truth, wait_s = _planar_session(ex, seen, h, speeds[h], step)
            sc.series["scintigraphy_planar"].append(entry)
            truth["lesions"] = _with_baseline(ex, truth["lesions"])
            planar.append(truth)
        if h in tracer.spect_h:
            # after the whole-body scan of the same visit (rounded up to 5 min)
            start = ex.injection + _dt.timedelta(hours=h, minutes=5 * math.ceil(wait_s / 300.0))
            entries, truth = _spect_session(ex, seen, start, h, step)
            sc.series["sstr_spect"].append(entries["spect"])
            sc.series["sstr_spect_ct"].append(entries["ct"])
            spect.append(truth)
    return {"planar": planar, "spect": spect, "pet": []}


def _with_baseline(ex: _Exam, lesions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for lesion in lesions:
        lesion["centroid_baseline_mm"] = list(ex.baseline.centroid_mm(lesion["id"]))
    return lesions


def _pet_exam(ex: _Exam, step: Progress) -> dict[str, Any]:
    """64Cu-DOTATATE PET/CT at every ``pet_h``: the baseline PET path, nuclide changed."""
    sc, tracer = ex.sc, ex.tracer
    scanner = EmissionScanner.pet_for(tracer.nuclide)
    duration = float(tracer.frame_duration_s or 0.0)
    pet: list[dict[str, Any]] = []
    for h in tracer.pet_h:
        step(f"{tracer.name} PET/CT {h:g} h")
        acq = PetAcquisition(
            role=f"{tracer.slug}_pet_{h:g}h",
            agent=tracer.name,
            nuclide=tracer.nuclide,
            suv_tracer="DOTATATE",
            injection_time=ex.injection,
            scan_time=ex.injection + _dt.timedelta(hours=h),
            activity_bq=tracer.activity_bq,
            duration_s=duration,
            folder=ex.folder / f"pet_{h:03.0f}h",
            scanner=scanner,
            study=ex.study,
            description=f"{tracer.name} PET {h:g}h",
        )
        truth, _, entry, ct = sc.static_pet(acq, ex.baseline, ex.biology)
        sc.series["sstr_pet"].append({"hours_post_injection": h, **entry})
        sc.series["sstr_pet_ct"].append({"tracer": tracer.name, "hours_post_injection": h, **ct})
        seen = sc.session_patient(ex.baseline, acq.role)
        regions = {k: float(v) for k, v in truth["activity_concentration_bq_ml"].items()}
        conc = fine_concentration(
            seen.anatomy,
            _pet_table(ex.baseline, ex.biology, "DOTATATE", truth["suv_scale_bq_ml_per_suv"]),
        )
        img, grid, _ = scanner.image(conc, sc.truth_grid, duration_s=duration, rng=None)
        lesions = _volume_lesions(ex, seen, img, grid, regions, scanner, duration)
        pet.append(
            {
                "hours_post_injection": h,
                "series_uid": entry["series_uid"],
                "frame_of_reference_uid": entry["frame_of_reference_uid"],
                "time": entry["time"],
                "suv_bw": truth["suv_bw"],
                "lesions": lesions,
            }
        )
    return {"planar": [], "spect": [], "pet": pet}


def _truth_document(ex: _Exam, imaging: dict[str, Any]) -> dict[str, Any]:
    tracer = ex.tracer
    p = scintigraphy_parameters()
    settings = TruthSettings.load()
    return {
        "schema": "sstrkit-phantom-scintigraphy/1",
        "tracer": tracer.name,
        "nuclide": tracer.nuclide,
        "kind": tracer.kind,
        "injected_activity_bq": tracer.activity_bq,
        "injection_time": ex.injection.isoformat(),
        **imaging,
        "coordinates": "centroid_mm: DICOM patient coordinates (LPS, mm) of the session "
        "(the SPECT/PET frame of reference; for planar views the patient as positioned for "
        "that scan); centroid_baseline_mm: the baseline 68Ga PET/CT's; planar position_mm: "
        "row and column (mm) from the centre of the top-left pixel of the anterior view "
        "(the stored posterior frame is mirrored)",
        "physiological_uptake": {
            "kidneys, spleen, liver, adrenals, pancreas": "in the images",
            "bladder": "urine not yet voided (first-order voiding)",
            "bowel": "colon content, hepatobiliary excretion (111In)",
            "gallbladder": "99mTc-HYNIC-TOC",
            "thyroid, pituitary": "outside the simulated field of view (torso only)",
        },
        "methods": {
            "krenning_grade_true": "planar: original grade (Krenning 1993) of the lesion "
            "intensity (mean over the central disk of half its radius) on the noise-free "
            "geometric mean vs the mean of the liver and spleen reference "
            f"regions, equal to liver within +-{settings.krenning_band:.0%}; SPECT and PET: "
            "the grade of the true activity-concentration ratios",
            "visible": f"Rose SNR >= {settings.rose_threshold:g} on the noise-free image",
        },
        "parameters_file": "sstrkit/phantom/data/scintigraphy.toml",
        "sources": list(p["sources"].values()),
    }


def sstr_imaging_exams(
    scans: ScanSessions,
    baseline: Anatomy,
    biology: Biology,
    first_injection: _dt.datetime,
    step: Progress,
) -> ScintigraphyRecords:
    """Simulate and write every tracer of ``StudyConfig.sstr_imaging`` but the baseline PET.

    Fills ``scans.series`` (roles ``scintigraphy_planar``, ``sstr_spect``, ``sstr_spect_ct``,
    ``sstr_pet``, ``sstr_pet_ct``) and ``scans.positioning``; writes
    ``truth/scintigraphy_<tracer>.json``; returns the administrations and truth files.
    """
    cfg = scans.cfg
    records = ScintigraphyRecords()
    for name in cfg.sstr_imaging:
        tracer = sstr_tracer(name)
        if tracer.name == BASELINE_TRACER:
            continue
        keys = (
            ("scintigraphy_planar", "sstr_spect", "sstr_spect_ct")
            if tracer.kind == "scintigraphy"
            else ("sstr_pet", "sstr_pet_ct")
        )
        for key in keys:
            scans.series.setdefault(key, [])
        rng = np.random.default_rng([cfg.seed, 19, SSTR_TRACERS.index(tracer.name)])
        sc = replace(scans, noise_rng=rng if cfg.noise else None)
        day = first_injection - _dt.timedelta(days=tracer.injection_days_before_therapy)
        inj = day.replace(hour=9, minute=0, second=0, microsecond=0)
        study = StudyInfo(
            study_uid=_uid(cfg.seed, tracer.slug, "study"),
            study_time=inj,
            description=f"{tracer.name} {'PET/CT' if tracer.kind == 'pet' else 'scintigraphy'}",
            accession_number=f"PH{cfg.seed:04d}{tracer.slug.split('_')[0].upper()}",
        )
        ex = _Exam(sc, tracer, inj, study, baseline, biology)
        imaging = _pet_exam(ex, step) if tracer.kind == "pet" else _single_photon_exam(ex, step)
        rel = f"truth/scintigraphy_{tracer.name}.json"
        _atomic_json(scans.root / rel, _truth_document(ex, imaging))
        records.truth_files[tracer.name] = rel
        records.administrations.append(
            {
                "cycle": None,
                "radiopharmaceutical": tracer.name,
                "nuclide": tracer.nuclide,
                "activity_bq": tracer.activity_bq,
                "time": inj.isoformat(),
            }
        )
    return records
