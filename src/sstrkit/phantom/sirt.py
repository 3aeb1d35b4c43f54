"""SIRT of the digital patient: the 99mTc-MAA work-up and the post-implant 90Y PET/CT.

``sstrkit phantom make --sirt`` (``StudyConfig.sirt``) adds a whole-liver radioembolisation
with 90Y resin microspheres as salvage after the PRRT: liver-dominant progression 12 weeks
after the last 177Lu cycle (the liver metastases at their baseline size), the patient's
liver metastases the tumours. Timeline (:mod:`sstrkit.phantom.sirt_parameters`):

* **MAA work-up** (12 weeks after the last cycle, 10:30): 150 MBq 99mTc-MAA into the
  hepatic artery at angiography; a planar whole-body sweep (anterior + posterior, LEHR,
  12 cm/min) starting 60 min after the injection and a SPECT/CT of the liver right after
  it, the patient repositioned (own frame of reference, ``positioning.py``) and breathing
  (the hepatic activity blurred along the body axis relative to the CT's breathing phase,
  :func:`sstrkit.phantom.sirt_distribution.breathe`).
* **Implant** 14 days later at 11:00: the net activity of a partition-model prescription
  (:func:`sstrkit.phantom.sirt_distribution.prescribe`), distributed like the MAA but not
  identically (T/N and LSF perturbed).
* **90Y PET/CT** the next day (23 h after the implant): PT, Bq/mL decay-corrected to the
  acquisition start, a 20-min frame with the count rate of 31.86 positrons per 10⁶ decays
  (Selwyn et al. 2007), own frame of reference, repositioned, breathing.

The images use the phantom's own camera and scanner models (planar:
:mod:`sstrkit.phantom.gamma_camera`; SPECT: ``StudyConfig.spect_recon`` and
``spect_format`` as every SPECT; PET: :class:`sstrkit.phantom.scanners.EmissionScanner`).
Noise streams ``[seed, 23, 1]`` (MAA visit) and ``[seed, 23, 2]`` (90Y PET/CT): a study
made without ``--sirt`` is unchanged.

Study folder (added only with ``--sirt``)::

    dicom/sirt/maa_wb/NM.dcm          99mTc-MAA planar whole body (NM, ANT + POST)
    dicom/sirt/maa_spect/NM.dcm       99mTc-MAA SPECT (or PT_*.dcm, spect_format "pet-slices")
    dicom/sirt/maa_spect_ct/          its CT (same frame of reference)
    dicom/sirt/y90_pet/PT_*.dcm       90Y PET (BQML)
    dicom/sirt/y90_pet_ct/            its CT
    truth/sirt.json, sirt_maa_labels.nii.gz, sirt_y90_labels.nii.gz,
    truth/sirt_maa_planar_rois.nii.gz, sirt_y90_dose.nii.gz      (sstrkit.phantom.sirt_truth)

manifest ``series`` roles ``maa_planar``, ``maa_spect``, ``maa_spect_ct``, ``y90_pet``,
``y90_pet_ct`` and ``truth.sirt``; ``clinical.json`` gets the MAA and 90Y administrations
(``cycle`` null) and a ``sirt`` record.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.io.dicom_write import Radiopharmaceutical, StudyInfo, write_nm_series, write_pet_series
from sstrkit.phantom.anatomy import LABELS, Anatomy
from sstrkit.phantom.gamma_camera import (
    PlanarCamera,
    PlanarGeometry,
    acquire,
    mirror,
    project_thickness,
    project_views,
)
from sstrkit.phantom.positioning import MovedAnatomy
from sstrkit.phantom.scanners import (
    EmissionScanner,
    ct_fine_hu,
    fine_concentration,
    spect_camera_parameters,
)
from sstrkit.phantom.scint_dicom import write_planar_wholebody
from sstrkit.phantom.sirt_dicom import MAA_CODE, Y90_SPHERES_CODE, annotate
from sstrkit.phantom.sirt_distribution import (
    Prescription,
    SirtDraw,
    SirtMasses,
    breathe,
    breathing_shifts_mm,
    concentration_table,
    draw_sirt,
    prescribe,
    sirt_masses,
)
from sstrkit.phantom.sirt_dose import true_dose
from sstrkit.phantom.sirt_parameters import SIRT_PARAMETERS, SIRT_STREAM, SOURCES
from sstrkit.phantom.sirt_truth import (
    sirt_document,
    write_dose_map,
    write_labels,
    write_planar_rois,
)
from sstrkit.phantom.spect_recon import attenuation_map
from sstrkit.phantom.study_scans import ScanSessions, _spect_units, _uid, _volume
from sstrkit.phantom.truth import CycleTruth
from sstrkit.phantom.truth_files import _atomic_json
from sstrkit.physics.nuclides import get_nuclide

__all__ = [
    "MAA_TRACER",
    "SIRT_ROLES",
    "Y90_TRACER",
    "SirtRecords",
    "sirt_exams",
    "y90_pet_scanner",
]

H = SECONDS_PER_HOUR
Progress = Callable[[str], None]
#: Manifest roles the SIRT adds (lists).
SIRT_ROLES = ("maa_planar", "maa_spect", "maa_spect_ct", "y90_pet", "y90_pet_ct")
MAA_TRACER = "99mTc-MAA"
Y90_TRACER = "90Y resin microspheres (SIR-Spheres)"


@dataclass
class SirtRecords:
    """What the SIRT adds to ``clinical.json`` and the manifest's truth."""

    administrations: list[dict[str, Any]]
    sirt: list[dict[str, Any]]
    truth_file: str


@dataclass(frozen=True)
class _Plan:
    """What the SIRT sessions share."""

    sc: ScanSessions
    baseline: Anatomy
    masses: SirtMasses
    draw: SirtDraw
    rx: Prescription
    maa_injection: _dt.datetime
    implant: _dt.datetime

    @property
    def hepatic_labels(self) -> frozenset[int]:
        return frozenset({LABELS["liver"], *(t.label for t in self.masses.tumours)})

    def with_noise(self, k: int) -> _Plan:
        cfg = self.sc.cfg
        rng = np.random.default_rng([cfg.seed, SIRT_STREAM, k]) if cfg.noise else None
        return replace(self, sc=replace(self.sc, noise_rng=rng))

    def maa_activities(self, t: _dt.datetime) -> dict[str, float]:
        """Region -> 99mTc-MAA activity (Bq) at ``t``: particles and free pertechnetate."""
        p, d = SIRT_PARAMETERS, self.draw
        lam = get_nuclide("Tc-99m").decay_constant_per_s
        a = p.maa_activity_bq * math.exp(-lam * (t - self.maa_injection).total_seconds())
        f = d.free_pertechnetate_fraction
        out = {k: (1.0 - f) * a * v for k, v in d.maa.fractions(self.masses).items()}
        for region, share in p.free_split:
            out[region] = out.get(region, 0.0) + f * a * share
        return out

    def y90_activities(self, t: _dt.datetime | None = None) -> dict[str, float]:
        """Region -> 90Y activity (Bq) at ``t`` (default: at the implant)."""
        lam = get_nuclide("Y-90").decay_constant_per_s
        dt_s = 0.0 if t is None else (t - self.implant).total_seconds()
        a = self.rx.net_bq * math.exp(-lam * dt_s)
        return {k: a * v for k, v in self.draw.y90.fractions(self.masses).items()}

    def concentration(
        self, seen: MovedAnatomy, activities: dict[str, float], key: str
    ) -> NDArray[np.float32]:
        """Fine-grid Bq/mL of the session, the hepatic part blurred by breathing."""
        table = concentration_table(seen.anatomy, seen.counts, activities)
        hep = self.hepatic_labels
        liver = fine_concentration(seen.anatomy, {k: v for k, v in table.items() if k in hep})
        rest = fine_concentration(seen.anatomy, {k: v for k, v in table.items() if k not in hep})
        p = SIRT_PARAMETERS
        shifts = breathing_shifts_mm(
            self.draw.breathing_amplitude_mm,
            self.draw.ct_phase[key],
            n=p.breathing_n,
            phases=p.breathing_phases,
        )
        return breathe(liver, seen.anatomy.model.grid, shifts) + rest


def _timeline(last_injection: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    """MAA injection and implant times (12 weeks after the last cycle; 14 days apart)."""
    p = SIRT_PARAMETERS
    day = last_injection + _dt.timedelta(weeks=p.weeks_after_last_cycle)
    maa = day.replace(hour=p.maa_injection_hour[0], minute=p.maa_injection_hour[1], second=0,
                      microsecond=0)  # fmt: skip
    implant = (maa + _dt.timedelta(days=p.implant_days_after_maa)).replace(
        hour=p.implant_hour[0], minute=p.implant_hour[1]
    )
    return maa, implant


# ---------------------------------------------------------------- MAA planar
def _lsf(ant: NDArray[Any], post: NDArray[Any], rois: NDArray[np.int16]) -> dict[str, float]:
    """Conjugate-view LSF: geometric means of the ROI totals (anterior orientation)."""
    a, p = np.asarray(ant, dtype=np.float64), np.asarray(post, dtype=np.float64)
    gm = {
        name: math.sqrt(float(a[rois == v].sum()) * float(p[rois == v].sum()))
        for name, v in (("liver", 1), ("lungs", 2))
    }
    total = gm["liver"] + gm["lungs"]
    return {
        "lung_shunt_fraction": gm["lungs"] / total if total > 0 else math.nan,
        "liver_counts_geometric_mean": gm["liver"],
        "lung_counts_geometric_mean": gm["lungs"],
    }


def _planar_rois(
    plan: _Plan, seen: MovedAnatomy, camera: PlanarCamera, geo: PlanarGeometry
) -> NDArray[np.int16]:
    """ROIs of the anterior view: 1 liver (with its tumours), 2 lungs not over the liver."""
    anat, grid = seen.anatomy, seen.anatomy.model.grid
    hepatic = np.isin(anat.labels.array, sorted(plan.hepatic_labels))
    liver = project_thickness(hepatic, grid, camera, geo) > 0
    lungs = project_thickness(anat.mask("lungs"), grid, camera, geo) > 0
    rois = np.zeros(liver.shape, dtype=np.int16)
    rois[lungs & ~liver] = 2
    rois[liver] = 1
    return rois


def _maa_planar(
    plan: _Plan, seen: MovedAnatomy, study: StudyInfo, rp: Radiopharmaceutical
) -> tuple[dict[str, Any], dict[str, Any], float, NDArray[np.int16]]:
    """The whole-body sweep: manifest entry, truth, scan duration (s) and the ROIs."""
    sc, p = plan.sc, SIRT_PARAMETERS
    t = plan.maa_injection + _dt.timedelta(minutes=p.planar_start_min)
    camera = PlanarCamera.for_nuclide("Tc-99m")
    model = seen.anatomy.model
    geo = PlanarGeometry.for_patient(
        model.grid, model.body.center_mm, model.body.semi_axes_mm, camera
    )
    assert seen.ct_map is not None  # session_patient always moves the CT map
    hu = ct_fine_hu(seen.anatomy, seen.ct_map)
    mus = [attenuation_map(hu, w.energy_mev) for w in camera.windows]
    dwell = camera.dwell_time_s(p.planar_speed_cm_min)
    conc = plan.concentration(seen, plan.maa_activities(t), "maa")
    views = project_views(conc, mus, model.grid, camera, geo, dwell)
    ant, sat_a = acquire(views.anterior, sc.noise_rng)
    post, sat_p = acquire(views.posterior, sc.noise_rng)
    uid = _uid(sc.cfg.seed, "sirt_maa_wb", "series")
    h = p.planar_start_min / 60.0
    path = write_planar_wholebody(
        sc.root / "dicom" / "sirt" / "maa_wb" / "NM.dcm",
        ant,
        mirror(post),
        patient=sc.patient,
        study=study,
        radiopharmaceutical=rp,
        acquisition_time=t,
        camera=camera,
        geometry=geo,
        scan_speed_cm_min=p.planar_speed_cm_min,
        series_uid=uid,
        series_number=next(sc.number),
        series_description=f"WB {MAA_TRACER} {h:g}h",
    )
    annotate([path], code=MAA_CODE)
    duration = camera.scan_length_mm / (p.planar_speed_cm_min * 10.0 / 60.0)
    windows = [{"name": f"{w.centre_kev:g} keV", "lower_kev": w.lower_kev,
                "upper_kev": w.upper_kev} for w in camera.windows]  # fmt: skip
    entry = {
        "tracer": MAA_TRACER,
        "nuclide": "Tc-99m",
        "hours_post_injection": h,
        "path": sc.rel(path),
        "series_uid": uid,
        "time": t.isoformat(),
        "injection_time": plan.maa_injection.isoformat(),
        "injected_activity_bq": p.maa_activity_bq,
        "views": ["ANTERIOR", "POSTERIOR"],
        "posterior_stored_mirrored": True,
        "units": "counts",
        "matrix": [camera.rows, camera.columns],
        "pixel_spacing_mm": [camera.pixel_mm, camera.pixel_mm],
        "collimator": camera.collimator,
        "energy_windows": windows,
        "scan_speed_cm_min": p.planar_speed_cm_min,
        "scan_duration_s": duration,
        "dwell_time_s": dwell,
        "sensitivity_cps_per_mbq_per_head": camera.sensitivity_cps_per_mbq,
        "fwhm_mm_at_100mm": float(camera.fwhm_mm(100.0)),
        "saturated_pixels": sat_a + sat_p,
    }
    rois = _planar_rois(plan, seen, camera, geo)
    truth = {
        "series_uid": uid,
        "time": t.isoformat(),
        "hours_post_injection": h,
        "noise_free": _lsf(views.anterior, views.posterior, rois),
        "measured": _lsf(ant, post, rois),
        "primary_fraction": views.primary_fraction,
        "rois": "truth/sirt_maa_planar_rois.nii.gz (1 liver, 2 lungs not over the liver)",
        "note": "conjugate-view geometric means without attenuation or scatter correction "
        "over the true organ projections: biased high against the true LSF, as clinical "
        "planar LSF is (lungs attenuate less than the liver; scatter and free pertechnetate "
        "in the lung ROI)",
    }
    return entry, truth, duration, rois


# ---------------------------------------------------------------- MAA SPECT/CT
def _maa_spect(
    plan: _Plan, seen: MovedAnatomy, t: _dt.datetime, study: StudyInfo, rp: Radiopharmaceutical
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The MAA SPECT/CT at ``t``: its manifest entries (SPECT, CT), truth and FoR UID."""
    sc = plan.sc
    seed = sc.cfg.seed
    conc = plan.concentration(seen, plan.maa_activities(t), "maa")
    img, grid, info, fwhm = sc._spect_image(seen, conc, "Tc-99m")
    for_uid = _uid(seed, "sirt_maa_spect", "for")
    pet_slices = sc.cfg.spect_format == "pet-slices"
    vol = _volume(img, grid, unit="Bq/mL", quantity="activity_concentration",
                  modality="PT" if pet_slices else "NM", time=t, for_uid=for_uid,
                  name="sirt_maa_spect", params=info)  # fmt: skip
    folder = sc.root / "dicom" / "sirt" / "maa_spect"
    uid = _uid(seed, "sirt_maa_spect", "series")
    cam = spect_camera_parameters("Tc-99m")
    duration = float(cam["spect_duration_s"])
    desc = f"SPECT {MAA_TRACER} liver"
    number = next(sc.number)
    camera = PlanarCamera.for_nuclide("Tc-99m")
    windows = [(w.lower_kev, w.upper_kev) for w in camera.windows]
    if pet_slices:  # Siemens xSPECT Quant style
        files = write_pet_series(vol, folder, patient=sc.patient, study=study,
                                 radiopharmaceutical=rp, series_description=desc,
                                 series_number=number, series_uid=uid,
                                 frame_duration_s=duration)  # fmt: skip
        path = folder
    else:
        path = write_nm_series(vol, folder / "NM.dcm", patient=sc.patient, study=study,
                               radiopharmaceutical=rp, series_description=desc,
                               series_number=number, series_uid=uid,
                               acquisition_duration_s=duration)  # fmt: skip
        files = [path]
    annotate(files, code=MAA_CODE, energy_windows=windows, window_name="Tc99m 140")
    h = (t - plan.maa_injection).total_seconds() / H
    keys = ("n_views", "radius_of_rotation_mm", "fwhm_at_rotation_axis_mm", "energy_mev")
    entry = {
        "tracer": MAA_TRACER,
        "hours_post_injection": h,
        "path": sc.rel(path),
        "series_uid": uid,
        "frame_of_reference_uid": for_uid,
        "time": t.isoformat(),
        "injection_time": plan.maa_injection.isoformat(),
        "injected_activity_bq": SIRT_PARAMETERS.maa_activity_bq,
        "nuclide": "Tc-99m",
        "calibration_cps_per_mbq": float(cam["spect_calibration_cps_per_mbq"]),
        "energy_windows": [
            {"name": "140.5 keV", "lower_kev": lo, "upper_kev": hi} for lo, hi in windows
        ],
        "acquisition_duration_s": duration,
        "voxel_mm": float(grid.spacing[0]),
        "fwhm_mm": fwhm,
        "simulation": sc.cfg.spect_recon,
        "spect_format": sc.cfg.spect_format,
        "units": _spect_units(sc.cfg.spect_recon),
        "system": {k: info[k] for k in keys if k in info} or None,
    }
    ct = sc.write_ct(seen, folder.with_name("maa_spect_ct"), t - _dt.timedelta(minutes=1),
                     for_uid, study, "sirt_maa_spect_ct")  # fmt: skip
    truth = {
        "series_uid": uid,
        "frame_of_reference_uid": for_uid,
        "time": t.isoformat(),
        "hours_post_injection": h,
        "regions_bq": plan.maa_activities(t),
        "ct_series_uid": ct["series_uid"],
    }
    return {"spect": entry, "ct": {"hours_post_injection": h, **ct}}, truth, for_uid


def _maa_visit(plan: _Plan, step: Progress) -> tuple[dict[str, Any], str]:
    """Planar sweep then SPECT/CT, one patient position; truth and the labels path."""
    sc = plan.sc
    seed = sc.cfg.seed
    study = StudyInfo(
        study_uid=_uid(seed, "sirt_maa", "study"),
        study_time=plan.maa_injection,
        description="99mTc-MAA hepatic perfusion scintigraphy (SIRT work-up)",
        accession_number=f"PH{seed:04d}MAA",
    )
    rp = Radiopharmaceutical(MAA_TRACER, "Tc-99m", SIRT_PARAMETERS.maa_activity_bq,
                             plan.maa_injection)  # fmt: skip
    seen = sc.session_patient(plan.baseline, "sirt_maa")
    step("SIRT: 99mTc-MAA whole body")
    planar, planar_truth, wait_s, rois = _maa_planar(plan, seen, study, rp)
    sc.series["maa_planar"].append(planar)
    write_planar_rois(sc.root, rois, PlanarCamera.for_nuclide("Tc-99m").pixel_mm)
    step("SIRT: 99mTc-MAA SPECT/CT")
    start = _dt.datetime.fromisoformat(planar["time"]) + _dt.timedelta(
        minutes=5 * math.ceil(wait_s / 300.0)
    )
    entries, spect_truth, for_uid = _maa_spect(plan, seen, start, study, rp)
    sc.series["maa_spect"].append(entries["spect"])
    sc.series["maa_spect_ct"].append(entries["ct"])
    sc.record_position("sirt_maa", seen, for_uid, planar["series_uid"],
                       entries["spect"]["series_uid"], entries["ct"]["series_uid"])  # fmt: skip
    labels = write_labels(sc.root, "maa", seen, sc.ct_grid, for_uid, plan.masses)
    spect_truth["motion"] = seen.motion.to_dict("sirt_maa")
    truth = {
        "injection_time": plan.maa_injection.isoformat(),
        "injected_activity_bq": SIRT_PARAMETERS.maa_activity_bq,
        "planar": planar_truth,
        "spect": spect_truth,
    }
    return truth, labels


# ---------------------------------------------------------------- 90Y PET/CT
def y90_pet_scanner() -> EmissionScanner:
    """The PET of ``[pet]`` for 90Y: count efficiency per positron × 31.86e-6 positrons per
    decay, FWHM and noise amplification of :mod:`sstrkit.phantom.sirt_parameters`."""
    p = SIRT_PARAMETERS
    base = EmissionScanner.pet()
    per_positron = base.counts_per_bq_s / get_nuclide("Ga-68").positron_fraction
    return replace(
        base,
        name="PET Y-90",
        fwhm_mm=p.pet_fwhm_mm,
        counts_per_bq_s=per_positron * p.y90_positron_yield,
        noise_variance_factor=p.pet_noise_variance_factor,
    )


def _y90_pet(plan: _Plan, step: Progress) -> tuple[dict[str, Any], str]:
    """The 90Y PET/CT the day after the implant: DICOM, manifest entries, truth, labels."""
    step("SIRT: 90Y PET/CT")
    sc, p = plan.sc, SIRT_PARAMETERS
    seed = sc.cfg.seed
    t = plan.implant + _dt.timedelta(hours=p.pet_hours_after_implant)
    study = StudyInfo(
        study_uid=_uid(seed, "sirt_y90", "study"),
        study_time=t - _dt.timedelta(minutes=10),
        description="90Y PET/CT after radioembolisation",
        accession_number=f"PH{seed:04d}Y90",
    )
    seen = sc.session_patient(plan.baseline, "sirt_y90_pet")
    conc = plan.concentration(seen, plan.y90_activities(t), "y90")
    scanner = y90_pet_scanner()
    duration = p.pet_frame_duration_s
    img, grid, info = scanner.image(conc, sc.truth_grid, duration_s=duration, rng=sc.noise_rng)
    for_uid = _uid(seed, "sirt_y90_pet", "for")
    vol = _volume(img, grid, unit="Bq/mL", quantity="activity_concentration", modality="PT",
                  time=t, for_uid=for_uid, name="sirt_y90_pet", params=info)  # fmt: skip
    folder = sc.root / "dicom" / "sirt" / "y90_pet"
    uid = _uid(seed, "sirt_y90_pet", "series")
    files = write_pet_series(
        vol,
        folder,
        patient=sc.patient,
        study=study,
        radiopharmaceutical=Radiopharmaceutical(Y90_TRACER, "Y-90", plan.rx.net_bq, plan.implant),
        series_description="90Y PET liver post SIRT",
        series_number=next(sc.number),
        series_uid=uid,
        frame_duration_s=duration,
    )
    annotate(files, code=Y90_SPHERES_CODE, positron_fraction=p.y90_positron_yield)
    h = (t - plan.implant).total_seconds() / H
    sc.series["y90_pet"].append(
        {
            "tracer": Y90_TRACER,
            "nuclide": "Y-90",
            "hours_post_injection": h,
            "path": sc.rel(folder),
            "series_uid": uid,
            "frame_of_reference_uid": for_uid,
            "time": t.isoformat(),
            "injection_time": plan.implant.isoformat(),
            "injected_activity_bq": plan.rx.net_bq,
            "frame_duration_s": duration,
            "voxel_mm": scanner.voxel_mm,
            "fwhm_mm": scanner.fwhm_mm,
            "units": "Bq/mL (decay-corrected to the acquisition start)",
            "positron_yield": p.y90_positron_yield,
        }
    )
    ct = sc.write_ct(seen, folder.with_name("y90_pet_ct"), t - _dt.timedelta(minutes=2),
                     for_uid, study, "sirt_y90_pet_ct")  # fmt: skip
    sc.series["y90_pet_ct"].append({"hours_post_injection": h, **ct})
    sc.record_position("sirt_y90_pet", seen, for_uid, uid, ct["series_uid"])
    labels = write_labels(sc.root, "y90", seen, sc.ct_grid, for_uid, plan.masses)
    truth = {
        "series_uid": uid,
        "frame_of_reference_uid": for_uid,
        "time": t.isoformat(),
        "hours_post_injection": h,
        "regions_bq": plan.y90_activities(t),
        "expected_true_counts": info.get("expected_total_counts"),
        "counts_per_bq_s": scanner.counts_per_bq_s,
        "noise_variance_factor": scanner.noise_variance_factor,
        "motion": seen.motion.to_dict("sirt_y90_pet"),
        "ct_series_uid": ct["series_uid"],
    }
    return truth, labels


# ---------------------------------------------------------------- the SIRT
def sirt_exams(
    scans: ScanSessions, baseline: Anatomy, cycles: Sequence[CycleTruth], step: Progress
) -> SirtRecords:
    """Simulate and write the SIRT work-up, the 90Y PET/CT and the truth files.

    Fills ``scans.series`` (:data:`SIRT_ROLES`) and ``scans.positioning``; returns the
    administrations and the ``sirt`` record of ``clinical.json`` and the truth file.
    """
    cfg = scans.cfg
    for key in SIRT_ROLES:
        scans.series.setdefault(key, [])
    masses = sirt_masses(baseline)
    draw = draw_sirt(cfg.seed, [t.id for t in masses.tumours])
    rx = prescribe(draw, masses)
    maa_inj, implant = _timeline(cycles[-1].injection_time)
    plan = _Plan(scans, baseline, masses, draw, rx, maa_inj, implant)
    maa_truth, maa_labels = _maa_visit(plan.with_noise(1), step)
    pet_truth, y90_labels = _y90_pet(plan.with_noise(2), step)
    step("SIRT: true 90Y doses")
    dose = true_dose(baseline, masses, plan.y90_activities())
    dose_rel = write_dose_map(scans.root, baseline, dose, _uid(cfg.seed, "truth", "for"))
    doc = sirt_document(
        draw=draw,
        masses=masses,
        dose=dose,
        sessions={
            "implant_time": implant.isoformat(),
            "activity_bq": rx.net_bq,
            "prescription": rx.to_dict(),
            "maa": maa_truth,
            "y90_pet": pet_truth,
        },
        labels={
            "maa": maa_labels,
            "y90": y90_labels,
            "dose": dose_rel,
            "planar_rois": "truth/sirt_maa_planar_rois.nii.gz",
        },
    )
    doc["coordinates"] = (
        "label maps: the CT grid of their scan (its frame of reference and patient position); "
        "dose map: the truth grid in the baseline 68Ga PET/CT coordinates"
    )
    doc["sources"] = list(SOURCES.values())
    rel = "truth/sirt.json"
    _atomic_json(scans.root / rel, doc)
    measured = maa_truth["planar"]["measured"]["lung_shunt_fraction"]
    return SirtRecords(
        administrations=[
            {
                "cycle": None,
                "radiopharmaceutical": MAA_TRACER,
                "nuclide": "Tc-99m",
                "activity_bq": SIRT_PARAMETERS.maa_activity_bq,
                "time": maa_inj.isoformat(),
            },
            {
                "cycle": None,
                "radiopharmaceutical": Y90_TRACER,
                "nuclide": "Y-90",
                "activity_bq": rx.net_bq,
                "time": implant.isoformat(),
            },
        ],
        sirt=[
            {
                "time": implant.isoformat(),
                "device": "resin",
                "activity_bq": rx.net_bq,
                "target": "whole_liver",
                "lung_shunt_fraction": round(measured, 4),
                "lung_shunt_fraction_method": "planar geometric mean, 99mTc-MAA",
                "prescribed_activity_bq": rx.prescribed_bq,
                "maa_time": maa_inj.isoformat(),
            }
        ],
        truth_file=rel,
    )
