"""Labels onto the SPECT grid: volume-preserving transfer vs plain nearest neighbour.

A digital patient (seed 11, one cycle, 2 mm truth grid; made in a temporary folder, not
timed) gives its baseline truth label map (organs and ~10 lesions of 0.3-60 mL) and the
reference SPECT of cycle 1 (4.8 mm). Timed, in the same run, on the same data, through
the same rigid transform (a 7 mm / 2° repositioning):

* sstrkit: :func:`sstrkit.therapy.label_transfer.transfer_labels` (nearest neighbour,
  regions under 64 target voxels keeping their volume);
* baseline: SimpleITK nearest-neighbour resampling of the whole map (what
  ``apply_to_labels`` did before).

Printed: median wall time of each over ``--repeat`` runs and the ratio sstrkit/baseline;
per lesion the fine-grid volume and the volume each method gives on the SPECT grid over
``--offsets`` random sub-voxel shifts of the transform (min-max), so that the price is
shown beside what it buys. No assertion on time.

Usage: ``python benchmarks/bench_label_transfer.py [--repeat 5] [--offsets 8]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.therapy.label_transfer import transfer_labels


def nearest(labels: Volume, reference: Volume, tx: sitk.Transform) -> np.ndarray:
    """The baseline: nearest-neighbour resampling of the whole label map."""
    img = sitk.Cast(labels.to_sitk(), sitk.sitkInt32)
    out = sitk.Resample(img, reference.to_sitk(), tx, sitk.sitkNearestNeighbor, 0)
    return np.asarray(sitk.GetArrayFromImage(out))


def transform(shift_mm: tuple[float, float, float]) -> sitk.Transform:
    tx = sitk.Euler3DTransform()
    tx.SetRotation(0.0, 0.0, np.deg2rad(2.0))
    tx.SetTranslation(shift_mm)
    return tx


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--offsets", type=int, default=8)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sstrkit-bench-labels-") as tmp:
        root = Path(tmp) / "s11"
        make_study(root, StudyConfig(seed=11, cycles=1, fdg=False))
        labels = read_nifti(root / "truth" / "labels_baseline.nii.gz")
        names = json.loads((root / "truth" / "labels_baseline.json").read_text("utf-8"))
        spect = read_series(root / "dicom" / "cycle1" / "spect_004h").volume
    lesion_values = {int(v): n for v, n in names["labels"].items() if n.startswith("lesion")}
    ref = spect.with_metadata(frame_of_reference_uid=labels.frame_of_reference_uid)
    tx = transform((7.0, -3.0, 4.0))
    print(f"labels {labels.shape} at {labels.spacing[0]:g} mm -> SPECT {ref.shape} at "
          f"{ref.spacing[0]:g} mm, {len(lesion_values)} lesions")  # fmt: skip
    times: dict[str, list[float]] = {"sstrkit": [], "nearest": []}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        transfer_labels(labels, ref, tx)
        times["sstrkit"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        nearest(labels, ref, tx)
        times["nearest"].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"transfer_labels (sstrkit)        median {med['sstrkit'] * 1e3:8.1f} ms")
    print(f"nearest neighbour (baseline)     median {med['nearest'] * 1e3:8.1f} ms")
    print(f"ratio sstrkit/baseline: {med['sstrkit'] / med['nearest']:.1f}")
    rng = np.random.default_rng(11)
    fine = np.asarray(labels.array)
    fine_ml = float(np.prod(labels.spacing)) / 1000.0
    ref_ml = float(np.prod(ref.spacing)) / 1000.0
    ours: dict[int, list[float]] = {v: [] for v in lesion_values}
    base: dict[int, list[float]] = {v: [] for v in lesion_values}
    for _ in range(args.offsets):
        shift = tuple(float(s) for s in np.array([7.0, -3.0, 4.0]) + rng.uniform(0, 4.8, 3))
        t = transform(shift)  # type: ignore[arg-type]
        a, b = transfer_labels(labels, ref, t), nearest(labels, ref, t)
        for v in lesion_values:
            ours[v].append(float((a == v).sum()) * ref_ml)
            base[v].append(float((b == v).sum()) * ref_ml)
    print(f"{'lesion':10s} {'true mL':>8s} {'sstrkit mL (min-max)':>22s} {'nearest mL':>16s}")
    for v, name in sorted(lesion_values.items()):
        true = float((fine == v).sum()) * fine_ml
        print(f"{name:10s} {true:8.2f} {min(ours[v]):10.2f}-{max(ours[v]):<10.2f} "
              f"{min(base[v]):7.2f}-{max(base[v]):<7.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
