"""`sstrkit read` CLI contract and the PNG images (via NIfTI inputs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.io.nifti import write_nifti
from sstrkit.reading.images import write_lesion_slices, write_lesion_table, write_mip
from sstrkit.reading.reader import read_sstr_pet

from .conftest import LESIONS

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"
LESION_KEYS = {
    "id",
    "centroid_mm",
    "suv_max",
    "suv_peak",
    "suv_mean",
    "volume_ml",
    "tlse",
    "t_l",
    "t_s",
    "krenning",
}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, patient: dict[str, Any]) -> Path:
    d = tmp_path_factory.mktemp("study")
    write_nifti(patient["suv"], d / "pet.nii.gz")
    write_nifti(patient["ct"], d / "ct.nii.gz")
    write_nifti(
        patient["organs"],
        d / "organs.nii.gz",
        extra={"Labels": {str(k): v for k, v in patient["names"].items()}},
    )
    (d / "labs.json").write_text(
        json.dumps(
            {
                "age_years": 60,
                "sex": "male",
                "creatinine_umol_l": 80,
                "haemoglobin_g_dl": 12.5,
                "platelets_1e9_per_l": 210,
                "wbc_1e9_per_l": 5.5,
            }
        ),
        encoding="utf-8",
    )
    return d


def test_read_json_contract(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        [
            "read",
            str(study / "pet.nii.gz"),
            "--ct",
            str(study / "ct.nii.gz"),
            "--organs",
            str(study / "organs.nii.gz"),
            "--labs",
            str(study / "labs.json"),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {
        "reference",
        "lesions",
        "krenning_patient",
        "sstr_tumour_volume_ml",
        "eligibility",
    } <= set(doc)
    assert doc["reference"]["liver_suv_mean"] == pytest.approx(6.0, abs=1e-5)
    assert doc["reference"]["spleen_suv_mean"] == pytest.approx(20.0, abs=1e-5)
    assert len(doc["lesions"]) == len(LESIONS)
    for les in doc["lesions"]:
        assert set(les) >= LESION_KEYS and len(les["centroid_mm"]) == 3
    # Centroids are LPS mm: every truth centre has a lesion within one voxel (4 mm).
    for t in LESIONS:
        assert (
            min(
                sum((a - b) ** 2 for a, b in zip(les["centroid_mm"], t.center, strict=True)) ** 0.5
                for les in doc["lesions"]
            )
            <= 4.0
        )
    assert doc["eligibility"]["eligible"] is False  # lesion k1 is below liver (T/L 0.75)
    failed = [r["id"] for r in doc["eligibility"]["rules"] if r["status"] == "fail"]
    assert failed == ["uptake_ge_liver"]
    assert json.loads((out / "reading.json").read_text())["lesions"] == doc["lesions"]
    assert (out / "lesions.nii.gz").exists()
    for f in [out / "mip.png", out / "lesions.png", *sorted((out / "slices").glob("*.png"))]:
        assert f.read_bytes()[:8] == PNG
    assert len(list((out / "slices").glob("lesion_*.png"))) == len(LESIONS)
    assert not list(out.rglob("*.tmp"))


def test_read_human_output_and_errors(study: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "read",
            str(study / "pet.nii.gz"),
            "--organs",
            str(study / "organs.nii.gz"),
            "--out",
            str(tmp_path / "o"),
            "--no-images",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Krenning" in res.stdout and "NOT ELIGIBLE" in res.stdout
    bad = runner.invoke(app, ["read", str(study / "ct.nii.gz"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "SUV" in bad.stderr
    seed = runner.invoke(
        app, ["read", str(study / "pet.nii.gz"), "--seed", "1,2", "--out", str(tmp_path / "y")]
    )
    assert seed.exit_code == 2 and "--seed" in seed.stderr


def test_images_written_atomically(patient: dict[str, Any], tmp_path: Path) -> None:
    r = read_sstr_pet(
        patient["suv"], organs=patient["organs"], organ_names=patient["names"], ct=patient["ct"]
    )
    paths = [
        write_mip(patient["suv"], tmp_path / "mip.png", r.lesions),
        write_lesion_table(r.lesions, tmp_path / "table.png"),
        *write_lesion_slices(
            patient["suv"],
            r.segmentation.labels,
            r.lesions,
            tmp_path / "slices",
            ct=r.ct_on_pet_grid,
        ),
        *write_lesion_slices(
            patient["suv"], r.segmentation.labels, r.lesions[:1], tmp_path / "pet_only"
        ),
    ]
    assert len(paths) == 2 + len(r.lesions) + 1
    for p in paths:
        assert p.read_bytes()[:8] == PNG
    assert sorted(f.name for f in tmp_path.rglob("*") if f.name.startswith(".")) == []
