"""Write a complete digital-patient study to disk: DICOM, clinical data and truth.

Layout (paths relative to the study folder; documented in ``docs/phantom.md``)::

    manifest.json                 series by role, truth files, summary
    case.json                     sstrkit case file (patient, administrations, blood)
    clinical.json                 labs, blood samples, administrations (all tracers)
    dicom/pet_dotatate/           68Ga-DOTATATE PET (PT, one file per slice)
    dicom/pet_dotatate_ct/        its CT (same frame of reference)
    dicom/pet_fdg/, pet_fdg_ct/   optional 18F-FDG PET/CT
    dicom/cycle<k>/spect_<hhh>h/NM.dcm      177Lu SPECT (Bq/mL) per cycle and time
                                  (spect_format "pet-slices": PT_0001.dcm ... in that folder)
    dicom/cycle<k>/spect_<hhh>h_ct/         its CT (same frame of reference as the SPECT)
    truth/truth.json              masses, lesions, SUVs, TIAs, doses, activities, positioning
    truth/labels_baseline.nii.gz  label map at the PET (+ cycle 1) time; labels_cycle<k>...
                                  (all in the baseline 68Ga PET/CT coordinates)
    truth/labels.json             label value -> region name
    truth/rtstruct_baseline.dcm   baseline labels as RTSTRUCT on the PET/CT

Every scan session other than the baseline 68Ga PET/CT has its own frame of
reference and, with ``StudyConfig.reposition`` (default), its own patient position
(:mod:`sstrkit.phantom.positioning`; the true motions are in ``truth.json``).

Examples
--------
>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     m = make_study(d, StudyConfig(seed=1, voxel_mm=8.0, cycles=1, timepoints_h=(24.0,),
...                                   fdg=False))
>>> sorted(m["series"])
['fdg', 'fdg_ct', 'pet', 'pet_ct', 'spect', 'spect_ct']
>>> len(m["series"]["spect"]), m["series"]["fdg"]
(1, None)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydicom.uid import generate_uid

from sstrkit import __version__
from sstrkit.core.atomic import apply_output_mode, prepare_output_dir
from sstrkit.core.provenance import Step, jsonable
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_nm_series,
    write_pet_series,
)
from sstrkit.io.nifti import write_nifti
from sstrkit.io.rtstruct_write import write_rtstruct
from sstrkit.phantom.anatomy import (
    COMPOSITES,
    LABELS,
    LAYOUTS,
    Anatomy,
    AnatomyModel,
    Grid,
    Layout,
    PatientSpec,
    build_anatomy,
)
from sstrkit.phantom.biology import Biology, draw_biology
from sstrkit.phantom.clinical import clinical_record
from sstrkit.phantom.ct_tissues import ct_tissue_map
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.positioning import MovedAnatomy, RigidMotion, draw_motion, move_anatomy
from sstrkit.phantom.scanners import (
    EmissionScanner,
    ct_hu,
    fine_concentration,
    scanner_grid,
)
from sstrkit.phantom.truth import CycleTruth, Therapy, simulate_therapy
from sstrkit.physics.nuclides import get_nuclide

__all__ = [
    "DEMO_SEED",
    "EXCLUDED_SEED",
    "FDG_DISCORDANT_SHARE",
    "StudyConfig",
    "has_fdg_discordant_lesion",
    "make_study",
    "region_concentrations_lu",
]

H = 3600.0
TZ = _dt.timezone(_dt.timedelta(hours=1))
Progress = Callable[[str], None]

#: Share of digital patients drawn with an FDG-avid, SSTR-negative liver lesion (NETPET P5,
#: which excludes them from PRRT). Model choice, not a cohort frequency.
FDG_DISCORDANT_SHARE = 0.2
#: The demonstration patient (``sstrkit demo``): no FDG+/SSTR- lesion, eligible for PRRT.
DEMO_SEED = 7
#: The documented excluded patient: an FDG+/SSTR- liver lesion (NETPET P5), not eligible.
EXCLUDED_SEED = 5


def has_fdg_discordant_lesion(seed: int) -> bool:
    """Whether patient ``seed`` has the FDG+/SSTR- liver lesion when not set explicitly.

    A seeded draw (stream ``[seed, 10]``) with probability :data:`FDG_DISCORDANT_SHARE`;
    among seeds 0-39 it gives seeds 5, 9, 23, 26, 28, 32 and 38.

    >>> has_fdg_discordant_lesion(DEMO_SEED), has_fdg_discordant_lesion(EXCLUDED_SEED)
    (False, True)
    """
    return bool(np.random.default_rng([seed, 10]).random() < FDG_DISCORDANT_SHARE)


@dataclass(frozen=True)
class StudyConfig:
    """What to simulate. Defaults: the built-in study (4 × 7.4 GBq q8w, SPECT 4/24/96/168 h).

    Real-world complications (on by default): ``reposition`` moves the patient rigidly
    between scan sessions (every session but the baseline 68Ga PET/CT; shifts up to
    10 mm, rotations up to 3° per axis); ``spect_format`` writes each SPECT as one
    multi-frame NM file (``"nm"``, GE/Philips style) or one PET-SOP file per slice
    (``"pet-slices"``, Siemens xSPECT Quant style); ``labs=False`` leaves the laboratory
    values out of ``clinical.json``; ``fdg_discordant_lesion`` adds (True) or omits
    (False) the FDG+/SSTR- liver lesion, ``None`` draws it from the seed
    (:func:`has_fdg_discordant_lesion`). ``anatomy`` chooses the organ layout:
    ``"sstrkit"`` (the simulator's own) or ``"ornl-stylized"`` (the ORNL/MIRD stylized
    adult, :mod:`sstrkit.phantom.stylized`; same ICRP 89 organ masses).
    """

    seed: int = DEMO_SEED
    sex: Literal["F", "M"] = "M"
    height_cm: float | None = None
    weight_kg: float | None = None
    cycles: int = 4
    activity_bq: float = 7.4e9
    interval_days: float = 56.0
    timepoints_h: tuple[float, ...] = (4.0, 24.0, 96.0, 168.0)
    voxel_mm: float = 2.0
    pet_tracer: Literal["DOTATATE", "DOTATOC"] = "DOTATATE"
    fdg: bool = True
    noise: bool = True
    spect_recon: Literal["image", "osem"] = "image"
    spect_post_filter_mm: float | None = None
    reposition: bool = True
    spect_format: Literal["nm", "pet-slices"] = "nm"
    labs: bool = True
    fdg_discordant_lesion: bool | None = None
    anatomy: Layout = "sstrkit"
    first_injection: _dt.datetime = field(
        default_factory=lambda: _dt.datetime(2025, 3, 3, 10, 0, tzinfo=TZ)
    )

    def __post_init__(self) -> None:
        if not self.timepoints_h:
            raise InvalidInputError("SPECT time points", expected="at least one", actual="none")
        if any(t <= 0 or t > 24 * 30 for t in self.timepoints_h):
            raise InvalidInputError(
                "SPECT time points", expected="0 < t <= 720 h", actual=self.timepoints_h
            )
        if self.spect_recon not in ("image", "osem"):
            raise InvalidInputError(
                "SPECT simulation",
                expected="'image' or 'osem'",
                actual=self.spect_recon,
                fix="choose spect_recon='image' (default) or 'osem'",
            )
        if self.spect_format not in ("nm", "pet-slices"):
            raise InvalidInputError(
                "SPECT DICOM format",
                expected="'nm' (one multi-frame NM file) or 'pet-slices' (PET-SOP per slice)",
                actual=self.spect_format,
                fix="choose spect_format='nm' (default) or 'pet-slices'",
            )
        if self.spect_post_filter_mm is not None and self.spect_recon != "osem":
            raise InvalidInputError(
                "SPECT post-filter",
                expected="only with the projection + OSEM SPECT",
                actual=f"{self.spect_post_filter_mm} mm with spect_recon={self.spect_recon!r}",
                fix="add --spect-recon osem or drop --spect-post-filter-mm",
            )
        if self.spect_post_filter_mm is not None and not self.spect_post_filter_mm > 0:
            raise InvalidInputError(
                "SPECT post-filter",
                expected="FWHM > 0 mm or None",
                actual=self.spect_post_filter_mm,
                fix="give a positive FWHM in mm, or none for no post-filter",
            )
        if self.anatomy not in LAYOUTS:
            raise InvalidInputError(
                "anatomy layout",
                expected=" or ".join(repr(v) for v in LAYOUTS),
                actual=self.anatomy,
                fix="choose anatomy='sstrkit' (default) or 'ornl-stylized'",
            )
        if sorted(set(self.timepoints_h)) != list(self.timepoints_h):
            raise InvalidInputError(
                "SPECT time points",
                expected="strictly increasing hours",
                actual=self.timepoints_h,
            )


def _spect_system(truth_grid: Grid) -> Any:
    """The OSEM camera for this patient: the default orbit, widened to clear the body.

    The orbit radius (rotation axis to collimator face) is max(250 mm, half-diagonal of the
    axial field of view + 20 mm), as a body-contour-free orbit must clear the patient.
    """
    from sstrkit.phantom.spect_recon import SpectSystem

    system = SpectSystem.default()
    grid = system.grid_for(truth_grid)
    _, ny, nx = grid.shape
    half_diag = 0.5 * math.hypot(nx, ny) * system.voxel_mm
    radius = max(system.radius_of_rotation_mm, math.ceil(half_diag + 20.0))
    return replace(system, radius_of_rotation_mm=float(radius))


def _uid(*parts: object) -> str:
    """Deterministic UID from the seed and a role (pydicom hashes the entropy sources)."""
    return str(generate_uid(entropy_srcs=["sstrkit-phantom", *map(str, parts)]))


def _atomic_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(jsonable(data), fh, indent=2, allow_nan=False)
        apply_output_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- concentrations
def _pet_table(
    anatomy: Anatomy, biology: Biology, tracer: str, scale_bq_per_g: float
) -> dict[int, float]:
    """Label value -> Bq/mL for a static PET (SUV × decayed injected activity / weight)."""
    table = {}
    for name, label in LABELS.items():
        table[label] = biology.suv(name, tracer) * scale_bq_per_g
    for i, les in enumerate(anatomy.model.lesions):
        table[anatomy.model.lesion_label(i)] = biology.suv(les.id, tracer) * scale_bq_per_g
    return table


def region_concentrations_lu(
    cycle: CycleTruth, t: _dt.datetime, *, counts: np.ndarray[Any, Any] | None = None
) -> dict[int, float]:
    """Label value -> true 177Lu activity concentration (Bq/mL) at time ``t``.

    Each region's true activity is spread over ``counts`` voxels per label value
    (default: the cycle's label map; a repositioned patient passes
    :attr:`sstrkit.phantom.positioning.MovedAnatomy.counts`).
    """
    anatomy = cycle.anatomy
    counts = anatomy.counts() if counts is None else counts
    vox = anatomy.labels.voxel_volume_ml
    dt = (t - cycle.injection_time).total_seconds()
    kin = cycle.kinetics
    table: dict[int, float] = {}
    for name, label in LABELS.items():
        if name in kin.regions:
            vol = counts[label] * vox
            table[label] = (
                float(kin.regions[name].value(dt)) * cycle.activity_bq / vol if vol else 0.0
            )
    for i, les in enumerate(anatomy.model.lesions):
        label = anatomy.model.lesion_label(i)
        vol = counts[label] * vox
        table[label] = (
            float(kin.regions[les.id].value(dt)) * cycle.activity_bq / vol if vol else 0.0
        )
    weights = kin.remainder_weights
    denom = sum(w * counts[LABELS[n]] * vox for n, w in weights.items())
    rem = float(kin.regions["remainder"].value(dt)) * cycle.activity_bq
    for n, w in weights.items():
        table[LABELS[n]] = rem * w / denom
    return table


# ---------------------------------------------------------------- volumes
def _volume(
    arr: np.ndarray[Any, Any],
    grid: Grid,
    *,
    unit: str,
    quantity: str,
    modality: str,
    time: _dt.datetime,
    for_uid: str,
    name: str,
    params: dict[str, Any],
) -> Volume:
    return Volume.from_array(
        arr,
        spacing=grid.spacing,
        origin=grid.origin,
        frame_of_reference_uid=for_uid,
        modality=modality,
        quantity=quantity,
        unit=unit,
        reference_time=time,
        name=name,
        operation="phantom_scan",
        parameters=params,
    )


def _ct_grid(truth: Grid) -> Grid:
    v = truth.spacing[0]
    return scanner_grid(truth, (v, v, 2.0 * v))


def make_study(
    out: str | os.PathLike[str],
    config: StudyConfig | None = None,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate the patient, write the study folder and return the manifest."""
    cfg = config or StudyConfig()
    root = prepare_output_dir(out, "study folder")
    step = progress or (lambda _msg: None)
    seed = cfg.seed
    rng = np.random.default_rng([seed, 5])

    step("anatomy")
    spec = PatientSpec(cfg.sex, cfg.height_cm, cfg.weight_kg, seed).resolved()
    discordant = (
        has_fdg_discordant_lesion(seed)
        if cfg.fdg_discordant_lesion is None
        else cfg.fdg_discordant_lesion
    )
    model = build_anatomy(spec, voxel_mm=cfg.voxel_mm, fdg_lesion=discordant, layout=cfg.anatomy)
    baseline = model.voxelise()
    biology = draw_biology(baseline, seed)
    step("kinetics and truth")
    therapy = Therapy(cfg.cycles, cfg.activity_bq, cfg.interval_days, cfg.first_injection)
    cycles = simulate_therapy(model, biology, therapy)

    weight_kg = float(spec.weight_kg or 0.0)
    patient = PatientInfo(
        name=f"PHANTOM^NET{seed:04d}",
        patient_id=f"SSTRKIT-PH{seed:04d}",
        birth_date=f"{1950 + seed % 30}0{1 + seed % 9}15",
        sex=cfg.sex,
        weight_kg=weight_kg,
        height_cm=spec.height_cm,
    )
    pet_scanner = EmissionScanner.pet()
    spect_scanner = EmissionScanner.spect()
    pp = parameters()["pet"]
    sp = parameters()["spect"]
    truth_grid = model.grid
    ct_grid = _ct_grid(truth_grid)
    noise_rng = rng if cfg.noise else None
    series: dict[str, Any] = {"fdg": None, "fdg_ct": None, "spect": [], "spect_ct": []}
    number = iter(range(1, 1000))

    def rel(p: Path) -> str:
        return p.relative_to(root).as_posix()

    # ------------------------------------------------------- patient position per session
    centre = model.body.center_mm
    # the CT-only tissues (muscles, fat, bowel ...) of the patient, moved with the labels
    ct_map = ct_tissue_map(baseline)
    positioning: list[dict[str, Any]] = []

    def session_patient(anat: Anatomy, session: str) -> MovedAnatomy:
        """The patient as the session's scanners see it (moved unless baseline or off).

        One CT tissue map per patient: lesions that shrink in later cycles uncover tissue
        that the baseline map already holds.
        """
        moved = session != "pet" and cfg.reposition
        motion = draw_motion(seed, session, centre) if moved else RigidMotion.identity(centre)
        return move_anatomy(anat, motion, ct_map=ct_map)

    def record_position(session: str, seen: MovedAnatomy, for_uid: str, *uids: str) -> None:
        positioning.append(
            {
                **seen.motion.to_dict(session),
                "baseline": session == "pet",
                "frame_of_reference_uid": for_uid,
                "series_uids": list(uids),
            }
        )

    def write_ct(
        anat: MovedAnatomy,
        folder: Path,
        t: _dt.datetime,
        for_uid: str,
        study: StudyInfo,
        role: str,
    ) -> dict[str, Any]:
        hu = ct_hu(anat.anatomy, ct_grid, noise_rng, ct_map=anat.ct_map)
        vol = _volume(
            hu,
            ct_grid,
            unit="HU",
            quantity="ct_number",
            modality="CT",
            time=t,
            for_uid=for_uid,
            name=role,
            params={"noise": cfg.noise},
        )
        uid = _uid(seed, role, "series")
        write_ct_series(
            vol,
            folder,
            patient=patient,
            study=study,
            acquisition_time=t,
            series_description=f"CT {role}",
            series_number=next(number),
            series_uid=uid,
        )
        return {
            "path": rel(folder),
            "series_uid": uid,
            "frame_of_reference_uid": for_uid,
            "time": t.isoformat(),
            "voxel_mm": list(ct_grid.spacing),
        }

    # --------------------------------------------------------- PET exams
    first = cycles[0].injection_time
    exams: list[tuple[str, str, str, _dt.datetime]] = [
        ("pet", f"68Ga-{cfg.pet_tracer}", "Ga-68", first - _dt.timedelta(days=14))
    ]
    if cfg.fdg:
        exams.append(("fdg", "18F-FDG", "F-18", first - _dt.timedelta(days=21)))
    pet_truth: dict[str, Any] = {}
    extra_admin: list[dict[str, Any]] = []
    for role, agent, nuclide, day in exams:
        step(f"{role} PET/CT")
        inj = day.replace(hour=9, minute=0)
        mbq_kg = float(pp["fdg_injected_mbq_per_kg" if role == "fdg" else "injected_mbq_per_kg"])
        a_inj = round(mbq_kg * weight_kg) * 1e6
        t_scan = inj + _dt.timedelta(minutes=float(pp["uptake_time_min"]))
        nuc = get_nuclide(nuclide)
        decayed = a_inj * float(np.exp(-nuc.decay_constant_per_s * (t_scan - inj).total_seconds()))
        scale = decayed / (weight_kg * 1000.0)
        tracer = "FDG" if role == "fdg" else cfg.pet_tracer
        table = _pet_table(baseline, biology, tracer, scale)
        patient_now = session_patient(baseline, role)
        conc = fine_concentration(patient_now.anatomy, table)
        img, grid, info = pet_scanner.image(
            conc, truth_grid, duration_s=float(pp["frame_duration_s"]), rng=noise_rng
        )
        study = StudyInfo(
            study_uid=_uid(seed, role, "study"),
            study_time=inj,
            description=f"{agent} PET/CT",
            accession_number=f"PH{seed:04d}{role.upper()}",
        )
        for_uid = _uid(seed, role, "for")
        vol = _volume(
            img,
            grid,
            unit="Bq/mL",
            quantity="activity_concentration",
            modality="PT",
            time=t_scan,
            for_uid=for_uid,
            name=role,
            params=info,
        )
        folder = root / "dicom" / ("pet_fdg" if role == "fdg" else f"pet_{cfg.pet_tracer.lower()}")
        uid = _uid(seed, role, "series")
        rp = Radiopharmaceutical(agent, nuclide, a_inj, inj)
        write_pet_series(
            vol,
            folder,
            patient=patient,
            study=study,
            radiopharmaceutical=rp,
            series_description=f"{agent} PET",
            series_number=next(number),
            series_uid=uid,
            frame_duration_s=float(pp["frame_duration_s"]),
        )
        series[role] = {
            "path": rel(folder),
            "series_uid": uid,
            "frame_of_reference_uid": for_uid,
            "tracer": agent,
            "nuclide": nuclide,
            "injection_time": inj.isoformat(),
            "injected_activity_bq": a_inj,
            "time": t_scan.isoformat(),
            "frame_duration_s": float(pp["frame_duration_s"]),
            "voxel_mm": pet_scanner.voxel_mm,
            "fwhm_mm": pet_scanner.fwhm_mm,
        }
        series[f"{role}_ct"] = write_ct(
            patient_now,
            folder.with_name(folder.name + "_ct"),
            t_scan - _dt.timedelta(minutes=2),
            for_uid,
            study,
            f"{role}_ct",
        )
        record_position(role, patient_now, for_uid, uid, series[f"{role}_ct"]["series_uid"])
        extra_admin.append(
            {
                "cycle": None,
                "radiopharmaceutical": agent,
                "nuclide": nuclide,
                "activity_bq": a_inj,
                "time": inj.isoformat(),
            }
        )
        regions = {n: biology.suv(n, tracer) for n in LABELS}
        regions.update({les.id: biology.suv(les.id, tracer) for les in model.lesions})
        pet_truth[role] = {
            "tracer": agent,
            "suv_bw": regions,
            "activity_concentration_bq_ml": {k: v * scale for k, v in regions.items()},
            "suv_scale_bq_ml_per_suv": scale,
        }

    # --------------------------------------------------------- SPECT/CT per cycle and time
    lu = "Lu-177"
    scan_times: dict[int, list[_dt.datetime]] = {}
    for cyc in cycles:
        study = StudyInfo(
            study_uid=_uid(seed, "cycle", cyc.index, "study"),
            study_time=cyc.injection_time,
            description=f"177Lu-DOTATATE cycle {cyc.index} SPECT/CT",
            accession_number=f"PH{seed:04d}C{cyc.index}",
        )
        rp = Radiopharmaceutical("177Lu-DOTATATE", lu, cyc.activity_bq, cyc.injection_time)
        scan_times[cyc.index] = []
        for h in cfg.timepoints_h:
            step(f"cycle {cyc.index} SPECT/CT {h:g} h")
            t = cyc.injection_time + _dt.timedelta(hours=h)
            scan_times[cyc.index].append(t)
            role = f"cycle{cyc.index}_spect_{h:g}h"
            patient_now = session_patient(cyc.anatomy, role)
            conc = fine_concentration(
                patient_now.anatomy, region_concentrations_lu(cyc, t, counts=patient_now.counts)
            )
            if cfg.spect_recon == "osem":
                from sstrkit.phantom.spect_recon import reconstruct_spect

                system = _spect_system(truth_grid)
                hu = ct_hu(
                    patient_now.anatomy,
                    system.grid_for(truth_grid),
                    None,
                    ct_map=patient_now.ct_map,
                )
                img, grid, info = reconstruct_spect(
                    conc,
                    truth_grid,
                    hu,
                    duration_s=float(sp["acquisition_duration_s"]),
                    rng=noise_rng,
                    system=system,
                    post_filter_fwhm_mm=cfg.spect_post_filter_mm,
                )
                # OSEM with resolution modelling has no single image FWHM (a 30 mm sphere
                # recovers 0.86, not the 0.65 of an 11 mm Gaussian): no value, so that no
                # Gaussian partial-volume correction is applied downstream.
                fwhm = None
            else:
                img, grid, info = spect_scanner.image(
                    conc, truth_grid, duration_s=float(sp["acquisition_duration_s"]), rng=noise_rng
                )
                fwhm = spect_scanner.fwhm_mm
            for_uid = _uid(seed, role, "for")
            pet_slices = cfg.spect_format == "pet-slices"
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
            folder = root / "dicom" / f"cycle{cyc.index}" / f"spect_{h:03.0f}h"
            uid = _uid(seed, role, "series")
            if pet_slices:
                # Siemens xSPECT Quant style: PET Image Storage, one file per slice, BQML.
                write_pet_series(
                    vol,
                    folder,
                    patient=patient,
                    study=study,
                    radiopharmaceutical=rp,
                    series_description=f"177Lu xSPECT QUANT cycle {cyc.index} {h:g} h",
                    series_number=next(number),
                    series_uid=uid,
                    frame_duration_s=float(sp["acquisition_duration_s"]),
                )
                path = folder
            else:
                path = write_nm_series(
                    vol,
                    folder / "NM.dcm",
                    patient=patient,
                    study=study,
                    radiopharmaceutical=rp,
                    series_description=f"177Lu SPECT cycle {cyc.index} {h:g} h",
                    series_number=next(number),
                    series_uid=uid,
                    acquisition_duration_s=float(sp["acquisition_duration_s"]),
                )
            series["spect"].append(
                {
                    "cycle": cyc.index,
                    "hours_post_injection": h,
                    "path": rel(path),
                    "series_uid": uid,
                    "frame_of_reference_uid": for_uid,
                    "time": t.isoformat(),
                    "injection_time": cyc.injection_time.isoformat(),
                    "injected_activity_bq": cyc.activity_bq,
                    "nuclide": lu,
                    "calibration_cps_per_mbq": float(sp["calibration_cps_per_mbq"]),
                    "acquisition_duration_s": float(sp["acquisition_duration_s"]),
                    "voxel_mm": float(grid.spacing[0]),
                    "fwhm_mm": fwhm,
                    "simulation": cfg.spect_recon,
                    "spect_format": cfg.spect_format,
                    "units": "Bq/mL (calibrated; counts = Bq/mL x voxel mL x 1e-6 x cps/MBq x s)"
                    if cfg.spect_recon == "image"
                    else "Bq/mL (OSEM with the system model's sensitivity; no extra calibration)",
                    "system": {
                        k: info[k]
                        for k in ("n_views", "radius_of_rotation_mm", "fwhm_at_rotation_axis_mm")
                        if k in info
                    }
                    or None,
                }
            )
            ct = write_ct(
                patient_now,
                folder.with_name(folder.name + "_ct"),
                t - _dt.timedelta(minutes=1),
                for_uid,
                study,
                f"{role}_ct",
            )
            series["spect_ct"].append({"cycle": cyc.index, "hours_post_injection": h, **ct})
            record_position(role, patient_now, for_uid, uid, ct["series_uid"])

    # --------------------------------------------------------- truth and clinical data
    step("truth files")
    truth_dir = root / "truth"
    labels_files = {}
    label_for = _uid(seed, "truth", "for")
    for key, anat in [("baseline", baseline)] + [(f"cycle{c.index}", c.anatomy) for c in cycles]:
        vol = anat.labels.with_metadata(frame_of_reference_uid=label_for, name=f"labels_{key}")
        labels_files[key] = rel(
            write_nifti(
                vol, truth_dir / f"labels_{key}.nii.gz", extra={"labels": _label_names(model)}
            )
        )
    _atomic_json(truth_dir / "labels.json", _label_names(model))
    rtstruct = {"baseline": _truth_rtstruct(root, truth_dir, model, baseline, series)}
    truth = _truth_json(cfg, spec, model, baseline, biology, cycles, scan_times, pet_truth)
    truth["anatomy"] = _anatomy_note(cfg.anatomy)
    truth["reposition"] = cfg.reposition
    truth["positioning"] = positioning
    _atomic_json(truth_dir / "truth.json", truth)
    clinical = clinical_record(
        cycles, sex=cfg.sex, seed=seed, extra_administrations=extra_admin, labs=cfg.labs
    )
    clinical["diagnosis"] = {
        "tumour": "well-differentiated neuroendocrine tumour (digital patient)",
        "who_grade": f"G{biology.tumour_grade}",
    }
    _atomic_json(root / "clinical.json", clinical)
    _atomic_json(root / "case.json", _case_file(seed, spec, cycles, clinical))

    manifest = {
        "format": "sstrkit-study",
        "version": 1,
        "root": str(root.resolve()),
        "patient": {
            "id": patient.patient_id,
            "sex": cfg.sex,
            "height_cm": spec.height_cm,
            "weight_kg": weight_kg,
            "seed": seed,
        },
        "series": series,
        "truth": {
            "truth_json": "truth/truth.json",
            "labels_nifti": labels_files,
            "label_names": "truth/labels.json",
            "rtstruct": rtstruct,
        },
        **(
            {
                # The pipeline's VOIs: the label map of the baseline PET/CT only (the other
                # sessions are repositioned; their VOIs come by registration).
                "segmentation": {
                    "labels_nifti": {"baseline": labels_files["baseline"]},
                    "label_names": "truth/labels.json",
                    "referenced_series": "pet_ct",
                    "frame_of_reference_uid": series["pet_ct"]["frame_of_reference_uid"],
                }
            }
            if cfg.reposition
            else {}
        ),
        "clinical": "clinical.json",
        "case_file": "case.json",
        "summary": {
            "organ_masses_g": {k: v["mass_g"] for k, v in truth["organs"].items()},
            "administered_activities_bq": [c.activity_bq for c in cycles],
            "administration_times": [c.injection_time.isoformat() for c in cycles],
            "n_lesions": len(model.lesions),
        },
        "anatomy": _anatomy_note(cfg.anatomy),
        "field_of_view": _anatomy_note(cfg.anatomy)["field_of_view"],
        "provenance": Step.make(
            "phantom_make_study",
            {
                k: (v.isoformat() if isinstance(v, _dt.datetime) else v)
                for k, v in cfg.__dict__.items()
            },
        ).to_dict(),
    }
    _atomic_json(root / "manifest.json", manifest)
    return manifest


def _truth_rtstruct(
    root: Path, truth_dir: Path, model: AnatomyModel, baseline: Anatomy, series: dict[str, Any]
) -> dict[str, Any]:
    """The baseline truth labels as an RTSTRUCT on the 68Ga PET/CT.

    Every scan is simulated in one patient coordinate system (LPS mm) and the
    truth grid is the CT's in-plane grid, so the label map is placed in the PET/CT
    frame of reference as it is (no resampling): contours run along the 2 mm
    truth voxel edges on every truth slice; those in a CT slice plane reference
    that CT image.
    """
    ct = series["pet_ct"]
    lesion_labels = {model.lesion_label(i) for i in range(len(model.lesions))}
    labels = baseline.labels.with_metadata(
        frame_of_reference_uid=ct["frame_of_reference_uid"], name="labels_baseline"
    )
    summary = write_rtstruct(
        labels,
        _label_names(model),
        truth_dir / "rtstruct_baseline.dcm",
        reference=root / ct["path"],
        structure_set_label="truth baseline",
        series_description="Truth labels (baseline)",
        interpreted_types={v: "GTV" for v in lesion_labels},
        content_time=_dt.datetime.fromisoformat(series["pet"]["time"]),
    )
    return {
        "path": summary.path.relative_to(root).as_posix(),
        "referenced_series": "pet_ct",
        "referenced_series_uid": ct["series_uid"],
        "frame_of_reference_uid": summary.frame_of_reference_uid,
        "label_map": "labels_baseline",
        "empty_rois": [summary.rois[k] for k in summary.empty_rois],
    }


def _anatomy_note(layout: Layout) -> dict[str, Any]:
    """Which anatomy the study was built with (manifest and truth.json ``anatomy``)."""
    if layout == "ornl-stylized":
        from sstrkit.phantom.stylized import SOURCES

        return {
            "layout": layout,
            "description": "ORNL/MIRD stylized adult: organ shapes and positions from the "
            "published equations, scaled to the patient; organ masses calibrated to ICRP 89",
            "field_of_view": "trunk of the stylized adult (base of the trunk to the shoulders)",
            "sources": list(SOURCES),
        }
    return {
        "layout": layout,
        "description": "sstrkit's own layout: ellipsoids and cylinders; organ masses "
        "calibrated to ICRP 89",
        "field_of_view": "torso from the urinary bladder to the lung apices",
        "sources": [],
    }


def _label_names(model: AnatomyModel) -> dict[str, str]:
    out = {str(v): k for k, v in LABELS.items()}
    out.update({str(model.lesion_label(i)): les.id for i, les in enumerate(model.lesions)})
    return out


def _truth_json(
    cfg: StudyConfig,
    spec: PatientSpec,
    model: AnatomyModel,
    baseline: Anatomy,
    biology: Biology,
    cycles: Sequence[CycleTruth],
    scan_times: dict[int, list[_dt.datetime]],
    pet_truth: dict[str, Any],
) -> dict[str, Any]:
    counts = baseline.counts()
    first = cycles[0]
    organs: dict[str, Any] = {}
    for name in (
        "liver",
        "spleen",
        "kidney_left",
        "kidney_right",
        "kidneys",
        "pancreas",
        "adrenals",
        "lungs",
        "spongiosa",
        "blood_pool",
        "bladder",
    ):
        ref = model.reference_mass_g
        parts = {
            "kidneys": ("kidney_left", "kidney_right"),
            "pancreas": ("pancreas_head", "pancreas_uncinate", "pancreas_body_tail"),
            "adrenals": ("adrenal_left", "adrenal_right"),
        }.get(name, (name,))
        organs[name] = {
            "mass_g": baseline.mass_g(name, counts),
            "volume_ml": baseline.volume_ml(name, counts)
            if name not in COMPOSITES
            else sum(baseline.volume_ml(n, counts) for n in COMPOSITES[name]),
            "reference_mass_g": sum(ref[p] for p in parts)
            if all(p in ref for p in parts)
            else None,
            "target_mass_g": sum(model.target_mass_g[p] for p in parts)
            if all(p in model.target_mass_g for p in parts)
            else None,
            "label_values": list(baseline.label_values(name)),
            "voxelised": True,
        }
    organs["red_marrow"] = {
        "mass_g": first.mass_g["red_marrow"],
        "reference_mass_g": first.mass_g["red_marrow"],
        "voxelised": False,
        "note": "whole-skeleton red marrow (ICRP 89 x BSA ratio); the imaged red-marrow-bearing "
        "bone is the 'spongiosa' region",
    }
    organs["whole_body"] = {
        "mass_g": float(spec.weight_kg or 0) * 1000.0,
        "voxelised": False,
        "voxelised_torso_mass_g": sum(baseline.mass_g(n, counts) for n in LABELS),
    }
    lesions = []
    for i, les in enumerate(model.lesions):
        lesions.append(
            {
                "id": les.id,
                "organ": les.site,
                "host_region": les.host or "vertebral body",
                "label_value": model.lesion_label(i),
                "centroid_mm": list(baseline.centroid_mm(les.id)),
                "volume_ml": baseline.volume_ml(les.id, counts),
                "diameter_mm": les.diameter_mm,
                "sstr_positive": les.sstr_positive,
                "fdg_positive": les.fdg_positive,
                "low_sstr": les.low_sstr,
                "suv_dotatate": biology.suv(les.id, "DOTATATE"),
                "suv_dotatoc": biology.suv(les.id, "DOTATOC"),
                "suv_fdg": biology.suv(les.id, "FDG"),
                "volume_ml_by_cycle": [c.anatomy.volume_ml(les.id) for c in cycles],
            }
        )
    lu = get_nuclide("Lu-177")
    return {
        "schema": "sstrkit-phantom-truth/1",
        "sstrkit_version": __version__,
        "seed": cfg.seed,
        "patient": {
            "sex": spec.sex,
            "height_cm": spec.height_cm,
            "weight_kg": spec.weight_kg,
            "bsa_ratio_to_icrp_reference": spec.bsa_ratio,
        },
        "coordinates": "DICOM patient coordinates (LPS), mm, of the baseline 68Ga PET/CT "
        "(label maps, centroids); other sessions' positions: 'positioning'",
        "organs": organs,
        "lesions": lesions,
        "tumour_biology": {
            "who_grade": biology.tumour_grade,
            "uptake_decline_per_cycle": biology.tumour_uptake_decline_per_cycle,
            "uptake_factor_by_cycle": [biology.tumour_uptake_factor(c.index) for c in cycles],
            "response_alpha_v_per_gy": biology.alpha_v_per_gy,
        },
        "pet": pet_truth,
        "cycles": [c.to_dict(scan_times.get(c.index, [])) for c in cycles],
        "methods": {
            "tia": "analytic integral of the sum-of-exponentials TAC (decay included)",
            "electron_dose": "TIA x delta_electrons (ICRP 107, "
            f"{lu.delta_electrons_mev:.5f} MeV/decay) / mass, locally absorbed",
            "photon_dose": "self-dose only: TIA x sum(y E phi) / mass, phi = 1 - exp(-mu_en rho "
            "4r/3) for a sphere of the region's volume, water mu_en (NIST)",
            "red_marrow": "blood-based: TIA per mL of blood x RMBLR x red-marrow mass, "
            "electrons only",
            "remainder": "body, lungs and cortical bone share the rest of the whole-body activity",
            "tumour_response": "volume x max(exp(-alpha_v D), floor) after each cycle; uptake "
            "per gram x (1 - r)^(cycle - 1), r by WHO grade (Roth et al. 2022)",
        },
        "parameters_file": "sstrkit/phantom/data/parameters.toml",
        "sources": list(parameters()["sources"].values()),
    }


def patient_age_y(seed: int) -> int:
    """Age of the digital patient: 45–74 y, fixed per seed (typical NET/PRRT cohorts)."""
    return 45 + (seed * 13) % 30


def _case_file(
    seed: int, spec: PatientSpec, cycles: Sequence[CycleTruth], clinical: dict[str, Any]
) -> dict[str, Any]:
    """The study's administrations and blood samples in the sstrkit case-file schema."""
    admins = [
        {
            "id": f"C{c.index}",
            "cycle": c.index,
            "nuclide": "Lu-177",
            "agent": "177Lu-DOTATATE",
            "activity_mbq": c.activity_bq / 1e6,
            "datetime": c.injection_time.isoformat(),
        }
        for c in cycles
    ]
    blood = []
    for c in cycles:
        samples = [s for s in clinical["blood_samples"] if s["cycle"] == c.index]
        blood.append(
            {
                "administration": f"C{c.index}",
                "times_h": [s["hours_post_injection"] for s in samples],
                "concentration_kbq_per_ml": [
                    s["activity_concentration_bq_ml"] / 1e3 for s in samples
                ],
                "rmblr": float(parameters()["lu177_blood"]["rmblr"]),
            }
        )
    return {
        "schema_version": 1,
        "case_id": f"phantom-{seed}",
        "patient": {
            "id": f"SSTRKIT-PH{seed:04d}",
            "sex": "male" if spec.sex == "M" else "female",
            "age_y": patient_age_y(seed),
            "height_cm": spec.height_cm,
            "weight_kg": spec.weight_kg,
        },
        "administrations": admins,
        "blood": blood,
    }
