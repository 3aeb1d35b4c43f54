"""Images a physician expects from an SSTR PET read (PNG, matplotlib Agg, atomic writes).

* :func:`write_mip` — whole-body maximum-intensity projections, front (anterior,
  patient's right on the image left) and side (patient's left side view),
  lesions numbered; with organ labels, the projected outline of liver, spleen,
  kidneys, bladder and adrenals as thin coloured contours with a legend (so an
  automatic segmentation is checked at a glance) and where the labels came from;
* :func:`write_lesion_slices` — per lesion, the axial slice through its
  centroid: PET, CT and fused PET/CT with the lesion contour (as in the
  review's Figure 1);
* :func:`write_lesion_table` — the lesion table as an image;
* :func:`write_rotating_mip` — an animated GIF of MIPs rotating about the
  patient's long axis (anterior view first, then the patient's right side).

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state), saved
to a temporary file in the target folder and moved into place with
:func:`os.replace`, so a reader never sees a half-written PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from sstrkit.core.atomic import atomic_path
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.reading.metrics import LesionMetrics
from sstrkit.reading.organs import OrganMap
from sstrkit.reading.segmentation import FLAG_TEXT

__all__ = [
    "OUTLINE_COLOURS",
    "organ_outlines",
    "rotating_mip_frames",
    "save_figure",
    "write_lesion_slices",
    "write_lesion_table",
    "write_mip",
    "write_rotating_mip",
]


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Save ``fig`` as PNG atomically (temporary file + :func:`os.replace`)."""
    p = Path(path)
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return p


def _display_range(arr: NDArray[Any]) -> float:
    v = float(np.percentile(arr, 99.9)) if arr.size else 1.0
    return v if v > 0 else 1.0


def _superior_up(vol: Volume) -> bool:
    """True when increasing numpy z runs towards the head (LPS +z)."""
    return bool(vol.direction_matrix[2, 2] >= 0)


#: Organ kind → outline colour on the MIP (colour-blind-safe Okabe–Ito palette).
OUTLINE_COLOURS: dict[str, str] = {
    "liver": "#E69F00",
    "spleen": "#56B4E9",
    "kidney": "#009E73",
    "bladder": "#0072B2",
    "adrenal": "#CC79A7",
}


def organ_outlines(organs: OrganMap, axis: int) -> list[tuple[str, NDArray[np.bool_]]]:
    """Projected organ masks (kind, 2-D mask) along numpy ``axis`` for the outlined kinds.

    >>> lab = np.zeros((4, 5, 6), dtype=np.int32); lab[1:3, 2:4, 1:3] = 1
    >>> [(k, int(m.sum())) for k, m in organ_outlines(OrganMap(lab, {1: "liver"}), 1)]
    [('liver', 4)]
    """
    out: list[tuple[str, NDArray[np.bool_]]] = []
    for kind in OUTLINE_COLOURS:
        m = organs.mask(kind)
        if m.any():
            out.append((kind, np.asarray(m.any(axis=axis), dtype=bool)))
    return out


def write_mip(
    suv: Volume,
    path: str | os.PathLike[str],
    lesions: Sequence[LesionMetrics] = (),
    *,
    vmax: float | None = None,
    organs: OrganMap | None = None,
    organs_source: str | None = None,
) -> Path:
    """Front and side MIPs of the SUV volume, lesions numbered at their centroids.

    With ``organs`` (on the PET grid), the projected outline of each organ of
    :data:`OUTLINE_COLOURS` is drawn as a thin contour with a legend, and
    ``organs_source`` (e.g. ``"automatic: sstrkit organs …"``) is printed under the
    images so that the reader knows whether to check them.
    """
    arr = np.asarray(suv.array, dtype=np.float32)
    sx, sy, sz = suv.spacing
    front = arr.max(axis=1)  # (z, x)
    side = arr.max(axis=2)  # (z, y)
    top = vmax if vmax is not None else _display_range(arr)
    origin = "lower" if _superior_up(suv) else "upper"
    fig = Figure(figsize=(8, 8))
    axes = fig.subplots(1, 2)
    axes[0].imshow(front, cmap="gray_r", vmin=0, vmax=top, origin=origin, aspect=sz / sx)
    axes[0].set_title("MIP front (anterior)")
    # Left lateral view (viewer at the patient's left): anterior on the image left, posterior
    # (LPS +y) on the right — so the y axis runs left to right unflipped.
    axes[1].imshow(side, cmap="gray_r", vmin=0, vmax=top, origin=origin, aspect=sz / sy)
    axes[1].set_title("MIP side (left lateral)")
    if organs is not None:
        from matplotlib.lines import Line2D

        if organs.labels.shape != arr.shape:
            raise InvalidInputError(
                "organ labels for the MIP outlines",
                expected=f"the PET grid {arr.shape}",
                actual=organs.labels.shape,
                fix="pass the reading's organ map (ReadingResult.organs)",
            )
        handles = []
        for (kind, front_m), (_, side_m) in zip(
            organ_outlines(organs, 1), organ_outlines(organs, 2), strict=True
        ):
            colour = OUTLINE_COLOURS[kind]
            for ax, proj in ((axes[0], front_m), (axes[1], side_m)):
                # pixel centres at integer coordinates, as imshow draws them
                ax.contour(proj.astype(np.float32), levels=[0.5], colors=colour, linewidths=0.7)
            handles.append(Line2D([], [], color=colour, linewidth=1.0, label=kind))
        if handles:
            axes[1].legend(handles=handles, loc="lower right", fontsize=6, framealpha=0.7)
    for m in lesions:
        i, j, k = suv.physical_to_index(m.centroid_mm)
        axes[0].annotate(str(m.id), (i, k), color="red", fontsize=8, ha="left")
        axes[1].annotate(str(m.id), (j, k), color="red", fontsize=8, ha="left")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{suv.name or 'SSTR PET'} — SUV 0–{top:.1f}")
    if organs_source:
        caption = f"organ outlines: {organs_source}"
        if organs_source.startswith("automatic"):
            caption = "organs segmented automatically — check the outlines; " + caption
        fig.text(0.5, 0.02, caption, ha="center", fontsize=7)
    return save_figure(fig, path)


def write_lesion_slices(
    suv: Volume,
    labels: Volume,
    lesions: Sequence[LesionMetrics],
    out_dir: str | os.PathLike[str],
    *,
    ct: Volume | None = None,
    vmax: float | None = None,
) -> list[Path]:
    """One PNG per lesion: axial PET, CT and fused PET/CT through its centroid with contour.

    ``labels`` and ``ct`` must be on the PET grid (see
    :func:`~sstrkit.reading.reader.read_sstr_pet`, which resamples the CT).
    """
    suv.check_same_space(labels)
    if ct is not None:
        suv.check_same_space(ct)
    arr = np.asarray(suv.array, dtype=np.float32)
    lab = np.asarray(labels.array)
    top = vmax if vmax is not None else _display_range(arr)
    sx, sy, _ = suv.spacing
    out: list[Path] = []
    for m in lesions:
        k = int(np.clip(np.rint(suv.physical_to_index(m.centroid_mm)[2]), 0, arr.shape[0] - 1))
        if not (lab[k] == m.id).any():  # a concave lesion: use its largest slice
            k = int(np.argmax((lab == m.id).sum(axis=(1, 2))))
        pet = arr[k]
        mask = (lab[k] == m.id).astype(float)
        panels = 3 if ct is not None else 1
        fig = Figure(figsize=(4 * panels, 4.4))
        axes = np.atleast_1d(fig.subplots(1, panels))
        aspect = sy / sx
        if ct is not None:
            ctk = np.asarray(ct.array, dtype=np.float32)[k]
            axes[0].imshow(pet, cmap="gray_r", vmin=0, vmax=top, aspect=aspect)
            axes[0].set_title("PET")
            axes[1].imshow(ctk, cmap="gray", vmin=-160, vmax=240, aspect=aspect)
            axes[1].set_title("CT")
            axes[2].imshow(ctk, cmap="gray", vmin=-160, vmax=240, aspect=aspect)
            axes[2].imshow(
                np.ma.masked_less(pet, 0.05 * top),
                cmap="hot",
                vmin=0,
                vmax=top,
                alpha=0.6,
                aspect=aspect,
            )
            axes[2].set_title("PET/CT")
        else:
            axes[0].imshow(pet, cmap="gray_r", vmin=0, vmax=top, aspect=aspect)
            axes[0].set_title("PET")
        for ax in axes:
            if mask.any():
                ax.contour(mask, levels=[0.5], colors="cyan", linewidths=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.suptitle(
            f"lesion {m.id} ({m.organ}): SUVmax {m.suv_max:.1f}, {m.volume_ml:.1f} mL, "
            f"Krenning {m.krenning if m.krenning is not None else '—'}"
        )
        out.append(save_figure(fig, Path(out_dir) / f"lesion_{m.id:03d}.png"))
    return out


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "—" if v is None else format(v, spec)


def write_lesion_table(lesions: Sequence[LesionMetrics], path: str | os.PathLike[str]) -> Path:
    """The lesion table (id, organ, SUVs, volume, TLSE, ratios, Krenning, centroid) as PNG."""
    cols = [
        "id",
        "organ",
        "SUVmax",
        "SUVpeak",
        "SUVmean",
        "mL",
        "TLSE",
        "T/L",
        "T/S",
        "Krenning",
        "centroid LPS (mm)",
        "flags",
    ]
    flag_keys = sorted({f for m in lesions for f in m.flags})
    marks = {f: f"[{i + 1}]" for i, f in enumerate(flag_keys)}
    rows = [
        [
            str(m.id),
            m.organ,
            _fmt(m.suv_max),
            _fmt(m.suv_peak),
            _fmt(m.suv_mean),
            _fmt(m.volume_ml),
            _fmt(m.tlse, ".1f"),
            _fmt(m.t_l),
            _fmt(m.t_s),
            "—" if m.krenning is None else str(m.krenning),
            ", ".join(f"{c:.0f}" for c in m.centroid_mm),
            " ".join(marks[f] for f in m.flags) or "—",
        ]
        for m in lesions
    ] or [["—"] * len(cols)]
    notes = [f"{marks[f]} {FLAG_TEXT.get(f, f)}" for f in flag_keys]
    fig = Figure(figsize=(12, 0.6 + 0.3 * (len(rows) + 1) + 0.2 * len(notes)))
    ax = fig.subplots()
    ax.axis("off")
    tab = ax.table(cellText=rows, colLabels=cols, loc="center", cellLoc="center")
    tab.auto_set_font_size(False)
    tab.set_fontsize(8)
    for i, text in enumerate(notes):
        row = len(notes) - 1 - i  # first note on top
        fig.text(0.02, 0.02 + 0.2 * row / fig.get_figheight(), text, fontsize=7)
    return save_figure(fig, path)


def rotating_mip_frames(
    suv: Volume, n_frames: int = 24, *, vmax: float | None = None
) -> list[NDArray[np.uint8]]:
    """Grey-scale MIP frames (black = high uptake), rotating 360° about the z axis.

    Frame ``k`` is the anterior MIP of the volume turned by ``k·360/n_frames``
    degrees in the axial plane about its centre: 0° is the anterior view, 90°
    the view from the patient's right (anterior on the image right, the mirror
    of :func:`write_mip`'s left side view), 180° the posterior view. Voxels are
    sampled by nearest neighbour (a display, not a measurement; outside the
    grid = 0); rows run head to feet and pixels are resampled to square display
    pixels.
    """
    from scipy import ndimage

    if n_frames < 2:
        raise InvalidInputError(
            "rotating MIP frames",
            expected="an integer >= 2",
            actual=n_frames,
            fix="use n_frames >= 2 (24 gives 15° steps)",
        )
    arr = np.asarray(suv.array, dtype=np.float32)
    top = vmax if vmax is not None else _display_range(arr)
    nz, ny, nx = arr.shape
    sx, sy, sz = suv.spacing
    pixel = min(sx, sz)
    zoom = (sz / pixel, sx / pixel)
    # Output plane coordinates (mm from the centre): u across the image, v along the view.
    u = (np.arange(nx) - (nx - 1) / 2.0) * sx
    v = (np.arange(ny) - (ny - 1) / 2.0) * sy
    vv, uu = np.meshgrid(v, u, indexing="ij")  # (ny, nx)
    frames: list[NDArray[np.uint8]] = []
    for k in range(n_frames):
        theta = 2.0 * np.pi * k / n_frames
        c, s_ = np.cos(theta), np.sin(theta)
        # Source point of the turned patient: x = u cos + v sin, y = -u sin + v cos.
        ix = np.rint((uu * c + vv * s_) / sx + (nx - 1) / 2.0).astype(np.intp)
        iy = np.rint((-uu * s_ + vv * c) / sy + (ny - 1) / 2.0).astype(np.intp)
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        flat = np.where(inside, iy * nx + ix, 0)
        rays = np.take(arr.reshape(nz, ny * nx), flat, axis=1)  # (nz, ny, nx)
        rays[:, ~inside] = 0.0
        mip = rays.max(axis=1)  # (nz, nx)
        if _superior_up(suv):
            mip = mip[::-1]
        if zoom != (1.0, 1.0):
            mip = ndimage.zoom(mip, zoom, order=1)
        grey = np.clip(mip / top, 0.0, 1.0)
        frames.append((255.0 * (1.0 - grey) + 0.5).astype(np.uint8))
    return frames


def write_rotating_mip(
    suv: Volume,
    path: str | os.PathLike[str],
    *,
    n_frames: int = 24,
    frame_ms: int = 120,
    vmax: float | None = None,
) -> Path:
    """Write :func:`rotating_mip_frames` as a looping animated GIF (atomic)."""
    from PIL import Image

    frames = [Image.fromarray(f) for f in rotating_mip_frames(suv, n_frames, vmax=vmax)]
    p = Path(path)
    with atomic_path(p) as tmp:
        frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0
        )
    return p
