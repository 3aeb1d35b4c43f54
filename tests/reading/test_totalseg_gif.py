"""Organ masks from a folder (TotalSegmentator layout), the optional TotalSegmentator run,
and the rotating MIP GIF."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.nifti import write_nifti
from sstrkit.reading.images import rotating_mip_frames, write_rotating_mip
from sstrkit.reading.totalseg import load_mask_folder, run_totalsegmentator

from .conftest import ORIGIN

runner = CliRunner()

# conftest organ codes → TotalSegmentator ("total" task) class names
TS_NAMES = {
    1: "liver",
    2: "spleen",
    3: "kidney_left",
    4: "kidney_right",
    5: "urinary_bladder",
    6: "adrenal_gland_left",
    7: "aorta",
}


def _fine_grid(patient: dict[str, Any]) -> Volume:
    """A 2 mm 'CT' grid covering the 4 mm PET grid (voxel centres 1 mm either side)."""
    nz, ny, nx = patient["suv"].shape
    return Volume.from_array(
        np.zeros((2 * nz, 2 * ny, 2 * nx), dtype=np.int16),
        spacing=(2.0, 2.0, 2.0),
        origin=tuple(o - 1.0 for o in ORIGIN),
        frame_of_reference_uid=patient["suv"].frame_of_reference_uid,
    )


def write_masks(patient: dict[str, Any], folder: Path, *, fine: bool = True) -> Path:
    """One binary NIfTI per class, as TotalSegmentator writes them, plus distractors."""
    labels = patient["organs"]
    if fine:
        labels = labels.resample_to(_fine_grid(patient), mode="nearest")
    arr = np.asarray(labels.array)
    folder.mkdir(parents=True, exist_ok=True)
    for code, name in TS_NAMES.items():
        mask = labels.with_array((arr == code).astype(np.uint8), operation="mask")
        write_nifti(mask, folder / f"{name}.nii.gz")
    # not organs the reader uses / a cyst / an empty mask: ignored
    for name, code in (("femur_left", 1), ("kidney_cyst_left", 3), ("gallbladder", 0)):
        m = (arr == code) if code else np.zeros_like(arr, dtype=bool)
        write_nifti(
            labels.with_array(m.astype(np.uint8), operation="mask"), folder / f"{name}.nii.gz"
        )
    return folder


def test_mask_folder_becomes_a_named_label_map(patient: dict[str, Any], tmp_path: Path) -> None:
    vol, names = load_mask_folder(write_masks(patient, tmp_path / "ts", fine=False))
    assert sorted(names.values()) == sorted(TS_NAMES.values())
    back = {v: k for k, v in TS_NAMES.items()}
    expected = np.zeros(vol.shape, dtype=np.int16)
    for code, name in names.items():
        expected[np.asarray(patient["organs"].array) == back[name]] = code
    assert np.array_equal(np.asarray(vol.array), expected)
    assert vol.history[-1].operation == "organs_from_mask_folder"


def test_mask_folder_errors(patient: dict[str, Any], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="none named after an organ"):
        load_mask_folder(empty)
    mixed = write_masks(patient, tmp_path / "mixed", fine=False)
    fine = _fine_grid(patient)
    write_nifti(
        fine.with_array(np.ones(fine.shape, np.uint8), operation="m"), mixed / "spleen.nii.gz"
    )
    with pytest.raises(GeometryMismatchError):
        load_mask_folder(mixed)


def _pet_file(patient: dict[str, Any], d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    write_nifti(patient["suv"], d / "pet.nii.gz")
    write_nifti(patient["ct"], d / "ct.nii.gz")
    return d / "pet.nii.gz"


def test_read_with_a_mask_folder_on_the_ct_grid(patient: dict[str, Any], tmp_path: Path) -> None:
    pet = _pet_file(patient, tmp_path / "in")
    masks = write_masks(patient, tmp_path / "ts")
    args = ["read", str(pet), "--organs", str(masks), "--no-images", "--json"]
    # Masks on the 2 mm CT grid: refused without explicit resampling …
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "o1")])
    assert res.exit_code == 2
    # … and read like the label map once resampled (nearest: the 4 mm centres fall between
    # two 2 mm voxels of the same organ, so the labels come back exactly).
    res = runner.invoke(app, [*args, "--resample-labels", "--out", str(tmp_path / "o2")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["reference"]["liver_suv_mean"] == pytest.approx(6.0, abs=1e-5)
    assert doc["reference"]["spleen_suv_mean"] == pytest.approx(20.0, abs=1e-5)
    # --gif: the rotating MIP next to reading.json
    res = runner.invoke(app, [*args, "--resample-labels", "--gif", "--out", str(tmp_path / "o3")])
    assert res.exit_code == 0, res.output
    gif = Path(json.loads(res.stdout)["files"]["mip_rotating"])
    assert gif.name == "mip_rotating.gif" and gif.read_bytes()[:6] == b"GIF89a"


def test_totalsegmentator_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sstrkit.reading.totalseg.totalsegmentator_available", lambda: False)
    with pytest.raises(InvalidInputError, match="pip install TotalSegmentator"):
        run_totalsegmentator(tmp_path / "ct.nii.gz", tmp_path / "out")


def test_read_runs_totalsegmentator_when_installed(
    patient: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in package with TotalSegmentator's python API: it records its arguments and
    # writes this patient's organ masks on the 2 mm grid into the output folder.
    write_masks(patient, tmp_path / "prepared")
    pkg = tmp_path / "site" / "totalsegmentator"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "python_api.py").write_text(
        textwrap.dedent(
            f"""
            import json, os, shutil
            from pathlib import Path
            def totalsegmentator(input, output, task, fast, roi_subset, quiet=False, **kw):
                print("TotalSegmentator banner")  # must not reach --json stdout
                os.write(1, b"worker output\\n")
                for f in Path({str(tmp_path / "prepared")!r}).iterdir():
                    shutil.copy(f, Path(output) / f.name)
                Path(output, "call.json").write_text(json.dumps(
                    {{"input": input, "task": task, "fast": fast, "roi_subset": roi_subset,
                      "quiet": quiet}}))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "totalsegmentator", raising=False)
    monkeypatch.delitem(sys.modules, "totalsegmentator.python_api", raising=False)
    pet = _pet_file(patient, tmp_path / "in")
    out = tmp_path / "out"
    args = ["read", str(pet), "--organs", "totalsegmentator", "--no-images", "--json"]
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 2 and "--ct" in res.output  # needs the CT to segment
    res = runner.invoke(app, [*args, "--ct", str(tmp_path / "in" / "ct.nii.gz"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert "TotalSegmentator" in doc["organs_source"]
    assert doc["reference"]["liver_suv_mean"] == pytest.approx(6.0, abs=1e-5)
    call = json.loads((out / "totalsegmentator" / "call.json").read_text())
    assert call["task"] == "total" and "liver" in call["roi_subset"] and call["quiet"] is True
    assert call["input"].endswith("ct.nii.gz")


def test_rotating_mip_frames(patient: dict[str, Any], tmp_path: Path) -> None:
    suv = patient["suv"]
    frames = rotating_mip_frames(suv, 8, vmax=40.0)
    assert len(frames) == 8
    # Frame 0 is the anterior MIP (head at the top, black = SUV ≥ 40), 4 mm isotropic voxels.
    front = np.asarray(suv.array).max(axis=1)[::-1]
    expected = (255.0 * (1.0 - np.clip(front / 40.0, 0, 1)) + 0.5).astype(np.uint8)
    assert np.array_equal(frames[0], expected)
    # 180° about the centre of the axial plane mirrors the projection left-right (the
    # nearest-neighbour samples fall exactly on the grid).
    assert np.array_equal(frames[4], frames[0][:, ::-1])
    # On a square axial grid 90° is the view from the patient's right: the side MIP
    # (max over x) with anterior (small y) on the image right.
    cube = np.random.default_rng(1).random((6, 9, 9)).astype(np.float32)
    vol = Volume.from_array(cube, spacing=(3.0, 3.0, 3.0), quantity="SUV", unit="g/mL")
    f90 = rotating_mip_frames(vol, 4, vmax=1.0)[1]
    side = cube.max(axis=2)[::-1, ::-1]  # head at the top, y reversed
    assert np.array_equal(f90, (255.0 * (1.0 - side) + 0.5).astype(np.uint8))
    path = write_rotating_mip(suv, tmp_path / "mip.gif", n_frames=6)
    from PIL import Image

    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == 6
    assert [f.name for f in tmp_path.iterdir()] == ["mip.gif"]
    with pytest.raises(InvalidInputError):
        rotating_mip_frames(suv, 1)
