"""Scanner models: PET, SPECT (177Lu; 111In/99mTc SSTR SPECT) and CT of the digital patient.

Image formation (emission)
--------------------------
1. The true activity concentration (Bq/mL) is painted on the fine truth grid.
2. It is integrated into the scanner's voxels (exact overlap weights, so the
   total activity inside the field of view is conserved).
3. A point-spread function blurs it: discrete kernels whose variances add up
   to (FWHM/2.3548)², so that a point source sampled into one voxel images with
   the stated FWHM (PET 5.5 mm, SPECT 11 mm); part of the variance is applied
   before the noise and the rest as a post-filter (correlated noise).
4. Count noise: expected counts per voxel are drawn from a Poisson law (SPECT:
   with a variance amplification factor for OSEM), then converted back.

Partial-volume effects therefore arise from steps 2-3, never painted in. The
expected value of every voxel equals the noise-free blurred image, and every
step conserves activity (up to the field-of-view edge), so the calibrated
total of a large organ (with a margin of a few FWHM) reproduces the truth.
Attenuation, scatter and dead time are taken as perfectly corrected.

Nuclide-aware variants: :meth:`EmissionScanner.pet_for` (another positron emitter: count
efficiency by positron yield, resolution by positron range) and
:meth:`EmissionScanner.spect_for` (111In and 99mTc SSTR SPECT: the camera's resolution,
sensitivity and noise from ``scintigraphy.toml``; 177Lu is :meth:`EmissionScanner.spect`).

Examples
--------
>>> import numpy as np
>>> src = Grid((4, 4, 4), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
>>> dst = Grid((2, 2, 2), (4.0, 4.0, 4.0), (1.0, 1.0, 1.0))
>>> out = box_resample(np.ones((4, 4, 4)), src, dst)
>>> float(out.sum()) * dst.voxel_ml == 64 * src.voxel_ml
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, optimize, sparse, special

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import LABELS, LESION_LABEL0, TISSUE, Anatomy, Grid
from sstrkit.phantom.ct_tissues import (
    STRUCTURE_TISSUE,
    STRUCTURES,
    TEXTURE_LEVELS,
    ct_tissue_map,
    structure_codes,
    texture_levels,
)
from sstrkit.phantom.parameters import parameters, scintigraphy_parameters
from sstrkit.physics.nuclides import get_nuclide
from sstrkit.physics.ranges import csda_range_water_mm

__all__ = [
    "EmissionScanner",
    "box_resample",
    "ct_fine_hu",
    "ct_hu",
    "ct_noise",
    "fat_rim_mask",
    "fine_concentration",
    "positron_range_fwhm_mm",
    "scanner_grid",
    "spect_camera_parameters",
    "spect_duration_s",
]

FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
#: CT keys of body voxels painted with a CT structure start here (labels stay below).
_CT_STRUCT_KEY0 = LESION_LABEL0 + 64
#: Lowest CT number a scanner stores (12-bit images with rescale intercept −1024).
_CT_MIN_HU = -1024.0


def spect_camera_parameters(nuclide: str) -> dict[str, Any]:
    """``scintigraphy.toml`` ``[cameras.<nuclide>]`` of a single-photon SSTR tracer's nuclide."""
    cams = scintigraphy_parameters()["cameras"]
    if nuclide not in cams:
        raise InvalidInputError(
            "SPECT nuclide",
            expected="Lu-177 or " + " or ".join(cams),
            actual=nuclide,
        )
    out: dict[str, Any] = cams[nuclide]
    return out


def spect_duration_s(nuclide: str = "Lu-177") -> float:
    """SPECT acquisition duration (s): ``[spect]`` for 177Lu, the camera's for 111In/99mTc."""
    if nuclide == "Lu-177":
        return float(parameters()["spect"]["acquisition_duration_s"])
    return float(spect_camera_parameters(nuclide)["spect_duration_s"])


def positron_range_fwhm_mm(nuclide: str) -> float:
    """Model FWHM (mm) of the positron-range blur of ``nuclide``.

    ``range_fwhm_per_csda`` (``scintigraphy.toml`` ``[pet_nuclides]``) × the CSDA range in
    water of a positron of the nuclide's mean positron energy (ICRP 107).

    >>> round(positron_range_fwhm_mm("Ga-68"), 2), round(positron_range_fwhm_mm("Cu-64"), 2)
    (1.73, 0.38)
    """
    nuc = get_nuclide(nuclide)
    if not nuc.positron_fraction or nuc.beta_plus_mean_mev is None:
        raise InvalidInputError("PET nuclide", expected="a positron emitter", actual=nuclide)
    mean_e = nuc.beta_plus_mean_mev / nuc.positron_fraction
    factor = float(scintigraphy_parameters()["pet_nuclides"]["range_fwhm_per_csda"])
    return factor * float(csda_range_water_mm(mean_e))


def scanner_grid(truth: Grid, voxel_mm: tuple[float, float, float]) -> Grid:
    """A grid of ``voxel_mm`` voxels covering the truth grid's field of view (same centre)."""
    nz, ny, nx = truth.shape
    lo = tuple(truth.origin[i] - truth.spacing[i] / 2 for i in range(3))
    hi = tuple(truth.origin[i] + truth.spacing[i] * (n - 0.5) for i, n in enumerate((nx, ny, nz)))
    return Grid.covering(lo, hi, voxel_mm)  # type: ignore[arg-type]


def _overlap_matrix(
    src_origin: float, src_step: float, n_src: int, dst_origin: float, dst_step: float, n_dst: int
) -> NDArray[np.float64]:
    """M[i, j] = |dst voxel i ∩ src voxel j| / |dst voxel i| along one axis."""
    s_lo = src_origin - src_step / 2 + src_step * np.arange(n_src)
    d_lo = dst_origin - dst_step / 2 + dst_step * np.arange(n_dst)
    lo = np.maximum(d_lo[:, None], s_lo[None, :])
    hi = np.minimum(d_lo[:, None] + dst_step, s_lo[None, :] + src_step)
    out: NDArray[np.float64] = np.clip(hi - lo, 0.0, None) / dst_step
    return out


def box_resample(values: NDArray[Any], src: Grid, dst: Grid) -> NDArray[np.float64]:
    """Average of an intensive quantity (Bq/mL, HU) over each destination voxel.

    Voxels are boxes; the weights are exact overlap fractions (separable), so
    Σ dst·V_dst = Σ src·V_src over the common field of view. Outside the source
    grid the value is taken as 0.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != src.shape:
        raise InvalidInputError("array", expected=f"shape {src.shape}", actual=arr.shape)
    (nzs, nys, nxs), (nzd, nyd, nxd) = src.shape, dst.shape
    mats = [
        None
        if ns == nd and src.origin[i] == dst.origin[i] and src.spacing[i] == dst.spacing[i]
        else _overlap_matrix(src.origin[i], src.spacing[i], ns, dst.origin[i], dst.spacing[i], nd)
        for i, (ns, nd) in enumerate(((nxs, nxd), (nys, nyd), (nzs, nzd)))
    ]
    out = arr
    for axis, m in ((2, mats[0]), (1, mats[1]), (0, mats[2])):
        if m is None:  # identical axes: the overlap matrix is the identity
            continue
        moved = np.moveaxis(out, axis, 0)
        shape = moved.shape
        res = sparse.csr_matrix(m) @ moved.reshape(shape[0], -1)
        out = np.moveaxis(np.asarray(res).reshape((m.shape[0], *shape[1:])), 0, axis)
    return np.ascontiguousarray(out)


def fine_concentration(anatomy: Anatomy, per_label: Mapping[int, float]) -> NDArray[np.float32]:
    """Voxel values on the truth grid from a {label value: value} table (others 0)."""
    table = np.zeros(LESION_LABEL0 + 64, dtype=np.float64)
    for label, value in per_label.items():
        table[label] = value
    # float64 values rounded once to float32, then looked up (labels are small non-negative
    # integers; np.take avoids an int64 copy of the label map)
    out: NDArray[np.float32] = np.take(table.astype(np.float32), anatomy.labels.array)
    return out


def psf_kernel(variance_vox: float) -> NDArray[np.float64]:
    """1-D blur kernel (sums to 1) whose variance is exactly ``variance_vox`` (voxel²).

    Up to 0.5 voxel² it is a three-tap kernel [a, 1 − 2a, a] with 2a = variance;
    above, a Gaussian integrated over each voxel whose σ is solved so that the
    discrete kernel has exactly the requested variance. (A sampled Gaussian
    would under-blur when σ < 1 voxel.)

    >>> k = psf_kernel(0.9)
    >>> x = np.arange(k.size) - k.size // 2
    >>> round(float((k * x**2).sum()), 6), round(float(k.sum()), 12)
    (0.9, 1.0)
    """
    if variance_vox <= 0:
        return np.ones(1)
    if variance_vox <= 0.5:
        a = variance_vox / 2.0
        return np.array([a, 1.0 - 2.0 * a, a])

    def kernel(sigma: float) -> NDArray[np.float64]:
        radius = math.ceil(6.0 * sigma + 2.0)
        edges = (np.arange(-radius, radius + 2) - 0.5) / (sigma * math.sqrt(2.0))
        k = np.diff(0.5 * (1.0 + special.erf(edges)))
        return np.asarray(k / k.sum(), dtype=np.float64)

    def excess(sigma: float) -> float:
        k = kernel(sigma)
        x = np.arange(k.size) - k.size // 2
        return float((k * x**2).sum()) - variance_vox

    sigma = optimize.brentq(excess, 1e-3, math.sqrt(variance_vox) + 1.0, xtol=1e-12)
    return kernel(float(sigma))


def _blur(arr: NDArray[Any], variance_vox: float) -> NDArray[np.float64]:
    """Separable blur with :func:`psf_kernel` (periodic edges: totals are conserved)."""
    out = np.asarray(arr, dtype=np.float64)
    if variance_vox <= 0:
        return out
    k = psf_kernel(variance_vox)
    for axis in range(out.ndim):
        out = ndimage.correlate1d(out, k, axis=axis, mode="wrap")
    return out


@dataclass(frozen=True)
class EmissionScanner:
    """Resolution, sampling and noise model of an emission tomograph.

    Attributes
    ----------
    voxel_mm
        Isotropic reconstructed voxel size.
    fwhm_mm
        Image resolution (FWHM), voxel integration included.
    counts_per_bq_s
        Expected recorded counts per decay (noise model): PET an effective
        count efficiency, SPECT the calibration factor (cps/MBq × 1e-6).
    noise_variance_factor
        Image variance / Poisson variance of the expected counts.
    post_filter_fraction
        Fraction of the Gaussian variance applied after the noise (correlates it).
    """

    name: str
    voxel_mm: float
    fwhm_mm: float
    counts_per_bq_s: float
    noise_variance_factor: float = 1.0
    post_filter_fraction: float = 0.5

    @classmethod
    def pet(cls) -> EmissionScanner:
        p = parameters()["pet"]
        return cls(
            "PET",
            float(p["voxel_mm"]),
            float(p["fwhm_mm"]),
            float(p["count_efficiency"]),
            1.0,
            float(p["post_filter_fraction"]),
        )

    @classmethod
    def spect(cls) -> EmissionScanner:
        p = parameters()["spect"]
        return cls(
            "SPECT",
            float(p["voxel_mm"]),
            float(p["fwhm_mm"]),
            float(p["calibration_cps_per_mbq"]) * 1e-6,
            float(p["noise_variance_factor"]),
            float(p["post_filter_fraction"]),
        )

    @classmethod
    def pet_for(cls, nuclide: str) -> EmissionScanner:
        """The PET of ``[pet]`` for another positron emitter (``Ga-68``: :meth:`pet` itself).

        Count efficiency × positron yield / the 68Ga yield; FWHM² − r(68Ga)² + r(nuclide)²
        with r the positron-range FWHM (:func:`positron_range_fwhm_mm`).
        """
        base = cls.pet()
        if nuclide == "Ga-68":
            return base
        ga, nuc = get_nuclide("Ga-68"), get_nuclide(nuclide)
        r_ga, r_x = positron_range_fwhm_mm("Ga-68"), positron_range_fwhm_mm(nuclide)
        return replace(
            base,
            name=f"PET {nuc.name}",
            fwhm_mm=math.sqrt(base.fwhm_mm**2 - r_ga**2 + r_x**2),
            counts_per_bq_s=base.counts_per_bq_s * nuc.positron_fraction / ga.positron_fraction,
        )

    @classmethod
    def spect_for(cls, nuclide: str) -> EmissionScanner:
        """The SPECT of ``nuclide``: 177Lu as :meth:`spect`; 111In and 99mTc with their
        camera's FWHM, calibration (both heads), noise amplification and post-filter share
        (``scintigraphy.toml`` ``[cameras.*]``) on the ``[spect]`` voxel size."""
        if nuclide == "Lu-177":
            return cls.spect()
        c = spect_camera_parameters(nuclide)
        return cls(
            f"SPECT {nuclide}",
            float(parameters()["spect"]["voxel_mm"]),
            float(c["spect_fwhm_mm"]),
            float(c["spect_calibration_cps_per_mbq"]) * 1e-6,
            float(c["spect_noise_variance_factor"]),
            float(c["spect_post_filter_fraction"]),
        )

    def gaussian_sigma_mm(self) -> float:
        """σ of the point response: a point source in one voxel images with ``fwhm_mm``."""
        if self.fwhm_mm <= 0:
            raise InvalidInputError(
                f"{self.name} resolution", expected="FWHM > 0 mm", actual=self.fwhm_mm
            )
        return self.fwhm_mm * FWHM_TO_SIGMA

    def grid_for(self, truth: Grid) -> Grid:
        v = self.voxel_mm
        return scanner_grid(truth, (v, v, v))

    def image(
        self,
        concentration_bq_ml: NDArray[Any],
        truth: Grid,
        *,
        duration_s: float,
        rng: np.random.Generator | None,
    ) -> tuple[NDArray[np.float32], Grid, dict[str, Any]]:
        """Simulate the reconstructed image (Bq/mL) of a fine-grid concentration.

        ``rng=None`` gives the noise-free expected image.
        """
        grid = self.grid_for(truth)
        sampled = box_resample(concentration_bq_ml, truth, grid)
        var = (self.gaussian_sigma_mm() / self.voxel_mm) ** 2
        img = _blur(sampled, var * (1.0 - self.post_filter_fraction))
        np.clip(img, 0.0, None, out=img)
        k = grid.voxel_ml * duration_s * self.counts_per_bq_s / self.noise_variance_factor
        info: dict[str, Any] = {
            "voxel_mm": self.voxel_mm,
            "fwhm_mm": self.fwhm_mm,
            "gaussian_sigma_mm": self.gaussian_sigma_mm(),
            "duration_s": duration_s,
            "counts_per_bq_s": self.counts_per_bq_s,
            "noise_variance_factor": self.noise_variance_factor,
        }
        if rng is not None:
            expected = img * k
            info["expected_total_counts"] = float(expected.sum()) * self.noise_variance_factor
            img = rng.poisson(expected).astype(np.float64) / k
        img = _blur(img, var * self.post_filter_fraction)
        return np.clip(img, 0.0, None).astype(np.float32), grid, info


def fat_rim_mask(anatomy: Anatomy) -> NDArray[np.bool_]:
    """Body voxels within ``fat_rim_mm`` of the body outline (subcutaneous fat, CT only).

    Computed from the (unmoved) body solid on the truth grid; a repositioned patient
    moves this mask with its labels (:func:`sstrkit.phantom.positioning.move_anatomy`).
    """
    body = anatomy.model.body
    truth = anatomy.model.grid
    xs, ys, _ = truth.axes()
    a, b = body.semi_axes_mm[0], body.semi_axes_mm[1]
    cx, cy = body.center_mm[0], body.center_mm[1]
    rim = anatomy.model.fat_rim_mm
    inner = ((xs[None, :] - cx) / (a - rim)) ** 2 + ((ys[:, None] - cy) / (b - rim)) ** 2 > 1.0
    out: NDArray[np.bool_] = (anatomy.labels.array == LABELS["body"]) & inner[None, :, :]
    return out


def _ct_table() -> NDArray[np.float32]:
    """HU of every (key, texture level): ``table[key * 8 + level]``.

    Keys: label values (organs, lesions: tumour) below ``_CT_STRUCT_KEY0``; a ``body``
    voxel painted with a CT structure has key ``_CT_STRUCT_KEY0 + code``.
    """
    p = parameters()["ct"]
    hu, sd = p["hu"], p["texture_sd_hu"]
    n_levels = TEXTURE_LEVELS.size
    mean = np.full(_CT_STRUCT_KEY0 + 32, float(hu["body"]))
    spread = np.full(_CT_STRUCT_KEY0 + 32, float(sd["body"]))
    mean[0], spread[0] = float(hu["air"]), float(sd["air"])
    for name, label in LABELS.items():
        tissue = TISSUE[name] if TISSUE[name] in hu else "body"
        mean[label], spread[label] = float(hu[tissue]), float(sd[tissue])
    mean[LESION_LABEL0:_CT_STRUCT_KEY0] = float(hu["tumour"])
    spread[LESION_LABEL0:_CT_STRUCT_KEY0] = float(sd["tumour"])
    for name, code in STRUCTURES.items():
        tissue = STRUCTURE_TISSUE[name]
        mean[_CT_STRUCT_KEY0 + code] = float(hu[tissue])
        spread[_CT_STRUCT_KEY0 + code] = float(sd[tissue])
    table = mean[:, None] + spread[:, None] * TEXTURE_LEVELS[None, :]
    return table.reshape(-1, n_levels).ravel().astype(np.float32)


def ct_fine_hu(anatomy: Anatomy, ct_map: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Noise-free CT numbers (HU) on the truth grid: tissue means plus their texture.

    Organ and lesion voxels take their label's tissue; ``body`` voxels the tissue of
    their CT structure in ``ct_map`` (:func:`sstrkit.phantom.ct_tissues.ct_tissue_map`);
    every voxel adds its tissue's texture SD times the map's texture field.
    """
    lab = np.asarray(anatomy.labels.array)
    cmap = np.asarray(ct_map)
    if cmap.shape != lab.shape or cmap.dtype != np.uint8:
        raise InvalidInputError(
            "CT tissue map",
            expected=f"uint8 array of shape {lab.shape} (sstrkit.phantom.ct_tissues.ct_tissue_map)",
            actual=f"{cmap.dtype} {cmap.shape}",
        )
    codes = structure_codes(cmap)
    key = lab.astype(np.int32)
    sel = (lab == LABELS["body"]) & (codes > 0)
    key[sel] = _CT_STRUCT_KEY0 + codes[sel].astype(np.int32)
    key *= TEXTURE_LEVELS.size
    key += texture_levels(cmap)
    out: NDArray[np.float32] = np.take(_ct_table(), key)
    return out


def ct_noise(
    shape: tuple[int, int, int], grid: Grid, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Low-dose CT noise (HU): white noise Gaussian-filtered in-plane, scaled to ``noise_hu``.

    The filter is :func:`psf_kernel` of σ = ``noise_correlation_mm`` along x and y
    (slices stay independent, as reconstructed CT slices); dividing by the filter's
    root-sum-of-squares makes the voxel SD exactly ``noise_hu`` (parameters.toml [ct]).
    Draws ``prod(shape)`` standard normals from ``rng``.
    """
    p = parameters()["ct"]
    sigma = float(p["noise_correlation_mm"])
    white = rng.standard_normal(shape)
    gain = 1.0
    for axis, spacing in ((2, grid.spacing[0]), (1, grid.spacing[1])):
        k = psf_kernel((sigma / spacing) ** 2)
        white = ndimage.correlate1d(white, k, axis=axis, mode="wrap")
        gain *= float(np.sum(k**2))
    out: NDArray[np.float64] = white * (float(p["noise_hu"]) / math.sqrt(gain))
    return out


def ct_hu(
    anatomy: Anatomy,
    grid: Grid,
    rng: np.random.Generator | None,
    *,
    ct_map: NDArray[np.uint8] | None = None,
    fat_rim: NDArray[np.bool_] | None = None,
) -> NDArray[np.float32]:
    """CT numbers (HU) on ``grid`` of a low-dose non-contrast CT of the patient.

    Tissue means and textures on the truth grid (:func:`ct_fine_hu`), averaged into the
    CT voxels (partial volume), plus correlated noise (:func:`ct_noise`; ``rng=None``:
    noise-free); values below −1024 HU are clipped, as a scanner stores them.

    ``ct_map`` is the patient's CT tissue map (muscles, fat, bowel ...;
    :func:`sstrkit.phantom.ct_tissues.ct_tissue_map`), computed from ``anatomy`` when
    omitted: a repositioned patient passes its moved map
    (:func:`sstrkit.phantom.positioning.move_anatomy`). ``fat_rim`` (deprecated) marks
    subcutaneous fat over a map computed here.
    """
    if ct_map is None:
        ct_map = ct_tissue_map(anatomy)
        if fat_rim is not None:
            levels = ct_map & np.uint8(0xE0)
            ct_map = np.where(
                fat_rim, levels | np.uint8(STRUCTURES["subcutaneous_fat"]), ct_map
            ).astype(np.uint8)
    fine = ct_fine_hu(anatomy, ct_map)
    air = float(parameters()["ct"]["hu"]["air"])
    fine -= np.float32(air)
    img = box_resample(fine, anatomy.model.grid, grid) + air
    if rng is not None:
        img += ct_noise(grid.shape, grid, rng)
    np.clip(img, _CT_MIN_HU, None, out=img)
    return img.astype(np.float32)
