"""The SIRT truth files of the digital patient: label maps, dose map, ``truth/sirt.json``.

* ``truth/sirt_maa_labels.nii.gz`` and ``truth/sirt_y90_labels.nii.gz``: the truth regions
  on the CT grid of the MAA SPECT/CT and of the 90Y PET/CT (each in its own frame of
  reference, the patient as positioned for that scan, the anatomy at the CT's breathing
  phase). Values (:data:`SIRT_LABELS`): 1 normal liver, 2 lungs, 100 + n liver metastasis
  ``lesion_<nn>`` (n its number: the phantom's own label value); a CT voxel takes the region
  at its centre (nearest truth voxel, the lower one on a boundary).
* ``truth/sirt_maa_planar_rois.nii.gz``: the planar ROIs of the MAA whole-body views in
  the anterior view's pixel grid (one slice, rows head to feet): 1 liver (every pixel
  whose line of sight crosses the liver), 2 lungs (crossing the lungs, not the liver).
* ``truth/sirt_y90_dose.nii.gz``: the true 90Y absorbed dose (Gy) on the fine truth grid,
  baseline coordinates (the frame of reference of ``labels_baseline.nii.gz``).
* ``truth/sirt.json``: see :func:`sirt_document` and ``docs/phantom.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.units import G_PER_KG
from sstrkit.core.volume import Volume
from sstrkit.io.nifti import write_nifti
from sstrkit.phantom.anatomy import LABELS, Anatomy, Grid
from sstrkit.phantom.positioning import MovedAnatomy
from sstrkit.phantom.sirt_distribution import SirtDraw, SirtMasses
from sstrkit.phantom.sirt_dose import DoseTruth

__all__ = [
    "SIRT_LABELS",
    "label_names",
    "labels_on_grid",
    "sirt_document",
    "write_dose_map",
    "write_labels",
    "write_planar_rois",
]

#: Label values of the SIRT truth maps (tumours: 100 + lesion number).
SIRT_LABELS = {"liver_normal": 1, "lungs": 2}
_TUMOUR0 = 100


def label_names(masses: SirtMasses) -> dict[str, str]:
    """Label value (as text) -> region name of the SIRT truth maps."""
    out = {str(v): k for k, v in SIRT_LABELS.items()}
    out.update({str(_TUMOUR0 + t.number): t.id for t in masses.tumours})
    return out


def _nearest(src: Grid, dst: Grid, axis: int) -> NDArray[np.intp]:
    """Source index of every destination voxel centre along ``axis`` (x 0, y 1, z 2);
    a centre on a voxel boundary takes the lower voxel."""
    n_dst, n_src = dst.shape[2 - axis], src.shape[2 - axis]
    pos = (dst.origin[axis] + dst.spacing[axis] * np.arange(n_dst) - src.origin[axis]) / (
        src.spacing[axis]
    )
    out: NDArray[np.intp] = np.clip(np.ceil(pos - 0.5 - 1e-9), 0, n_src - 1).astype(np.intp)
    return out


def labels_on_grid(seen: MovedAnatomy, grid: Grid, masses: SirtMasses) -> NDArray[np.int16]:
    """The SIRT regions of the session's anatomy on ``grid``: the label at each voxel centre
    (nearest truth voxel; a tumour too small to hold a centre keeps the voxel holding its
    centroid)."""
    anat = seen.anatomy
    src = anat.model.grid
    labels = np.asarray(anat.labels.array)
    table = np.zeros(int(labels.max()) + 1, dtype=np.int16)
    table[LABELS["lungs"]] = SIRT_LABELS["lungs"]
    table[LABELS["liver"]] = SIRT_LABELS["liver_normal"]
    for t in masses.tumours:
        if t.label < table.size:
            table[t.label] = _TUMOUR0 + t.number
    iz, iy, ix = (_nearest(src, grid, a) for a in (2, 1, 0))
    out = table[labels[np.ix_(iz, iy, ix)]]
    for t in masses.tumours:
        value = _TUMOUR0 + t.number
        idx = np.argwhere(labels == t.label)
        if idx.size == 0 or np.any(out == value):
            continue
        centre = [src.origin[a] + src.spacing[a] * idx[:, 2 - a].mean() for a in range(3)]
        k = [int(np.clip(np.rint((centre[a] - grid.origin[a]) / grid.spacing[a]), 0,
                         grid.shape[2 - a] - 1)) for a in range(3)]  # fmt: skip
        out[k[2], k[1], k[0]] = value
    return np.ascontiguousarray(out)


def write_labels(
    root: Path,
    key: str,
    seen: MovedAnatomy,
    grid: Grid,
    for_uid: str,
    masses: SirtMasses,
) -> str:
    """Write ``truth/sirt_<key>_labels.nii.gz`` on ``grid``; returns its relative path."""
    arr = labels_on_grid(seen, grid, masses)
    vol = Volume.from_array(
        arr,
        spacing=grid.spacing,
        origin=grid.origin,
        frame_of_reference_uid=for_uid,
        modality="SEG",
        quantity="label",
        unit="1",
        name=f"sirt_{key}_labels",
        operation="phantom_sirt_truth",
        parameters={"rule": "region at the voxel centre (nearest truth voxel)"},
    )
    rel = f"truth/sirt_{key}_labels.nii.gz"
    write_nifti(vol, root / rel, extra={"labels": label_names(masses)})
    return rel


def write_planar_rois(root: Path, rois: NDArray[np.int16], pixel_mm: float) -> str:
    """Write the planar ROIs (anterior-view pixels, one slice); returns the relative path."""
    vol = Volume.from_array(
        rois[np.newaxis],
        spacing=(pixel_mm, pixel_mm, 1.0),
        origin=(0.0, 0.0, 0.0),
        modality="SEG",
        quantity="label",
        unit="1",
        name="sirt_maa_planar_rois",
        operation="phantom_sirt_truth",
        parameters={"orientation": "anterior view as stored: row 0 head, column 0 the "
                    "patient's right"},
    )  # fmt: skip
    rel = "truth/sirt_maa_planar_rois.nii.gz"
    write_nifti(vol, root / rel, extra={"labels": {"1": "liver", "2": "lungs"}})
    return rel


def write_dose_map(root: Path, baseline: Anatomy, dose: DoseTruth, for_uid: str) -> str:
    """Write the true dose (Gy) on the truth grid; returns the relative path."""
    grid = baseline.model.grid
    vol = Volume.from_array(
        dose.dose_gy,
        spacing=grid.spacing,
        origin=grid.origin,
        frame_of_reference_uid=for_uid,
        modality="RTDOSE",
        quantity="absorbed_dose",
        unit="Gy",
        name="sirt_y90_true_dose",
        operation="phantom_sirt_true_dose",
        parameters={"kernel": dose.kernel},
    )
    rel = "truth/sirt_y90_dose.nii.gz"
    write_nifti(vol, root / rel)
    return rel


def _lesions_maa(draw: SirtDraw, masses: SirtMasses) -> list[dict[str, Any]]:
    return [
        {
            "id": t.number,
            "lesion": t.id,
            "label_value": _TUMOUR0 + t.number,
            "tumour_to_normal_ratio": draw.maa.tumour_to_normal[t.id],
            "mass_g": t.mass_g,
        }
        for t in masses.tumours
    ]


def _lesions_y90(draw: SirtDraw, masses: SirtMasses, dose: DoseTruth) -> list[dict[str, Any]]:
    out = []
    for t in masses.tumours:
        r = dose.regions[t.id]
        out.append(
            {
                "id": t.number,
                "lesion": t.id,
                "mean_dose_gy": r["mean_dose_gy"],
                "mass_g": t.mass_g,
                "tumour_to_normal_ratio": draw.y90.tumour_to_normal[t.id],
                "activity_bq": r["activity_bq"],
                "local_deposition_dose_gy": r["local_deposition_dose_gy"],
            }
        )
    return out


def sirt_document(
    *,
    draw: SirtDraw,
    masses: SirtMasses,
    dose: DoseTruth,
    sessions: Mapping[str, Any],
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """``truth/sirt.json`` (the issue-23 layout plus details; see docs/phantom.md).

    ``sessions`` holds ``implant_time``, ``activity_bq``, ``prescription``, ``maa`` (its
    injection, activity, planar and SPECT records) and ``y90_pet`` (the PET record).
    """
    tumour_e = sum(dose.regions[t.id]["energy_j"] for t in masses.tumours)
    reported = sum(r["energy_j"] for r in dose.regions.values())
    maa = sessions["maa"]
    return {
        "schema": "sstrkit-phantom-sirt/1",
        "device": "resin",
        "target": "whole_liver",
        "implant_time": sessions["implant_time"],
        "activity_bq": sessions["activity_bq"],
        "residual_fraction": draw.residual_fraction,
        "prescription": sessions["prescription"],
        "maa": {
            "injection_time": maa["injection_time"],
            "injected_activity_bq": maa["injected_activity_bq"],
            "lung_shunt_fraction": draw.maa.lung_shunt_fraction,
            "tumour_to_normal_ratio": draw.maa.overall_tumour_to_normal(masses),
            "lesions": _lesions_maa(draw, masses),
            "liver_mass_g": masses.liver_g,
            "tumour_mass_g": masses.tumour_g,
            "normal_liver_mass_g": masses.normal_liver_g,
            "lung_mass_g": masses.lungs_g,
            "free_pertechnetate_fraction": draw.free_pertechnetate_fraction,
            "particle_fractions": draw.maa.fractions(masses),
            "planar": maa["planar"],
            "spect": maa["spect"],
        },
        "y90": {
            "lung_shunt_fraction": draw.y90.lung_shunt_fraction,
            "tumour_to_normal_ratio": draw.y90.overall_tumour_to_normal(masses),
            "tumour_mean_dose_gy": tumour_e / (masses.tumour_g / G_PER_KG),
            "normal_liver_mean_dose_gy": dose.mean_dose_gy("liver"),
            "lung_mean_dose_gy": dose.mean_dose_gy("lungs"),
            "lesions": _lesions_y90(draw, masses, dose),
            "particle_fractions": draw.y90.fractions(masses),
            "regions": dose.regions,
            "energy": {
                "emitted_j": dose.emitted_j,
                "deposited_in_grid_j": dose.deposited_j,
                "in_liver_tumours_and_lungs_j": reported,
            },
            "dose_map": labels["dose"],
            "kernel": dose.kernel,
            "pet": sessions["y90_pet"],
        },
        "labels": {
            "maa": labels["maa"],
            "y90": labels["y90"],
            "names": label_names(masses),
            "maa_planar_rois": labels["planar_rois"],
        },
        "breathing": {
            "amplitude_mm": draw.breathing_amplitude_mm,
            "ct_phase": dict(draw.ct_phase),
            "model": "liver and liver tumours displaced along the body axis by "
            "d(t) = -b cos^4(pi t) (Lujan et al. 1999; t = 0 end-inspiration) during the "
            "emission scans, relative to their position at the CT's phase; the lungs and the "
            "rest of the body do not move",
        },
    }
