"""Patient repositioning between scan sessions: a seeded rigid motion of the digital patient.

In a real study the patient gets off the table between scan sessions and lies down
again a little differently: every session's images are in their own scanner
coordinates. The digital patient reproduces this: for every session other than the
baseline 68Ga PET/CT a rigid motion is drawn from the seed and the session's name,
and the patient (the fine label map, hence its activity and its CT numbers) is moved
by it before imaging, while the scanner grid (origin, axis-aligned direction) stays
where it is.

Convention (also in ``docs/phantom.md`` and every record's ``convention``): a point of
the patient at baseline position ``p`` (DICOM patient coordinates, LPS, mm, i.e. the
68Ga PET/CT's) lies in the session's scanner coordinates at

    q = R · (p − c) + c + t,    R = Rz(γ) · Ry(β) · Rx(α),

with ``t`` = ``translation_mm``, ``(α, β, γ)`` = ``rotation_deg`` about the x (patient
left), y (posterior) and z (head) axes, each a right-handed rotation (counter-clockwise
seen from the positive axis; ``scipy.spatial.transform.Rotation.from_euler("xyz",
[α, β, γ], degrees=True)``: rotate about x first, then y, then z, fixed axes), and
``c`` = ``centre_mm``, the centre of the body outline. The inverse (session →
baseline) is ``p = Rᵀ · (q − c − t) + c``: in ITK's convention (fixed → moving points)
the transform a rigid registration finds with the session CT fixed and the baseline
CT moving.

Resampling is nearest neighbour (labels stay labels). Rigid motion conserves volume,
but nearest-neighbour resampling changes voxel counts (a few per cent, more for a
lesion of a few voxels): :func:`effective_counts` tells the concentration builder
over how many voxels each label's true activity is spread (see there).

Examples
--------
>>> m = RigidMotion((1.0, 2.0, 3.0), (0.0, 0.0, 90.0), (0.0, 0.0, 0.0))
>>> [round(float(v), 6) for v in m.to_session([[10.0, 0.0, 0.0]])[0]]
[1.0, 12.0, 3.0]
>>> [round(float(v), 6) for v in m.to_baseline(m.to_session([[5.0, -4.0, 7.0]]))[0]]
[5.0, -4.0, 7.0]
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from sstrkit.errors import InvalidInputError
from sstrkit.phantom.anatomy import LABELS, LESION_LABEL0, Anatomy, Grid

__all__ = [
    "CONVENTION",
    "MAX_ROTATION_DEG",
    "MAX_SHIFT_MM",
    "MovedAnatomy",
    "RigidMotion",
    "draw_motion",
    "effective_counts",
    "move_anatomy",
    "move_labels",
]

Vec3 = tuple[float, float, float]

#: Largest translation (vector length, mm) and rotation about each axis (degrees) drawn.
MAX_SHIFT_MM = 10.0
MAX_ROTATION_DEG = 3.0

#: The convention, as written into truth.json with every record.
CONVENTION = (
    "baseline LPS point p (68Ga PET/CT coordinates, mm) -> session scanner point "
    "q = R (p - c) + c + t; R = Rz(gamma) Ry(beta) Rx(alpha), right-handed rotations about the "
    "fixed x, y, z axes by rotation_deg = (alpha, beta, gamma), x first (scipy "
    "Rotation.from_euler('xyz', rotation_deg, degrees=True)); t = translation_mm; "
    "c = centre_mm; inverse p = R^T (q - c - t) + c"
)

#: Marks the CT's subcutaneous fat rim while it is moved with the labels (not a region).
_FAT_RIM_CODE = LESION_LABEL0 - 1
#: The CT tissue map is moved in bits 16-23 of the (int32) labels.
_CT_MAP_SHIFT = 16


def _rotation(angles_deg: Vec3) -> NDArray[np.float64]:
    a, b, g = (math.radians(v) for v in angles_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(g), -math.sin(g), 0], [math.sin(g), math.cos(g), 0], [0, 0, 1]])
    out: NDArray[np.float64] = rz @ ry @ rx
    return out


@dataclass(frozen=True)
class RigidMotion:
    """Rigid motion of the patient from the baseline to a session (see the module docstring)."""

    translation_mm: Vec3
    rotation_deg: Vec3
    centre_mm: Vec3

    @classmethod
    def identity(cls, centre_mm: Vec3 = (0.0, 0.0, 0.0)) -> RigidMotion:
        return cls((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), centre_mm)

    @property
    def is_identity(self) -> bool:
        return not any(self.translation_mm) and not any(self.rotation_deg)

    def rotation_matrix(self) -> NDArray[np.float64]:
        """R (3 × 3), acting on column vectors (x, y, z)."""
        return _rotation(self.rotation_deg)

    def matrix(self) -> NDArray[np.float64]:
        """Homogeneous 4 × 4 matrix baseline → session: q = M · (p, 1)."""
        r = self.rotation_matrix()
        c = np.asarray(self.centre_mm, dtype=np.float64)
        out = np.eye(4)
        out[:3, :3] = r
        out[:3, 3] = c - r @ c + np.asarray(self.translation_mm, dtype=np.float64)
        return out

    def to_session(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """Baseline LPS points (n × 3) → the session's scanner coordinates."""
        p = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        m = self.matrix()
        out: NDArray[np.float64] = p @ m[:3, :3].T + m[:3, 3]
        return out

    def to_baseline(self, points_mm: ArrayLike) -> NDArray[np.float64]:
        """Session scanner points (n × 3) → baseline LPS coordinates (the inverse)."""
        q = np.atleast_2d(np.asarray(points_mm, dtype=np.float64))
        m = self.matrix()
        out: NDArray[np.float64] = (q - m[:3, 3]) @ m[:3, :3]
        return out

    def to_dict(self, session: str) -> dict[str, Any]:
        """The truth record of one session (translation, rotation, centre, matrices)."""
        m = self.matrix()
        inv = np.linalg.inv(m)
        return {
            "session": session,
            "translation_mm": list(self.translation_mm),
            "rotation_deg": list(self.rotation_deg),
            "centre_mm": list(self.centre_mm),
            "matrix_baseline_to_session": [[float(v) for v in row] for row in m],
            "matrix_session_to_baseline": [[float(v) for v in row] for row in inv],
            "convention": CONVENTION,
        }


def draw_motion(
    seed: int,
    session: str,
    centre_mm: Vec3,
    *,
    max_shift_mm: float = MAX_SHIFT_MM,
    max_rotation_deg: float = MAX_ROTATION_DEG,
) -> RigidMotion:
    """The seeded motion of ``session``: shift uniform in a ball, rotations uniform per axis.

    The translation is uniform inside the ball of radius ``max_shift_mm`` (each
    component within ±``max_shift_mm`` and the length ≤ ``max_shift_mm``); each
    rotation angle is uniform in ±``max_rotation_deg``. The stream depends only on the
    seed and the session name, so a session moves the same way whatever other sessions
    the study holds. Values are rounded to 0.01 mm and 0.001°.
    """
    if not (max_shift_mm >= 0 and max_rotation_deg >= 0):
        raise InvalidInputError(
            "repositioning limits",
            expected="max_shift_mm >= 0 and max_rotation_deg >= 0",
            actual=(max_shift_mm, max_rotation_deg),
        )
    rng = np.random.default_rng([seed, 11, zlib.crc32(session.encode("utf-8"))])
    while True:
        t = rng.uniform(-1.0, 1.0, 3)
        if float(t @ t) <= 1.0:
            break
    angles = rng.uniform(-max_rotation_deg, max_rotation_deg, 3)
    return RigidMotion(
        tuple(round(float(v) * max_shift_mm, 2) for v in t),  # type: ignore[arg-type]
        tuple(round(float(v), 3) for v in angles),  # type: ignore[arg-type]
        (float(centre_mm[0]), float(centre_mm[1]), float(centre_mm[2])),
    )


def _index_map(grid: Grid, motion: RigidMotion) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(matrix, offset) in array order (z, y, x): output index → source index (inverse map)."""
    s = np.asarray(grid.spacing, dtype=np.float64)
    o = np.asarray(grid.origin, dtype=np.float64)
    r = motion.rotation_matrix()
    c = np.asarray(motion.centre_mm, dtype=np.float64)
    t = np.asarray(motion.translation_mm, dtype=np.float64)
    # source xyz index = S⁻¹ (Rᵀ (o + S i − c − t) + c − o)
    mat = (r.T * s[None, :]) / s[:, None]
    off = (r.T @ (o - c - t) + c - o) / s
    return mat[::-1, ::-1].copy(), off[::-1].copy()


def move_labels(labels: NDArray[Any], grid: Grid, motion: RigidMotion) -> NDArray[Any]:
    """The label map of the moved patient on the same grid (nearest neighbour, 0 outside)."""
    arr = np.asarray(labels)
    if arr.shape != grid.shape:
        raise InvalidInputError("label map", expected=f"shape {grid.shape}", actual=arr.shape)
    if motion.is_identity:
        return arr
    mat, off = _index_map(grid, motion)
    out: NDArray[Any] = ndimage.affine_transform(
        arr, mat, offset=off, order=0, mode="constant", cval=0, prefilter=False
    )
    return out


def _border_widths(grid: Grid, motion: RigidMotion) -> tuple[int, int, int]:
    """Voxels (z, y, x) from each face within which a point can leave the grid when moved."""
    nz, ny, nx = grid.shape
    lo = np.asarray(grid.origin, dtype=np.float64)
    hi = lo + np.asarray(grid.spacing) * (np.array([nx, ny, nz]) - 1)
    corners = np.array([[(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]]
                        for i in (0, 1) for j in (0, 1) for k in (0, 1)])  # fmt: skip
    # The displacement field is affine: its largest component over the box is at a corner.
    disp = np.abs(motion.to_session(corners) - corners).max(axis=0)
    widths = np.ceil(disp / np.asarray(grid.spacing)).astype(int) + 1
    return int(widths[2]), int(widths[1]), int(widths[0])


def _label_counts(labels: NDArray[Any]) -> NDArray[np.int64]:
    n = LESION_LABEL0 + 64
    out: NDArray[np.int64] = np.bincount(np.asarray(labels).ravel(), minlength=n)[:n]
    return out.astype(np.int64)


def _ranges(n: int, w: int) -> tuple[tuple[int, int], ...]:
    """Low and high border index ranges of width ``w`` on an axis of ``n`` voxels."""
    if 2 * w >= n:
        return ((0, n),)
    return ((0, w), (n - w, n))


def _leaving_counts(source: NDArray[Any], grid: Grid, motion: RigidMotion) -> NDArray[np.int64]:
    """Voxels per label value that the motion carries out of the grid (nearest voxel).

    Only the border zone (:func:`_border_widths`) can leave; it is split into disjoint
    blocks whose moved index coordinates are evaluated by broadcasting.
    """
    n = LESION_LABEL0 + 64
    out = np.zeros(n, dtype=np.int64)
    if motion.is_identity:
        return out
    s = np.asarray(grid.spacing, dtype=np.float64)
    o = np.asarray(grid.origin, dtype=np.float64)
    c = np.asarray(motion.centre_mm, dtype=np.float64)
    r = motion.rotation_matrix()
    # session xyz index = A i + b with A = S⁻¹ R S, b = S⁻¹ (R (o − c) + c + t − o)
    a = (r * s[None, :]) / s[:, None]
    b = (r @ (o - c) + c + np.asarray(motion.translation_mm) - o) / s
    nz, ny, nx = grid.shape
    wz, wy, wx = _border_widths(grid, motion)
    zr, yr, xr = _ranges(nz, wz), _ranges(ny, wy), _ranges(nx, wx)
    zin = (wz, nz - wz) if len(zr) == 2 else (0, 0)
    yin = (wy, ny - wy) if len(yr) == 2 else (0, 0)
    blocks = [(z, (0, ny), (0, nx)) for z in zr]
    blocks += [(zin, y, (0, nx)) for y in yr]
    blocks += [(zin, yin, x) for x in xr]
    arr = np.asarray(source)
    for (z0, z1), (y0, y1), (x0, x1) in blocks:
        if z1 <= z0 or y1 <= y0 or x1 <= x0:
            continue
        iz = np.arange(z0, z1, dtype=np.float64)[:, None, None]
        iy = np.arange(y0, y1, dtype=np.float64)[None, :, None]
        ix = np.arange(x0, x1, dtype=np.float64)[None, None, :]
        leaves = np.zeros((z1 - z0, y1 - y0, x1 - x0), dtype=bool)
        for k, size in enumerate((nx, ny, nz)):
            j = a[k, 0] * ix + a[k, 1] * iy + a[k, 2] * iz + b[k]
            leaves |= (j < -0.5) | (j >= size - 0.5)
        block = arr[z0:z1, y0:y1, x0:x1]
        out += np.bincount(block[leaves], minlength=n)[:n].astype(np.int64)
    return out


def effective_counts(
    source: NDArray[Any],
    moved: NDArray[Any],
    grid: Grid,
    motion: RigidMotion,
    *,
    moved_counts: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """Voxel count per label value over which the label's activity is spread after the move.

    The count of the moved map plus the voxels the motion carries out of the grid:
    every region keeps exactly its true activity, whatever the nearest-neighbour
    resampling did to its voxel count (a few per cent for a lesion of a few voxels),
    and the part of a region carried outside the field of view (body, lungs, bone at
    the torso ends) is lost with its activity, as in a truncated clinical scan.
    """
    inside = _label_counts(moved) if moved_counts is None else moved_counts
    result: NDArray[np.int64] = inside + _leaving_counts(source, grid, motion)
    return result


@dataclass(frozen=True)
class MovedAnatomy:
    """The patient of one session: moved label map, CT fat rim and tissue map, voxel counts.

    ``ct_map`` is the CT-only tissue map (:func:`sstrkit.phantom.ct_tissues.ct_tissue_map`)
    moved with the labels, ``None`` when none was given.
    """

    anatomy: Anatomy
    fat_rim: NDArray[np.bool_] | None
    counts: NDArray[np.int64]
    motion: RigidMotion
    ct_map: NDArray[np.uint8] | None = None


def _keep_lost_lesions(
    source: NDArray[Any],
    moved: NDArray[Any],
    grid: Grid,
    motion: RigidMotion,
    before: NDArray[np.int64],
    after: NDArray[np.int64],
) -> None:
    """A lesion of a few voxels that nearest neighbour dropped keeps its centre voxel.

    (As :meth:`AnatomyModel.voxelise` does for lesions below the grid size.)
    ``before``/``after`` are the voxel counts per label of ``source``/``moved``.
    """
    lost = (before[LESION_LABEL0:] > 0) & (after[LESION_LABEL0:] == 0)
    for label in np.flatnonzero(lost):
        value = LESION_LABEL0 + int(label)
        idx = np.argwhere(source == value)[:, ::-1].mean(axis=0)  # x, y, z index
        centre = np.asarray(grid.origin) + idx * np.asarray(grid.spacing)
        q = (motion.to_session(centre)[0] - np.asarray(grid.origin)) / np.asarray(grid.spacing)
        ijk = np.rint(q).astype(int)
        nz, ny, nx = grid.shape
        if not (0 <= ijk[0] < nx and 0 <= ijk[1] < ny and 0 <= ijk[2] < nz):
            continue
        host = int(moved[ijk[2], ijk[1], ijk[0]])
        if 0 < host < LESION_LABEL0:
            moved[ijk[2], ijk[1], ijk[0]] = value
            after[value] += 1
            after[host] -= 1


def move_anatomy(
    anatomy: Anatomy,
    motion: RigidMotion,
    fat_rim: NDArray[np.bool_] | None = None,
    *,
    ct_map: NDArray[np.uint8] | None = None,
) -> MovedAnatomy:
    """Move the patient's label map (and the CT fat rim and tissue map with it) by ``motion``.

    ``fat_rim`` marks the body voxels of the subcutaneous fat (CT only); it is moved
    together with the labels in one resampling. ``ct_map`` (the patient's CT tissue
    map on the truth grid, :func:`sstrkit.phantom.ct_tissues.ct_tissue_map`) rides in the
    upper bits of the labels through the same resampling, so that every moved voxel keeps
    its label and its CT tissue together. The identity returns the anatomy as is.
    """
    grid = anatomy.model.grid
    source = np.asarray(anatomy.labels.array)
    if ct_map is not None and np.shape(ct_map) != source.shape:
        raise InvalidInputError(
            "CT tissue map", expected=f"shape {source.shape}", actual=np.shape(ct_map)
        )
    if motion.is_identity:
        return MovedAnatomy(anatomy, fat_rim, _label_counts(source), motion, ct_map)
    marked: NDArray[Any] = source
    if fat_rim is not None:
        marked = source.copy()
        marked[fat_rim] = _FAT_RIM_CODE
    if ct_map is not None:  # the tissue map rides in the upper bits: one resampling
        marked = marked.astype(np.int32)
        marked |= np.left_shift(np.asarray(ct_map).astype(np.int32), _CT_MAP_SHIFT)
    moved = np.array(move_labels(marked, grid, motion), copy=True)
    moved_ct: NDArray[np.uint8] | None = None
    if ct_map is not None:
        moved_ct = np.right_shift(moved, _CT_MAP_SHIFT).astype(np.uint8)
        moved_ct.flags.writeable = False
        moved = np.bitwise_and(moved, (1 << _CT_MAP_SHIFT) - 1).astype(source.dtype)
    rim: NDArray[np.bool_] | None = None
    if fat_rim is not None:
        rim = moved == _FAT_RIM_CODE
        moved[rim] = LABELS["body"]
    before, after = _label_counts(source), _label_counts(moved)
    _keep_lost_lesions(source, moved, grid, motion, before, after)
    moved.flags.writeable = False
    labels = anatomy.labels.with_array(
        moved,
        operation="phantom_reposition",
        parameters={
            "translation_mm": list(motion.translation_mm),
            "rotation_deg": list(motion.rotation_deg),
            "centre_mm": list(motion.centre_mm),
            "interpolation": "nearest",
        },
    )
    counts = effective_counts(source, moved, grid, motion, moved_counts=after)
    return MovedAnatomy(replace(anatomy, labels=labels), rim, counts, motion, moved_ct)
