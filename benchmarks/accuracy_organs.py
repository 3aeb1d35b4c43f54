"""Accuracy table of the organ segmentation (the numbers in docs/segmentation.md).

For each digital patient (seeds, anatomy layouts) and each image pair (baseline
68Ga PET/CT; repositioned 177Lu SPECT/CT at 24 h), prints the Dice
coefficient of liver, spleen and kidneys against the truth labels on the CT grid
(the SPECT/CT truth moved by the true rigid motion), and the segmented/true volume.

    .venv/bin/python benchmarks/accuracy_organs.py [--seeds 7 3 11] \\
        [--layouts sstrkit ornl-stylized]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti
from sstrkit.organs.segment import segment_organs
from sstrkit.phantom.study import StudyConfig, make_study

PARTS = {
    "liver": ("liver",),
    "spleen": ("spleen",),
    "kidney_left": ("kidney_left_cortex", "kidney_left_medulla"),
    "kidney_right": ("kidney_right_cortex", "kidney_right_medulla"),
}


def truth_on(ct: Any, root: Path, motion: dict[str, Any] | None) -> tuple[Any, dict[str, int]]:
    truth = read_nifti(root / "truth" / "labels_baseline.nii.gz")
    names = json.loads((root / "truth" / "labels_baseline.json").read_text())["labels"]
    tx = sitk.AffineTransform(3)
    if motion is not None:
        m = np.asarray(motion["matrix_session_to_baseline"], dtype=float)
        tx.SetMatrix([float(v) for v in m[:3, :3].ravel()])
        tx.SetTranslation([float(v) for v in m[:3, 3]])
    img = truth.to_sitk()
    out = sitk.Resample(img, ct.to_sitk(), tx, sitk.sitkNearestNeighbor, 0, img.GetPixelID())
    return sitk.GetArrayFromImage(out), {v: int(k) for k, v in names.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 3, 11])
    ap.add_argument("--layouts", nargs="+", default=["sstrkit", "ornl-stylized"])
    ap.add_argument("--voxel-mm", type=float, default=2.0)
    args = ap.parse_args()
    print("| anatomy | seed | images | liver | spleen | kidney L | kidney R | s |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        for layout in args.layouts:
            for seed in args.seeds:
                root = Path(d) / f"{layout}_{seed}"
                kw: dict[str, Any] = {} if layout == "sstrkit" else {"anatomy": layout}
                make_study(
                    root,
                    StudyConfig(
                        seed=seed,
                        cycles=1,
                        timepoints_h=(24.0,),
                        fdg=False,
                        voxel_mm=args.voxel_mm,
                        **kw,
                    ),
                )
                man = json.loads((root / "manifest.json").read_text())
                pet_ct = read_series(root / "dicom" / "pet_dotatate_ct").volume
                pet = read_series(root / "dicom" / "pet_dotatate").volume
                sp = man["series"]["spect"][0]
                sp_ct_e = man["series"]["spect_ct"][0]
                sp_ct = read_series(root / sp_ct_e["path"]).volume
                spect = read_series(root / sp["path"]).volume
                motion = next(
                    p
                    for p in json.loads((root / "truth" / "truth.json").read_text())["positioning"]
                    if sp_ct_e["series_uid"] in p["series_uids"]
                    or sp["series_uid"] in p["series_uids"]
                )
                for label, ct, em, mot in (
                    ("PET/CT", pet_ct, pet, None),
                    ("SPECT/CT (moved)", sp_ct, spect, motion),
                ):
                    t0 = time.perf_counter()
                    seg = segment_organs(ct, em)
                    dt = time.perf_counter() - t0
                    truth, inv = truth_on(ct, root, mot)
                    cells = []
                    for organ, parts in PARTS.items():
                        t = np.isin(truth, [inv[p] for p in parts])
                        s = seg.mask(organ)
                        dice = 2 * (t & s).sum() / max(int(t.sum() + s.sum()), 1)
                        v = ct.voxel_volume_ml
                        cells.append(f"{dice:.3f} ({s.sum() * v:.0f}/{t.sum() * v:.0f} mL)")
                    row = " | ".join(cells)
                    print(f"| {layout} | {seed} | {label} | {row} | {dt:.1f} |")


if __name__ == "__main__":
    main()
