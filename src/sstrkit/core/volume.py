"""The image model: an immutable voxel array that carries its geometry.

A :class:`Volume` stores

* ``array`` — float (or integer label) voxels in numpy order ``(z, y, x)``, read-only;
* ``spacing``, ``origin`` (mm) and ``direction`` (row-major 3×3 direction
  cosines) in ITK/DICOM patient coordinates (LPS), ITK axis order ``(x, y, z)``;
* ``frame_of_reference_uid``, ``modality``, ``quantity`` and ``unit``;
* ``reference_time`` — the timezone-aware datetime the values refer to
  (e.g. the decay-correction reference of a PET);
* ``history`` — a tuple of :class:`~sstrkit.core.provenance.Step`.

Operations never modify a volume; they return a new one with one more history
step. Two volumes are combined only after :meth:`Volume.check_same_space`, or
after an explicit :meth:`Volume.resample_to`.

Examples
--------
>>> import numpy as np
>>> v = Volume.from_array(np.ones((4, 5, 6)), spacing=(2.0, 2.0, 3.0),
...                       quantity="activity_concentration", unit="Bq/mL")
>>> v.shape, v.voxel_volume_ml
((4, 5, 6), 0.012)
>>> v.array.flags.writeable
False
>>> v2 = v.with_array(v.array * 2, operation="scale", parameters={"factor": 2})
>>> float(v2.array.sum()), len(v2.history)
(240.0, 2)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import SimpleITK as sitk
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from sstrkit.core.provenance import Step
from sstrkit.core.units import MM3_PER_ML
from sstrkit.errors import GeometryMismatchError, InvalidInputError

__all__ = ["ResampleMode", "Volume"]

ResampleMode = Literal["linear", "nearest", "conserve"]

Vec3 = tuple[float, float, float]
Mat3 = tuple[float, float, float, float, float, float, float, float, float]
_IDENTITY: Mat3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

#: Units whose voxel values are amounts per voxel (extensive), not densities.
EXTENSIVE_UNITS = frozenset({"Bq", "MBq", "Bq*s", "counts"})


def _vec3(name: str, value: ArrayLike) -> Vec3:
    arr = np.asarray(value, dtype=float).ravel()
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise InvalidInputError(name, expected="3 finite numbers (x, y, z)", actual=value)
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def _mat3(value: ArrayLike) -> Mat3:
    arr = np.asarray(value, dtype=float).ravel()
    if arr.shape != (9,):
        raise InvalidInputError("direction", expected="9 direction cosines", actual=value)
    m = arr.reshape(3, 3)
    if not np.allclose(m.T @ m, np.eye(3), atol=1e-4):
        raise InvalidInputError(
            "direction",
            expected="an orthonormal 3×3 matrix",
            actual=np.round(m, 5).tolist(),
            fix="check ImageOrientationPatient; sheared (gantry-tilted) grids are not supported",
        )
    return tuple(float(x) for x in arr)  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class Volume:
    """Immutable 3-D image with geometry, quantity, unit, time and history."""

    array: NDArray[Any]
    spacing: Vec3 = (1.0, 1.0, 1.0)
    origin: Vec3 = (0.0, 0.0, 0.0)
    direction: Mat3 = _IDENTITY
    frame_of_reference_uid: str | None = None
    modality: str = "OT"
    quantity: str = "unknown"
    unit: str = "1"
    reference_time: _dt.datetime | None = None
    name: str = ""
    history: tuple[Step, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        arr = np.asarray(self.array)
        if arr.ndim != 3:
            raise InvalidInputError(
                f"array of volume {self.name!r}",
                expected="3 dimensions (z, y, x)",
                actual=f"shape {arr.shape}",
                fix="add a singleton axis for 2-D data",
            )
        if arr.dtype.kind not in "fiub":
            raise InvalidInputError("array dtype", expected="numeric", actual=arr.dtype)
        if arr.flags.writeable:
            arr = arr.copy()
            arr.flags.writeable = False
        object.__setattr__(self, "array", arr)
        spacing = _vec3("spacing", self.spacing)
        if min(spacing) <= 0:
            raise InvalidInputError("spacing", expected="positive mm", actual=spacing)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", _vec3("origin", self.origin))
        object.__setattr__(self, "direction", _mat3(self.direction))
        t = self.reference_time
        if t is not None and (t.tzinfo is None or t.utcoffset() is None):
            raise InvalidInputError(
                "reference_time",
                expected="a timezone-aware datetime",
                actual=t.isoformat(),
                fix="attach a tzinfo (e.g. datetime.timezone.utc or the scanner's zone)",
            )

    # ------------------------------------------------------------------ build
    @classmethod
    def from_array(
        cls,
        array: ArrayLike,
        *,
        operation: str = "from_array",
        parameters: Mapping[str, Any] | None = None,
        inputs: tuple[str, ...] = (),
        sources: tuple[str, ...] = (),
        **meta: Any,
    ) -> Volume:
        """Build a volume and record its creation as the first history step."""
        step = Step.make(operation, parameters, inputs=inputs, sources=sources)
        return cls(np.asarray(array), history=(step,), **meta)

    def with_array(
        self,
        array: ArrayLike,
        *,
        operation: str,
        parameters: Mapping[str, Any] | None = None,
        inputs: tuple[str, ...] = (),
        sources: tuple[str, ...] = (),
        **changes: Any,
    ) -> Volume:
        """Return a new volume on the same grid with new voxels and one more step."""
        arr = np.asarray(array)
        if arr.shape != self.shape:
            raise GeometryMismatchError(
                f"new array for volume {self.name!r}",
                expected=f"shape {self.shape}",
                actual=f"shape {arr.shape}",
                fix="use resample_to() to change the grid",
            )
        step = Step.make(operation, parameters, inputs=inputs, sources=sources)
        return replace(self, array=arr, history=(*self.history, step), **changes)

    def with_metadata(self, *, operation: str = "set_metadata", **changes: Any) -> Volume:
        """Return a copy with changed metadata (recorded in the history)."""
        step = Step.make(operation, {k: v for k, v in changes.items() if k != "history"})
        return replace(self, history=(*self.history, step), **changes)

    # -------------------------------------------------------------- geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape ``(nz, ny, nx)``."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def size_xyz(self) -> tuple[int, int, int]:
        """Grid size in ITK order ``(nx, ny, nz)``."""
        nz, ny, nx = self.shape
        return (nx, ny, nz)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL (1 mL = 1000 mm³)."""
        return float(np.prod(self.spacing)) / MM3_PER_ML

    @property
    def direction_matrix(self) -> NDArray[np.float64]:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def affine(self) -> NDArray[np.float64]:
        """4×4 matrix mapping ITK index ``(i, j, k, 1)`` to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction_matrix * np.asarray(self.spacing)
        a[:3, 3] = self.origin
        return a

    def index_to_physical(self, ijk: ArrayLike) -> NDArray[np.float64]:
        """ITK-order index (x, y, z), shape (..., 3), to physical LPS mm."""
        idx = np.asarray(ijk, dtype=float)
        m = self.direction_matrix * np.asarray(self.spacing)
        out: NDArray[np.float64] = idx @ m.T + np.asarray(self.origin)
        return out

    def physical_to_index(self, xyz: ArrayLike) -> NDArray[np.float64]:
        """Physical LPS mm, shape (..., 3), to continuous ITK-order index."""
        m = self.direction_matrix * np.asarray(self.spacing)
        out: NDArray[np.float64] = (np.asarray(xyz, dtype=float) - np.asarray(self.origin)) @ (
            np.linalg.inv(m).T
        )
        return out

    def same_space(self, other: Volume, *, tol_mm: float = 1e-2, tol_dir: float = 1e-4) -> bool:
        """True when both volumes share grid size, spacing, origin and direction."""
        return not self._space_differences(other, tol_mm, tol_dir)

    def check_same_space(
        self, other: Volume, *, tol_mm: float = 1e-2, tol_dir: float = 1e-4
    ) -> None:
        """Raise :class:`GeometryMismatchError` naming the first difference found.

        Tolerances: ``tol_mm`` for spacing and origin (DICOM stores positions
        as decimal strings rounded to ~1e-3 mm), ``tol_dir`` for direction cosines.
        """
        diffs = self._space_differences(other, tol_mm, tol_dir)
        if diffs:
            what, mine, theirs = diffs[0]
            raise GeometryMismatchError(
                f"{what} of {self.name or 'volume'!r} vs {other.name or 'volume'!r}",
                expected=str(mine),
                actual=str(theirs),
                fix="resample one onto the other explicitly with "
                "volume.resample_to(reference, mode=...) (after registration if needed)",
            )

    def _space_differences(
        self, other: Volume, tol_mm: float, tol_dir: float
    ) -> list[tuple[str, object, object]]:
        out: list[tuple[str, object, object]] = []
        if self.shape != other.shape:
            out.append(("grid shape (z,y,x)", self.shape, other.shape))
        if not np.allclose(self.spacing, other.spacing, atol=tol_mm, rtol=0):
            out.append(("spacing (mm)", self.spacing, other.spacing))
        if not np.allclose(self.origin, other.origin, atol=tol_mm, rtol=0):
            out.append(("origin (mm)", self.origin, other.origin))
        if not np.allclose(self.direction, other.direction, atol=tol_dir, rtol=0):
            out.append(("direction cosines", self.direction, other.direction))
        a, b = self.frame_of_reference_uid, other.frame_of_reference_uid
        if a and b and a != b:
            out.append(("frame of reference UID", a, b))
        return out

    # ------------------------------------------------------------ SimpleITK
    def to_sitk(self) -> sitk.Image:
        """Convert to a SimpleITK image (geometry copied; metadata in the keys)."""
        img = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        img.SetSpacing(self.spacing)
        img.SetOrigin(self.origin)
        img.SetDirection(self.direction)
        return img

    @classmethod
    def from_sitk(cls, image: sitk.Image, **meta: Any) -> Volume:
        """Build a volume from a 3-D SimpleITK image; ``meta`` sets the other fields."""
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise InvalidInputError(
                "SimpleITK image",
                expected="a 3-D scalar image",
                actual=f"{image.GetDimension()}-D with {image.GetNumberOfComponentsPerPixel()} "
                "components",
            )
        history = meta.pop("history", None)
        if history is None:
            history = (Step.make("from_sitk"),)
        return cls(
            sitk.GetArrayFromImage(image),
            spacing=image.GetSpacing(),
            origin=image.GetOrigin(),
            direction=image.GetDirection(),
            history=tuple(history),
            **meta,
        )

    # ------------------------------------------------------------ resampling
    def resample_to(
        self, reference: Volume, *, mode: ResampleMode = "linear", default_value: float = 0.0
    ) -> Volume:
        """Resample onto ``reference``'s grid (same physical space assumed).

        Modes
        -----
        ``linear``
            trilinear interpolation, for intensities (HU, SUV, Bq/mL).
        ``nearest``
            nearest neighbour, for label maps (values are never mixed).
        ``conserve``
            activity-conserving: the voxel density (value per mL; extensive
            units such as Bq are divided by the voxel volume first) is
            anti-alias filtered when the target grid is coarser (Gaussian with
            σ² = (s_target² − s_source²)/(8 ln 2) per axis), interpolated
            linearly, and scaled so that the total (Σ density × voxel volume)
            equals the source total inside the target field of view exactly.
        """
        if mode not in ("linear", "nearest", "conserve"):
            raise InvalidInputError(
                "resample mode", expected="'linear', 'nearest' or 'conserve'", actual=mode
            )
        a, b = self.frame_of_reference_uid, reference.frame_of_reference_uid
        if a and b and a != b:
            raise GeometryMismatchError(
                "frame of reference UID",
                expected=b,
                actual=a,
                fix="register the volumes first (the registration result carries "
                "the transform) and resample the registered volume",
            )
        extensive = self.unit in EXTENSIVE_UNITS
        src = self.array.astype(float)
        if mode == "conserve":
            if extensive:
                src = src / self.voxel_volume_ml
            sigma_mm = np.sqrt(
                np.clip(np.square(reference.spacing) - np.square(self.spacing), 0, None)
            ) / np.sqrt(8 * np.log(2))
            sigma_vox = (sigma_mm / np.asarray(self.spacing))[::-1]  # numpy order
            if np.any(sigma_vox > 0):
                src = ndimage.gaussian_filter(src, sigma=sigma_vox, mode="constant")
        moving = replace(self, array=src).to_sitk() if mode == "conserve" else self.to_sitk()
        interp = sitk.sitkNearestNeighbor if mode == "nearest" else sitk.sitkLinear
        out_img = sitk.Resample(
            moving,
            reference.to_sitk(),
            sitk.Transform(),
            interp,
            float(default_value),
            moving.GetPixelID(),
        )
        out = sitk.GetArrayFromImage(out_img)
        params: dict[str, Any] = {"mode": mode, "reference": reference.name}
        if mode == "conserve":
            total_in = self._total_inside(reference)
            total_out = float(out.sum()) * reference.voxel_volume_ml
            scale = total_in / total_out if total_out > 0 else 1.0
            out = out * scale
            if extensive:
                out = out * reference.voxel_volume_ml
            params.update(total_inside_fov=total_in, renormalisation=scale)
        elif mode == "nearest":
            out = out.astype(self.array.dtype)
        step = Step.make("resample_to", params, inputs=(self.name, reference.name))
        return replace(
            self,
            array=out,
            spacing=reference.spacing,
            origin=reference.origin,
            direction=reference.direction,
            frame_of_reference_uid=reference.frame_of_reference_uid or a,
            history=(*self.history, step),
        )

    def _total_inside(self, reference: Volume) -> float:
        """Source total (value×mL, or value for extensive units) inside reference's FOV."""
        grid = np.indices(self.shape).reshape(3, -1)[::-1].T  # (x, y, z) indices
        idx = reference.physical_to_index(self.index_to_physical(grid))
        size = np.asarray(reference.size_xyz)
        inside = np.all((idx >= -0.5) & (idx <= size - 0.5), axis=1)
        vals = self.array.reshape(-1).astype(float)[inside]
        factor = 1.0 if self.unit in EXTENSIVE_UNITS else self.voxel_volume_ml
        return float(vals.sum()) * factor
