"""The truth files of a digital-patient study (``truth/``) and the reader of ``truth.json``.

:func:`write_truth_files` writes, in the study's ``truth/`` folder, the label maps
(``labels_baseline.nii.gz``, ``labels_cycle<k>.nii.gz``; all in the baseline 68Ga PET/CT
coordinates), ``labels.json`` (label value -> region name), the baseline labels as an
RTSTRUCT on the PET/CT (``rtstruct_baseline.dcm``) and ``truth.json`` (schema
``sstrkit-phantom-truth/1``: masses, lesions, SUVs, TIAs, doses, activities,
positioning). :func:`truth_regions` reads the region -> label values map back from
``truth.json``.

>>> truth_regions({"organs": {"liver": {"label_values": [5], "voxelised": True},
...                           "red_marrow": {"voxelised": False}},
...                "lesions": [{"id": "L1", "label_value": 101}]})
{'liver': (5,), 'L1': (101,)}
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit import __version__
from sstrkit.core.atomic import apply_output_mode
from sstrkit.core.provenance import jsonable
from sstrkit.core.units import G_PER_KG
from sstrkit.io.nifti import write_nifti
from sstrkit.io.rtstruct_write import write_rtstruct
from sstrkit.phantom.anatomy import COMPOSITES, LABELS, Anatomy, AnatomyModel, Layout, PatientSpec
from sstrkit.phantom.biology import Biology
from sstrkit.phantom.parameters import parameters
from sstrkit.phantom.study_scans import _uid
from sstrkit.phantom.truth import CycleTruth
from sstrkit.physics.nuclides import get_nuclide

if TYPE_CHECKING:
    from sstrkit.phantom.study import StudyConfig

__all__ = ["truth_regions", "write_truth_files"]

#: Regions of ``truth.json`` "organs" (voxelised), in their order there.
_TRUTH_ORGANS = (
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
)
#: Organs whose reference and target masses are the sum of calibrated groups.
_MASS_PARTS = {
    "kidneys": ("kidney_left", "kidney_right"),
    "pancreas": ("pancreas_head", "pancreas_uncinate", "pancreas_body_tail"),
    "adrenals": ("adrenal_left", "adrenal_right"),
}


def truth_regions(truth: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Region name → label values from a digital patient's ``truth.json`` (organs, lesions)."""
    regions: dict[str, tuple[int, ...]] = {}
    for name, organ in truth.get("organs", {}).items():
        values = organ.get("label_values")
        if organ.get("voxelised", False) and values:
            regions[name] = tuple(int(v) for v in values)
    for les in truth.get("lesions", []):
        regions[str(les["id"])] = (int(les["label_value"]),)
    return regions


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


def _label_names(model: AnatomyModel) -> dict[str, str]:
    out = {str(v): k for k, v in LABELS.items()}
    out.update({str(model.lesion_label(i)): les.id for i, les in enumerate(model.lesions)})
    return out


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


def _truth_organs(
    spec: PatientSpec, model: AnatomyModel, baseline: Anatomy, first: CycleTruth
) -> dict[str, Any]:
    """``truth.json`` "organs": voxelised masses and volumes, red marrow, whole body."""
    counts = baseline.counts()
    ref = model.reference_mass_g
    organs: dict[str, Any] = {}
    for name in _TRUTH_ORGANS:
        parts = _MASS_PARTS.get(name, (name,))
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
        "mass_g": float(spec.weight_kg or 0) * G_PER_KG,
        "voxelised": False,
        "voxelised_torso_mass_g": sum(baseline.mass_g(n, counts) for n in LABELS),
    }
    return organs


def _truth_lesions(
    model: AnatomyModel, baseline: Anatomy, biology: Biology, cycles: Sequence[CycleTruth]
) -> list[dict[str, Any]]:
    """``truth.json`` "lesions": geometry, SUVs and volume per cycle of every lesion."""
    counts = baseline.counts()
    return [
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
        for i, les in enumerate(model.lesions)
    ]


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
        "organs": _truth_organs(spec, model, baseline, cycles[0]),
        "lesions": _truth_lesions(model, baseline, biology, cycles),
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


def write_truth_files(
    root: Path,
    cfg: StudyConfig,
    spec: PatientSpec,
    baseline: Anatomy,
    biology: Biology,
    cycles: Sequence[CycleTruth],
    scan_times: dict[int, list[_dt.datetime]],
    pet_truth: dict[str, Any],
    series: dict[str, Any],
    positioning: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write ``root/truth/``; returns the truth document and the label-map and RTSTRUCT
    entries of the manifest (``{"labels_nifti": ..., "rtstruct": ...}``)."""
    model = baseline.model
    truth_dir = root / "truth"
    labels_files = {}
    label_for = _uid(cfg.seed, "truth", "for")
    for key, anat in [("baseline", baseline)] + [(f"cycle{c.index}", c.anatomy) for c in cycles]:
        vol = anat.labels.with_metadata(frame_of_reference_uid=label_for, name=f"labels_{key}")
        path = write_nifti(
            vol, truth_dir / f"labels_{key}.nii.gz", extra={"labels": _label_names(model)}
        )
        labels_files[key] = path.relative_to(root).as_posix()
    _atomic_json(truth_dir / "labels.json", _label_names(model))
    rtstruct = {"baseline": _truth_rtstruct(root, truth_dir, model, baseline, series)}
    truth = _truth_json(cfg, spec, model, baseline, biology, cycles, scan_times, pet_truth)
    truth["anatomy"] = _anatomy_note(cfg.anatomy)
    truth["reposition"] = cfg.reposition
    truth["positioning"] = positioning
    _atomic_json(truth_dir / "truth.json", truth)
    return truth, {"labels_nifti": labels_files, "rtstruct": rtstruct}
