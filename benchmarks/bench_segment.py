"""Benchmark: offline organ segmentation vs a plain threshold + connected-components baseline.

Makes a digital-patient study (seed 7 by default, 2 mm truth grid, repositioned SPECT/CT),
then builds clinical-size images from it:

* a **512 × 512 × 300 CT** (0.98 × 0.98 × 2 mm, linear resampling of the phantom's
  low-dose CT plus 10 HU white noise for the finer voxels) with the 68Ga-DOTATATE PET;
* a **128 × 128 × 128 SPECT** (4.8 mm) with its CT of the SPECT/CT session.

For each pair, in the same run and on the same data:

* sstrkit: ``segment_organs(ct, emission)``;
* baseline: a HU window (0–100 HU, non-contrast parenchyma) and the connected
  component that contains the true organ's centroid (the best a threshold and a
  click can do: the seed comes from the truth);

Prints Dice per organ (liver, spleen, kidneys) against the truth labels for both,
the wall time of each and their ratio, and the peak resident memory of each (each
method runs in a fresh child process; the peak is reset after the inputs are loaded, so
it is the memory of the method with its inputs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

ORGANS = {
    "liver": ("liver",),
    "spleen": ("spleen",),
    "kidney_left": ("kidney_left_cortex", "kidney_left_medulla"),
    "kidney_right": ("kidney_right_cortex", "kidney_right_medulla"),
}


def _grid_like(
    img: sitk.Image, size: tuple[int, int, int], spacing: tuple[float, ...]
) -> sitk.Image:
    """A grid of ``size`` and ``spacing`` centred on ``img``'s centre."""
    centre = img.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in img.GetSize()])
    ref = sitk.Image(list(size), sitk.sitkFloat32)
    ref.SetSpacing(spacing)
    ref.SetDirection(img.GetDirection())
    origin = np.asarray(centre) - (np.asarray(size) - 1) / 2.0 * np.asarray(spacing)
    ref.SetOrigin([float(v) for v in origin])
    return ref


def make_images(root: Path, work: Path) -> dict[str, Any]:
    from sstrkit.core.volume import Volume
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.nifti import read_nifti, write_nifti

    man = json.loads((root / "manifest.json").read_text())
    truth = read_nifti(root / "truth" / "labels_baseline.nii.gz")
    names = json.loads((root / "truth" / "labels_baseline.json").read_text())["labels"]
    inv = {v: int(k) for k, v in names.items()}
    cases = {}
    rng = np.random.default_rng(0)
    pet_ct = read_series(root / "dicom" / "pet_dotatate_ct").volume
    pet = read_series(root / "dicom" / "pet_dotatate").volume
    sp_ct = read_series(root / man["series"]["spect_ct"][0]["path"]).volume
    spect = read_series(root / man["series"]["spect"][0]["path"]).volume
    motion = json.loads((root / "truth" / "truth.json").read_text())["positioning"]
    sp_motion = next(
        p for p in motion if man["series"]["spect_ct"][0]["series_uid"] in p["series_uids"]
    )
    for name, ct, em, size, sp, mot in (
        ("pet_ct_512x512x300", pet_ct, pet, (512, 512, 300), (0.9766, 0.9766, 2.0), None),
        ("spect_ct_128cube", sp_ct, spect, None, None, sp_motion),
    ):
        if size is not None:
            ref = _grid_like(ct.to_sitk(), size, sp)
            big = sitk.Resample(ct.to_sitk(), ref, sitk.Transform(), sitk.sitkLinear, -1000.0)
            arr = sitk.GetArrayFromImage(big) + rng.normal(0, 10.0, big.GetSize()[::-1])
            ct = Volume(
                arr.astype(np.float32),
                spacing=sp,
                origin=big.GetOrigin(),
                direction=big.GetDirection(),
                frame_of_reference_uid=ct.frame_of_reference_uid,
                modality="CT",
                quantity="ct_number",
                unit="HU",
                name="CT",
            )
        else:
            ref = _grid_like(em.to_sitk(), (128, 128, 128), em.spacing)
            small = sitk.Resample(em.to_sitk(), ref, sitk.Transform(), sitk.sitkLinear, 0.0)
            em = Volume(
                sitk.GetArrayFromImage(small).astype(np.float32),
                spacing=em.spacing,
                origin=small.GetOrigin(),
                direction=small.GetDirection(),
                frame_of_reference_uid=em.frame_of_reference_uid,
                modality=em.modality,
                quantity=em.quantity,
                unit=em.unit,
                name="SPECT",
            )
        tx = sitk.AffineTransform(3)
        if mot is not None:
            m = np.asarray(mot["matrix_session_to_baseline"], dtype=float)
            tx.SetMatrix([float(v) for v in m[:3, :3].ravel()])
            tx.SetTranslation([float(v) for v in m[:3, 3]])
        t = sitk.Resample(truth.to_sitk(), ct.to_sitk(), tx, sitk.sitkNearestNeighbor, 0)
        tarr = sitk.GetArrayFromImage(t)
        write_nifti(ct, work / f"{name}_ct.nii.gz")
        write_nifti(em, work / f"{name}_em.nii.gz")
        np.save(work / f"{name}_truth.npy", tarr)
        cases[name] = {"ct_shape": ct.shape, "em_shape": em.shape}
    (work / "inv.json").write_text(json.dumps(inv))
    return cases


def _dice(masks: dict[str, np.ndarray], truth: np.ndarray, inv: dict[str, int]) -> dict[str, float]:
    out = {}
    for organ, parts in ORGANS.items():
        t = np.isin(truth, [inv[p] for p in parts])
        s = masks[organ]
        out[organ] = round(float(2 * (t & s).sum() / max(int(t.sum() + s.sum()), 1)), 3)
    return out


def _rss_mb(field: str) -> float:
    """Resident memory from /proc/self/status (Linux), MB; ru_maxrss as a fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak() -> None:
    """Reset the peak RSS (VmHWM) so that it measures the method alone (Linux >= 4.0)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _child(method: str, work: str, name: str, q: Any) -> None:
    from sstrkit.io.nifti import read_nifti

    w = Path(work)
    ct = read_nifti(w / f"{name}_ct.nii.gz")
    em = read_nifti(w / f"{name}_em.nii.gz")
    truth = np.load(w / f"{name}_truth.npy")
    inv = json.loads((w / "inv.json").read_text())
    base = _rss_mb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    if method == "sstrkit":
        from sstrkit.organs.segment import segment_organs

        seg = segment_organs(ct, em)
        masks = {o: seg.mask(o) for o in ORGANS}
    else:
        hu = ct.array
        lab, _ = ndimage.label((hu > 0.0) & (hu < 100.0))
        masks = {}
        for organ, parts in ORGANS.items():
            t = np.isin(truth, [inv[p] for p in parts])
            c = np.round(np.argwhere(t).mean(axis=0)).astype(int)
            code = lab[tuple(c)]
            masks[organ] = (lab == code) if code else np.zeros_like(t)
    dt = time.perf_counter() - t0
    peak = _rss_mb("VmHWM")
    q.put(
        {
            "seconds": round(dt, 2),
            "peak_rss_mb": round(peak, 0),
            "added_rss_mb": round(peak - base, 0),
            "dice": _dice(masks, truth, inv),
        }
    )


def run(method: str, work: Path, name: str) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(method, str(work), name, q))
    p.start()
    out: dict[str, Any] = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--layout", default="sstrkit", help="phantom anatomy layout")
    args = ap.parse_args()
    from sstrkit.phantom.study import StudyConfig, make_study

    with tempfile.TemporaryDirectory() as d:
        root, work = Path(d) / "study", Path(d) / "work"
        work.mkdir()
        kw: dict[str, Any] = {} if args.layout == "sstrkit" else {"anatomy": args.layout}
        make_study(
            root, StudyConfig(seed=args.seed, cycles=1, timepoints_h=(24.0,), fdg=False, **kw)
        )
        cases = make_images(root, work)
        for name, shapes in cases.items():
            a = run("sstrkit", work, name)
            b = run("threshold+cc", work, name)
            print(f"{name}: CT {shapes['ct_shape'][::-1]}, emission {shapes['em_shape'][::-1]}")
            for label, r in (("sstrkit", a), ("threshold+cc", b)):
                print(
                    f"  {label:<14} {r['seconds']:7.2f} s  peak {r['peak_rss_mb']:.0f} MB "
                    f"(+{r['added_rss_mb']:.0f} MB)  Dice {r['dice']}"
                )
            print(f"  time ratio sstrkit/baseline: {a['seconds'] / max(b['seconds'], 1e-6):.1f}")


if __name__ == "__main__":
    main()
