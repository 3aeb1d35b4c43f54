"""A patient study on disk in the documented layout (see README, "Study layout").

:class:`Study` reads ``manifest.json`` (series by role), ``case.json`` (patient,
administrations, blood samples) and ``clinical.json`` (labs over time), and
gives the volumes of interest (VOIs) used for region dosimetry.

VOIs come from ``manifest["segmentation"]`` when the study provides one (a
label map with a ``labels.json``-style name table, e.g. exported from the
clinic's CT segmentation); for the digital patient, whose organ contours are
known exactly, the ``truth/`` label maps of each cycle are used and the result
says so (``voi_source``).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError

__all__ = ["Study", "TimePoint"]

#: Organs reported by region dosimetry (label names in the study's label table).
DOSIMETRY_ORGANS = ("kidneys", "liver", "spleen")


@dataclass(frozen=True)
class TimePoint:
    """One post-therapy SPECT/CT acquisition."""

    cycle: int
    hours_post_injection: float
    spect_path: Path
    ct_path: Path | None
    injection_time: _dt.datetime
    time: _dt.datetime
    nuclide: str
    injected_activity_bq: float
    fwhm_mm: float | None = None


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(
            what,
            expected=f"{path.name} in the study folder",
            actual="missing",
            fix="arrange the study in the documented layout (README, 'Study layout')",
        ) from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(what, expected="readable JSON", actual=f"{path}: {exc}") from None


@dataclass(frozen=True)
class Study:
    """A study folder: manifest, case file and clinical data."""

    root: Path
    manifest: dict[str, Any]
    case: dict[str, Any] | None
    clinical: dict[str, Any] | None

    @classmethod
    def load(cls, root: str | Path) -> Study:
        root = Path(root)
        if not root.is_dir():
            raise InvalidInputError("study folder", expected="an existing folder", actual=str(root))
        manifest = _read_json(root / "manifest.json", "study manifest")
        if not isinstance(manifest, dict) or "series" not in manifest:
            raise InvalidInputError(
                "study manifest",
                expected="an object with 'series' by role",
                actual=type(manifest).__name__,
            )
        case = (
            _read_json(root / "case.json", "case file") if (root / "case.json").is_file() else None
        )
        clinical = (
            _read_json(root / "clinical.json", "clinical data")
            if (root / "clinical.json").is_file()
            else None
        )
        return cls(root, manifest, case, clinical)

    # ---------------------------------------------------------------- series
    def series(self, role: str) -> dict[str, Any] | None:
        entry = self.manifest["series"].get(role)
        return entry if isinstance(entry, dict) else None

    def path(self, relative: str) -> Path:
        return self.root / relative

    @cached_property
    def time_points(self) -> tuple[TimePoint, ...]:
        cts = {
            (int(c["cycle"]), float(c["hours_post_injection"])): c
            for c in self.manifest["series"].get("spect_ct", [])
        }
        out = []
        for s in self.manifest["series"].get("spect", []):
            key = (int(s["cycle"]), float(s["hours_post_injection"]))
            ct = cts.get(key)
            out.append(
                TimePoint(
                    cycle=key[0],
                    hours_post_injection=key[1],
                    spect_path=self.path(s["path"]),
                    ct_path=self.path(ct["path"]) if ct else None,
                    injection_time=_dt.datetime.fromisoformat(s["injection_time"]),
                    time=_dt.datetime.fromisoformat(s["time"]),
                    nuclide=str(s["nuclide"]),
                    injected_activity_bq=float(s["injected_activity_bq"]),
                    fwhm_mm=float(s["fwhm_mm"]) if s.get("fwhm_mm") is not None else None,
                )
            )
        return tuple(sorted(out, key=lambda t: (t.cycle, t.hours_post_injection)))

    @property
    def cycles(self) -> tuple[int, ...]:
        return tuple(sorted({t.cycle for t in self.time_points}))

    # ------------------------------------------------------------------ VOIs
    @property
    def voi_source(self) -> str:
        if "segmentation" in self.manifest:
            return "study segmentation (manifest 'segmentation')"
        return "digital-patient organ and lesion contours (truth/ label maps)"

    def label_table(self) -> dict[str, tuple[int, ...]]:
        """Region name → label values (organs, composite organs and lesions)."""
        seg = self.manifest.get("segmentation")
        if isinstance(seg, dict) and "regions" in seg:
            return {k: tuple(int(x) for x in v) for k, v in seg["regions"].items()}
        truth = self.truth
        if truth is None:
            raise InvalidInputError(
                "volumes of interest",
                expected="manifest 'segmentation' or a truth/ folder",
                actual="neither",
                fix="add the organ/lesion label map of the study to the manifest",
            )
        from sstrkit.therapy.voxel_dose import truth_regions

        return truth_regions(truth)

    def label_volume(self, key: str) -> Volume:
        """Label map ``key`` ("baseline", "cycle1"…) as stored (study segmentation or truth)."""
        from sstrkit.io.nifti import read_nifti

        seg = self.manifest.get("segmentation")
        if isinstance(seg, dict) and key in seg.get("labels_nifti", {}):
            return read_nifti(self.path(seg["labels_nifti"][key]))
        truth_paths = self.manifest.get("truth", {}).get("labels_nifti", {})
        if key not in truth_paths:
            raise InvalidInputError(
                "label map", expected=f"one of {sorted(truth_paths)}", actual=key
            )
        return read_nifti(self.path(truth_paths[key]))

    def labels(self, key: str, reference: Volume) -> NDArray[np.int32]:
        """Label map ``key`` ("baseline", "cycle1"…) on ``reference``'s grid (nearest).

        The label map is defined in the same patient coordinates as the scans;
        its frame of reference is set to the reference scan's explicitly.
        """
        lab = self.label_volume(key).with_metadata(
            operation="assign_frame_of_reference",
            frame_of_reference_uid=reference.frame_of_reference_uid,
        )
        return np.asarray(lab.resample_to(reference, mode="nearest").array, dtype=np.int32)

    @cached_property
    def truth(self) -> dict[str, Any] | None:
        rel = self.manifest.get("truth", {}).get("truth_json")
        if not rel or not self.path(rel).is_file():
            return None
        data: dict[str, Any] = _read_json(self.path(rel), "truth")
        return data

    def label_names(self) -> dict[int, str]:
        """Label value → name for reading (organ names as the reader expects them)."""
        rel = self.manifest.get("truth", {}).get("label_names")
        seg = self.manifest.get("segmentation")
        if isinstance(seg, dict) and "label_names" in seg:
            rel = seg["label_names"]
        if not rel:
            return {}
        raw = _read_json(self.path(rel), "label names")
        from sstrkit.reading.inputs import parse_label_names

        return parse_label_names(raw, "label names")
