"""The images of a run that the viewer shows, as NIfTI files, and the DVH curves.

A run folder holds its dose maps, VOIs and PET reading as NIfTI
(``OUT/dose/dose_cycleN.nii.gz``, ``OUT/dose/vois_cycleN.nii.gz``,
``OUT/reading/suv.nii.gz``, ``OUT/reading/lesions.nii.gz``; a voxel TIA map
``OUT/dose/tia_cycleN.nii.gz`` when the run wrote one); the CT and the SPECT stay DICOM
in the study folder. For each cycle the viewer shows the SPECT/CT time point the dose
map was computed on (the cycle's first time point: the dosimetry's reference, whose
grid the dose and VOI maps share) and, for the PET reading, the baseline PET/CT's CT.
DICOM series are converted once into the cache folder (CT as int16 HU, SPECT in Bq/mL
at acquisition time, as :func:`sstrkit.pipeline.cycle_inputs.read_spect` reads it),
keyed by the files' names, sizes and modification times, so that a changed series is
converted again. The viewer places every image by its NIfTI affine (patient
coordinates), so images of different grids overlay correctly.

Volume keys: ``ct_cycleN``, ``spect_cycleN``, ``dose_cycleN``, ``tia_cycleN``,
``vois_cycleN``, ``pet_ct``, ``suv``, ``lesions``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sstrkit.errors import InvalidInputError

__all__ = ["VolumeEntry", "catalog", "dvh_curves", "nifti_file"]

#: label maps (converted to uint16 for the viewer's outlines)
LABEL_KINDS = ("vois", "lesions")
_KEY = re.compile(r"(ct|spect|dose|tia|vois)_cycle(\d+)|pet_ct|suv|lesions")
#: kind → (label, unit shown by the viewer)
KINDS: dict[str, tuple[str, str]] = {
    "ct": ("CT", "HU"),
    "spect": ("SPECT", "Bq/mL"),
    "dose": ("Absorbed dose", "Gy"),
    "tia": ("Time-integrated activity", "Bq·s per voxel"),
    "vois": ("VOIs", "label"),
    "pet_ct": ("CT (PET/CT)", "HU"),
    "suv": ("SSTR PET", "SUV"),
    "lesions": ("PET lesions", "label"),
}


@dataclass(frozen=True)
class VolumeEntry:
    """One image the viewer can load: a NIfTI of the run, or a DICOM series to convert."""

    key: str
    kind: str
    cycle: int | None
    path: Path | None = None
    study: str | None = None

    @property
    def label(self) -> str:
        name = KINDS[self.kind][0]
        return name if self.cycle is None else f"{name}, cycle {self.cycle}"

    @property
    def unit(self) -> str:
        return KINDS[self.kind][1]

    def to_dict(self, run_id: int) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "cycle": self.cycle,
            "label": self.label,
            "unit": self.unit,
            "url": f"/api/runs/{run_id}/volumes/{self.key}.nii.gz",
        }


def catalog(
    out_dir: Path, results: dict[str, Any] | None, study_folder: str | None
) -> dict[str, VolumeEntry]:
    """The run's images by key (files that exist; DICOM series the study lists)."""
    out: dict[str, VolumeEntry] = {}
    dosimetry = ((results or {}).get("stages") or {}).get("dosimetry") or {}
    cycles = sorted(int(c) for c in (dosimetry.get("voxel") or {}))
    study = _study(study_folder, results)
    spect_cycles = set() if study is None else {tp.cycle for tp in study.time_points}
    for c in cycles:
        for kind in ("dose", "tia", "vois"):
            path = out_dir / "dose" / f"{kind}_cycle{c}.nii.gz"
            if path.is_file():
                out[f"{kind}_cycle{c}"] = VolumeEntry(f"{kind}_cycle{c}", kind, c, path=path)
        if c in spect_cycles and study is not None:
            for kind in ("ct", "spect"):
                out[f"{kind}_cycle{c}"] = VolumeEntry(
                    f"{kind}_cycle{c}", kind, c, study=str(study.root)
                )
    for kind, rel in (("suv", "reading/suv.nii.gz"), ("lesions", "reading/lesions.nii.gz")):
        if (out_dir / rel).is_file():
            out[kind] = VolumeEntry(kind, kind, None, path=out_dir / rel)
    if study is not None and study.series("pet_ct") is not None and "suv" in out:
        out["pet_ct"] = VolumeEntry("pet_ct", "pet_ct", None, study=str(study.root))
    return out


def _study(folder: str | None, results: dict[str, Any] | None) -> Any:
    from sstrkit.errors import SstrkitError
    from sstrkit.pipeline.study import Study

    for candidate in (folder, (results or {}).get("study")):
        if candidate and (Path(candidate) / "manifest.json").is_file():
            try:
                return Study.load(candidate)
            except SstrkitError:
                return None
    return None


def _fingerprint(*paths: Path, extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            st = f.stat()
            h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:32]


def nifti_file(entry: VolumeEntry, cache_dir: Path) -> Path:
    """A NIfTI file of the entry (the run's own, or the DICOM series converted into cache)."""
    from sstrkit.io.nifti import read_nifti, write_nifti
    from sstrkit.pipeline.study import Study

    if entry.path is not None and entry.kind not in LABEL_KINDS:
        return entry.path
    if entry.path is not None:  # label maps as uint16: NiiVue outlines integer labels
        target = cache_dir / f"{entry.kind}-{_fingerprint(entry.path, extra='uint16')}.nii.gz"
        if not target.is_file():
            lab = read_nifti(entry.path)
            values = np.asarray(lab.array)
            if values.min() < 0 or values.max() > np.iinfo(np.uint16).max:
                return entry.path
            cache_dir.mkdir(parents=True, exist_ok=True)
            write_nifti(
                lab.with_array(values.astype(np.uint16), operation="web_labels_uint16"), target
            )
        return target

    assert entry.study is not None
    study = Study.load(entry.study)
    if entry.kind == "pet_ct":
        ser = study.series("pet_ct")
        assert ser is not None
        src, uid = study.path(ser["path"]), ser.get("series_uid")
    else:
        tps = sorted(
            (tp for tp in study.time_points if tp.cycle == entry.cycle),
            key=lambda tp: tp.hours_post_injection,
        )
        if not tps:
            raise InvalidInputError(entry.key, expected="a SPECT/CT time point", actual="none")
        tp = tps[0]
        if entry.kind == "spect":
            src, uid = tp.spect_path, tp.series_uid
        else:
            if tp.ct_path is None:
                raise InvalidInputError(entry.key, expected="a CT of the SPECT", actual="none")
            src, uid = tp.ct_path, tp.ct_series_uid
    target = cache_dir / f"{entry.kind}-{_fingerprint(src, extra=f'{entry.kind}|{uid}')}.nii.gz"
    if target.is_file():
        return target
    if entry.kind == "spect":
        from sstrkit.pipeline.cycle_inputs import read_spect

        vol = read_spect(tp, [])
    else:
        vol = study.read(src, uid)
        hu = np.clip(np.rint(np.asarray(vol.array)), -32768, 32767).astype(np.int16)
        vol = vol.with_array(hu, operation="web_ct_int16", parameters={"rounding": "nearest HU"})
    cache_dir.mkdir(parents=True, exist_ok=True)
    return write_nifti(vol, target)


def volume_entry(
    key: str, out_dir: Path, results: dict[str, Any] | None, study_folder: str | None
) -> VolumeEntry:
    """The catalog entry ``key``; :class:`InvalidInputError` for a key the run lacks."""
    if not _KEY.fullmatch(key):
        raise InvalidInputError("volume", expected="a volume key of the run", actual=key)
    entry = catalog(out_dir, results, study_folder).get(key)
    if entry is None:
        raise InvalidInputError("volume", expected="a volume of this run", actual=key)
    return entry


@functools.lru_cache(maxsize=16)
def _dvh_cached(
    dose: str, vois: str, stamp: str, groups_json: str, n_bins: int
) -> list[dict[str, Any]]:
    from sstrkit.io.nifti import read_nifti
    from sstrkit.therapy.dvh import region_dvh

    dose_vol = read_nifti(dose)
    labels = np.asarray(read_nifti(vois).array)
    out = []
    for name, spec in json.loads(groups_json).items():
        mask = np.isin(labels, spec["labels"])
        if not mask.any():
            continue
        r = region_dvh(dose_vol, mask, name=name, n_bins=n_bins)
        out.append(
            {
                "name": name,
                "kind": spec.get("kind"),
                "volume_ml": r.volume_ml,
                "mean_gy": r.mean_gy,
                "max_gy": r.max_gy,
                "d_gy": {f"D{k:g}": v for k, v in r.d_gy.items()},
                "dose_gy": [float(f"{x:.4g}") for x in r.dvh_dose_gy],
                "volume_fraction": [float(f"{x:.4g}") for x in r.dvh_volume_fraction],
            }
        )
    return out


def dvh_curves(
    dose: Path, vois: Path, groups: dict[str, Any], n_bins: int = 100
) -> list[dict[str, Any]]:
    """Cumulative DVH of every VOI group (name → label values) on the cycle's dose map.

    :func:`sstrkit.therapy.dvh.region_dvh` on the voxels of the group's labels:
    V(d), the fraction of the VOI receiving at least d, on ``n_bins`` + 1 doses from 0 to
    the VOI's maximum. Cached per version of the two files.
    """
    stamp = ":".join(str(os.stat(p).st_mtime_ns) for p in (dose, vois))
    groups_json = json.dumps(groups, sort_keys=True)
    return _dvh_cached(str(dose), str(vois), stamp, groups_json, n_bins)
