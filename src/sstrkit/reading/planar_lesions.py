"""Lesions on a planar geometric-mean image: candidates, blurred-sphere fits, CLEAN, organs.

The lesion steps of :func:`sstrkit.reading.planar.read_planar` (its module docstring
gives the method and the sources): :func:`candidates` (local maxima of the GM
band-passed at the camera blur), :func:`fit_lesion` (a sphere's chord image blurred
by the camera + a quadratic background + the organs' own blurred ellipsoid profiles,
weighted least squares, sphere radius on a grid), :func:`detect` (the most significant
fit kept and subtracted before the next: CLEAN) and :func:`classify` (spleen,
kidneys, bladder are physiological; the rest are lesions, on the liver or not).
:class:`PlanarLesion` is one lesion.

Examples
--------
>>> t = _template(10.0, (2.4, 2.4), 13.0, 12)
>>> t.shape, round(float(t.sum()) * 2.4 * 2.4 / (4 / 3 * 3.14159265 * 10.0**3), 2)
((25, 25), 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = [
    "FLAG_BOWEL",
    "FLAG_TEXT",
    "PlanarLesion",
    "candidates",
    "classify",
    "detect",
    "lesion_discs",
]


@dataclass(frozen=True)
class PlanarLesion:
    """A focal uptake on the GM image: position (row, column in mm from the top-left pixel
    of the anterior view), counts, fitted size and excess, ratios and grades.

    ``lesion_counts`` is the lesion as it appears: the mean GM counts over a disk of half
    its fitted radius (at least its centre pixel); ``ratio_liver``/``ratio_spleen`` divide
    it by the references' mean GM counts — the planar (visual) scale of the original
    Krenning grade ``krenning``. ``concentration_ratio_*`` and ``krenning_concentration``
    estimate the activity-concentration ratios from the attenuation- and thickness-
    corrected model (:mod:`sstrkit.reading.planar`).
    """

    id: int
    position_mm: tuple[float, float]
    lateral_mm: float
    peak_counts: float
    background_counts: float
    net_counts: float
    diameter_mm: float
    excess_intensity: float
    z: float
    over_liver: bool
    lesion_counts: float = 0.0
    ratio_liver: float | None = None
    ratio_spleen: float | None = None
    krenning: int | None = None
    concentration_ratio_liver: float | None = None
    concentration_ratio_spleen: float | None = None
    krenning_concentration: int | None = None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def r3(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "id": self.id,
            "position_mm": [round(v, 1) for v in self.position_mm],
            "lateral_mm": round(self.lateral_mm, 1),
            "side": "patient left" if self.lateral_mm > 0 else "patient right",
            "lesion_counts": round(self.lesion_counts, 2),
            "peak_counts": round(self.peak_counts, 2),
            "background_counts": round(self.background_counts, 2),
            "net_counts": round(self.net_counts, 2),
            "diameter_mm": round(self.diameter_mm, 1),
            "excess_counts_per_mm": round(self.excess_intensity, 4),
            "z": round(self.z, 1),
            "over_liver": self.over_liver,
            "ratio_liver": r3(self.ratio_liver),
            "ratio_spleen": r3(self.ratio_spleen),
            "krenning": self.krenning,
            "concentration_ratio_liver": r3(self.concentration_ratio_liver),
            "concentration_ratio_spleen": r3(self.concentration_ratio_spleen),
            "krenning_concentration": self.krenning_concentration,
            "flags": list(self.flags),
            "flag_notes": [FLAG_TEXT.get(f, f) for f in self.flags],
        }


def candidates(
    gm: NDArray[np.float64], body: NDArray[np.bool_], sigma_px: NDArray[np.float64]
) -> list[tuple[int, int]]:
    """Local maxima of the GM band-passed at the blur and twice the blur (differences of
    Gaussians σ − 3σ, which remove the organs' slopes), inside the body; one per FWHM."""
    inner = ndimage.binary_erosion(body, iterations=2)
    found: list[tuple[int, int]] = []
    for scale in (1.0,):
        sig = sigma_px * scale
        dog = ndimage.gaussian_filter(gm, sig) - ndimage.gaussian_filter(gm, 3.0 * sig)
        size = tuple(int(2 * round(2.3548 * v)) + 1 for v in sig)
        peaks = (dog == ndimage.maximum_filter(dog, size=size)) & inner & (dog > 0)
        for r, c in zip(*np.nonzero(peaks), strict=True):
            if all(abs(r - fr) > sigma_px[0] * 2.35 or abs(c - fc) > sigma_px[1] * 2.35
                   for fr, fc in found):  # fmt: skip
                found.append((int(r), int(c)))
    return found


_TEMPLATES: dict[tuple[float, float, float, float], NDArray[np.float64]] = {}


def _template(radius_mm: float, px: tuple[float, float], fwhm: float, half: int) -> NDArray[Any]:
    """Chord image (mm) of a sphere of ``radius_mm`` blurred by the camera, on a patch of
    ``2 half + 1`` pixels (made once on its own support, 4 × 4 sub-samples per pixel, then
    cropped or zero-padded)."""
    key = (radius_mm, px[0], px[1], fwhm)
    full = _TEMPLATES.get(key)
    if full is None:
        sig = (fwhm / 2.3548) / np.asarray(px)
        own = math.ceil((radius_mm + 4.0 * fwhm / 2.3548) / min(px)) + 1
        sub, n = 4, 2 * own + 1
        ys = (np.arange(n * sub) - (n * sub - 1) / 2) / sub * px[0]
        xs = (np.arange(n * sub) - (n * sub - 1) / 2) / sub * px[1]
        r2 = ys[:, None] ** 2 + xs[None, :] ** 2
        chord = 2.0 * np.sqrt(np.clip(radius_mm**2 - r2, 0.0, None))
        chord = chord.reshape(n, sub, n, sub).mean(axis=(1, 3))
        full = np.asarray(ndimage.gaussian_filter(chord, sig, mode="constant"), np.float64)
        if len(_TEMPLATES) > 512:
            _TEMPLATES.clear()
        _TEMPLATES[key] = full
    own = full.shape[0] // 2
    if own >= half:
        return full[own - half : own + half + 1, own - half : own + half + 1]
    out = np.zeros((2 * half + 1, 2 * half + 1))
    out[half - own : half + own + 1, half - own : half + own + 1] = full
    return out


def _extent(
    smooth: NDArray[np.float64], at: tuple[int, int], px: tuple[float, float], fwhm: float
) -> tuple[float, float] | None:
    """Half-maximum radius (mm) of the blob at ``at`` and its surrounding level (ring median).

    The ring (one FWHM wide) starts 1.5 FWHM beyond the half-maximum region, which is
    found again until the ring settles (three passes at most).
    """
    r0, c0 = at
    win = math.ceil(120.0 / min(px))
    lo_r, lo_c = max(r0 - win, 0), max(c0 - win, 0)
    sub = smooth[lo_r : r0 + win + 1, lo_c : c0 + win + 1]
    yy, xx = np.indices(sub.shape)
    dist = np.hypot((yy - (r0 - lo_r)) * px[0], (xx - (c0 - lo_c)) * px[1])
    peak = float(smooth[r0, c0])
    ring_r, r_half, bg = 2.0 * fwhm, fwhm / 2.0, 0.0
    for _ in range(3):
        ring = (dist >= ring_r) & (dist < ring_r + fwhm)
        if not ring.any():
            return None
        bg = float(np.median(sub[ring]))
        if peak <= bg:
            return None
        lab, _ = ndimage.label((sub >= (peak + bg) / 2.0) & (dist < ring_r))
        region = lab == lab[r0 - lo_r, c0 - lo_c]
        r_half = math.sqrt(region.sum() * px[0] * px[1] / math.pi)
        new = r_half + 1.5 * fwhm
        if abs(new - ring_r) < min(px):
            break
        ring_r = new
    return r_half, bg


def _fit_lesion(
    gm_c: NDArray[np.float64],
    var_c: NDArray[np.float64],
    smooth: NDArray[np.float64],
    body: NDArray[np.bool_],
    at: tuple[int, int],
    px: tuple[float, float],
    fwhm: float,
    max_radius_mm: float,
    fields: tuple[NDArray[np.float64], ...] = (),
) -> PlanarLesion | None:
    """Blurred sphere + quadratic background fitted around ``at`` (weighted least squares).

    The patch reaches 1.5 half-maximum radii + 1.5 FWHM from the peak and must lie
    ≥ 80 % in the body; the sphere radius is searched on a grid up to 1.6 half-maximum
    radii + FWHM/2 and must be an interior optimum; the amplitude's standard error is
    scaled by √(reduced χ²) when the model does not explain the patch.
    """
    ext = _extent(smooth, at, px, fwhm)
    if ext is None:
        return None
    r_half, ring_level = ext
    sig_px = math.sqrt((fwhm / 2.3548 / px[0]) * (fwhm / 2.3548 / px[1]))
    noise = math.sqrt(max(ring_level, 1.0) / 2.0) / (2.0 * math.sqrt(math.pi) * sig_px)
    if float(smooth[at]) - ring_level < 2.0 * noise:
        return None
    r0, c0 = at
    half = math.ceil((1.5 * r_half + 1.5 * fwhm) / min(px))
    rows, cols = gm_c.shape
    if r0 - half < 0 or c0 - half < 0 or r0 + half >= rows or c0 + half >= cols:
        return None
    box = (slice(r0 - half, r0 + half + 1), slice(c0 - half, c0 + half + 1))
    if body[box].mean() < 0.8:
        return None
    patch = gm_c[box].ravel()
    sw = 1.0 / np.sqrt(np.maximum(var_c[box], 1.0).ravel())
    yy, xx = np.indices((2 * half + 1, 2 * half + 1))
    y, x = ((yy - half) * px[0] / 100.0).ravel(), ((xx - half) * px[1] / 100.0).ravel()
    base = np.stack([y**i * x**j for i in range(3) for j in range(3 - i)], axis=1)
    extra = [f[box].ravel() for f in fields if float(np.ptp(f[box])) > 1e-3]
    if extra:
        base = np.column_stack([base, *extra])
    radii = _radii(min(max_radius_mm, 1.6 * r_half + fwhm / 2.0), px)
    # Weighted least squares by projection: the background's normal matrix is inverted once;
    # for each sphere template the amplitude is the regression of the data on the template's
    # part orthogonal to the background, its variance 1 / |t⊥|² (unit-variance weights).
    bw = base * sw[:, None]
    gram_inv = np.linalg.pinv(bw.T @ bw)

    def perp(v: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(v - bw @ (gram_inv @ (bw.T @ v)))

    data = patch * sw
    data_perp = perp(data)
    total = float(data_perp @ data_perp)
    fits: list[tuple[float, float, float, float]] = []  # rss, radius, amplitude, |t⊥|²
    for radius in radii:
        t = _template(radius, px, fwhm, half).ravel() * sw
        t_perp = perp(t)
        tt = float(t_perp @ t_perp)
        if tt <= 1e-12:
            continue
        amp = float(t_perp @ data_perp) / tt
        fits.append((total - amp * amp * tt, radius, amp, tt))
    if not fits:
        return None
    k = int(np.argmin([f[0] for f in fits]))
    rss, radius, amp, tt = fits[k]
    if amp <= 0 or (k == len(fits) - 1 and len(fits) > 1):
        return None
    dof = max(data.size - base.shape[1] - 2, 1)
    z = amp * math.sqrt(tt / max(1.0, rss / dof))
    peak_model = amp * float(_template(radius, px, fwhm, half)[half, half])
    peak = float(gm_c[r0, c0])
    return PlanarLesion(
        id=0,
        position_mm=(r0 * px[0], c0 * px[1]),
        lateral_mm=0.0,
        peak_counts=peak,
        background_counts=peak - peak_model,
        net_counts=peak_model,
        diameter_mm=2.0 * radius,
        excess_intensity=amp,
        z=z,
        over_liver=False,
    )


def detect(
    gm_c: NDArray[np.float64],
    var_c: NDArray[np.float64],
    corr: NDArray[np.float64],
    body: NDArray[np.bool_],
    cands: list[tuple[int, int]],
    px: tuple[float, float],
    fwhm: float,
    *,
    max_radius_mm: float,
    detection_z: float,
    fields: tuple[NDArray[np.float64], ...] = (),
) -> list[PlanarLesion]:
    """Significant blobs, most significant first, each subtracted before the next (CLEAN).

    Every candidate is fitted once; the most significant fit (z ≥ ``detection_z``) is
    kept and its model subtracted from the image, candidates within its radius + one
    FWHM are dropped and those within 120 mm fitted again on the residual — so that a
    lesion next to a hotter one (or to a kidney) is measured on its own.
    """
    resid = gm_c.copy()
    sigma_px = (fwhm / 2.3548) / np.asarray(px)
    smooth = ndimage.gaussian_filter(resid / corr, sigma_px)
    fits = {
        c: _fit_lesion(resid, var_c, smooth, body, c, px, fwhm, max_radius_mm, fields)
        for c in cands
    }
    kept: list[PlanarLesion] = []
    while len(kept) < 60:
        live = {c: f for c, f in fits.items() if f is not None and f.z >= detection_z}
        if not live:
            break
        at, best = max(live.items(), key=lambda kv: kv[1].z)
        kept.append(best)
        _subtract(resid, best, at, px, fwhm)
        smooth = ndimage.gaussian_filter(resid / corr, sigma_px)
        gone = best.diameter_mm / 2.0 + fwhm
        for c in list(fits):
            d = math.hypot((c[0] - at[0]) * px[0], (c[1] - at[1]) * px[1])
            if d <= gone:
                del fits[c]
            elif d <= 120.0:
                fits[c] = _fit_lesion(
                    resid, var_c, smooth, body, c, px, fwhm, max_radius_mm, fields
                )
    return kept


def _subtract(
    resid: NDArray[np.float64],
    le: PlanarLesion,
    at: tuple[int, int],
    px: tuple[float, float],
    fwhm: float,
) -> None:
    """Subtract the fitted blurred sphere of ``le`` (centred at pixel ``at``) in place."""
    half = math.ceil((le.diameter_mm / 2.0 + 2.0 * fwhm) / min(px))
    t = le.excess_intensity * _template(le.diameter_mm / 2.0, px, fwhm, half)
    r0, c0 = at
    rows, cols = resid.shape
    lo_r, hi_r = max(r0 - half, 0), min(r0 + half + 1, rows)
    lo_c, hi_c = max(c0 - half, 0), min(c0 + half + 1, cols)
    resid[lo_r:hi_r, lo_c:hi_c] -= t[lo_r - r0 + half : hi_r - r0 + half,
                                     lo_c - c0 + half : hi_c - c0 + half]  # fmt: skip


def _radii(max_r: float, px: tuple[float, float]) -> list[float]:
    """Sphere radii tried (mm): from half a pixel in 10 % steps, up to ``max_r``."""
    out: list[float] = []
    r = max(min(px) / 2.0, 1.0)
    while r <= max_r or len(out) < 3:
        out.append(round(r, 2))
        r *= 1.1
    return out


#: Flag of a lesion in the abdomen below the kidneys' upper poles, off the liver.
FLAG_BOWEL = "abdomen_possible_bowel"
FLAG_TEXT = {
    FLAG_BOWEL: "below the kidneys' upper poles, off the liver: bowel activity possible "
    "(compare with a later view)",
}


def classify(
    fits: list[PlanarLesion],
    smooth: NDArray[np.float64],
    spleen: NDArray[np.bool_] | None,
    liver: NDArray[np.bool_] | None,
    mid: float,
    px: tuple[float, float],
    z_min: float,
) -> tuple[list[PlanarLesion], list[dict[str, Any]]]:
    """Significant fits that are lesions, and those that are physiological.

    Spleen: in the spleen's projection. Kidneys: the most superior fit 30-130 mm left of
    the midline below the spleen (≥ 30 mm), and the fit mirrored across the midline
    (±40 mm; up to 50 mm lower or higher); each kidney's blob (≥ 60 % of its smoothed
    counts, off the liver) takes every fit in it. Bladder: the largest midline fit
    (±50 mm) more than 100 mm below the kidneys, with its blob (≥ 50 %). Lesions off the liver below
    the kidneys' upper poles are flagged :data:`FLAG_BOWEL`.
    """
    sig = _dedupe([f for f in fits if f.z >= z_min], px)
    physio: dict[int, str] = {}

    def pix(f: PlanarLesion) -> tuple[int, int]:
        return (round(f.position_mm[0] / px[0]), round(f.position_mm[1] / px[1]))

    def lat(f: PlanarLesion) -> float:
        return (f.position_mm[1] / px[1] - mid) * px[1]

    def take(organ: str, i: int, frac: float) -> NDArray[np.bool_]:
        physio[i] = organ
        blob = _blob(smooth, pix(sig[i]), frac, px)
        if liver is not None:
            blob &= ~liver
        for j, f in enumerate(sig):
            if j not in physio and blob[pix(f)]:
                physio[j] = organ
        return blob

    for i, f in enumerate(sig):
        if spleen is not None and spleen[pix(f)]:
            physio[i] = "spleen"
    spleen_row = float(np.nonzero(spleen)[0].mean()) * px[0] if spleen is not None else -np.inf
    left = [i for i, f in enumerate(sig) if i not in physio and 30.0 <= lat(f) <= 130.0
            and f.position_mm[0] > spleen_row and f.diameter_mm >= 30.0]  # fmt: skip
    kidney_top = np.inf
    if left:
        lk = min(left, key=lambda i: sig[i].position_mm[0])
        k = sig[lk]
        blobs = [take("kidney", lk, 0.6)]
        right = [i for i, f in enumerate(sig) if i not in physio
                 and abs(f.position_mm[0] - k.position_mm[0]) <= 50.0
                 and abs(lat(f) + lat(k)) <= 40.0]  # fmt: skip
        if right:
            blobs.append(take("kidney", min(right, key=lambda i: abs(lat(sig[i]) + lat(k))), 0.6))
        tops = [float(np.nonzero(b)[0].min()) * px[0] for b in blobs if b.any()]
        kidney_top = min(tops, default=k.position_mm[0] - k.diameter_mm / 2.0)
        below = [i for i, f in enumerate(sig) if i not in physio and abs(lat(f)) <= 50.0
                 and f.position_mm[0] > k.position_mm[0] + 100]  # fmt: skip
        if below:
            take(
                "bladder",
                max(below, key=lambda i: sig[i].net_counts * sig[i].diameter_mm ** 2),
                0.5,
            )
    kept = []
    for i, f in enumerate(sig):
        if i in physio:
            continue
        over = bool(liver is not None and liver[pix(f)])
        flags = (FLAG_BOWEL,) if not over and f.position_mm[0] > kidney_top else ()
        kept.append(replace(f, lateral_mm=lat(f), over_liver=over, flags=flags))
    out = [
        {
            "organ": organ,
            "position_mm": [round(v, 1) for v in sig[i].position_mm],
            "diameter_mm": round(sig[i].diameter_mm, 1),
            "z": round(sig[i].z, 1),
        }
        for i, organ in sorted(physio.items())
    ]
    return kept, out


def _blob(
    smooth: NDArray[np.float64], at: tuple[int, int], frac: float, px: tuple[float, float]
) -> NDArray[np.bool_]:
    """The connected region ≥ ``frac`` × the smoothed counts at ``at``, within 90 mm of it."""
    rows, cols = np.indices(smooth.shape)
    near = np.hypot((rows - at[0]) * px[0], (cols - at[1]) * px[1]) <= 90.0
    lab, _ = ndimage.label((smooth >= frac * smooth[at]) & near)
    return np.asarray(lab == lab[at], bool) if lab[at] else np.zeros(smooth.shape, bool)


def _dedupe(fits: list[PlanarLesion], px: tuple[float, float]) -> list[PlanarLesion]:
    """One fit per blob: of fits closer than their radius, the most significant."""
    out: list[PlanarLesion] = []
    for f in sorted(fits, key=lambda f: -f.z):
        if all(
            math.dist(f.position_mm, g.position_mm) > max(g.diameter_mm / 2.0, 2 * min(px))
            for g in out
        ):
            out.append(f)
    return out


def lesion_discs(
    shape: tuple[int, ...], lesions: list[PlanarLesion], px: tuple[float, float], fwhm: float
) -> NDArray[np.bool_]:
    """Pixels within a lesion's radius + one FWHM (left out of the reference ROIs)."""
    rows, cols = np.indices(shape)
    out = np.zeros(shape, bool)
    for le in lesions:
        r = le.diameter_mm / 2.0 + fwhm
        out |= ((rows * px[0] - le.position_mm[0]) ** 2 + (cols * px[1] - le.position_mm[1]) ** 2
                <= r * r)  # fmt: skip
    return out
