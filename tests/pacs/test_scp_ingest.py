"""How the listener files what it receives: no decoding, File Meta as pynetdicom writes it,
every transfer syntax of the conformance, and background fsync.

Reference values:

* the File Meta Information group pynetdicom itself encodes for a C-STORE request
  (``pynetdicom.dsutils.create_file_meta`` + ``encode_file_meta``, what the listener
  wrote before it stopped decoding data sets): byte for byte;
* data sets encoded the way an SCU puts them on the wire (``pynetdicom.dsutils.encode``,
  one per transfer syntax): :func:`read_header` gives back the attributes that were
  encoded, exactly (strings, no tolerance);
* instances written with pydicom and sent by dcmtk's ``storescu`` (an independent
  sender) proposing only Implicit VR, Explicit VR Big Endian or Deflated: the stored
  data set equals the one sent, element for element;
* the ``fsync`` calls the store makes (recorded), for the durability promise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from sstrkit.errors import InvalidInputError
from sstrkit.pacs.conformance import CT_STORAGE, SCP_TRANSFER_SYNTAXES
from sstrkit.pacs.scp import Listener, ListenerConfig
from sstrkit.pacs.store import InstanceStore, file_meta, read_header

from .conftest import free_port, require_tool, run_tool


def _ct(patient: str = "PH-1", study: str | None = None) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CT_STORAGE
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = patient
    ds.PatientName = "Müller^Jörg"
    ds.Modality = "CT"
    ds.ManufacturerModelName = "scanner"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.arange(16, dtype="<i2").tobytes()
    return ds


def _same(got: Dataset, sent: Dataset) -> None:
    """Same elements and values; pixel data compared as pixels (big endian swaps bytes)."""
    assert got.pixel_array.tolist() == sent.pixel_array.tolist()
    del got.PixelData
    assert got == Dataset({e.tag: e for e in sent if e.keyword != "PixelData"})


def _write(ds: Dataset, path: Path) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("sop_instance", "syntax"),
    [("1.2.3", ExplicitVRLittleEndian), ("1.2.34", DeflatedExplicitVRLittleEndian)],
)
def test_file_meta_is_byte_for_byte_what_pynetdicom_encodes(sop_instance: str, syntax: str) -> None:
    from pynetdicom import AE
    from pynetdicom.dsutils import create_file_meta, encode_file_meta

    ae = AE()
    ours = file_meta(
        CT_STORAGE,
        sop_instance,
        syntax,
        ae.implementation_class_uid,
        ae.implementation_version_name,
    )
    theirs = encode_file_meta(
        create_file_meta(
            sop_class_uid=pydicom.uid.UID(CT_STORAGE),
            sop_instance_uid=pydicom.uid.UID(sop_instance),
            transfer_syntax=pydicom.uid.UID(syntax),
        )
    )
    assert ours == theirs
    with pytest.raises(InvalidInputError, match="AffectedSOPInstanceUID"):
        file_meta(CT_STORAGE, "1.2.ü", syntax, "1.2", "X")


@pytest.mark.parametrize("syntax", SCP_TRANSFER_SYNTAXES)
def test_header_is_read_in_every_accepted_transfer_syntax(syntax: str) -> None:
    from pynetdicom.dsutils import encode

    ds = _ct(patient="Jörg-7")
    ds.DerivationDescription = "sstrkit: SUVbw"
    ts = pydicom.uid.UID(syntax)
    implicit = ts.is_implicit_VR
    encoded = encode(ds, implicit, ts.is_little_endian, ts.is_deflated)
    assert encoded is not None
    header = read_header(encoded, syntax)
    for keyword in (
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "PatientID",
        "ManufacturerModelName",
        "DerivationDescription",
    ):
        assert header[keyword].value == ds[keyword].value, keyword
    assert "PixelData" not in header and "PatientName" not in header  # read no further


def _storescu(port: int, files: list[Path], *options: str, called: str = "SSTRKIT") -> None:
    tool = require_tool("storescu", "dcmtk")
    run_tool([tool, "-aet", "STORESCU", "-aec", called, *options, "127.0.0.1", str(port)] + [
        str(f) for f in files
    ])  # fmt: skip


def _only(syntax: str, folder: Path) -> list[str]:
    """storescu options proposing CT Image Storage in ``syntax`` alone (a dcmtk
    association negotiation file): the listener cannot pick another one."""
    cfg = folder / "storescu.cfg"
    cfg.write_text(
        "[[TransferSyntaxes]]\n[Only]\nTransferSyntax1 = " + syntax + "\n\n"
        "[[PresentationContexts]]\n[Ctx]\nPresentationContext1 = " + CT_STORAGE + "\\Only\n\n"
        "[[Profiles]]\n[Only]\nPresentationContexts = Ctx\n",
        encoding="ascii",
    )
    return ["-xf", str(cfg), "Only"]


@pytest.mark.parametrize(
    "syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian]
)
def test_listener_stores_the_data_set_as_sent(tmp_path: Path, syntax: str) -> None:
    sent = [_write(_ct(), tmp_path / f"{i}.dcm") for i in range(3)]
    store = InstanceStore(tmp_path / "store")
    with Listener(store, ListenerConfig(port=free_port())) as listener:
        _storescu(listener.port, sent, *_only(syntax, tmp_path))
    assert listener.counts["stored"] == 3
    for path in sent:
        original = pydicom.dcmread(path)
        (stored,) = (tmp_path / "store" / "PH-1").rglob(f"{original.SOPInstanceUID}.dcm")
        got = pydicom.dcmread(stored)
        assert got.file_meta.TransferSyntaxUID == syntax
        assert got.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
        assert got.PatientName == "Müller^Jörg"
        _same(got, original)
    assert not [p for p in (tmp_path / "store" / ".incoming").iterdir()]


def test_store_fsyncs_every_file_and_folder_before_flush_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    store = InstanceStore(tmp_path / "store", sync_interval_s=3600.0)  # only flush syncs
    study = generate_uid()
    items = [
        store.put(pydicom.dcmread(_write(_ct(study=study), tmp_path / f"{i}.dcm")))
        for i in range(3)
    ]
    store.flush()
    for item in items:
        assert str(item.path) in synced
        assert str(item.path.parent) in synced  # the folder naming the file
    assert str(items[0].path.parent.parent) in synced  # the new study folder's entry
    assert str(store.root / "PH-1" / study) in synced

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    store.put(pydicom.dcmread(_write(_ct(), tmp_path / "x.dcm")))
    with pytest.raises(OSError, match="Input/output"):
        store.flush()
    store.flush()  # reported once
