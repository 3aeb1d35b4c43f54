"""Fast header scan (sstrkit.io.dicom_scan) and fast read path vs the pydicom path.

The fast path must give exactly what the pydicom path gives (same array bit for bit,
same geometry, same per-slice metadata), so each case reads a series twice: normally,
and with the discovery scans removed (which forces the pydicom path).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian

from sstrkit.core.volume import Volume
from sstrkit.io import discover as discover_mod
from sstrkit.io.dicom_read import DicomSeries, read_series
from sstrkit.io.dicom_scan import (
    ACQUISITION_TIME,
    IMAGE_POSITION_PATIENT,
    MODALITY,
    RESCALE_SLOPE,
    ROWS,
    SERIES_INSTANCE_UID,
    scan_file,
)
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_pet_series,
)
from sstrkit.io.discover import discover
from sstrkit.io.suv import compute_suv


def _both(folder: Path) -> tuple[DicomSeries, DicomSeries]:
    info = discover(folder).series[0]
    assert all(s is not None for s in info.scans)  # every file went through the fast scan
    fast = read_series(info)
    slow_info = dataclasses.replace(info, scans=tuple(None for _ in info.files))
    slow = read_series(slow_info)
    return fast, slow


def _assert_same(fast: DicomSeries, slow: DicomSeries) -> None:
    np.testing.assert_array_equal(fast.volume.array, slow.volume.array)  # bit for bit
    assert fast.volume.array.dtype == slow.volume.array.dtype == np.float32
    for attr in ("spacing", "origin", "direction", "frame_of_reference_uid", "modality", "unit"):
        assert getattr(fast.volume, attr) == getattr(slow.volume, attr), attr
    assert fast.slices == slow.slices
    assert fast.files == slow.files
    assert fast.units == slow.units
    assert fast.header.SOPInstanceUID == slow.header.SOPInstanceUID
    assert "PixelData" not in fast.header


def _distinct(n: int) -> np.ndarray:
    base = np.arange(20, dtype=np.int16).reshape(4, 5)
    return np.stack([base * (k + 1) - 7 * k for k in range(n)]).astype(np.int16)


def test_fast_equals_pydicom_path_per_slice_rescale_and_timing(make_pet) -> None:  # type: ignore[no-untyped-def]
    per_slice = [
        {"AcquisitionTime": f"10{k:02d}00", "FrameReferenceTime": str(1000.0 * k),
         "ActualFrameDuration": "120000"}
        for k in range(4)
    ]  # fmt: skip
    files = make_pet(
        _distinct(4),
        slopes=[1.0, 0.5, 2.0, 0.25],
        iop=(0, 1, 0, -1, 0, 0),
        per_slice=per_slice,
        attrs={"RescaleIntercept": "-3.5"},
    )
    fast, slow = _both(files[0].parent)
    _assert_same(fast, slow)
    assert [s.rescale_slope for s in fast.slices] == [1.0, 0.5, 2.0, 0.25]
    assert fast.slices[2].acquisition_time == "100200"
    assert fast.slices[3].frame_reference_time_ms == 3000.0
    # suv from both paths identical too
    assert compute_suv(fast).suv_factor == compute_suv(slow).suv_factor


def test_fast_equals_pydicom_path_implicit_vr(make_pet) -> None:  # type: ignore[no-untyped-def]
    def implicit(ds: pydicom.Dataset) -> None:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian

    files = make_pet(_distinct(3), slopes=[0.1, 0.2, 0.3], hook=implicit)
    scan = scan_file(files[0])
    assert scan is not None and not scan.explicit_vr
    fast, slow = _both(files[0].parent)
    _assert_same(fast, slow)


def test_fast_equals_pydicom_path_sstrkit_writers(tmp_path: Path) -> None:
    ref = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    arr = np.random.default_rng(3).gamma(2.0, 3000.0, size=(5, 6, 7)).astype(np.float32)
    vol = Volume.from_array(
        arr, spacing=(2.7, 2.7, 3.0), unit="Bq/mL", reference_time=ref, modality="PT"
    )
    rp = Radiopharmaceutical("Ga-68 DOTATATE", "Ga-68", 150e6, ref - dt.timedelta(hours=1))
    write_pet_series(vol, tmp_path / "pt", patient=PatientInfo(weight_kg=70.0),
                     study=StudyInfo(), radiopharmaceutical=rp)  # fmt: skip
    _assert_same(*_both(tmp_path / "pt"))
    ct = Volume.from_array(
        np.linspace(-1000, 1500, 5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7),
        spacing=(1.0, 1.0, 2.0), unit="HU", quantity="ct_number", modality="CT",
    )  # fmt: skip
    write_ct_series(ct, tmp_path / "ct", patient=PatientInfo(), study=StudyInfo(),
                    acquisition_time=ref)  # fmt: skip
    _assert_same(*_both(tmp_path / "ct"))


def test_fast_path_parses_only_one_header(make_pet, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(_distinct(6))
    calls: list[Path] = []
    real = discover_mod._parse

    def counting(file: Path):  # type: ignore[no-untyped-def]
        calls.append(file)
        return real(file)

    monkeypatch.setattr(discover_mod, "_parse", counting)
    read_series(files[0].parent)
    # discovery: the first file of the series (summary); reading: the most inferior slice
    # (the header kept with the volume) when it is a different file. Never all six.
    assert 1 <= len(calls) <= 2


def test_scan_values_agree_with_pydicom(make_pet) -> None:  # type: ignore[no-untyped-def]
    files = make_pet(_distinct(2), slopes=[0.75, 1.5])
    for f in files:
        scan = scan_file(f)
        ds = pydicom.dcmread(f)
        assert scan is not None
        assert scan.text(SERIES_INSTANCE_UID) == ds.SeriesInstanceUID
        assert scan.text(MODALITY) == ds.Modality
        assert scan.numbers(IMAGE_POSITION_PATIENT) == [float(v) for v in ds.ImagePositionPatient]
        assert scan.number(RESCALE_SLOPE) == float(ds.RescaleSlope)
        assert scan.ushort(ROWS) == ds.Rows
        assert scan.text(ACQUISITION_TIME) == ds.AcquisitionTime
        # the offset points at the PixelData element header
        raw = f.read_bytes()
        assert scan.pixel_offset is not None
        assert raw[scan.pixel_offset : scan.pixel_offset + 4] == b"\xe0\x7f\x10\x00"


# ---------------------------------------------------------------- hand-built files
def _el(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    """Explicit VR little endian element (PS3.5 7.1.2)."""
    long_vr = vr in (b"OB", b"OW", b"SQ", b"UN", b"UT")
    head = struct.pack("<HH", group, elem) + vr
    if long_vr:
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def _file(ts: str, body: bytes) -> bytes:
    uid = ts.encode() + (b"\0" if len(ts) % 2 else b"")
    meta = _el(0x0002, 0x0001, b"OB", b"\0\1") + _el(0x0002, 0x0010, b"UI", uid)
    group_len = _el(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta)))
    return b"\0" * 128 + b"DICM" + group_len + meta + body


def _defined_length_sequence_body() -> bytes:
    # (0054,0016) SQ of defined length with one defined-length item holding a CS element,
    # then Modality and SeriesInstanceUID after it
    item_content = _el(0x0018, 0x0031, b"LO", b"Ga-68 DOTATATE")
    item = struct.pack("<HHI", 0xFFFE, 0xE000, len(item_content)) + item_content
    return (
        _el(0x0008, 0x0060, b"CS", b"PT")
        + _el(0x0020, 0x000E, b"UI", b"1.2.3.4\0")
        + _el(0x0054, 0x0016, b"SQ", item)
        + _el(0x0054, 0x1001, b"CS", b"BQML")
    )


def test_defined_length_sequence(tmp_path: Path) -> None:
    p = tmp_path / "seq.dcm"
    p.write_bytes(_file("1.2.840.10008.1.2.1", _defined_length_sequence_body()))
    scan = scan_file(p)
    assert scan is not None
    assert scan.text(SERIES_INSTANCE_UID) == "1.2.3.4"
    assert scan.text(0x00541001) == "BQML"  # read past the sequence
    assert scan.pixel_offset is None
    # pydicom reads the same structure (independent parser)
    ds = pydicom.dcmread(p)
    assert ds.RadiopharmaceuticalInformationSequence[0].Radiopharmaceutical == "Ga-68 DOTATATE"
    assert ds.Units == "BQML"


@pytest.mark.parametrize(
    "ts, cut",
    [
        ("1.2.840.10008.1.2.2", 0),  # big endian: left to pydicom
        ("1.2.840.10008.1.2.1.99", 0),  # deflated: left to pydicom
        ("1.2.840.10008.1.2.1", 10),  # truncated inside the sequence
        ("1.2.840.10008.1.2.1", 3),  # truncated inside the last element header
    ],
)
def test_files_left_to_pydicom(tmp_path: Path, ts: str, cut: int) -> None:
    body = _defined_length_sequence_body()
    p = tmp_path / "x.dcm"
    p.write_bytes(_file(ts, body[: len(body) - cut] if cut else body))
    assert scan_file(p) is None


def test_bad_item_tag_in_sequence(tmp_path: Path) -> None:
    body = bytearray(_defined_length_sequence_body())
    i = body.index(struct.pack("<HH", 0xFFFE, 0xE000))
    body[i : i + 4] = struct.pack("<HH", 0x0008, 0x0060)  # not an item tag
    p = tmp_path / "x.dcm"
    p.write_bytes(_file("1.2.840.10008.1.2.1", bytes(body)))
    assert scan_file(p) is None
