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
    dicom/<tracer>/wb_<hhh>h/, spect_<hhh>h/, pet_<hhh>h/ ...   --sstr-imaging (planar whole
                                  body, SSTR SPECT/CT, 64Cu PET/CT; sstrkit.phantom.scintigraphy)
    truth/truth.json              masses, lesions, SUVs, TIAs, doses, activities, positioning
    truth/labels_baseline.nii.gz  label map at the PET (+ cycle 1) time; labels_cycle<k>...
                                  (all in the baseline 68Ga PET/CT coordinates)
    truth/labels.json             label value -> region name
    truth/rtstruct_baseline.dcm   baseline labels as RTSTRUCT on the PET/CT
    truth/scintigraphy_<tracer>.json   per-lesion truth of each --sstr-imaging tracer
    dicom/sirt/maa_wb/, maa_spect/, maa_spect_ct/, y90_pet/, y90_pet_ct/   --sirt (99mTc-MAA
                                  work-up and 90Y PET/CT after the implant; sstrkit.phantom.sirt)
    truth/sirt.json, truth/sirt_*.nii.gz   SIRT truth (shunt, T/N, true 90Y doses, labels)

Every scan session other than the baseline 68Ga PET/CT has its own frame of
reference and, with ``StudyConfig.reposition`` (default), its own patient position
(:mod:`sstrkit.phantom.positioning`; the true motions are in ``truth.json``).

This module holds :class:`StudyConfig` and :func:`make_study`, which runs the steps:
the scan sessions and their DICOM are in :mod:`sstrkit.phantom.study_scans`, the
``truth/`` files in :mod:`sstrkit.phantom.truth_files`, ``clinical.json``, ``case.json``
and the manifest in :mod:`sstrkit.phantom.study_records` (names that used to live here,
such as :func:`region_concentrations_lu`, stay importable from here).

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
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sstrkit.core.atomic import prepare_output_dir
from sstrkit.core.units import SECONDS_PER_HOUR
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_write import PatientInfo
from sstrkit.phantom.anatomy import (
    LAYOUTS,
    Anatomy,
    AnatomyModel,
    Layout,
    PatientSpec,
    build_anatomy,
)
from sstrkit.phantom.biology import Biology, draw_biology
from sstrkit.phantom.scint_biodistribution import BASELINE_TRACER
from sstrkit.phantom.scintigraphy import normalise_sstr_imaging, sstr_imaging_exams
from sstrkit.phantom.sirt import sirt_exams
from sstrkit.phantom.study_records import patient_age_y as patient_age_y
from sstrkit.phantom.study_records import study_manifest, write_clinical_files
from sstrkit.phantom.study_scans import _ct_grid as _ct_grid
from sstrkit.phantom.study_scans import _spect_system as _spect_system
from sstrkit.phantom.study_scans import region_concentrations_lu, start_sessions
from sstrkit.phantom.truth import Therapy, simulate_therapy
from sstrkit.phantom.truth_files import _atomic_json, write_truth_files

__all__ = [
    "DEMO_SEED",
    "EXCLUDED_SEED",
    "FDG_DISCORDANT_SHARE",
    "StudyConfig",
    "has_fdg_discordant_lesion",
    "make_study",
    "region_concentrations_lu",
]

H = SECONDS_PER_HOUR
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
    adult, :mod:`sstrkit.phantom.stylized`; same ICRP 89 organ masses). ``sstr_imaging``
    names the SSTR imaging of the patient (:mod:`sstrkit.phantom.scintigraphy`):
    ``"68Ga-DOTATATE"`` (the baseline PET/CT, always made), ``"111In-pentetreotide"``,
    ``"99mTc-HYNIC-TOC"`` (planar whole body and SPECT/CT), ``"64Cu-DOTATATE"`` (PET/CT);
    names in any case, each once. ``sirt`` adds a whole-liver SIRT after the PRRT: the
    99mTc-MAA work-up (planar whole body, SPECT/CT) and the 90Y PET/CT after the implant,
    with their truth (:mod:`sstrkit.phantom.sirt`; own random streams, so the rest of the
    study is unchanged).
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
    sstr_imaging: tuple[str, ...] = (BASELINE_TRACER,)
    sirt: bool = False
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
        object.__setattr__(self, "sstr_imaging", normalise_sstr_imaging(self.sstr_imaging))
        if sorted(set(self.timepoints_h)) != list(self.timepoints_h):
            raise InvalidInputError(
                "SPECT time points",
                expected="strictly increasing hours",
                actual=self.timepoints_h,
            )


def _patient(cfg: StudyConfig) -> tuple[PatientSpec, AnatomyModel, Anatomy, Biology]:
    """Step 1, geometry and biology: the resolved patient, its calibrated anatomy, the
    baseline label map and the drawn biology (SUVs, kinetics, tumour response)."""
    spec = PatientSpec(cfg.sex, cfg.height_cm, cfg.weight_kg, cfg.seed).resolved()
    discordant = (
        has_fdg_discordant_lesion(cfg.seed)
        if cfg.fdg_discordant_lesion is None
        else cfg.fdg_discordant_lesion
    )
    model = build_anatomy(spec, voxel_mm=cfg.voxel_mm, fdg_lesion=discordant, layout=cfg.anatomy)
    baseline = model.voxelise()
    biology = draw_biology(baseline, cfg.seed)
    return spec, model, baseline, biology


def _patient_info(cfg: StudyConfig, spec: PatientSpec) -> PatientInfo:
    """The DICOM patient module of the digital patient (name, ID and birth date per seed)."""
    seed = cfg.seed
    return PatientInfo(
        name=f"PHANTOM^NET{seed:04d}",
        patient_id=f"SSTRKIT-PH{seed:04d}",
        birth_date=f"{1950 + seed % 30}0{1 + seed % 9}15",
        sex=cfg.sex,
        weight_kg=float(spec.weight_kg or 0.0),
        height_cm=spec.height_cm,
    )


def make_study(
    out: str | os.PathLike[str],
    config: StudyConfig | None = None,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Simulate the patient, write the study folder and return the manifest.

    The steps, in this order (the noise of every scan comes from one stream, so the
    order is part of the result): anatomy and biology; kinetics and truth per cycle
    (:func:`sstrkit.phantom.truth.simulate_therapy`); the PET/CT exams and the SPECT/CT
    sessions (:class:`sstrkit.phantom.study_scans.ScanSessions`); the other SSTR imaging
    of ``sstr_imaging`` (:func:`sstrkit.phantom.scintigraphy.sstr_imaging_exams`, own noise
    streams); the SIRT of ``sirt`` (:func:`sstrkit.phantom.sirt.sirt_exams`, own streams);
    the truth files
    (:func:`sstrkit.phantom.truth_files.write_truth_files`); ``clinical.json``,
    ``case.json`` and the manifest (:mod:`sstrkit.phantom.study_records`).
    """
    cfg = config or StudyConfig()
    root = prepare_output_dir(out, "study folder")
    step = progress or (lambda _msg: None)
    rng = np.random.default_rng([cfg.seed, 5])

    step("anatomy")
    spec, model, baseline, biology = _patient(cfg)
    step("kinetics and truth")
    therapy = Therapy(cfg.cycles, cfg.activity_bq, cfg.interval_days, cfg.first_injection)
    cycles = simulate_therapy(model, biology, therapy)

    patient = _patient_info(cfg, spec)
    scans = start_sessions(root, cfg, patient, model, baseline, rng if cfg.noise else None)
    pet_truth, extra_admin = scans.pet_exams(baseline, biology, cycles[0].injection_time, step)
    scan_times = scans.spect_sessions(cycles, step)
    # Other SSTR imaging (--sstr-imaging): after every other scan, own noise streams.
    sstr = sstr_imaging_exams(scans, baseline, biology, cycles[0].injection_time, step)
    # SIRT after the PRRT (--sirt): after every other scan, own random streams.
    sirt = sirt_exams(scans, baseline, cycles, step) if cfg.sirt else None

    step("truth files")
    truth, truth_refs = write_truth_files(
        root,
        cfg,
        spec,
        baseline,
        biology,
        cycles,
        scan_times,
        pet_truth,
        scans.series,
        scans.positioning,
    )
    admins = extra_admin + sstr.administrations + (sirt.administrations if sirt else [])
    write_clinical_files(root, cfg, spec, biology, cycles, admins, sirt=sirt.sirt if sirt else None)
    manifest = study_manifest(
        root, cfg, patient, spec, model, cycles, scans.series, truth, truth_refs
    )
    if sstr.truth_files:
        manifest["truth"]["scintigraphy"] = sstr.truth_files
    if sirt is not None:
        manifest["truth"]["sirt"] = sirt.truth_file
    _atomic_json(root / "manifest.json", manifest)
    return manifest
