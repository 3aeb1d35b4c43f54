"""`sstrkit suv`: --resample-labels for masks on another grid; plausibility errors exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_read import read_series
from sstrkit.io.nifti import write_nifti

runner = CliRunner()


def test_mask_on_another_grid_needs_resample_labels(make_pet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = make_pet()[0].parent  # 3 slices of 4 x 5, SUVbw 2.0 everywhere
    grid = read_series(folder).volume
    # the same field of view on a grid of half the slices' in-plane resolution
    coarse = Volume.from_array(
        np.ones((3, 2, 3), np.uint8),
        spacing=(grid.spacing[0] * 2, grid.spacing[1] * 2, grid.spacing[2]),
        origin=grid.origin,
        frame_of_reference_uid=grid.frame_of_reference_uid,
        unit="1",
    )
    mask = write_nifti(coarse, tmp_path / "coarse.nii.gz")
    res = runner.invoke(app, ["suv", str(folder), "--mask", str(mask)])
    assert res.exit_code == 2
    assert "--resample-labels" in res.output and "another grid" in res.output
    ok = runner.invoke(
        app, ["suv", str(folder), "--mask", str(mask), "--resample-labels", "--json"]
    )
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["mask"]["resampled"] is True
    assert doc["stats"]["mean"] == pytest.approx(2.0, rel=1e-6)
    # on the image grid nothing is resampled
    same = write_nifti(
        grid.with_array(np.ones(grid.shape, np.uint8), operation="m", unit="1"),
        tmp_path / "same.nii.gz",
    )
    doc = json.loads(runner.invoke(app, ["suv", str(folder), "--mask", str(same), "--json"]).stdout)
    assert doc["mask"]["resampled"] is False and doc["stats"]["n_voxels"] == 60


def test_swapped_weight_and_size_exit_2_naming_both(make_pet) -> None:  # type: ignore[no-untyped-def]
    folder = make_pet(attrs={"PatientWeight": "1.75", "PatientSize": "70"})[0].parent
    res = runner.invoke(app, ["suv", str(folder)])
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "PatientWeight (0010,1030) = 1.75" in text and "PatientSize (0010,1020) = 70" in text
    assert "--weight-kg 70 --height-cm 175" in text
    fixed = runner.invoke(
        app, ["suv", str(folder), "--weight-kg", "70", "--height-cm", "175", "--json"]
    )
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)["suv_factor"] == pytest.approx(70000.0 / 2e8, rel=1e-12)


def test_convert_bqml_needs_no_body_measure(make_pet, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """PatientWeight 0.5 kg is impossible for SUV (exit 2) but Bq/mL does not use it: the
    conversion gives the activity concentration (5000 stored × slope 1 = 5000 Bq/mL decay
    corrected to the series start, as the header says: DecayCorrection START)."""
    folder = make_pet(attrs={"PatientWeight": "0.5"})[0].parent
    bad = runner.invoke(app, ["convert", str(folder), str(tmp_path / "s.nii.gz"), "-q", "suvbw"])
    assert bad.exit_code == 2
    ok = runner.invoke(app, ["convert", str(folder), str(tmp_path / "a.nii.gz"), "--json"])
    assert ok.exit_code == 0, ok.output
    from sstrkit.io.nifti import read_nifti

    vol = read_nifti(tmp_path / "a.nii.gz")
    np.testing.assert_allclose(vol.array, 5000.0, rtol=1e-6)


def test_allow_incomplete_reads_a_cropped_series(make_pet) -> None:  # type: ignore[no-untyped-def]
    """NumberOfSlices 5 with 3 slices on disk: an error by default, a warning with
    --allow-incomplete (the SUV of the slices present is computed)."""
    folder = make_pet(attrs={"NumberOfSlices": 5})[0].parent
    strict = runner.invoke(app, ["suv", str(folder), "--json"])
    assert strict.exit_code == 2 and "--allow-incomplete" in strict.stderr
    ok = runner.invoke(app, ["suv", str(folder), "--allow-incomplete", "--json"])
    assert ok.exit_code == 0, ok.output
    assert any("slice" in w for w in json.loads(ok.stdout)["warnings"])
