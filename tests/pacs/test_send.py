"""``sstrkit pacs send``: the run's results as standard objects in Orthanc (issue 21, item 3).

The run is the one ``pacs listen --run`` made of the digital patient (conftest
``listened``). Acceptance checked here:

* every object sent passes ``dciodvfy`` (dicom3tools) without errors;
* after ``send --to`` (C-STORE) dcmtk's ``findscu`` finds RTDOSE, SEG, SR and the PDF
  (Modality DOC) in the right patient and study: RTDOSE, VOI SEG, SR and PDF in the
  cycle's SPECT/CT study, the lesion SEG, RTSTRUCT and SUV series in the PET/CT study;
* read back from Orthanc (C-GET) the objects carry results.json's values: SR lesion
  SUVs and region TIA/dose/BED exactly (the SR stores them as 64-bit FloatingPointValue),
  the RTDOSE the dose map of ``OUT/dose/dose_cycle1.nii.gz`` within its quantisation
  (DoseGridScaling/2, sstrkit.io.dicom_rtdose), the PDF byte for byte;
* ``send --stow`` (STOW-RS) stores the same objects, found again by QIDO-RS.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.io.dicom_write import read_rtdose
from sstrkit.io.nifti import read_nifti
from sstrkit.pacs.export import ExportResult, export_results
from sstrkit.pacs.network import parse_peer
from sstrkit.pacs.pdf import pdf_bytes
from sstrkit.pacs.scu import retrieve_get
from sstrkit.pacs.store import InstanceStore

from .conftest import (
    DCMTK_ENV,
    PHANTOM_PATIENT,
    Listened,
    Orthanc,
    dicom_files,
    require_tool,
    verify,
)

runner = CliRunner()
KINDS = {"rtdose", "suv", "rtstruct", "seg_lesions", "seg_vois", "sr", "pdf"}


@pytest.fixture(scope="module")
def exported(listened: Listened) -> ExportResult:
    return export_results(listened.out)


@pytest.fixture(scope="module")
def results(listened: Listened) -> dict[str, Any]:
    return dict(json.loads((listened.out / "results.json").read_text(encoding="utf-8")))


def _study(phantom: Path, folder: str) -> str:
    path = dicom_files(phantom / "dicom" / folder)[0]
    return str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)


def test_every_object_passes_dciodvfy(exported: ExportResult, dciodvfy: str) -> None:
    assert {o.kind for o in exported.objects} == KINDS
    checked = set()
    for o in exported.objects:
        if o.kind in checked and o.kind == "suv":
            continue  # one instance of the derived series (same writer for every slice)
        verify(dciodvfy, o.path)
        checked.add(o.kind)
    assert checked == KINDS


def _findscu_series(orthanc: Orthanc, study_uid: str, out: Path) -> list[pydicom.Dataset]:
    findscu = require_tool("findscu", "dcmtk")
    out.mkdir()
    subprocess.run(
        [
            findscu,
            "-S",
            "-aet",
            "FINDSCU",
            "-aec",
            orthanc.aet,
            "127.0.0.1",
            str(orthanc.dicom_port),
            "-k",
            "QueryRetrieveLevel=SERIES",
            "-k",
            f"StudyInstanceUID={study_uid}",
            "-k",
            "Modality",
            "-k",
            "SeriesInstanceUID",
            "-k",
            "PatientID",
            "-X",
            "-od",
            str(out),
        ],
        check=True,
        capture_output=True,
        env=DCMTK_ENV,
        timeout=60,
    )
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def _delete_results(orthanc: Orthanc, exported: ExportResult) -> None:
    """Remove the result series from Orthanc (the listener's --send-to stored them)."""
    for uid in {o.series_uid for o in exported.objects}:
        for item in orthanc.rest_post("/tools/lookup", uid):
            if item["Type"] == "Series":
                orthanc.rest(f"/series/{item['ID']}", method="DELETE")


def test_send_cstore_puts_each_result_in_its_patient_and_study(
    listened: Listened, exported: ExportResult, orthanc: Orthanc, phantom: Path, tmp_path: Path
) -> None:
    _delete_results(orthanc, exported)
    res = runner.invoke(app, ["pacs", "send", str(listened.out), "--to", orthanc.peer, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["sent"]["sent"] == len(exported.objects) and doc["sent"]["failed"] == []
    pet, cycle = _study(phantom, "pet_dotatate"), _study(phantom, "cycle1")
    found = {
        uid: {str(ds.SeriesInstanceUID): ds for ds in _findscu_series(orthanc, uid, tmp_path / n)}
        for n, uid in (("pet", pet), ("cycle", cycle))
    }
    where = {
        "rtdose": cycle,
        "seg_vois": cycle,
        "sr": cycle,
        "pdf": cycle,
        "seg_lesions": pet,
        "rtstruct": pet,
        "suv": pet,
    }
    modality = {
        "rtdose": "RTDOSE",
        "seg_vois": "SEG",
        "sr": "SR",
        "pdf": "DOC",
        "seg_lesions": "SEG",
        "rtstruct": "RTSTRUCT",
        "suv": "PT",
    }
    for o in exported.objects:
        series = found[where[o.kind]].get(o.series_uid)
        assert series is not None, f"{o.kind} not in its study"
        assert series.Modality == modality[o.kind] and series.PatientID == PHANTOM_PATIENT


@pytest.fixture(scope="module")
def read_back(
    exported: ExportResult, orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pydicom.Dataset]:
    """The result objects as Orthanc returns them (C-GET of their series), by kind."""
    store = InstanceStore(tmp_path_factory.mktemp("readback"))
    wanted = {(o.study_uid, o.series_uid) for o in exported.objects if o.kind != "suv"}
    report = retrieve_get(parse_peer(orthanc.peer), store, sorted(wanted), own_results=True)
    assert report.failed == 0
    by_uid = {p.stem: p for p in dicom_files(store.root)}
    return {
        o.kind + (f"{o.cycle}" if o.cycle else ""): pydicom.dcmread(by_uid[o.sop_instance_uid])
        for o in exported.objects
        if o.kind != "suv"
    }


def test_sr_read_back_has_the_lesion_suvs_doses_and_bed_of_results_json(
    read_back: dict[str, pydicom.Dataset], results: dict[str, Any]
) -> None:
    import highdicom as hd

    sr = hd.sr.Comprehensive3DSR.from_dataset(read_back["sr"])
    groups = {
        str(g.tracking_identifier): g for g in sr.content.get_volumetric_roi_measurement_groups()
    }
    groups.update(
        {str(g.tracking_identifier): g for g in sr.content.get_planar_roi_measurement_groups()}
    )

    def values(name: str) -> dict[tuple[str, str | None], float]:
        return {
            (m.name.meaning, m.derivation.meaning if m.derivation else None): m.value
            for m in groups[name].get_measurements()
        }

    lesions = results["stages"]["reading"]["lesions"]
    assert lesions
    for les in lesions:
        got = values(f"lesion_{les['id']:02d}")
        assert got[("SUVbw", "Maximum")] == les["suv_max"]
        assert got[("SUVbw", "Mean")] == les["suv_mean"]
        assert got[("SUVbw", "Peak Value Within ROI")] == les["suv_peak"]
        assert got[("Volume", None)] == les["volume_ml"]
    cycle = results["stages"]["dosimetry"]["organ_level"]["cycles"][0]
    kidneys = next(r for r in cycle["regions"] if r["name"] == "kidneys")
    got = values("kidneys cycle 1")
    assert got[("Time-integrated activity", None)] == kidneys["tia_mbq_h"]
    assert got[("Absorbed Dose", None)] == kidneys["dose_gy"]
    delivered = results["stages"]["planning"]["running"]["delivered"]
    # one cycle: the per-cycle BED (registry's Lea-Catcheside G) is the cumulative BED
    assert got[("Biologically effective dose", None)] == pytest.approx(
        delivered["bed_gy"]["kidneys"], rel=1e-12
    )
    cumulative = values("kidneys cumulative, 1 cycle")
    assert cumulative[("Biologically effective dose", None)] == delivered["bed_gy"]["kidneys"]
    assert cumulative[("Absorbed Dose", None)] == delivered["absorbed_gy"]["kidneys"]


def test_rtdose_seg_and_pdf_read_back(
    read_back: dict[str, pydicom.Dataset],
    listened: Listened,
    phantom: Path,
    exported: ExportResult,
    tmp_path: Path,
) -> None:
    rtdose = read_back["rtdose1"]
    spects = [
        pydicom.dcmread(p, stop_before_pixels=True)
        for p in (phantom / "dicom" / "cycle1").glob("spect_*h/*.dcm")
    ]
    assert rtdose.StudyInstanceUID == spects[0].StudyInstanceUID
    assert rtdose.PatientID == spects[0].PatientID == PHANTOM_PATIENT
    assert rtdose.FrameOfReferenceUID in {s.FrameOfReferenceUID for s in spects}
    seg = read_back["seg_vois1"]
    assert seg.FrameOfReferenceUID == rtdose.FrameOfReferenceUID
    assert seg.StudyInstanceUID == rtdose.StudyInstanceUID
    path = tmp_path / "readback_rtdose.dcm"
    rtdose.save_as(path, enforce_file_format=True)
    dose, ref = read_rtdose(path), read_nifti(listened.out / "dose" / "dose_cycle1.nii.gz")
    step = float(rtdose.DoseGridScaling)
    assert dose.shape == ref.shape
    assert np.max(np.abs(np.asarray(dose.array) - np.asarray(ref.array))) <= 0.5 * step * 1.001
    lesions = read_back["seg_lesions"]
    labels = np.asarray(read_nifti(listened.out / "reading" / "lesions.nii.gz").array)
    assert [s.SegmentLabel for s in lesions.SegmentSequence] == [
        f"lesion_{v:02d}" for v in sorted(int(x) for x in np.unique(labels) if x)
    ]
    pdf = next(o for o in exported.objects if o.kind == "pdf")
    local = pdf_bytes(pydicom.dcmread(pdf.path))
    assert local.startswith(b"%PDF") and pdf_bytes(read_back["pdf"]) == local
    assert read_back["pdf"].MIMETypeOfEncapsulatedDocument == "application/pdf"


def test_stow_stores_the_results_and_qido_finds_them(
    listened: Listened, exported: ExportResult, orthanc: Orthanc
) -> None:
    _delete_results(orthanc, exported)  # what C-STORE sent: now sent by STOW-RS
    res = runner.invoke(
        app, ["pacs", "send", str(listened.out), "--stow", orthanc.dicomweb, "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sent"]["sent"] == len(exported.objects)
    for study in {o.study_uid for o in exported.objects}:
        res = runner.invoke(
            app,
            [
                "pacs",
                "query",
                "--dicomweb",
                orthanc.dicomweb,
                "--study-uid",
                study,
                "--level",
                "series",
                "--json",
            ],
        )
        assert res.exit_code == 0, res.output
        series = {m["series_uid"] for m in json.loads(res.stdout)["matches"]}
        assert {o.series_uid for o in exported.objects if o.study_uid == study} <= series
