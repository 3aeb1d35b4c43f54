"""Benchmark: reading a whole-body SSTR PET (200 × 200 × 400 voxels) end to end.

Builds a synthetic whole-body SUV volume (3 × 3 × 4 mm voxels; liver, spleen,
kidneys, bladder, adrenals, aorta; 30 spherical lesions 10–40 mm; 6 mm FWHM
blur; 5 % noise) with organ labels and times ``read_sstr_pet`` stage by stage.

Baseline (same process): the usual hand-written approach — one global fixed
SUV threshold, ``scipy.ndimage.label`` and SUVpeak by direct
``scipy.ndimage.correlate`` of a 1 cm³ ball over each lesion's box — which
does neither reference placement nor suppression nor delineation. The ratio
printed is sstrkit time / baseline time (the price of the full read).
Also printed: recall of lesions ≥ 15 mm, false positives at physiological
organs, SUVmax error for lesions ≥ 30 mm.

End to end from DICOM: the same volume written as a PET series (Bq/mL, int16
with per-slice rescale), then ``load_suv_pet`` (discovery, geometry checks,
SUVbw) + ``read_sstr_pet`` + MIP, lesion table and per-lesion slices, vs the
baseline SimpleITK ``ImageSeriesReader`` + the same fixed-threshold baseline.

Rotating MIP (24 frames): ``sstrkit.reading.images.rotating_mip_frames``
(nearest-neighbour ray gather) vs the baseline ``scipy.ndimage.rotate`` of the
whole volume per frame followed by a max projection, same process.

Run: ``python benchmarks/bench_reading.py`` (≈ 30–60 s on 2 cores).
"""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from sstrkit.core.volume import Volume
from sstrkit.reading.metrics import PEAK_RADIUS_MM
from sstrkit.reading.reader import read_sstr_pet
from sstrkit.reading.reference import ball

SHAPE = (400, 200, 200)  # z, y, x
SPACING = (3.0, 3.0, 4.0)  # x, y, z mm
ORIGIN = (-300.0, -300.0, -800.0)
NAMES = {
    1: "liver",
    2: "spleen",
    3: "kidney_left",
    4: "kidney_right",
    5: "bladder",
    6: "adrenal_left",
    7: "adrenal_right",
    8: "aorta",
}
ORGANS = {  # centre (x, y, z) mm, semi-axes mm, SUV
    1: ((-70.0, 0.0, 250.0), (80.0, 90.0, 70.0), 6.0),
    2: ((90.0, 40.0, 270.0), (35.0, 45.0, 45.0), 22.0),
    3: ((70.0, 70.0, 170.0), (28.0, 28.0, 55.0), 16.0),
    4: ((-70.0, 70.0, 160.0), (28.0, 28.0, 55.0), 16.0),
    5: ((0.0, 0.0, -120.0), (45.0, 45.0, 35.0), 45.0),
    6: ((45.0, 55.0, 240.0), (8.0, 8.0, 15.0), 9.0),
    7: ((-45.0, 55.0, 240.0), (8.0, 8.0, 15.0), 9.0),
}


def build(seed: int = 1) -> tuple[Volume, Volume, list[tuple[np.ndarray, float, float]]]:
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    X = ORIGIN[0] + x * SPACING[0]
    Y = ORIGIN[1] + y * SPACING[1]
    Z = ORIGIN[2] + z * SPACING[2]
    body = (X / 170.0) ** 2 + (Y / 120.0) ** 2 <= 1.0
    body = body & (Z > -700.0) & (Z < 700.0)
    suv = np.where(body, 0.7, 0.0).astype(np.float32)
    lab = np.zeros(SHAPE, dtype=np.int16)
    for code, (c, ax, val) in ORGANS.items():
        m = ((X - c[0]) / ax[0]) ** 2 + ((Y - c[1]) / ax[1]) ** 2 + ((Z - c[2]) / ax[2]) ** 2 <= 1
        suv[m] = val
        lab[m] = code
    aorta = ((X - 15.0) ** 2 + (Y - 30.0) ** 2 <= 12.0**2) & (Z > -50) & (Z < 350) & (lab == 0)
    suv[aorta] = 1.6
    lab[aorta] = 8
    lesions = []
    liver = ORGANS[1]
    while len(lesions) < 30:
        d = float(rng.uniform(10.0, 40.0))
        if len(lesions) < 10:  # liver metastases
            c = np.array(liver[0]) + rng.uniform(-0.5, 0.5, 3) * np.array(liver[1])
        else:
            c = np.array([rng.uniform(-120, 120), rng.uniform(-80, 60), rng.uniform(-600, 600)])
        val = float(rng.uniform(10.0, 40.0))
        far = all(np.linalg.norm(c - o[0]) > d / 2 + 25 for o in lesions)
        clear = all(
            np.sum(((c - o[0]) / (np.array(o[1]) + d / 2 + 15)) ** 2) > 1
            for k, o in ORGANS.items()
            if k != 1
        )
        if far and clear:
            m = (X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2 <= (d / 2) ** 2
            suv[m] = val
            lesions.append((c, d, val))
    sigma = 6.0 / 2.3548 / np.array([SPACING[2], SPACING[1], SPACING[0]])
    suv = ndimage.gaussian_filter(suv, sigma)
    suv = np.clip(suv * (1 + 0.05 * rng.standard_normal(SHAPE).astype(np.float32)), 0, None)
    geo = {"spacing": SPACING, "origin": ORIGIN}
    return (
        Volume.from_array(suv, quantity="SUV", unit="g/mL", name="wb", **geo),
        Volume.from_array(lab, name="labels", **geo),
        lesions,
    )


def baseline(suv: Volume, threshold: float = 3.75) -> int:
    arr = np.asarray(suv.array, dtype=np.float64)
    comp, n = ndimage.label(arr > threshold)
    sx, sy, sz = suv.spacing
    kern = ball((sz, sy, sx), PEAK_RADIUS_MM).astype(float)
    kern /= kern.sum()
    for sl in ndimage.find_objects(comp):
        box = tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in sl)
        ndimage.correlate(arr[box], kern, mode="nearest").max()
        arr[sl][comp[sl] > 0].mean()
    return n


def main() -> None:
    t0 = time.perf_counter()
    suv, labels, truth = build()
    print(f"phantom {SHAPE[::-1]} (x, y, z) voxels built in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    result = read_sstr_pet(suv, organs=labels, organ_names=NAMES)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    n_base = baseline(suv)
    t_base = time.perf_counter() - t0
    found = 0
    big = []
    for c, d, val in truth:
        dist = [np.linalg.norm(np.subtract(m.centroid_mm, c)) for m in result.lesions]
        hit = int(np.argmin(dist)) if dist else -1
        ok = hit >= 0 and dist[hit] <= max(d / 2, 8.0)
        if d >= 15.0:
            found += ok
        if d >= 30.0 and ok:
            m = result.lesions[hit]
            big.append((m.suv_max / val - 1.0, m.suv_peak / val - 1.0))
    n15 = sum(d >= 15.0 for _, d, _ in truth)
    matched = {
        int(np.argmin([np.linalg.norm(np.subtract(m.centroid_mm, c)) for c, _, _ in truth]))
        for m in result.lesions
    }
    fp = len(result.lesions) - len(matched)
    print(
        f"sstrkit read_sstr_pet: {t_read:.1f} s ({len(result.lesions)} lesions, "
        f"{len(result.segmentation.suppressed)} physiological foci suppressed)"
    )
    print(
        f"baseline fixed threshold + label + direct SUVpeak: {t_base:.1f} s "
        f"({n_base} components incl. physiological organs)"
    )
    print(f"ratio sstrkit / baseline: {t_read / t_base:.2f}")
    print(
        f"liver ref {result.references.liver_mean:.2f} (set 6.0), spleen ref "
        f"{result.references.spleen_mean:.2f} (set 22.0)"
    )
    print(f"recall (lesions >= 15 mm): {found}/{n15}; unmatched detections: {fp}")
    if big:
        e = np.array(big)
        print(
            f"lesions >= 30 mm (6 mm FWHM, 5 % noise), n = {len(e)}: SUVmax error "
            f"{e[:, 0].min():+.1%} to {e[:, 0].max():+.1%}; SUVpeak error "
            f"{e[:, 1].min():+.1%} to {e[:, 1].max():+.1%}"
        )
    bench_end_to_end(suv, labels)
    bench_rotating_mip(suv)


def bench_end_to_end(suv: Volume, labels: Volume) -> None:
    import datetime as dt
    import tempfile
    from pathlib import Path

    import SimpleITK as sitk

    from sstrkit.io.dicom_write import (
        PatientInfo,
        Radiopharmaceutical,
        StudyInfo,
        write_pet_series,
    )
    from sstrkit.reading.images import write_lesion_slices, write_lesion_table, write_mip
    from sstrkit.reading.inputs import load_suv_pet

    weight_kg, injected, uptake = 75.0, 150e6, dt.timedelta(minutes=60)
    ref = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    decayed = injected * 0.5 ** (uptake.total_seconds() / 4062.6)
    bqml = suv.with_array(
        np.asarray(suv.array) * decayed / (weight_kg * 1000.0),
        operation="suv_to_bq_ml",
        unit="Bq/mL",
        quantity="activity_concentration",
        reference_time=ref,
        modality="PT",
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pet"
        write_pet_series(
            bqml,
            folder,
            patient=PatientInfo(weight_kg=weight_kg, height_cm=175.0, sex="M"),
            study=StudyInfo(),
            radiopharmaceutical=Radiopharmaceutical(
                "Ga-68 DOTATATE", "Ga-68", injected, ref - uptake, half_life_s=4062.6
            ),
        )
        t0 = time.perf_counter()
        pet = load_suv_pet(folder, assume_suv=False, role="PET")
        t_load = time.perf_counter() - t0
        lab = labels.with_metadata(frame_of_reference_uid=pet.frame_of_reference_uid)
        result = read_sstr_pet(pet, organs=lab, organ_names=NAMES)
        t_read = time.perf_counter() - t0 - t_load
        out = Path(tmp) / "out"
        write_mip(pet, out / "mip.png", result.lesions)
        write_lesion_table(result.lesions, out / "lesions.png")
        write_lesion_slices(pet, result.segmentation.labels, result.lesions, out / "slices")
        t_total = time.perf_counter() - t0
        t0 = time.perf_counter()
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder)))
        img = reader.Execute()
        suv_base = sitk.GetArrayFromImage(img).astype(np.float32) * (weight_kg * 1000.0 / decayed)
        baseline(Volume.from_array(suv_base, spacing=img.GetSpacing()))
        t_base = time.perf_counter() - t0
    print(
        f"end to end from DICOM ({len(result.lesions)} lesions): load + SUV {t_load:.1f} s, "
        f"read {t_read:.1f} s, images {t_total - t_load - t_read:.1f} s, total {t_total:.1f} s; "
        f"baseline SimpleITK read + fixed threshold {t_base:.1f} s, ratio {t_total / t_base:.1f}"
    )


def bench_rotating_mip(suv: Volume, n_frames: int = 24) -> None:
    from sstrkit.reading.images import rotating_mip_frames

    t0 = time.perf_counter()
    rotating_mip_frames(suv, n_frames)
    t_ours = time.perf_counter() - t0
    arr = np.asarray(suv.array, dtype=np.float32)
    t0 = time.perf_counter()
    for k in range(n_frames):
        ndimage.rotate(arr, 360.0 * k / n_frames, axes=(1, 2), reshape=False, order=1).max(axis=1)
    t_base = time.perf_counter() - t0
    print(
        f"rotating MIP, {n_frames} frames: sstrkit {t_ours:.1f} s, baseline ndimage.rotate "
        f"{t_base:.1f} s, ratio baseline / sstrkit {t_base / t_ours:.1f}x"
    )


if __name__ == "__main__":
    main()
