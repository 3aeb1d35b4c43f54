"""Dose figures of the theranostic report: dose over CT and dose–volume histograms.

* :func:`dose_overlay_figure` — axial, coronal and sagittal absorbed-dose
  colour-wash over CT through the dose maximum (or a given point), in the
  radiological convention (:func:`orthogonal_slices` orients any grid from its
  direction cosines);
* :func:`dvh_figure` — cumulative dose–volume histograms per region.

Dose in Gy, volumes in % and mL. Re-exported by :mod:`sstrkit.report.figures`.

Examples
--------
>>> a = np.zeros((3, 4, 5)); a[2, 1, 3] = 7.0
>>> fig = dose_overlay_figure(Volume.from_array(a, unit="Gy"), None, title="Dose", dpi=20)
>>> "colour scale 0–7 Gy" in fig.caption
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from numpy.typing import NDArray

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.report.document import Figure
from sstrkit.report.figures_common import _DPI, FloatArray
from sstrkit.therapy.dvh import RegionDVH

__all__ = [
    "CT_WINDOW_HU",
    "WASH_THRESHOLD",
    "OrthogonalSlices",
    "dose_overlay_figure",
    "dvh_curve_pct",
    "dvh_figure",
    "orthogonal_slices",
    "slice_indices",
]

#: Soft-tissue CT window (HU), as in :mod:`sstrkit.reading.images`.
CT_WINDOW_HU: Final = (-160.0, 240.0)
#: Dose below this fraction of the maximum is not coloured.
WASH_THRESHOLD: Final = 0.05


@dataclass(frozen=True)
class OrthogonalSlices:
    """Axial, coronal and sagittal slices in display order (row 0 at the top).

    Radiological convention: axial rows run anterior → posterior and columns
    patient right → left; coronal rows superior → inferior, columns right →
    left; sagittal rows superior → inferior, columns anterior → posterior
    (seen from the patient's left). ``aspect_*`` is the physical height/width
    of one pixel.
    """

    axial: NDArray[Any]
    coronal: NDArray[Any]
    sagittal: NDArray[Any]
    aspect_axial: float
    aspect_coronal: float
    aspect_sagittal: float


def _lps_layout(vol: Volume) -> tuple[tuple[int, int, int], tuple[bool, bool, bool], float]:
    """(permutation, flips, largest obliquity in degrees) to an LPS-ordered array.

    The canonical array has numpy axes (S, P, L): axis 0 increases towards the
    head, axis 1 towards posterior, axis 2 towards the patient's left. Each
    grid axis is assigned to the patient axis it is most parallel to.
    """
    d = vol.direction_matrix  # column a: LPS direction of ITK axis a
    patient = np.argmax(np.abs(d), axis=0)
    if sorted(patient.tolist()) != [0, 1, 2]:
        raise InvalidInputError(
            f"direction of {vol.name or 'volume'!r}",
            expected="grid axes close to the patient axes",
            actual=np.round(d, 3).tolist(),
            fix="resample onto an axis-aligned grid before drawing",
        )
    perm = [0, 0, 0]
    flip = [False, False, False]
    cosines = []
    for a in range(3):
        c = 2 - int(patient[a])
        perm[c] = 2 - a
        flip[c] = bool(d[patient[a], a] < 0)
        cosines.append(abs(float(d[patient[a], a])))
    oblique = math.degrees(math.acos(min(1.0, min(cosines))))
    return (perm[0], perm[1], perm[2]), (flip[0], flip[1], flip[2]), oblique


def _canonical_index(vol: Volume, index_zyx: Sequence[int]) -> tuple[int, int, int]:
    perm, flip, _ = _lps_layout(vol)
    shape = vol.shape
    out = []
    for c in range(3):
        i = int(index_zyx[perm[c]])
        out.append(shape[perm[c]] - 1 - i if flip[c] else i)
    return out[0], out[1], out[2]


def orthogonal_slices(
    vol: Volume, index_zyx: Sequence[int], *, array: NDArray[Any] | None = None
) -> OrthogonalSlices:
    """The three slices through voxel ``index_zyx`` (numpy order of ``vol``'s array).

    ``array`` (same shape as ``vol``) replaces the volume's voxels, e.g. a mask
    on the same grid. Slices are oriented from the volume's direction cosines,
    so head-first, feet-first or flipped grids all display the same way.

    Examples
    --------
    >>> a = np.zeros((2, 3, 4)); a[1, 0, 0] = 1       # superior, anterior, patient right
    >>> v = Volume.from_array(a, spacing=(1.0, 2.0, 3.0))
    >>> s = orthogonal_slices(v, (1, 0, 0))
    >>> float(s.axial[0, 0]), float(s.coronal[0, 0]), float(s.sagittal[0, 0]), s.aspect_coronal
    (1.0, 1.0, 1.0, 3.0)
    """
    arr = np.asarray(vol.array if array is None else array)
    if arr.shape != vol.shape:
        raise GeometryMismatchError(
            "array to slice", expected=f"shape {vol.shape}", actual=f"shape {arr.shape}"
        )
    if len(index_zyx) != 3 or any(
        not 0 <= int(i) < n for i, n in zip(index_zyx, vol.shape, strict=False)
    ):
        raise InvalidInputError(
            "slice index (z, y, x)", expected=f"inside the grid {vol.shape}", actual=index_zyx
        )
    perm, flip, _ = _lps_layout(vol)
    canon = np.transpose(arr, perm)
    for c in range(3):
        if flip[c]:
            canon = np.flip(canon, axis=c)
    sp_itk = vol.spacing
    s_z, s_y, s_x = (sp_itk[2 - perm[c]] for c in range(3))
    kz, jy, ix = _canonical_index(vol, index_zyx)
    return OrthogonalSlices(
        axial=canon[kz],  # rows A→P (y grows posterior), columns R→L (x grows left)
        coronal=canon[::-1, jy, :],  # rows S→I, columns R→L
        sagittal=canon[::-1, :, ix],  # rows S→I, columns A→P
        aspect_axial=s_y / s_x,
        aspect_coronal=s_z / s_x,
        aspect_sagittal=s_z / s_y,
    )


def slice_indices(
    dose: Volume, point_lps_mm: Sequence[float] | None = None
) -> tuple[int, int, int]:
    """Numpy index ``(z, y, x)`` of the voxel the figure's slices pass through.

    The voxel of the dose maximum (first one if tied), or the voxel that
    contains ``point_lps_mm`` (x, y, z in LPS mm).

    >>> a = np.zeros((3, 4, 5)); a[2, 1, 3] = 7.0
    >>> d = Volume.from_array(a, spacing=(2.0, 2.0, 2.0), unit="Gy")
    >>> slice_indices(d), slice_indices(d, (2.2, 5.9, 0.0))
    ((2, 1, 3), (0, 3, 1))
    """
    arr = np.asarray(dose.array, dtype=float)
    if point_lps_mm is None:
        finite = np.where(np.isfinite(arr), arr, -np.inf)
        flat = int(np.argmax(finite))
        if not finite.flat[flat] > 0:
            raise InvalidInputError(
                f"dose map {dose.name!r}",
                expected="at least one finite dose > 0 Gy",
                actual=float(finite.flat[flat]),
            )
        k, j, i = np.unravel_index(flat, arr.shape)
        return int(k), int(j), int(i)
    ijk = dose.physical_to_index(np.asarray(point_lps_mm, dtype=float))
    idx = np.rint(ijk).astype(int)
    size = np.asarray(dose.size_xyz)
    if idx.shape != (3,) or np.any(idx < 0) or np.any(idx >= size):
        raise InvalidInputError(
            "slice point (LPS mm)",
            expected="a point inside the dose grid",
            actual=list(point_lps_mm),
            fix="give x, y, z in mm in the patient (LPS) frame of the dose map",
        )
    return int(idx[2]), int(idx[1]), int(idx[0])


_CONTOUR_COLOURS: Final = ("cyan", "lime", "magenta", "white", "yellow", "deepskyblue", "orange")
_EDGE_LETTERS: Final = {
    "axial": ("R", "L", "A", "P"),
    "coronal": ("R", "L", "S", "I"),
    "sagittal": ("A", "P", "S", "I"),
}


def _letters(ax: Any, view: str) -> None:
    left, right, top, bottom = _EDGE_LETTERS[view]
    kw: dict[str, Any] = {"transform": ax.transAxes, "color": "yellow", "fontsize": 8}
    ax.text(0.02, 0.5, left, ha="left", va="center", **kw)
    ax.text(0.98, 0.5, right, ha="right", va="center", **kw)
    ax.text(0.5, 0.98, top, ha="center", va="top", **kw)
    ax.text(0.5, 0.02, bottom, ha="center", va="bottom", **kw)


def dose_overlay_figure(
    dose: Volume,
    ct: Volume | None,
    *,
    title: str,
    contours: Mapping[str, NDArray[np.bool_]] | None = None,
    point_lps_mm: Sequence[float] | None = None,
    dpi: int = _DPI,
) -> Figure:
    """Absorbed-dose colour-wash over CT: axial, coronal and sagittal slices.

    The slices pass through the dose maximum, or through ``point_lps_mm``.
    Dose below 5 % of the maximum is transparent; the colour scale runs from
    0 to the maximum dose (not a percentile, so that hot spots are not
    saturated). The CT (soft-tissue window −160 to 240 HU) is resampled
    linearly onto the dose grid when it is not on it already (air outside its
    field of view). ``contours`` are boolean masks on the dose grid.

    Raises
    ------
    InvalidInputError
        The dose is not in Gy, has no value > 0, or the point lies outside it.
    GeometryMismatchError
        A contour is not on the dose grid, or the CT is in another frame of
        reference (register it first).
    """
    if dose.unit != "Gy":
        raise InvalidInputError(f"unit of dose map {dose.name!r}", expected="Gy", actual=dose.unit)
    index = slice_indices(dose, point_lps_mm)
    arr = np.nan_to_num(np.asarray(dose.array, dtype=float), nan=0.0)
    top = float(arr.max())
    if not top > 0:
        raise InvalidInputError(
            f"dose map {dose.name!r}", expected="a maximum dose > 0 Gy", actual=top
        )
    _, _, oblique = _lps_layout(dose)
    slices = orthogonal_slices(dose, index, array=arr)
    ct_slices = _ct_slices(dose, ct, index)
    masks = _contour_slices(dose, contours or {}, index)
    fig = _overlay_panels(slices, ct_slices, masks, top, title)
    k, j, i = index
    point = dose.index_to_physical(np.array([i, j, k], dtype=float))
    where = (
        f"the dose maximum ({top:.3g} Gy)"
        if point_lps_mm is None
        else f"the requested point (local dose {float(arr[k, j, i]):.3g} Gy)"
    )
    caption = (
        f"{title}: absorbed dose (Gy, colour scale 0–{top:.3g} Gy; below "
        f"{100 * WASH_THRESHOLD:.0f} % of the maximum not coloured) "
        + ("over CT (soft-tissue window −160 to 240 HU)" if ct is not None else "without CT")
        + f"; axial, coronal and sagittal slices through {where} at x, y, z = "
        + ", ".join(f"{c:.1f}" for c in point)
        + " mm (LPS). Radiological convention: patient right on the image left, anterior at the "
        "top of the axial slice, superior at the top of the coronal and sagittal slices, "
        "anterior on the left of the sagittal slice; pixels drawn to physical scale."
        + (f" Contours: {', '.join(masks)}." if masks else "")
        + (
            f" The grid is oblique by up to {oblique:.1f}°; it is shown along the nearest "
            "patient axes."
            if oblique > 1.0
            else ""
        )
    )
    return Figure.from_matplotlib(fig, caption, dpi=dpi)


def _ct_slices(dose: Volume, ct: Volume | None, index: Sequence[int]) -> OrthogonalSlices | None:
    """The CT's slices on the dose grid (resampled linearly, air outside its field of view)."""
    if ct is None:
        return None
    ct_on_dose = (
        ct if ct.same_space(dose) else ct.resample_to(dose, mode="linear", default_value=-1000)
    )
    return orthogonal_slices(dose, index, array=np.asarray(ct_on_dose.array))


def _contour_slices(
    dose: Volume, contours: Mapping[str, NDArray[np.bool_]], index: Sequence[int]
) -> dict[str, OrthogonalSlices]:
    """The slices of each contour mask; a mask not on the dose grid is refused."""
    masks: dict[str, OrthogonalSlices] = {}
    for name, mask in contours.items():
        m = np.asarray(mask)
        if m.shape != dose.shape:
            raise GeometryMismatchError(
                f"contour {name!r}",
                expected=f"a mask on the dose grid, shape {dose.shape}",
                actual=f"shape {m.shape}",
                fix="resample the mask onto the dose grid with mode='nearest'",
            )
        masks[name] = orthogonal_slices(dose, index, array=m.astype(bool).astype(float))
    return masks


def _overlay_panels(
    slices: OrthogonalSlices,
    ct_slices: OrthogonalSlices | None,
    masks: Mapping[str, OrthogonalSlices],
    top: float,
    title: str,
) -> MplFigure:
    """Three panels (axial, coronal, sagittal): CT, dose colour-wash, contours, colour bar."""
    fig = MplFigure(figsize=(12.0, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    image = None
    views = ("axial", "coronal", "sagittal")
    for ax, view in zip(axes, views, strict=True):
        dslice = getattr(slices, view)
        aspect = getattr(slices, f"aspect_{view}")
        ax.set_facecolor("black")
        if ct_slices is not None:
            ax.imshow(
                getattr(ct_slices, view),
                cmap="gray",
                vmin=CT_WINDOW_HU[0],
                vmax=CT_WINDOW_HU[1],
                aspect=aspect,
                interpolation="nearest",
            )
        image = ax.imshow(
            np.ma.masked_less(dslice, WASH_THRESHOLD * top),
            cmap="turbo",
            vmin=0.0,
            vmax=top,
            alpha=0.55 if ct_slices is not None else 1.0,
            aspect=aspect,
            interpolation="nearest",
        )
        for n, ms in enumerate(masks.values()):
            m2 = getattr(ms, view)
            if m2.any() and not m2.all():
                ax.contour(
                    m2,
                    levels=[0.5],
                    colors=_CONTOUR_COLOURS[n % len(_CONTOUR_COLOURS)],
                    linewidths=1.0,
                )
        _letters(ax, view)
        ax.set_title(view)
        ax.set_xticks([])
        ax.set_yticks([])
    assert image is not None
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="absorbed dose (Gy)")
    if masks:
        handles = [
            Line2D([], [], color=_CONTOUR_COLOURS[n % len(_CONTOUR_COLOURS)], label=name)
            for n, name in enumerate(masks)
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(6, len(handles)))
    fig.suptitle(title)
    return fig


def dvh_curve_pct(dvh: RegionDVH) -> tuple[FloatArray, FloatArray]:
    """The drawn cumulative DVH: ``(dose_gy, volume_pct)`` with V(d) = % of voxels ≥ d.

    Taken from the curve :func:`~sstrkit.therapy.dvh.region_dvh` stores (a
    regular grid from 0 to the maximum dose), with a final drop to 0 % just
    above the maximum.

    >>> from sstrkit.therapy.dvh import region_dvh
    >>> d = Volume.from_array(np.array([[[1.0, 2.0, 3.0, 4.0]]]), unit="Gy")
    >>> x, y = dvh_curve_pct(region_dvh(d, np.ones((1, 1, 4), bool), n_bins=4))
    >>> x.tolist(), y.tolist()
    ([0.0, 1.0, 2.0, 3.0, 4.0, 4.0], [100.0, 100.0, 75.0, 50.0, 25.0, 0.0])
    """
    x = np.asarray(dvh.dvh_dose_gy, dtype=float)
    y = 100.0 * np.asarray(dvh.dvh_volume_fraction, dtype=float)
    return np.append(x, dvh.max_gy), np.append(y, 0.0)


def dvh_figure(dvhs: Sequence[RegionDVH], title: str, *, dpi: int = _DPI) -> Figure:
    """Cumulative DVH per region: % of the region's volume receiving ≥ d Gy."""
    if not dvhs:
        raise InvalidInputError("DVH regions", expected="at least one", actual=0)
    fig = MplFigure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.subplots()
    for r in dvhs:
        x, y = dvh_curve_pct(r)
        ax.plot(
            x,
            y,
            linewidth=1.4,
            label=f"{r.name}: mean {r.mean_gy:.3g} Gy, max {r.max_gy:.3g} Gy, {r.volume_ml:.3g} mL",
        )
    top = max(r.max_gy for r in dvhs)
    ax.set_xlim(0.0, top * 1.05 if top > 0 else 1.0)
    ax.set_ylim(0.0, 102.0)
    ax.set_xlabel("absorbed dose d (Gy)")
    ax.set_ylabel("volume receiving ≥ d (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    caption = (
        f"{title}: cumulative dose–volume histograms — percentage of each region's volume (%) "
        "receiving at least the absorbed dose on the horizontal axis (Gy), from the voxel "
        "doses of the region (voxelised masks, no partial-volume correction). Legend: mean and "
        "maximum voxel dose (Gy) and region volume (mL)."
    )
    return Figure.from_matplotlib(fig, caption, dpi=dpi)
