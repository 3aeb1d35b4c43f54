"""``sstrkit preclinical quantify|biodist|correlate|dose`` against the library."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sstrkit.cli import preclinical
from sstrkit.core.volume import Volume
from sstrkit.io.nifti import write_nifti
from sstrkit.physics.nuclides import get_nuclide

runner = CliRunner()
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
GA68 = get_nuclide("Ga-68").half_life_s


def _error_doc(stdout: str) -> bool:
    """With --json an error prints exactly one JSON error document on stdout (exit 2)."""
    import json as _json

    return bool(_json.loads(stdout)["error"]["exit_code"] == 2)


def _app() -> typer.Typer:
    """The group registered on a root app, as main.py does."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """root"""

    preclinical.register(app)
    return app


APP = _app()


def _run(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(APP, ["preclinical", *args])
    return res.exit_code, res.stdout, res.stderr


def _pet(tmp: Path, name: str, hours: float, tumour: float, muscle: float) -> Path:
    # 8×8×8 mm³ at 1 mm: tumour in x < 4, muscle in x ≥ 4 (values are Bq/mL at the scan).
    a = np.full((8, 8, 8), muscle, dtype=np.float32)
    a[:, :, :4] = tumour
    vol = Volume.from_array(
        a,
        spacing=(1.0, 1.0, 1.0),
        unit="Bq/mL",
        quantity="activity_concentration",
        modality="PT",
        reference_time=T0 + dt.timedelta(hours=hours),
        name=name,
    )
    return write_nifti(
        vol,
        tmp / f"{name}.nii.gz",
        extra={"injection_time": T0.isoformat(), "injected_activity_bq": 5e6},
    )


def _labels(tmp: Path) -> Path:
    lab = np.full((8, 8, 8), 2, dtype=np.int16)
    lab[:, :, :4] = 1
    return write_nifti(Volume.from_array(lab, spacing=(1.0, 1.0, 1.0)), tmp / "labels.nii.gz")


def test_quantify_nifti_json_ratio_change_and_report(tmp_path: Path) -> None:
    early = _pet(tmp_path, "early", GA68 / 3600, tumour=4e4, muscle=1e4)  # one half-life
    late = _pet(tmp_path, "late", 2 * GA68 / 3600, tumour=3e4, muscle=5e3)
    report, tac = tmp_path / "q.html", tmp_path / "tac.csv"
    code, out, err = _run(
        "quantify",
        str(early),
        str(late),
        "--labels",
        str(_labels(tmp_path)),
        "--region",
        "tumour=1",
        "--nuclide",
        "Ga-68",
        "--tac-out",
        str(tac),
    )
    assert code == 0, err
    # serial images → organ curve → dose: tumour = 8×8×4 voxels of 1 mm³ = 0.256 mL → 0.256 g
    code, out, err = _run(
        "dose", "--tac", str(tac), "--nuclide", "Ga-68", "--body-mass-g", "25", "--json"
    )
    assert code == 0, err
    organ = json.loads(out)["animal"]["organs"][0]
    assert organ["organ"] == "tumour" and organ["mass_g"] == pytest.approx(0.256)
    code, out, err = _run(
        "quantify",
        str(early),
        str(late),
        "--labels",
        str(_labels(tmp_path)),
        "--region",
        "tumour=1",
        "--region",
        "muscle=2",
        "--nuclide",
        "Ga-68",
        "--ratio",
        "tumour/muscle",
        "--report",
        str(report),
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    tum = doc["images"][0]["regions"][0]
    # injection from the sidecar: 5 MBq; 4e4 Bq/mL × 2 / 5e6 × 100 = 1.6 %ID/mL
    assert tum["name"] == "tumour"
    assert tum["mean_pct_id_per_ml"] == pytest.approx(1.6, rel=1e-6)
    change = doc["ratio_changes"][0]
    assert (change["early_ratio"], change["late_ratio"]) == pytest.approx((4.0, 6.0), rel=1e-6)
    assert "Image quantification" in report.read_text(encoding="utf-8")
    # human table
    code, out, _ = _run("quantify", str(early), "--sphere", "s=2,2,2,1.5", "--nuclide", "Ga-68")
    assert code == 0 and "%ID/g" in out


def test_quantify_dicom_reads_the_injection_from_the_header(tmp_path: Path) -> None:
    from sstrkit.io.dicom_write import PatientInfo, Radiopharmaceutical, StudyInfo, write_pet_series

    vol = Volume.from_array(
        np.full((4, 6, 6), 2e4),
        spacing=(1.0, 1.0, 2.0),
        unit="Bq/mL",
        quantity="activity_concentration",
        modality="PT",
        reference_time=T0 + dt.timedelta(seconds=GA68),
    )
    write_pet_series(
        vol,
        tmp_path / "pet",
        patient=PatientInfo(weight_kg=0.025),
        study=StudyInfo(),
        radiopharmaceutical=Radiopharmaceutical("68Ga-DOTATATE", "Ga-68", 4e6, T0),
    )
    code, out, err = _run("quantify", str(tmp_path / "pet"), "--threshold", "all=0.5", "--json")
    assert code == 0, err
    r = json.loads(out)["images"][0]["regions"][0]
    assert r["mean_pct_id_per_ml"] == pytest.approx(100 * 2e4 * 2 / 4e6, rel=1e-3)


def test_quantify_missing_injection_time_exits_2(tmp_path: Path) -> None:
    vol = Volume.from_array(
        np.ones((2, 2, 2)), unit="Bq/mL", quantity="activity_concentration", reference_time=T0
    )
    path = write_nifti(vol, tmp_path / "x.nii.gz")
    code, out, err = _run(
        "quantify",
        str(path),
        "--sphere",
        "a=0,0,0,1",
        "--nuclide",
        "Ga-68",
        "--injected",
        "5 MBq",
        "--json",
    )
    assert code == 2 and _error_doc(out)
    assert "injection time" in err and "missing" in err


def _biodist_files(tmp: Path, with_standard: bool = True) -> tuple[Path, Path]:
    counts = tmp / "counts.csv"
    rows = [
        "tube,kind,animal,tissue,weight_g,counts,count_time_s,measured_at,id_fraction",
        "b,background,,,,0,60,2026-03-03T10:00+00:00,",
    ]
    if with_standard:
        rows.append("s,standard,,,,60000,60,2026-03-03T10:00+00:00,0.01")
    for i, (k, m) in enumerate(((10.0, 1.0), (12.0, 1.0), (4.0, 0.5))):  # m0, m1: 1 h; m2: 24 h
        # %ID/g × 0.1 g × 1e5 cps/ID / 100 × 60 s = counts
        rows.append(
            f"k{i},tissue,m{i},kidney,0.1,{k * 0.1 * 1000 * 60:.0f},60,2026-03-03T10:00+00:00,"
        )
        rows.append(
            f"t{i},tissue,m{i},tumour,0.1,{m * 0.1 * 1000 * 60:.0f},60,2026-03-03T10:00+00:00,"
        )
    counts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    animals = tmp / "animals.csv"
    animals.write_text(
        "animal,group,time_point_h,body_mass_g\nm0,A,1,25\nm1,A,1,25\nm2,A,24,25\n",
        encoding="utf-8",
    )
    return counts, animals


def test_biodist_json_csv_and_report(tmp_path: Path) -> None:
    counts, animals = _biodist_files(tmp_path)
    out_csv, report = tmp_path / "table.csv", tmp_path / "b.html"
    code, out, err = _run(
        "biodist",
        str(counts),
        "--animals",
        str(animals),
        "--nuclide",
        "In-111",
        "--ratio",
        "tumour/kidney",
        "--out-csv",
        str(out_csv),
        "--report",
        str(report),
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    kid1 = next(
        s for s in doc["summary_pct_id_per_g"] if s["tissue"] == "kidney" and s["time_point_h"] == 1
    )
    assert kid1["mean"] == pytest.approx(11.0, rel=1e-9) and kid1["n"] == 2
    assert doc["ratios"][0]["summary"][0]["mean"] == pytest.approx(0.0917, abs=1e-4)
    assert out_csv.read_text(encoding="utf-8").startswith("tube,animal,group")
    assert "biodistribution" in report.read_text(encoding="utf-8")


def test_biodist_missing_standards_exits_2(tmp_path: Path) -> None:
    counts, animals = _biodist_files(tmp_path, with_standard=False)
    code, out, err = _run(
        "biodist", str(counts), "--animals", str(animals), "--nuclide", "In-111", "--json"
    )
    assert code == 2 and _error_doc(out) and "standards" in err


def test_correlate_json_plot_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    dose = np.repeat([1e9, 1e10, 1e11], 4)
    uptake = 0.5 + 1.5 * np.log10(dose / 1e9) + rng.normal(0, 0.2, dose.size)
    data = tmp_path / "d.csv"
    data.write_text(
        "vg,uptake\n" + "".join(f"{a},{b}\n" for a, b in zip(dose, uptake, strict=True)),
        encoding="utf-8",
    )
    plot = tmp_path / "fit.png"
    code, out, err = _run(
        "correlate",
        str(data),
        "--x",
        "vg",
        "--y",
        "uptake",
        "--x-scale",
        "log10",
        "--plot",
        str(plot),
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    lo, hi = doc["regression"]["slope_ci"]
    assert lo <= 1.5 <= hi
    assert plot.read_bytes()[:4] == b"\x89PNG"
    bad = tmp_path / "bad.csv"
    bad.write_text("vg,uptake\n0,1\n1,2\n2,3\n3,5\n", encoding="utf-8")
    code, out, err = _run(
        "correlate", str(bad), "--x", "vg", "--y", "uptake", "--x-scale", "log10", "--json"
    )
    assert code == 2 and "log10" in err
    code, _, err = _run("correlate", str(data), "--x", "nope", "--y", "uptake", "--json")
    assert code == 2 and "nope" in err


def test_dose_from_tac_and_from_counts(tmp_path: Path) -> None:
    tac = tmp_path / "tac.csv"
    tac.write_text(
        "organ,time_h,pct_id_per_g,mass_g\nkidneys,1,10,0.4\nkidneys,24,6,0.4\n"
        "kidneys,72,3,0.4\nliver,1,3,\nliver,24,2,\nliver,72,1,\n",
        encoding="utf-8",
    )
    report = tmp_path / "d.html"
    code, out, err = _run(
        "dose",
        "--tac",
        str(tac),
        "--nuclide",
        "Lu-177",
        "--species",
        "mouse",
        "--body-mass-g",
        "25",
        "--human",
        "--report",
        str(report),
        "--json",
    )
    assert code == 0, err
    doc = json.loads(out)
    organs = {o["organ"]: o for o in doc["animal"]["organs"]}
    assert organs["kidneys"]["mass_g"] == 0.4
    assert organs["liver"]["mass_g"] == pytest.approx(0.055 * 25)  # Brown 1997, 5.5 %
    assert 0.9 < organs["kidneys"]["electron_absorbed_fraction"] < 1.0
    assert doc["human"]["organs"][0]["mass_g"] == 310.0
    assert "Dosimetry" in report.read_text(encoding="utf-8")
    counts, animals = _biodist_files(tmp_path)
    code, out, err = _run(
        "dose",
        "--counts",
        str(counts),
        "--animals",
        str(animals),
        "--counted-nuclide",
        "In-111",
        "--nuclide",
        "Lu-177",
        "--species",
        "mouse",
        "--organ",
        "kidney",
        "--json",
    )
    assert code == 0, err
    kid = json.loads(out)["animal"]["organs"][0]
    assert kid["mass_g"] == pytest.approx(0.017 * 25)
    code, out, err = _run("dose", "--tac", str(tac), "--nuclide", "Lu-177", "--json")
    assert code == 2 and "mass of 'liver'" in err


def test_dose_human_sex_option(tmp_path: Path) -> None:
    """--sex takes male/female (as before) or M/F; the JSON keeps the word of ICRP 89."""
    tac = tmp_path / "tac.csv"
    tac.write_text("organ,time_h,pct_id_per_g,mass_g\nkidneys,1,10,0.4\nkidneys,24,6,0.4\n")
    base = ("dose", "--tac", str(tac), "--nuclide", "Lu-177", "--body-mass-g", "25", "--human")
    docs = {}
    for sex in ("female", "F"):
        code, out, err = _run(*base, "--sex", sex, "--json")
        assert code == 0, err
        docs[sex] = json.loads(out)
    assert docs["F"] == docs["female"]
    # ICRP 89 adult female kidneys 275 g
    assert docs["F"]["human"]["organs"][0]["mass_g"] == 275.0
    assert docs["F"]["human"]["provenance"][-1]["parameters"]["sex"] == "female"
    code, out, err = _run(*base, "--sex", "x", "--json")
    assert code == 2 and _error_doc(out) and json.loads(out)["error"]["what"] == "--sex"
