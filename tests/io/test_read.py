"""Geometry, rescale and every bad-input case of the DICOM readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from sstrkit.errors import DicomMetadataError
from sstrkit.io.dicom_read import read_series
from sstrkit.io.discover import discover


def _distinct(n: int = 4) -> np.ndarray:
    # slice k holds 100*k + voxel index so any mis-ordering is visible
    base = np.arange(20, dtype=np.int16).reshape(4, 5)
    return np.stack([base + 100 * k for k in range(n)]).astype(np.int16)


def test_sorted_by_position_not_file_name(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(_distinct(), z0=50.0, dz=4.0)
    s = read_series(files[0].parent)
    np.testing.assert_array_equal(s.volume.array, _distinct().astype(np.float32))
    assert s.volume.origin == (-10.0, -20.0, 50.0)
    assert s.volume.spacing == (3.0, 2.0, 4.0)  # x from PixelSpacing[1], y from [0]
    assert [m.position_mm for m in s.slices] == [50.0, 54.0, 58.0, 62.0]


def test_geometry_matches_simpleitk(make_pet) -> None:  # type: ignore[no-untyped-def]
    # rotated in-plane axes: row (0,1,0), column (-1,0,0), normal (0,0,1); per-slice slopes
    files = make_pet(_distinct(), iop=(0, 1, 0, -1, 0, 0), slopes=[1.0, 0.5, 2.0, 0.25])
    s = read_series(files[0].parent)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(files[0].parent)))
    ref = reader.Execute()
    assert np.allclose(s.volume.origin, ref.GetOrigin())
    assert np.allclose(s.volume.spacing, ref.GetSpacing())
    assert np.allclose(s.volume.direction, ref.GetDirection())
    # physical point of index (1, 2, 3) agrees
    assert np.allclose(
        s.volume.index_to_physical([1, 2, 3]), ref.TransformIndexToPhysicalPoint((1, 2, 3))
    )
    expected = _distinct().astype(np.float64) * np.array([1.0, 0.5, 2.0, 0.25])[:, None, None]
    np.testing.assert_allclose(s.volume.array, expected, rtol=1e-6)


def test_duplicate_slices(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(_distinct(3))
    uid = str(__import__("pydicom").dcmread(files[0]).SeriesInstanceUID)
    make_pet(_distinct(1), z0=54.0, series_uid=uid, folder="pet")  # second slice at z = 54
    with pytest.raises(DicomMetadataError, match=r"ImagePositionPatient.*duplicate position 54"):
        read_series(files[0].parent)


def test_non_uniform_spacing(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(_distinct(2), z0=50.0, dz=4.0)
    uid = str(__import__("pydicom").dcmread(files[0]).SeriesInstanceUID)
    make_pet(_distinct(1), z0=70.0, series_uid=uid, folder="pet")  # gap: 50, 54, 70
    with pytest.raises(DicomMetadataError, match=r"uniform slice spacing.*spacing-tolerance"):
        read_series(files[0].parent)


def test_gantry_tilt(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(attrs={"GantryDetectorTilt": "15"})
    with pytest.raises(DicomMetadataError, match=r"GantryDetectorTilt \(0018,1120\).*15"):
        read_series(files[0].parent)


def test_secondary_capture(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(sop_class="1.2.840.10008.5.1.4.1.1.7")
    with pytest.raises(DicomMetadataError, match="secondary capture"):
        read_series(files[0].parent)


def test_non_quantitative_units(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(attrs={"Units": "PROPCNTS"})
    with pytest.raises(DicomMetadataError, match=r"Units \(0054,1001\).*PROPCNTS.*allow_non"):
        read_series(files[0].parent)
    s = read_series(files[0].parent, allow_non_quantitative=True)
    assert s.units == "PROPCNTS" and s.volume.unit == "1"


def test_unsupported_units(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(attrs={"Units": "MLMING"})
    with pytest.raises(DicomMetadataError, match=r"Units \(0054,1001\).*MLMING"):
        read_series(files[0].parent)


def test_mixed_series_in_folder(make_pet) -> None:  # type: ignore[no-untyped-def]
    a = make_pet(folder="mix")
    make_pet(folder="mix", z0=500.0)
    with pytest.raises(DicomMetadataError, match=r"mixed series.*--series"):
        read_series(a[0].parent)
    uid = str(__import__("pydicom").dcmread(a[0]).SeriesInstanceUID)
    assert read_series(a[0].parent, series_uid=uid).volume.origin[2] == 50.0


def test_inconsistent_attribute_within_series(make_pet) -> None:  # type: ignore[no-untyped-def]
    uid = generate_uid()
    files = make_pet(series_uid=uid, per_slice=[{}, {"Units": "CNTS"}, {}])
    with pytest.raises(DicomMetadataError, match=r"Units \(0054,1001\).*mixed series"):
        read_series(files[0].parent)


def test_corrupt_files(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet()
    data = files[1].read_bytes()
    files[1].write_bytes(data[:-7])  # truncated pixel data
    with pytest.raises(DicomMetadataError, match=r"PixelData \(7FE0,0010\).*truncated"):
        read_series(files[0].parent)
    garbage = files[0].parent / "broken.dcm"
    garbage.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 50)
    assert len(discover(files[0].parent).unreadable) == 1
    with pytest.raises(DicomMetadataError, match=r"broken\.dcm.*--skip-unreadable"):
        read_series(files[0].parent)


def test_non_dicom_files_are_ignored(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet()
    (files[0].parent / "README.txt").write_text("not dicom")
    found = discover(files[0].parent)
    assert len(found.series) == 1 and found.unreadable == ()
    info = found.series[0]
    assert (info.modality, info.units, info.n_files, info.n_frames) == ("PT", "BQML", 3, 3)
    assert info.acquisition_time == "2026-01-05T10:00:00+00:00"


def test_sheared_positions(make_pet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    uid = generate_uid()
    for k in range(3):  # each slice shifted 5 mm in x: a gantry-tilt-like shear
        make_pet(_distinct(1), folder="shear", z0=50.0 + 4 * k, series_uid=uid, ipp_xy=(5.0 * k, 0))
    with pytest.raises(DicomMetadataError, match=r"ImagePositionPatient.*gantry tilt"):
        read_series(tmp_path / "shear")
