"""Planar whole-body gamma camera: anterior and posterior views of the digital patient.

A dual-head camera scans the patient from head to feet: the anterior head in front of
the body, the posterior head behind it (under the table). :func:`project_views` turns an
activity-concentration volume (Bq/mL, truth grid) into the expected counts of both views
in a matrix of ``rows`` × ``columns`` pixels (``scintigraphy.toml`` ``[planar]``):

1. **Attenuation** along the straight line from every voxel to the detector (the view
   axis is the patient's antero-posterior axis, y): ``exp(−Σ μ·Δy)``, the emitting voxel
   contributing half its thickness, per energy window at its photopeak energy (μ from the
   CT: :func:`sstrkit.phantom.spect_recon.attenuation_map`, NIST water scaled by the CT
   number). Everything in front of the grid is air (the table is not modelled).
2. **Depth-dependent collimator blur**: the attenuated activity is summed in depth slabs
   of ``slab_mm``; each slab, integrated into the detector pixels (exact overlap weights:
   counts are conserved), is blurred with a Gaussian of FWHM(d) = ``fwhm_at_face_mm`` +
   ``fwhm_slope``·d at its distance d from the collimator face (discrete kernels of exact
   variance, :func:`sstrkit.phantom.scanners.psf_kernel`).
3. **Scatter**: per window, ``scatter_to_primary`` × (primary ⊗ K), K a normalised
   mono-exponential kernel exp(−r/``scatter_kernel_mm``) (the form of Axelsson, Msaki &
   Israelsson 1984).
4. **Sensitivity and time**: ``sensitivity_cps_per_mbq`` (one head, in air, all windows,
   split by ``count_fraction``) × the dwell time of a point under the moving detector,
   ``detector_axial_fov_mm`` / table speed (decay during the scan is neglected).
5. **Noise**: Poisson counts from a seeded generator (:func:`acquire`).

Both views are returned in the orientation of the anterior view (column 0 on the
patient's right, row 0 at the head); a camera stores the posterior view mirrored
(column 0 on the patient's left): :func:`mirror`. For a point source the geometric mean
of the two views' counts does not depend on its depth (conjugate views, MIRD Pamphlet 16):
the two attenuation paths add up to the body thickness.

Examples
--------
>>> cam = PlanarCamera.for_nuclide("Tc-99m")
>>> cam.collimator, round(float(cam.fwhm_mm(100.0)), 2), cam.windows[0].lower_kev
('LEHR', 7.4, 126.45)
>>> round(cam.dwell_time_s(10.0), 1)          # 400 mm at 10 cm/min
240.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage, signal

from sstrkit.core.units import KEV_PER_MEV
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import Grid
from sstrkit.phantom.parameters import scintigraphy_parameters
from sstrkit.phantom.scanners import FWHM_TO_SIGMA, _overlap_matrix, psf_kernel

__all__ = [
    "EnergyWindow",
    "PlanarCamera",
    "PlanarGeometry",
    "PlanarViews",
    "acquire",
    "mirror",
    "project_thickness",
    "project_views",
]

_F32 = np.float32


@dataclass(frozen=True)
class EnergyWindow:
    """A photopeak window: centre (keV), full width (% of the centre), its share of the
    in-air counts and its scatter-to-primary ratio in the patient."""

    centre_kev: float
    width_percent: float
    count_fraction: float
    scatter_to_primary: float

    @property
    def lower_kev(self) -> float:
        return round(self.centre_kev * (1.0 - self.width_percent / 200.0), 4)

    @property
    def upper_kev(self) -> float:
        return round(self.centre_kev * (1.0 + self.width_percent / 200.0), 4)

    @property
    def energy_mev(self) -> float:
        return self.centre_kev / KEV_PER_MEV


@dataclass(frozen=True)
class PlanarCamera:
    """Collimator, sensitivity, windows and whole-body matrix of the planar camera."""

    nuclide: str
    collimator: str
    fwhm_at_face_mm: float
    fwhm_slope: float
    sensitivity_cps_per_mbq: float
    windows: tuple[EnergyWindow, ...]
    scatter_kernel_mm: float
    pixel_mm: float = 2.4
    rows: int = 1024
    columns: int = 256
    detector_axial_fov_mm: float = 400.0
    detector_transaxial_fov_mm: float = 540.0
    slab_mm: float = 8.0

    def __post_init__(self) -> None:
        positive = {
            "sensitivity (cps/MBq)": self.sensitivity_cps_per_mbq,
            "pixel size (mm)": self.pixel_mm,
            "scatter kernel (mm)": self.scatter_kernel_mm,
            "detector axial field (mm)": self.detector_axial_fov_mm,
            "slab thickness (mm)": self.slab_mm,
        }
        for what, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise InvalidInputError(f"planar camera {what}", expected="> 0", actual=value)
        if not self.windows or abs(sum(w.count_fraction for w in self.windows) - 1.0) > 1e-9:
            raise InvalidInputError(
                "energy windows",
                expected="at least one, count fractions summing to 1",
                actual=[w.count_fraction for w in self.windows],
            )
        if self.fwhm_at_face_mm < 0 or self.fwhm_slope < 0:
            raise InvalidInputError(
                "collimator FWHM",
                expected="a, b >= 0 in FWHM(d) = a + b d",
                actual=(self.fwhm_at_face_mm, self.fwhm_slope),
            )

    @classmethod
    def for_nuclide(cls, nuclide: str) -> PlanarCamera:
        """The camera of ``scintigraphy.toml`` ``[cameras.<nuclide>]`` and ``[planar]``."""
        p = scintigraphy_parameters()
        if nuclide not in p["cameras"]:
            raise InvalidInputError(
                "gamma camera nuclide", expected=" or ".join(p["cameras"]), actual=nuclide
            )
        c, g = p["cameras"][nuclide], p["planar"]
        windows = tuple(
            EnergyWindow(float(e), float(w), float(f), float(k))
            for e, w, f, k in zip(
                c["window_centre_kev"],
                c["window_width_percent"],
                c["window_count_fraction"],
                c["scatter_to_primary"],
                strict=True,
            )
        )
        return cls(
            nuclide=nuclide,
            collimator=str(c["collimator"]),
            fwhm_at_face_mm=float(c["fwhm_at_face_mm"]),
            fwhm_slope=float(c["fwhm_slope"]),
            sensitivity_cps_per_mbq=float(c["sensitivity_cps_per_mbq"]),
            windows=windows,
            scatter_kernel_mm=float(c["scatter_kernel_mm"]),
            pixel_mm=float(g["pixel_mm"]),
            rows=int(g["rows"]),
            columns=int(g["columns"]),
            detector_axial_fov_mm=float(g["detector_axial_fov_mm"]),
            detector_transaxial_fov_mm=float(g["detector_transaxial_fov_mm"]),
            slab_mm=float(g["slab_mm"]),
        )

    def fwhm_mm(self, distance_mm: Any) -> NDArray[np.float64]:
        """System FWHM (mm) at ``distance_mm`` from the collimator face (clipped at 0)."""
        d = np.clip(np.asarray(distance_mm, dtype=np.float64), 0.0, None)
        return np.asarray(self.fwhm_at_face_mm + self.fwhm_slope * d)

    def dwell_time_s(self, scan_speed_cm_min: float) -> float:
        """Time a point is seen by the moving detector (axial field / table speed)."""
        if not (math.isfinite(scan_speed_cm_min) and scan_speed_cm_min > 0):
            raise InvalidInputError("scan speed (cm/min)", expected="> 0", actual=scan_speed_cm_min)
        return self.detector_axial_fov_mm / (scan_speed_cm_min * 10.0 / 60.0)

    @property
    def scan_length_mm(self) -> float:
        return self.rows * self.pixel_mm

    def counts_per_bq(self, dwell_s: float) -> float:
        """Expected counts per Bq in air, one head, all windows, for ``dwell_s``."""
        return self.sensitivity_cps_per_mbq * 1e-6 * dwell_s


@dataclass(frozen=True)
class PlanarGeometry:
    """Where the detector pixels lie in patient coordinates (LPS, mm).

    ``x_first_mm``: x of the centre of column 0 of the anterior view (patient's right);
    ``z_top_mm``: z of the upper edge of row 0; the collimator faces at
    ``y_anterior_face_mm`` (in front, smaller y) and ``y_posterior_face_mm``.
    """

    x_first_mm: float
    z_top_mm: float
    y_anterior_face_mm: float
    y_posterior_face_mm: float

    @classmethod
    def for_patient(
        cls, truth: Grid, body_centre_mm: Any, body_semi_axes_mm: Any, camera: PlanarCamera
    ) -> PlanarGeometry:
        """Columns centred on the body axis, the top row ``head_margin_mm`` above the grid."""
        g = scintigraphy_parameters()["planar"]
        cx, cy = float(body_centre_mm[0]), float(body_centre_mm[1])
        half_y = float(body_semi_axes_mm[1])
        z_top = truth.origin[2] + truth.spacing[2] * (truth.shape[0] - 0.5)
        return cls(
            x_first_mm=cx - camera.pixel_mm * (camera.columns - 1) / 2.0,
            z_top_mm=z_top + float(g["head_margin_mm"]),
            y_anterior_face_mm=cy - half_y - float(g["anterior_gap_mm"]),
            y_posterior_face_mm=cy + half_y + float(g["posterior_gap_mm"]),
        )

    def row_col_mm(self, point_mm: Any, camera: PlanarCamera) -> tuple[float, float]:
        """(row, column) position (mm from the centre of the top-left pixel) of a point in
        the anterior view."""
        x, _, z = (float(v) for v in point_mm)
        return (self.z_top_mm - camera.pixel_mm / 2.0 - z, x - self.x_first_mm)


@dataclass(frozen=True)
class PlanarViews:
    """Expected counts of the two views, both in the anterior orientation."""

    anterior: NDArray[np.float64]
    posterior: NDArray[np.float64]
    primary_fraction: float

    def geometric_mean(self) -> NDArray[np.float64]:
        return np.asarray(np.sqrt(self.anterior * self.posterior))


def _axis_weights(
    src_c0: float, src_step: float, n_src: int, dst_c0: float, dst_step: float, n_dst: int
) -> NDArray[np.float64]:
    """W[i, j] = fraction of source voxel j inside destination pixel i (counts kept)."""
    return _overlap_matrix(src_c0, src_step, n_src, dst_c0, dst_step, n_dst) * dst_step / src_step


@dataclass(frozen=True)
class _Sampling:
    """Truth grid (z, x) -> detector sub-image rows ``r0:r1`` and all columns."""

    rows_w: NDArray[np.float32]  # (r1 - r0, nz)
    cols_w: NDArray[np.float32]  # (columns, nx)
    r0: int
    r1: int


def _sampling(grid: Grid, camera: PlanarCamera, geo: PlanarGeometry, margin: int) -> _Sampling:
    nz, _, nx = grid.shape
    px = camera.pixel_mm
    # rows ascending in z: j = rows - 1 - r; the bottom row's centre first
    z_bottom = geo.z_top_mm - px * (camera.rows - 0.5)
    wz = _axis_weights(grid.origin[2], grid.spacing[2], nz, z_bottom, px, camera.rows)[::-1]
    hit = np.flatnonzero(wz.sum(axis=1) > 0)
    if hit.size == 0:
        raise InvalidInputError(
            "whole-body field of view", expected="rows that cover the patient", actual="none"
        )
    r0 = max(0, int(hit[0]) - margin)
    r1 = min(camera.rows, int(hit[-1]) + 1 + margin)
    wx = _axis_weights(grid.origin[0], grid.spacing[0], nx, geo.x_first_mm, px, camera.columns)
    return _Sampling(wz[r0:r1].astype(_F32), wx.astype(_F32), r0, r1)


@cache
def _kernel(variance_px: float) -> NDArray[np.float32]:
    return psf_kernel(variance_px).astype(_F32)


def _blur2d(img: NDArray[np.float32], variance_px: float) -> NDArray[np.float32]:
    k = _kernel(round(float(variance_px), 6))
    out = ndimage.correlate1d(img, k, axis=0, mode="constant")
    return np.asarray(ndimage.correlate1d(out, k, axis=1, mode="constant"))


@cache
def _scatter_kernel(length_px: float) -> NDArray[np.float64]:
    """Normalised 2-D mono-exponential kernel exp(−r/λ), out to 5λ."""
    n = math.ceil(5.0 * length_px)
    y, x = np.mgrid[-n : n + 1, -n : n + 1]
    k = np.exp(-np.hypot(x, y) / length_px)
    k[np.hypot(x, y) > 5.0 * length_px] = 0.0
    out: NDArray[np.float64] = k / k.sum()
    return out


def _slab_starts(ny: int, dy: float, slab_mm: float) -> NDArray[np.intp]:
    per = max(1, round(slab_mm / dy))
    return np.arange(0, ny, per, dtype=np.intp)


def _one_view(
    activity: NDArray[np.float32],
    mu_dy: NDArray[np.float32],
    grid: Grid,
    camera: PlanarCamera,
    geo: PlanarGeometry,
    samp: _Sampling,
    anterior: bool,
) -> NDArray[np.float32]:
    """Attenuated, depth-blurred primary counts per Bq·s·(cps/Bq) of one view and window."""
    cum = np.cumsum(mu_dy, axis=1, dtype=_F32)
    # from the voxel centre to the front (anterior) or back (posterior) of the grid
    half = _F32(0.5) * mu_dy
    path = cum - half if anterior else (cum[:, -1:, :] - cum) + half
    np.negative(path, out=path)
    weighted = activity * np.exp(path, out=path)
    ny = grid.shape[1]
    starts = _slab_starts(ny, grid.spacing[1], camera.slab_mm)
    slabs = np.add.reduceat(weighted, starts, axis=1)  # (nz, n_slab, nx)
    ys = grid.origin[1] + grid.spacing[1] * np.arange(ny)
    centres = np.add.reduceat(ys, starts) / np.diff(np.append(starts, ny))
    dist = centres - geo.y_anterior_face_mm if anterior else geo.y_posterior_face_mm - centres
    sigma_px = camera.fwhm_mm(dist) * FWHM_TO_SIGMA / camera.pixel_mm
    out = np.zeros((samp.r1 - samp.r0, camera.columns), dtype=_F32)
    for j in range(slabs.shape[1]):
        plane = samp.rows_w @ slabs[:, j, :] @ samp.cols_w.T
        out += _blur2d(np.ascontiguousarray(plane, dtype=_F32), float(sigma_px[j] ** 2))
    return out


def project_views(
    concentration_bq_ml: Any,
    mu_per_mm: list[Any],
    grid: Grid,
    camera: PlanarCamera,
    geometry: PlanarGeometry,
    dwell_s: float,
) -> PlanarViews:
    """Expected counts of the anterior and posterior views (anterior orientation).

    ``mu_per_mm`` holds one attenuation map (1/mm, truth grid) per energy window of
    ``camera`` (at the window's photopeak energy).
    """
    conc = np.asarray(concentration_bq_ml, dtype=_F32)
    if conc.shape != grid.shape or len(mu_per_mm) != len(camera.windows):
        raise InvalidInputError(
            "planar projection input",
            expected=f"activity of shape {grid.shape} and {len(camera.windows)} mu maps",
            actual=f"{conc.shape}, {len(mu_per_mm)} mu maps",
        )
    activity = conc * _F32(grid.voxel_ml)
    body_depth = geometry.y_posterior_face_mm - geometry.y_anterior_face_mm
    sigma_max = float(camera.fwhm_mm(body_depth)) * FWHM_TO_SIGMA / camera.pixel_mm
    lam_px = camera.scatter_kernel_mm / camera.pixel_mm
    margin = math.ceil(5.0 * lam_px) + math.ceil(5.0 * sigma_max) + 2
    samp = _sampling(grid, camera, geometry, margin)
    per_bq = camera.counts_per_bq(dwell_s)
    views = []
    primary = total = 0.0
    for anterior in (True, False):
        acc = np.zeros((samp.r1 - samp.r0, camera.columns), dtype=np.float64)
        for window, mu in zip(camera.windows, mu_per_mm, strict=True):
            mu_dy = np.asarray(mu, dtype=_F32) * _F32(grid.spacing[1])
            p = _one_view(activity, mu_dy, grid, camera, geometry, samp, anterior)
            p64 = p.astype(np.float64) * (window.count_fraction * per_bq)
            acc += p64
            primary += float(p64.sum())
            if window.scatter_to_primary > 0:
                s = signal.fftconvolve(p64, _scatter_kernel(lam_px), mode="same")
                acc += window.scatter_to_primary * np.clip(s, 0.0, None)
        full = np.zeros((camera.rows, camera.columns), dtype=np.float64)
        full[samp.r0 : samp.r1] = acc
        total += float(acc.sum())
        views.append(full)
    return PlanarViews(views[0], views[1], primary / total if total > 0 else 1.0)


def project_thickness(
    mask: Any, grid: Grid, camera: PlanarCamera, geometry: PlanarGeometry
) -> NDArray[np.float64]:
    """Path length (mm) through ``mask`` along the view axis, averaged over each pixel."""
    m = np.asarray(mask, dtype=bool)
    nz, _, nx = grid.shape
    thick = m.sum(axis=1, dtype=np.float64) * grid.spacing[1]  # (nz, nx)
    px = camera.pixel_mm
    z_bottom = geometry.z_top_mm - px * (camera.rows - 0.5)
    wz = _overlap_matrix(grid.origin[2], grid.spacing[2], nz, z_bottom, px, camera.rows)[::-1]
    wx = _overlap_matrix(
        grid.origin[0], grid.spacing[0], nx, geometry.x_first_mm, px, camera.columns
    )
    out: NDArray[np.float64] = wz @ thick @ wx.T
    return out


def acquire(expected: Any, rng: np.random.Generator | None) -> tuple[NDArray[np.uint16], int]:
    """Counts per pixel: Poisson draws (``rng``; ``None``: the rounded expectation),
    stored as uint16; returns the counts and the number of pixels clipped at 65535."""
    lam = np.clip(np.asarray(expected, dtype=np.float64), 0.0, None)
    counts = rng.poisson(lam) if rng is not None else np.rint(lam)
    saturated = int(np.count_nonzero(counts > 65535))
    return np.clip(counts, 0, 65535).astype(np.uint16), saturated


def mirror(view: Any) -> NDArray[Any]:
    """Left-right mirror: anterior orientation <-> the stored posterior view."""
    return np.ascontiguousarray(np.asarray(view)[:, ::-1])
