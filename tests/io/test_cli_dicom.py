"""CLI: sstrkit dicom ls, sstrkit suv, sstrkit convert (JSON contract)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import read_nifti, write_nifti

runner = CliRunner()


def _error_doc(stdout: str) -> bool:
    """With --json an error prints exactly one JSON error document on stdout (exit 2)."""
    import json as _json

    return bool(_json.loads(stdout)["error"]["exit_code"] == 2)


@pytest.fixture
def pet_dir(make_pet) -> Path:  # type: ignore[no-untyped-def]
    # slice k = 5000 * (k + 1) Bq/mL -> SUVbw 2, 4, 6 (factor 4e-4, see test_suv.py)
    stored = np.stack([np.full((4, 5), 5000 * (k + 1) // 5, np.int16) for k in range(3)])
    return make_pet(stored, slopes=[5.0] * 3)[0].parent  # type: ignore[no-any-return]


def test_suv_json_contract_with_mask(pet_dir: Path, tmp_path: Path) -> None:
    grid = read_series(pet_dir).volume
    mask = np.zeros(grid.shape, np.uint8)
    mask[1:, :2, :] = 1  # slices 1 and 2 (SUV 4 and 6), 2 rows x 5 columns each
    write_nifti(grid.with_array(mask, operation="mask", unit="1"), tmp_path / "m.nii.gz")
    res = runner.invoke(app, ["suv", str(pet_dir), "--mask", str(tmp_path / "m.nii.gz"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["normalization"] == "bw"
    assert doc["suv_factor"] == pytest.approx(4e-4, rel=1e-12)
    st = doc["stats"]
    assert st["n_voxels"] == 20
    assert (st["min"], st["median"], st["mean"], st["max"]) == pytest.approx((4, 5, 5, 6), rel=1e-6)
    assert doc["reference_time"] == "2026-01-05T10:00:00+00:00"
    assert doc["warnings"] == []


def test_suv_whole_image_other_norm_and_overrides(pet_dir: Path) -> None:
    res = runner.invoke(app, ["suv", str(pet_dir), "--json", "--weight-kg", "40"])
    doc = json.loads(res.stdout)
    # 40 kg: factor 40000/2e8 = 2e-4; SUV 1, 2, 3 over 60 voxels
    assert doc["suv_factor"] == pytest.approx(2e-4, rel=1e-12)
    assert doc["stats"]["n_voxels"] == 60 and doc["stats"]["mean"] == pytest.approx(2.0, rel=1e-6)
    assert doc["parameters"]["overrides"] == {"weight_kg": 40.0}
    ibw = json.loads(runner.invoke(app, ["suv", str(pet_dir), "--json", "--norm", "ibw"]).stdout)
    assert ibw["suv_factor"] == pytest.approx(1000 * (48 + 1.06 * 28) / 2e8, rel=1e-12)


def test_suv_error_is_one_line_exit_2(make_pet) -> None:  # type: ignore[no-untyped-def]
    folder = make_pet(attrs={"PatientWeight": None})[0].parent
    res = runner.invoke(app, ["suv", str(folder), "--json"])
    assert res.exit_code == 2
    assert _error_doc(res.stdout)
    assert "PatientWeight (0010,1030)" in res.stderr and "--weight-kg" in res.stderr
    warn = runner.invoke(app, ["suv", str(folder), "--json", "--strictness", "warn"])
    doc = json.loads(warn.stdout)
    assert doc["suv_factor"] is None and doc["stats"]["mean"] is None and doc["warnings"]


def test_dicom_ls(pet_dir: Path) -> None:
    res = runner.invoke(app, ["dicom", "ls", str(pet_dir), "--json"])
    doc = json.loads(res.stdout)
    assert len(doc["series"]) == 1
    s = doc["series"][0]
    assert (s["modality"], s["units"], s["n_files"]) == ("PT", "BQML", 3)
    assert "Positron Emission Tomography" in s["sop_class"]
    human = runner.invoke(app, ["dicom", "ls", str(pet_dir)])
    assert human.exit_code == 0 and "BQML" in human.stdout


def test_convert_suv_and_bqml(pet_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "suv.nii.gz"
    res = runner.invoke(app, ["convert", str(pet_dir), str(out), "--quantity", "suvbw", "--json"])
    assert res.exit_code == 0, res.output
    vol = read_nifti(out)
    np.testing.assert_allclose(vol.array[:, 0, 0], [2.0, 4.0, 6.0], rtol=1e-6)
    side = json.loads((tmp_path / "suv.json").read_text())
    assert side["Units"] == "g/mL" and side["SUVFactor"] == pytest.approx(4e-4, rel=1e-12)
    runner.invoke(app, ["convert", str(pet_dir), str(tmp_path / "a.nii.gz")])
    np.testing.assert_allclose(read_nifti(tmp_path / "a.nii.gz").array[:, 0, 0], [5e3, 1e4, 1.5e4])
