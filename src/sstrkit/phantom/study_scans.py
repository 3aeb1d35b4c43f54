"""The scan sessions of a digital-patient study: simulate every scan and write its DICOM.

:class:`ScanSessions` holds what the sessions of one study share (patient, scanners,
the CT tissue map, the noise stream, series numbers, the series and positioning
records) and runs them in the study's order: the PET/CT exams
(:meth:`ScanSessions.pet_exam`: 68Ga-SSTR baseline, optional 18F-FDG), then one
SPECT/CT per cycle and time point (:meth:`ScanSessions.spect_session`). Every session
but the baseline PET/CT sees the patient moved (:mod:`sstrkit.phantom.positioning`)
when ``StudyConfig.reposition`` is on. All scans draw their noise from one stream, in
that order, so that a study is reproducible per seed.

Also here: the true activity concentrations the scanners image
(:func:`region_concentrations_lu` for 177Lu, :func:`_pet_table` for a static PET),
deterministic UIDs (:func:`_uid`), the CT grid (:func:`_ct_grid`), the OSEM camera
(:func:`_spect_system`) and what the 177Lu SPECT headers say about the camera
(:func:`_spect_camera`: header only, the images do not depend on it).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydicom.uid import generate_uid

from sstrkit.core.units import BQ_PER_MBQ, G_PER_KG
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    SpectAcquisition,
    StudyInfo,
    write_ct_series,
    write_nm_series,
    write_pet_series,
)
from sstrkit.phantom.anatomy import LABELS, Anatomy, AnatomyModel, Grid
from sstrkit.phantom.biology import Biology
from sstrkit.phantom.ct_tissues import ct_tissue_map
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.positioning import MovedAnatomy, RigidMotion, draw_motion, move_anatomy
from sstrkit.phantom.scanners import (
    EmissionScanner,
    ct_hu,
    fine_concentration,
    scanner_grid,
    spect_duration_s,
)
from sstrkit.phantom.truth import CycleTruth
from sstrkit.physics.nuclides import get_nuclide

if TYPE_CHECKING:
    from sstrkit.phantom.study import StudyConfig

__all__ = ["PetAcquisition", "ScanSessions", "region_concentrations_lu"]

Progress = Callable[[str], None]


def _spect_system(truth_grid: Grid, nuclide: str = "Lu-177") -> Any:
    """The OSEM camera for this patient: the default orbit, widened to clear the body.

    The orbit radius (rotation axis to collimator face) is max(250 mm, half-diagonal of the
    axial field of view + 20 mm), as a body-contour-free orbit must clear the patient.
    ``nuclide`` chooses the camera (:meth:`sstrkit.phantom.spect_recon.SpectSystem.for_nuclide`).
    """
    from sstrkit.phantom.spect_recon import SpectSystem

    system = SpectSystem.for_nuclide(nuclide)
    grid = system.grid_for(truth_grid)
    _, ny, nx = grid.shape
    half_diag = 0.5 * math.hypot(nx, ny) * system.voxel_mm
    radius = max(system.radius_of_rotation_mm, math.ceil(half_diag + 20.0))
    return replace(system, radius_of_rotation_mm=float(radius))


#: The 177Lu SPECT camera the headers describe, as a clinic's camera writes it (model): a
#: medium-energy parallel-hole collimator and the 208.4 keV ± 10 % window (MIRD 26:
#: Ljungberg et al., J Nucl Med 57 (2016) 151; MRTDosimetry protocol: Tran-Gia et al.,
#: EJNMMI Phys 8 (2021) 55, 120 projections on a body-contour orbit), the image-domain
#: SPECT's detector 15 mm clear of the body outline. Header only: no pixel depends on it.
_LU_COLLIMATOR = "MEGP"
_LU_WINDOW_KEV = (187.6, 229.2)
_CONTOUR_VIEWS = 120
_CONTOUR_CLEARANCE_MM = 15.0


def _spect_camera(
    recon: str, body_semi_axes_mm: Sequence[float], info: dict[str, Any]
) -> SpectAcquisition:
    """The :class:`SpectAcquisition` of a 177Lu SPECT: collimator, orbit, window, recon.

    ``osem``: the simulated camera's circular orbit (``radius_of_rotation_mm``, ``n_views``)
    and its OSEM with resolution modelling (``RR``), iterations, subsets and post-filter;
    ``image``: a body-contour orbit (per view, the body ellipse's half-width along the
    view direction + 15 mm; view 0 posterior) and the image-domain model without
    resolution recovery.
    """
    if recon == "osem":
        radial = (float(info["radius_of_rotation_mm"]),) * int(info["n_views"])
        text = f"OSEM {info['iterations']}i{info['subsets']}s / AC RR"
        if info.get("post_filter_fwhm_mm"):
            text += f" / Gauss {float(info['post_filter_fwhm_mm']):g}"
    else:
        a, b = float(body_semi_axes_mm[0]), float(body_semi_axes_mm[1])
        angles = [math.pi / 2 + 2 * math.pi * k / _CONTOUR_VIEWS for k in range(_CONTOUR_VIEWS)]
        radial = tuple(
            round(math.hypot(a * math.cos(t), b * math.sin(t)) + _CONTOUR_CLEARANCE_MM, 1)
            for t in angles
        )
        text = "image model / AC SC"
    return SpectAcquisition(
        collimator=_LU_COLLIMATOR,
        radial_positions_mm=radial,
        energy_windows_kev=(_LU_WINDOW_KEV,),
        energy_window_name="Lu177 208",
        reconstruction=text,
    )


def _uid(*parts: object) -> str:
    """Deterministic UID from the seed and a role (pydicom hashes the entropy sources)."""
    return str(generate_uid(entropy_srcs=["sstrkit-phantom", *map(str, parts)]))


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


def _spect_units(recon: str) -> str:
    if recon == "image":
        return "Bq/mL (calibrated; counts = Bq/mL x voxel mL x 1e-6 x cps/MBq x s)"
    return "Bq/mL (OSEM with the system model's sensitivity; no extra calibration)"


# ---------------------------------------------------------------- sessions
@dataclass(frozen=True)
class PetAcquisition:
    """One static PET/CT for :meth:`ScanSessions.static_pet`.

    ``role`` names the session (patient position, UIDs); ``suv_tracer`` the
    :meth:`sstrkit.phantom.biology.Biology.suv` key (DOTATATE, DOTATOC, FDG) of the
    uptake; ``scanner`` images it for ``duration_s``; the PET goes to ``folder`` and its
    CT to ``folder`` + ``_ct``.
    """

    role: str
    agent: str
    nuclide: str
    suv_tracer: str
    injection_time: _dt.datetime
    scan_time: _dt.datetime
    activity_bq: float
    duration_s: float
    folder: Path
    scanner: EmissionScanner
    study: StudyInfo
    description: str


@dataclass
class ScanSessions:
    """The scan sessions of one study and what they share.

    ``series`` (role -> manifest entry; ``spect``/``spect_ct`` lists) and
    ``positioning`` (the true motion of every session, for ``truth.json``) fill up as
    the sessions run. ``noise_rng`` (None: noise-free) is the one noise stream of all
    scans; ``number`` hands out the DICOM series numbers.
    """

    root: Path
    cfg: StudyConfig
    patient: PatientInfo
    model: AnatomyModel
    ct_map: NDArray[np.uint8]
    noise_rng: np.random.Generator | None
    pet_scanner: EmissionScanner = field(default_factory=EmissionScanner.pet)
    spect_scanner: EmissionScanner = field(default_factory=EmissionScanner.spect)
    series: dict[str, Any] = field(
        default_factory=lambda: {"fdg": None, "fdg_ct": None, "spect": [], "spect_ct": []}
    )
    positioning: list[dict[str, Any]] = field(default_factory=list)
    number: Iterator[int] = field(default_factory=lambda: iter(range(1, 1000)))

    @property
    def truth_grid(self) -> Grid:
        return self.model.grid

    @property
    def ct_grid(self) -> Grid:
        return _ct_grid(self.model.grid)

    def rel(self, p: Path) -> str:
        return p.relative_to(self.root).as_posix()

    # ------------------------------------------------------- patient position per session
    def session_patient(self, anat: Anatomy, session: str) -> MovedAnatomy:
        """The patient as the session's scanners see it (moved unless baseline or off).

        One CT tissue map per patient: lesions that shrink in later cycles uncover tissue
        that the baseline map already holds.
        """
        centre = self.model.body.center_mm
        moved = session != "pet" and self.cfg.reposition
        motion = (
            draw_motion(self.cfg.seed, session, centre) if moved else RigidMotion.identity(centre)
        )
        return move_anatomy(anat, motion, ct_map=self.ct_map)

    def record_position(self, session: str, seen: MovedAnatomy, for_uid: str, *uids: str) -> None:
        self.positioning.append(
            {
                **seen.motion.to_dict(session),
                "baseline": session == "pet",
                "frame_of_reference_uid": for_uid,
                "series_uids": list(uids),
            }
        )

    def write_ct(
        self,
        anat: MovedAnatomy,
        folder: Path,
        t: _dt.datetime,
        for_uid: str,
        study: StudyInfo,
        role: str,
    ) -> dict[str, Any]:
        """Simulate and write the session's CT; returns its manifest entry."""
        ct_grid = self.ct_grid
        hu = ct_hu(anat.anatomy, ct_grid, self.noise_rng, ct_map=anat.ct_map)
        vol = _volume(
            hu,
            ct_grid,
            unit="HU",
            quantity="ct_number",
            modality="CT",
            time=t,
            for_uid=for_uid,
            name=role,
            params={"noise": self.cfg.noise},
        )
        uid = _uid(self.cfg.seed, role, "series")
        write_ct_series(
            vol,
            folder,
            patient=self.patient,
            study=study,
            acquisition_time=t,
            series_description=f"CT {role}",
            series_number=next(self.number),
            series_uid=uid,
        )
        return {
            "path": self.rel(folder),
            "series_uid": uid,
            "frame_of_reference_uid": for_uid,
            "time": t.isoformat(),
            "voxel_mm": list(ct_grid.spacing),
        }

    # --------------------------------------------------------- PET exams
    def pet_exam(
        self,
        role: str,
        agent: str,
        nuclide: str,
        day: _dt.datetime,
        baseline: Anatomy,
        biology: Biology,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One static PET/CT (``role`` "pet" or "fdg") on ``day``.

        Writes the PET and its CT and records them in ``series``; returns the exam's
        truth (SUVs, concentrations) and its administration for ``clinical.json``.
        """
        cfg, seed = self.cfg, self.cfg.seed
        pp = parameters()["pet"]
        inj = day.replace(hour=9, minute=0)
        mbq_kg = float(pp["fdg_injected_mbq_per_kg" if role == "fdg" else "injected_mbq_per_kg"])
        weight_kg = float(self.patient.weight_kg or 0.0)  # the study's weight (from the spec)
        folder = (
            self.root / "dicom" / ("pet_fdg" if role == "fdg" else f"pet_{cfg.pet_tracer.lower()}")
        )
        acq = PetAcquisition(
            role=role,
            agent=agent,
            nuclide=nuclide,
            suv_tracer="FDG" if role == "fdg" else cfg.pet_tracer,
            injection_time=inj,
            scan_time=inj + _dt.timedelta(minutes=float(pp["uptake_time_min"])),
            activity_bq=round(mbq_kg * weight_kg) * BQ_PER_MBQ,
            duration_s=float(pp["frame_duration_s"]),
            folder=folder,
            scanner=self.pet_scanner,
            study=StudyInfo(
                study_uid=_uid(seed, role, "study"),
                study_time=inj,
                description=f"{agent} PET/CT",
                accession_number=f"PH{seed:04d}{role.upper()}",
            ),
            description=f"{agent} PET",
        )
        truth, admin, entry, ct = self.static_pet(acq, baseline, biology)
        self.series[role] = entry
        self.series[f"{role}_ct"] = ct
        return truth, admin

    def static_pet(
        self, acq: PetAcquisition, baseline: Anatomy, biology: Biology
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        """Simulate and write one static PET/CT (:class:`PetAcquisition`).

        The patient of session ``acq.role`` is imaged with the baseline SUVs of
        ``acq.suv_tracer`` scaled by the decayed injected activity; returns the exam's truth,
        its administration, and the manifest entries of the PET and of its CT.
        """
        seed, role = self.cfg.seed, acq.role
        nuc = get_nuclide(acq.nuclide)
        weight_kg = float(self.patient.weight_kg or 0.0)
        elapsed = (acq.scan_time - acq.injection_time).total_seconds()
        decayed = acq.activity_bq * float(np.exp(-nuc.decay_constant_per_s * elapsed))
        scale = decayed / (weight_kg * G_PER_KG)
        table = _pet_table(baseline, biology, acq.suv_tracer, scale)
        patient_now = self.session_patient(baseline, role)
        conc = fine_concentration(patient_now.anatomy, table)
        img, grid, info = acq.scanner.image(
            conc, self.truth_grid, duration_s=acq.duration_s, rng=self.noise_rng
        )
        for_uid = _uid(seed, role, "for")
        vol = _volume(
            img,
            grid,
            unit="Bq/mL",
            quantity="activity_concentration",
            modality="PT",
            time=acq.scan_time,
            for_uid=for_uid,
            name=role,
            params=info,
        )
        uid = _uid(seed, role, "series")
        write_pet_series(
            vol,
            acq.folder,
            patient=self.patient,
            study=acq.study,
            radiopharmaceutical=Radiopharmaceutical(
                acq.agent, acq.nuclide, acq.activity_bq, acq.injection_time
            ),
            series_description=acq.description,
            series_number=next(self.number),
            series_uid=uid,
            frame_duration_s=acq.duration_s,
        )
        entry = {
            "path": self.rel(acq.folder),
            "series_uid": uid,
            "frame_of_reference_uid": for_uid,
            "tracer": acq.agent,
            "nuclide": acq.nuclide,
            "injection_time": acq.injection_time.isoformat(),
            "injected_activity_bq": acq.activity_bq,
            "time": acq.scan_time.isoformat(),
            "frame_duration_s": acq.duration_s,
            "voxel_mm": acq.scanner.voxel_mm,
            "fwhm_mm": acq.scanner.fwhm_mm,
        }
        ct_folder = acq.folder.with_name(acq.folder.name + "_ct")
        ct_time = acq.scan_time - _dt.timedelta(minutes=2)
        ct = self.write_ct(patient_now, ct_folder, ct_time, for_uid, acq.study, f"{role}_ct")
        self.record_position(role, patient_now, for_uid, uid, ct["series_uid"])
        admin = {
            "cycle": None,
            "radiopharmaceutical": acq.agent,
            "nuclide": acq.nuclide,
            "activity_bq": acq.activity_bq,
            "time": acq.injection_time.isoformat(),
        }
        regions = {n: biology.suv(n, acq.suv_tracer) for n in LABELS}
        regions.update({les.id: biology.suv(les.id, acq.suv_tracer) for les in self.model.lesions})
        truth = {
            "tracer": acq.agent,
            "suv_bw": regions,
            "activity_concentration_bq_ml": {k: v * scale for k, v in regions.items()},
            "suv_scale_bq_ml_per_suv": scale,
        }
        return truth, admin, entry, ct

    def pet_exams(
        self, baseline: Anatomy, biology: Biology, first_injection: _dt.datetime, step: Progress
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The baseline 68Ga-SSTR PET/CT (and the 18F-FDG PET/CT): truth by role, admins."""
        cfg = self.cfg
        exams: list[tuple[str, str, str, _dt.datetime]] = [
            ("pet", f"68Ga-{cfg.pet_tracer}", "Ga-68", first_injection - _dt.timedelta(days=14))
        ]
        if cfg.fdg:
            exams.append(("fdg", "18F-FDG", "F-18", first_injection - _dt.timedelta(days=21)))
        pet_truth: dict[str, Any] = {}
        admins: list[dict[str, Any]] = []
        for role, agent, nuclide, day in exams:
            step(f"{role} PET/CT")
            pet_truth[role], admin = self.pet_exam(role, agent, nuclide, day, baseline, biology)
            admins.append(admin)
        return pet_truth, admins

    # --------------------------------------------------------- SPECT/CT per cycle and time
    def _spect_image(
        self, patient_now: MovedAnatomy, conc: NDArray[Any], nuclide: str = "Lu-177"
    ) -> tuple[NDArray[Any], Grid, dict[str, Any], float | None]:
        """The SPECT image (Bq/mL), its grid, its parameters and its FWHM (None for OSEM).

        ``nuclide`` chooses the camera: 177Lu (the post-therapy SPECT), or the 111In and
        99mTc SSTR SPECT (:meth:`EmissionScanner.spect_for`, ``SpectSystem.for_nuclide``).
        """
        duration_s = spect_duration_s(nuclide)
        if self.cfg.spect_recon == "osem":
            from sstrkit.phantom.spect_recon import reconstruct_spect

            system = _spect_system(self.truth_grid, nuclide)
            hu = ct_hu(
                patient_now.anatomy,
                system.grid_for(self.truth_grid),
                None,
                ct_map=patient_now.ct_map,
            )
            img, grid, info = reconstruct_spect(
                conc,
                self.truth_grid,
                hu,
                duration_s=duration_s,
                rng=self.noise_rng,
                system=system,
                post_filter_fwhm_mm=self.cfg.spect_post_filter_mm,
            )
            # OSEM with resolution modelling has no single image FWHM (a 30 mm sphere
            # recovers 0.86, not the 0.65 of an 11 mm Gaussian): no value, so that no
            # Gaussian partial-volume correction is applied downstream.
            return img, grid, info, None
        scanner = self.spect_scanner if nuclide == "Lu-177" else EmissionScanner.spect_for(nuclide)
        img, grid, info = scanner.image(
            conc, self.truth_grid, duration_s=duration_s, rng=self.noise_rng
        )
        return img, grid, info, scanner.fwhm_mm

    def _write_spect(
        self,
        vol: Volume,
        folder: Path,
        study: StudyInfo,
        rp: Radiopharmaceutical,
        cycle: int,
        h: float,
        uid: str,
        info: dict[str, Any],
    ) -> Path:
        """Write the SPECT as one NM file or (``pet-slices``) PET-SOP slices; its path.

        ``info`` (the image's parameters) gives the camera the header describes
        (:func:`_spect_camera`).
        """
        duration_s = float(parameters()["spect"]["acquisition_duration_s"])
        camera = _spect_camera(self.cfg.spect_recon, self.model.body.semi_axes_mm, info)
        if self.cfg.spect_format == "pet-slices":
            # Siemens xSPECT Quant style: PET Image Storage, one file per slice, BQML.
            write_pet_series(
                vol,
                folder,
                patient=self.patient,
                study=study,
                radiopharmaceutical=rp,
                series_description=f"177Lu xSPECT QUANT cycle {cycle} {h:g} h",
                series_number=next(self.number),
                series_uid=uid,
                frame_duration_s=duration_s,
                spect=camera,
            )
            return folder
        return write_nm_series(
            vol,
            folder / "NM.dcm",
            patient=self.patient,
            study=study,
            radiopharmaceutical=rp,
            series_description=f"177Lu SPECT cycle {cycle} {h:g} h",
            series_number=next(self.number),
            series_uid=uid,
            acquisition_duration_s=duration_s,
            spect=camera,
        )

    def spect_session(
        self, cyc: CycleTruth, study: StudyInfo, rp: Radiopharmaceutical, h: float
    ) -> _dt.datetime:
        """The SPECT/CT ``h`` hours after the cycle's injection; returns its time."""
        sp = parameters()["spect"]
        seed = self.cfg.seed
        t = cyc.injection_time + _dt.timedelta(hours=h)
        role = f"cycle{cyc.index}_spect_{h:g}h"
        patient_now = self.session_patient(cyc.anatomy, role)
        conc = fine_concentration(
            patient_now.anatomy, region_concentrations_lu(cyc, t, counts=patient_now.counts)
        )
        img, grid, info, fwhm = self._spect_image(patient_now, conc)
        for_uid = _uid(seed, role, "for")
        vol = _volume(
            img,
            grid,
            unit="Bq/mL",
            quantity="activity_concentration",
            modality="PT" if self.cfg.spect_format == "pet-slices" else "NM",
            time=t,
            for_uid=for_uid,
            name=role,
            params=info,
        )
        folder = self.root / "dicom" / f"cycle{cyc.index}" / f"spect_{h:03.0f}h"
        uid = _uid(seed, role, "series")
        path = self._write_spect(vol, folder, study, rp, cyc.index, h, uid, info)
        system_keys = ("n_views", "radius_of_rotation_mm", "fwhm_at_rotation_axis_mm")
        self.series["spect"].append(
            {
                "cycle": cyc.index,
                "hours_post_injection": h,
                "path": self.rel(path),
                "series_uid": uid,
                "frame_of_reference_uid": for_uid,
                "time": t.isoformat(),
                "injection_time": cyc.injection_time.isoformat(),
                "injected_activity_bq": cyc.activity_bq,
                "nuclide": "Lu-177",
                "calibration_cps_per_mbq": float(sp["calibration_cps_per_mbq"]),
                "acquisition_duration_s": float(sp["acquisition_duration_s"]),
                "voxel_mm": float(grid.spacing[0]),
                "fwhm_mm": fwhm,
                "simulation": self.cfg.spect_recon,
                "spect_format": self.cfg.spect_format,
                "units": _spect_units(self.cfg.spect_recon),
                "system": {k: info[k] for k in system_keys if k in info} or None,
            }
        )
        ct_folder = folder.with_name(folder.name + "_ct")
        ct_time = t - _dt.timedelta(minutes=1)
        ct = self.write_ct(patient_now, ct_folder, ct_time, for_uid, study, f"{role}_ct")
        self.series["spect_ct"].append({"cycle": cyc.index, "hours_post_injection": h, **ct})
        self.record_position(role, patient_now, for_uid, uid, ct["series_uid"])
        return t

    def spect_sessions(
        self, cycles: Sequence[CycleTruth], step: Progress
    ) -> dict[int, list[_dt.datetime]]:
        """Every cycle's SPECT/CT time points; returns the scan times per cycle."""
        seed = self.cfg.seed
        scan_times: dict[int, list[_dt.datetime]] = {}
        for cyc in cycles:
            study = StudyInfo(
                study_uid=_uid(seed, "cycle", cyc.index, "study"),
                study_time=cyc.injection_time,
                description=f"177Lu-DOTATATE cycle {cyc.index} SPECT/CT",
                accession_number=f"PH{seed:04d}C{cyc.index}",
            )
            rp = Radiopharmaceutical(
                "177Lu-DOTATATE", "Lu-177", cyc.activity_bq, cyc.injection_time
            )
            scan_times[cyc.index] = []
            for h in self.cfg.timepoints_h:
                step(f"cycle {cyc.index} SPECT/CT {h:g} h")
                scan_times[cyc.index].append(self.spect_session(cyc, study, rp, h))
        return scan_times


def start_sessions(
    root: Path,
    cfg: StudyConfig,
    patient: PatientInfo,
    model: AnatomyModel,
    baseline: Anatomy,
    noise_rng: np.random.Generator | None,
) -> ScanSessions:
    """The sessions of one patient, with its CT tissue map (computed once, moved per session)."""
    return ScanSessions(
        root=root,
        cfg=cfg,
        patient=patient,
        model=model,
        ct_map=ct_tissue_map(baseline),
        noise_rng=noise_rng,
    )
