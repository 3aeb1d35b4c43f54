"""The image model: immutability, geometry, SimpleITK round trip, resampling."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import SimpleITK as sitk

from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError

# 30° rotation about z: an oblique but orthonormal direction matrix.
C, S = np.cos(np.pi / 6), np.sin(np.pi / 6)
OBLIQUE = (C, -S, 0.0, S, C, 0.0, 0.0, 0.0, 1.0)
T_REF = dt.datetime(2026, 5, 4, 10, 30, tzinfo=dt.UTC)


def make(shape=(6, 7, 8), spacing=(2.0, 3.0, 4.0), **kw) -> Volume:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    meta = dict(
        spacing=spacing,
        origin=(-10.0, 5.5, 100.0),
        direction=OBLIQUE,
        frame_of_reference_uid="1.2.3",
        modality="PT",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=T_REF,
        name="pet",
    )
    meta.update(kw)
    return Volume.from_array(rng.random(shape) * 1000, **meta)


def test_immutable() -> None:
    v = make()
    with pytest.raises(ValueError, match="read-only"):
        v.array[0, 0, 0] = 1.0
    with pytest.raises(AttributeError):
        v.unit = "kBq/mL"  # type: ignore[misc]


def test_source_array_is_copied() -> None:
    a = np.zeros((2, 2, 2))
    v = Volume.from_array(a)
    a[0, 0, 0] = 5
    assert v.array[0, 0, 0] == 0


def test_sitk_round_trip_keeps_geometry() -> None:
    v = make()
    img = v.to_sitk()
    # ITK size is (x, y, z) = reversed numpy shape.
    assert img.GetSize() == (8, 7, 6)
    back = Volume.from_sitk(img, unit=v.unit, quantity=v.quantity)
    np.testing.assert_array_equal(back.array, v.array)
    assert back.spacing == v.spacing and back.origin == v.origin
    np.testing.assert_allclose(back.direction, v.direction, atol=1e-12)
    # Physical position of an index agrees with SimpleITK's own transform.
    idx = (3, 2, 5)
    expected = img.TransformIndexToPhysicalPoint(idx)
    np.testing.assert_allclose(v.index_to_physical(idx), expected, atol=1e-9)
    np.testing.assert_allclose(v.physical_to_index(expected), idx, atol=1e-9)


def test_voxel_volume_and_affine() -> None:
    v = make()
    assert v.voxel_volume_ml == pytest.approx(2 * 3 * 4 / 1000)
    np.testing.assert_allclose(v.affine[:3, 3], v.origin)
    np.testing.assert_allclose(np.abs(np.linalg.det(v.affine[:3, :3])), 24.0)


def test_history_records_operations() -> None:
    v = make()
    v2 = v.with_array(v.array * 2, operation="scale", parameters={"factor": 2})
    assert [s.operation for s in v2.history] == ["from_array", "scale"]
    assert v2.history[-1].parameters["factor"] == 2
    assert len(v.history) == 1  # original untouched


def test_with_array_shape_check() -> None:
    with pytest.raises(GeometryMismatchError, match="resample_to"):
        make().with_array(np.zeros((2, 2, 2)), operation="x")


def test_same_space_tolerance_and_message() -> None:
    a = make()
    b = make(origin=(-10.0 + 0.004, 5.5, 100.0))
    assert a.same_space(b)  # 4 µm: DICOM decimal-string round-off
    c = make(origin=(-9.0, 5.5, 100.0))
    assert not a.same_space(c)
    with pytest.raises(GeometryMismatchError) as info:
        a.check_same_space(c)
    assert "origin" in str(info.value) and "resample_to" in str(info.value)
    d = make(frame_of_reference_uid="9.9.9")
    with pytest.raises(GeometryMismatchError, match="frame of reference"):
        a.check_same_space(d)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spacing": (0.0, 1.0, 1.0)}, "spacing"),
        ({"direction": (1, 0, 0, 0.5, 1, 0, 0, 0, 1)}, "orthonormal"),
        ({"reference_time": dt.datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_metadata(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        make(**kwargs)


def test_rejects_2d() -> None:
    with pytest.raises(InvalidInputError, match="3 dimensions"):
        Volume.from_array(np.zeros((3, 3)))


def test_resample_identity_grid_is_exact() -> None:
    v = make()
    out = v.resample_to(v, mode="linear")
    # Index round-off through the oblique direction matrix is ~1e-15 voxel.
    np.testing.assert_allclose(out.array, v.array, rtol=1e-9)
    assert out.history[-1].operation == "resample_to"


def test_linear_resample_of_linear_field_is_exact() -> None:
    # Trilinear interpolation reproduces a field linear in x exactly.
    _z, _y, x = np.meshgrid(np.arange(10), np.arange(10), np.arange(10), indexing="ij")
    src = Volume.from_array(3.0 * x + 1.0, spacing=(2.0, 2.0, 2.0))
    ref = Volume.from_array(np.zeros((5, 5, 5)), spacing=(3.0, 3.0, 3.0), origin=(1.0, 1.0, 1.0))
    out = src.resample_to(ref)
    xs_mm = 1.0 + 3.0 * np.arange(5)  # physical x of the reference voxels
    expected = 3.0 * (xs_mm / 2.0) + 1.0
    np.testing.assert_allclose(out.array[2, 2, :], expected, rtol=1e-6)


def test_nearest_keeps_labels() -> None:
    labels = np.zeros((8, 8, 8), dtype=np.uint8)
    labels[2:6, 2:6, 2:6] = 3
    src = Volume.from_array(labels, spacing=(2.0, 2.0, 2.0), quantity="label", unit="1")
    ref = Volume.from_array(np.zeros((11, 11, 11)), spacing=(1.3, 1.3, 1.3))
    out = src.resample_to(ref, mode="nearest")
    assert set(np.unique(out.array)) <= {0, 3}
    assert out.array.dtype == np.uint8


def test_conserving_resample_keeps_total_activity() -> None:
    # A hot sphere in Bq/mL on 2 mm voxels, moved to a 4.8 mm grid covering it.
    z, y, x = np.indices((40, 40, 40))
    conc = np.where((x - 20) ** 2 + (y - 20) ** 2 + (z - 20) ** 2 < 36, 1e5, 10.0)
    src = Volume.from_array(conc, spacing=(2.0, 2.0, 2.0), unit="Bq/mL")
    ref = Volume.from_array(np.zeros((17, 17, 17)), spacing=(4.8, 4.8, 4.8), origin=(0.4,) * 3)
    total_src = conc.sum() * src.voxel_volume_ml
    out = src.resample_to(ref, mode="conserve")
    total_out = out.array.sum() * ref.voxel_volume_ml
    assert total_out == pytest.approx(total_src, rel=1e-9)
    # Plain linear interpolation does not conserve (that is why the mode exists).
    lin = src.resample_to(ref, mode="linear").array.sum() * ref.voxel_volume_ml
    assert abs(lin / total_src - 1) > 1e-3


def test_conserving_resample_extensive_units() -> None:
    # Bq per voxel: the total in Bq is conserved when the target covers the source.
    rng = np.random.default_rng(1)
    act = rng.random((10, 10, 10)) * 1e6
    src = Volume.from_array(act, spacing=(2.0, 2.0, 2.0), unit="Bq")
    ref = Volume.from_array(np.zeros((7, 7, 7)), spacing=(3.0, 3.0, 3.0), origin=(-1.0,) * 3)
    out = src.resample_to(ref, mode="conserve")
    assert out.array.sum() == pytest.approx(act.sum(), rel=1e-9)


def test_resample_refuses_other_frame_of_reference() -> None:
    a = make()
    b = make(frame_of_reference_uid="4.5.6")
    with pytest.raises(GeometryMismatchError, match="register"):
        a.resample_to(b)


def test_from_sitk_rejects_vector_images() -> None:
    img = sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 3)
    with pytest.raises(InvalidInputError, match="scalar"):
        Volume.from_sitk(img)
