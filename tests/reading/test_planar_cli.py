"""``sstrkit read`` on SSTR scintigraphy: planar whole-body studies and 111In/99mTc SPECT.

Planar: the synthetic conjugate views of ``test_planar`` (its noise-free truth gives the
grades), written as DICOM by sstrkit.io.planar_write. SPECT: an 111In NM SPECT written by
sstrkit.io.dicom_write (a 200 Bq/mL body with a 30 mm sphere of 2000 Bq/mL); its SUVbw
reference is computed by hand: C × W / (A₀ e^(−λΔt)), λ of In-111 from ICRP 107.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_modules import PatientInfo, Radiopharmaceutical, StudyInfo
from sstrkit.io.dicom_write import write_nm_series
from sstrkit.io.planar_write import write_planar_wholebody
from sstrkit.physics.nuclides import get_nuclide

from .test_planar import LESIONS, _simulate

runner = CliRunner()
INJ = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def planar_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Whole-body scans at 24 h (the synthetic patient) and at 4 h (same views)."""
    from dataclasses import replace

    folder = tmp_path_factory.mktemp("wb")
    st = _simulate(LESIONS).study
    write_planar_wholebody(replace(st, series_uid="1.2.826.0.1.24"), folder / "wb24.dcm")
    early = replace(st, series_uid="1.2.826.0.1.4", acquisition_time=INJ + dt.timedelta(hours=4))
    write_planar_wholebody(early, folder / "wb4.dcm")
    return folder


def test_read_planar_study(planar_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(app, ["read", str(planar_folder), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc == json.loads((out / "reading.json").read_text())
    assert doc["modality"] == "planar" and doc["tracer"] == "111In-pentetreotide"
    assert doc["hours_post_injection"] == 24.0  # the scan closest to 24 h is read
    assert "closest to 24 h" in doc["read_notes"][0]
    assert doc["krenning_patient"] == 4 and doc["n_lesions"] >= 3
    assert {"planar_views", "planar_gm", "reading_json"} <= set(doc["files"])
    for key in ("planar_views", "planar_gm"):
        assert Path(doc["files"][key]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert doc["study"]["view_labels"] == ["ANTERIOR", "POSTERIOR"]
    # the table view of the same reading
    res2 = runner.invoke(
        app,
        [
            "read",
            str(planar_folder),
            "--out",
            str(tmp_path / "o2"),
            "--series",
            "1.2.826.0.1.4",
            "--no-images",
        ],
    )
    assert res2.exit_code == 0, res2.output
    assert "Krenning (patient, original planar scale) 4" in res2.stdout
    assert not (tmp_path / "o2" / "planar_views.png").exists()


def test_read_planar_with_user_rois_and_a_bad_roi(planar_folder: Path, tmp_path: Path) -> None:
    liver = f"{150 * 2.4 + 235.0 + 40.0},{-50.0 + 128 * 2.4},15"
    res = runner.invoke(
        app,
        [
            "read",
            str(planar_folder),
            "--out",
            str(tmp_path / "o"),
            "--series",
            "1.2.826.0.1.24",
            "--liver-roi",
            liver,
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "liver_roi_user" in json.loads(res.stdout)["flags"]
    bad = runner.invoke(
        app,
        ["read", str(planar_folder), "--out", str(tmp_path / "o3"), "--liver-roi", "1,2", "--json"],
    )
    assert bad.exit_code == 2 and "ROW,COL,RADIUS" in bad.stdout


def _spect(folder: Path, *, counts: bool = False) -> tuple[Path, float]:
    """An 111In SPECT 24 h after 200 MBq; returns the folder and the body's SUVbw."""
    t = INJ + dt.timedelta(hours=24)
    arr = np.full((40, 48, 48), 200.0, np.float32)
    zz, yy, xx = np.indices(arr.shape)
    arr[(zz - 20) ** 2 + (yy - 24) ** 2 + (xx - 24) ** 2 <= (15.0 / 4.8) ** 2] = 2000.0
    vol = Volume.from_array(
        arr,
        spacing=(4.8, 4.8, 4.8),
        origin=(-115.0, -115.0, -95.0),
        modality="NM",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=t,
        frame_of_reference_uid="1.2.826.0.1.77",
    )
    folder.mkdir(parents=True, exist_ok=True)
    rp = Radiopharmaceutical("111In-pentetreotide", "In-111", 200e6, INJ)
    path = write_nm_series(
        vol,
        folder / "spect.dcm",
        patient=PatientInfo(weight_kg=70.0),
        study=StudyInfo(),
        radiopharmaceutical=rp,
        acquisition_duration_s=1800.0,
    )
    if counts:
        ds = pydicom.dcmread(path)
        ds.PixelData = np.full(arr.shape, 40, "<u2").tobytes()
        ds.RescaleSlope = "1"
        del ds.RealWorldValueMappingSequence
        ds.Units = "CNTS"
        ds.save_as(path)
    lam = get_nuclide("In-111").decay_constant_per_s
    return folder, 200.0 * 70000.0 / (200e6 * math.exp(-lam * 86400.0))


def test_read_sstr_spect(tmp_path: Path) -> None:
    folder, body_suv = _spect(tmp_path / "spect")
    out = tmp_path / "out"
    res = runner.invoke(
        app, ["read", str(folder), "--out", str(out), "--no-auto-organs", "--no-images", "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["modality"] == "spect" and doc["tracer"] == "111In-pentetreotide"
    assert doc["hours_post_injection"] == pytest.approx(24.0)
    q = doc["quantification"]
    assert q["suv_per_bq_ml"] * 200.0 == pytest.approx(body_suv, rel=1e-3)  # 16-bit storage
    assert (out / "lesions.nii.gz").exists()


def test_spect_in_counts_needs_the_calibration(tmp_path: Path) -> None:
    folder, _ = _spect(tmp_path / "spect", counts=True)
    res = runner.invoke(
        app,
        [
            "read",
            str(folder),
            "--out",
            str(tmp_path / "o"),
            "--no-auto-organs",
            "--no-images",
            "--json",
        ],
    )
    assert res.exit_code == 2 and "sensitivity" in res.stdout.lower()
    res2 = runner.invoke(
        app,
        [
            "read",
            str(folder),
            "--out",
            str(tmp_path / "o2"),
            "--no-auto-organs",
            "--no-images",
            "--json",
            "--calibration-cps-per-mbq",
            "10",
        ],
    )
    assert res2.exit_code == 0, res2.output
    factor = json.loads(res2.stdout)["quantification"]["suv_per_bq_ml"]
    lam = get_nuclide("In-111").decay_constant_per_s
    assert factor == pytest.approx(70000.0 / (200e6 * math.exp(-lam * 86400.0)), rel=1e-6)


def test_mixed_folder_asks_for_a_series(planar_folder: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    _spect(mixed)
    for f in planar_folder.iterdir():
        (mixed / f.name).write_bytes(f.read_bytes())
    res = runner.invoke(app, ["read", str(mixed), "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 2 and "--series" in res.stdout
