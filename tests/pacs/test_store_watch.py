"""The pieces under the listener, without a network: addresses, store, study completion.

Reference values are the definitions themselves: PS3.5's AE title rules (1–16
characters, no backslash), one file per SOPInstanceUID whatever the number of
concurrent senders, and completion exactly ``idle_s`` after the last instance (a
fake clock, so no tolerance is needed).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from sstrkit.errors import InvalidInputError
from sstrkit.pacs.network import Peer, TlsFiles, parse_ae_list, parse_peer
from sstrkit.pacs.scp import CompletedStudy, StudyWatch, is_own_result
from sstrkit.pacs.store import InstanceStore, patient_key


def test_peer_addresses() -> None:
    assert parse_peer("ORTHANC@127.0.0.1:4242") == Peer("ORTHANC", "127.0.0.1", 4242)
    assert parse_peer(" PACS@[::1]:104 ") == Peer("PACS", "::1", 104)
    for bad in (
        "ORTHANC@127.0.0.1",
        "127.0.0.1:4242",
        "A\\B@h:1",
        "X@h:0",
        "SEVENTEEN_CHARS_X@h:104",
    ):
        with pytest.raises(InvalidInputError):
            parse_peer(bad)
    assert parse_ae_list("A, B") == ("A", "B")
    with pytest.raises(InvalidInputError, match="--tls-cert"):
        TlsFiles.from_options(Path("cert.pem"), None, None)


def test_patient_folders_never_collide() -> None:
    assert patient_key("PH-0003") == "PH-0003"
    keys = {patient_key(p) for p in ("a/b", "a_b", "a b", "a\\b", "", "..")}
    assert len(keys) == 6
    assert patient_key("PH-0003 ") == "PH-0003"  # LO values are padded with a space
    assert all("/" not in k and not k.startswith(".") for k in keys)


def _instance(patient: str = "P1", study: str | None = None) -> Dataset:
    ds = Dataset()
    ds.PatientID = patient
    ds.StudyInstanceUID = study or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.Modality = "CT"
    ds.ensure_file_meta()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def test_store_files_each_sop_instance_once_even_from_concurrent_senders(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    ds = _instance()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.put(ds).status)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["duplicate"] * 7 + ["stored"]
    files = list(tmp_path.glob("P1/*/*/*.dcm"))
    assert [f.name for f in files] == [f"{ds.SOPInstanceUID}.dcm"]
    assert files[0].parent.name == ds.SeriesInstanceUID
    assert InstanceStore(tmp_path).put(ds).status == "duplicate"  # index rebuilt on opening
    bad = _instance()
    with pytest.warns(UserWarning, match="Invalid value for VR UI"):
        bad.SOPInstanceUID = "../../etc"  # a path, not a UID: never a file name
    with pytest.raises(InvalidInputError, match="SOPInstanceUID"):
        store.put(bad)


def test_study_is_complete_idle_s_after_its_last_instance(tmp_path: Path) -> None:
    now = [0.0]
    done: list[CompletedStudy] = []
    opened: list[tuple[str, str]] = []
    watch = StudyWatch(
        2.0, done.append, clock=lambda: now[0], on_open=lambda k, p: opened.append((k, p))
    )
    store = InstanceStore(tmp_path)
    study = generate_uid()
    first = store.put(_instance("P1", study))
    watch.saw(first)
    now[0] = 1.5
    watch.saw(store.put(_instance("P1", study)))
    watch.saw(first.__class__("duplicate", *list(first.__dict__.values())[1:]))
    assert watch.busy("P1") and not watch.busy("P2")
    assert opened == [("P1", "P1")]  # once per study
    now[0] = 3.49
    assert watch.due() == []
    now[0] = 3.5
    (complete,) = watch.due()
    assert (complete.stored, complete.duplicates, complete.n_series) == (2, 1, 2)
    assert complete.study_uid == study and not watch.busy("P1")
    with pytest.raises(InvalidInputError, match="--idle-s"):
        StudyWatch(0.0, done.append)


def test_own_results_are_recognised() -> None:
    ds = _instance()
    assert not is_own_result(ds)
    ds.ManufacturerModelName = "sstrkit results"
    assert is_own_result(ds)
    suv = _instance()
    suv.DerivationDescription = "sstrkit: SUVbw [g/mL] derived from series 1.2.3"
    assert is_own_result(suv)
