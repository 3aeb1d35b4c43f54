"""Post-implant 90Y dosimetry of a study folder (sstrkit.pipeline.sirt_y90_inputs) and the CLI.

A small study is written like a PACS export (90Y PET in Bq/mL with DecayCorrection START,
its CT, one frame of reference), with the manifest roles ``y90_pet``/``y90_pet_ct``, the
clinical ``sirt`` record and ``truth/sirt.json`` (label map and true doses) of the issue-23
contract. Reference values are hand calculations: D = E·A₀/m (LDM), E = 49.76 J/GBq
(ICRP 107 90Y: Ē_β 0.932905 MeV, T½ 64.10 h), A₀ = A(scan)·e^(λt), ρ(58 HU) = 1.058 g/mL.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_pet_series,
)
from sstrkit.io.nifti import write_nifti
from sstrkit.pipeline.sirt_y90_inputs import (
    load_y90_inputs,
    read_prrt_liver_cycles,
    study_y90_dosimetry,
)
from sstrkit.pipeline.study import Study

H = 3600.0
IMPLANT = dt.datetime(2026, 3, 2, 11, 0, tzinfo=dt.UTC)
SCAN = IMPLANT + dt.timedelta(hours=20)
LAMBDA = math.log(2.0) / (64.10 * H)
E_J_PER_BQ = 0.932905 * 64.10 * H / math.log(2.0) * 1.602176634e-13  # ICRP 107 (≈49.76 J/GBq)
FOR = "1.2.826.0.1.3680043.8.498.90001"
N, SP = 24, 4.0


@pytest.fixture(scope="module", autouse=True)
def _kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("sstrkit-cache")
    old = os.environ.get("SSTRKIT_CACHE")
    os.environ["SSTRKIT_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SSTRKIT_CACHE", None)
    else:
        os.environ["SSTRKIT_CACHE"] = old


def _labels() -> np.ndarray:
    lab = np.zeros((N, N, N), np.int32)
    lab[4:20, 4:20, 4:16] = 1  # liver_normal (lesion cut out below)
    lab[10:14, 10:14, 6:10] = 101  # lesion_1
    lab[4:20, 4:20, 18:22] = 2  # lungs
    return lab


def _write_study(
    root: Path,
    *,
    nuclide: str = "Y-90",
    with_ct: bool = True,
    clinical_activity: float | None = None,
) -> dict[str, Any]:
    lab = _labels()
    conc = np.where(lab == 1, 5e4, 0.0) + np.where(lab == 101, 2e5, 0.0)
    conc += np.where(lab == 2, 1e3, 0.0)
    hu = np.where(lab == 2, -750.0, np.where(lab > 0, 58.0, -1000.0))
    geo = {"spacing": (SP,) * 3, "frame_of_reference_uid": FOR}
    pet = Volume.from_array(
        conc.astype(np.float32), unit="Bq/mL", modality="PT", reference_time=SCAN, **geo
    )
    ct = Volume.from_array(hu.astype(np.float32), unit="HU", modality="CT", **geo)
    total_scan = float(conc.sum()) * SP**3 / 1000.0
    implanted = total_scan * math.exp(LAMBDA * 20 * H)
    patient, study = PatientInfo(name="Y90^Test", patient_id="Y90"), StudyInfo()
    pet_uid, ct_uid = "1.2.826.0.1.3680043.8.498.91", "1.2.826.0.1.3680043.8.498.92"
    rp = Radiopharmaceutical("90Y resin microspheres", nuclide, implanted, IMPLANT)
    write_pet_series(
        pet, root / "dicom" / "pet", patient=patient, study=study, radiopharmaceutical=rp,
        series_uid=pet_uid,
    )  # fmt: skip
    write_ct_series(
        ct, root / "dicom" / "ct", patient=patient, study=study, acquisition_time=SCAN,
        series_uid=ct_uid,
    )  # fmt: skip
    entry = {
        "path": "dicom/pet",
        "series_uid": pet_uid,
        "frame_of_reference_uid": FOR,
        "nuclide": "Y-90",
        "injection_time": IMPLANT.isoformat(),
        "injected_activity_bq": implanted,
        "time": SCAN.isoformat(),
        "hours_post_injection": 20.0,
        "fwhm_mm": 8.0,
    }
    ct_entry = {"path": "dicom/ct", "series_uid": ct_uid, "frame_of_reference_uid": FOR}
    series: dict[str, Any] = {"y90_pet": [entry], "y90_pet_ct": [ct_entry] if with_ct else []}
    (root / "manifest.json").write_text(json.dumps({"series": series}), encoding="utf-8")
    act = implanted if clinical_activity is None else clinical_activity
    clinical = {"sirt": [{"time": IMPLANT.isoformat(), "device": "resin", "activity_bq": act}]}
    (root / "clinical.json").write_text(json.dumps(clinical), encoding="utf-8")
    (root / "truth").mkdir(exist_ok=True)
    write_nifti(Volume.from_array(lab, unit="1", **geo), root / "truth" / "sirt_y90_labels.nii.gz")
    truth = {
        "y90": {"tumour_mean_dose_gy": 123.0, "normal_liver_mean_dose_gy": 30.0},
        "labels": {
            "y90": "truth/sirt_y90_labels.nii.gz",
            "names": {"1": "liver_normal", "2": "lungs", "100+id": "lesion_<id>"},
        },
    }
    (root / "truth" / "sirt.json").write_text(json.dumps(truth), encoding="utf-8")
    return {"implanted": implanted, "conc": conc}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("y90-study")
    _write_study(root)
    return root


def test_load_y90_inputs(study_dir: Path) -> None:
    inp = load_y90_inputs(Study.load(study_dir))
    assert inp.scan.kind == "pet" and inp.scan.nuclide == "Y-90"  # from the DICOM code
    assert inp.scan.decay_reference == "START"
    assert inp.scan.implant_time == IMPLANT and inp.scan.fwhm_mm == 8.0
    assert inp.sirt is not None and inp.sirt.device == "resin"
    assert inp.vois.source.startswith("digital-patient truth contours")
    assert inp.vois.names[101] == "lesion_1"  # the truth's "100+id" naming
    assert inp.truth_gy == {"tumour": 123.0, "normal_liver": 30.0}


def test_study_dosimetry_hand_calculation(study_dir: Path) -> None:
    res = study_y90_dosimetry(study_dir, method="ldm")
    # tumour: A0 = 2e5 Bq/mL · e^(λ·20 h), ρ = 1.058 g/mL; PET pixels are int16 with a
    # per-slice slope (quantisation ≤ max/65534 ≈ 2e-5 relative)
    a0 = 2e5 * math.exp(LAMBDA * 20 * H)
    assert res.mean_gy("tumour") == pytest.approx(E_J_PER_BQ * a0 / 1.058e-3, rel=1e-4)
    assert res.mean_gy("normal_liver") == pytest.approx(
        E_J_PER_BQ * 5e4 * math.exp(LAMBDA * 20 * H) / 1.058e-3, rel=1e-4
    )
    assert res.fov_ratio == pytest.approx(1.0, rel=1e-4)
    tum = res.region("tumour")
    assert tum is not None and tum.truth_mean_gy == 123.0
    assert res.to_dict()["inputs"]["y90_series"] == "1.2.826.0.1.3680043.8.498.91"


def test_segmentation_key_y90_wins(tmp_path: Path) -> None:
    _write_study(tmp_path)
    lab = _labels()
    lab[lab == 101] = 7  # a site's own numbering
    geo = {"spacing": (SP,) * 3, "frame_of_reference_uid": FOR}
    write_nifti(Volume.from_array(lab, unit="1", **geo), tmp_path / "y90_labels.nii.gz")
    names = {"1": "liver", "2": "lung_left", "7": "tumour_A"}
    (tmp_path / "names.json").write_text(json.dumps(names), encoding="utf-8")
    man = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    man["segmentation"] = {
        "labels_nifti": {"y90": "y90_labels.nii.gz"},
        "label_names": "names.json",
    }
    (tmp_path / "manifest.json").write_text(json.dumps(man), encoding="utf-8")
    inp = load_y90_inputs(Study.load(tmp_path))
    assert inp.vois.source.startswith("study segmentation")
    res = study_y90_dosimetry(tmp_path, method="ldm")
    assert res.region("tumour_A") is not None and res.region("tumour") is not None


def test_activity_from_the_clinical_record_is_flagged(tmp_path: Path) -> None:
    info = _write_study(tmp_path, clinical_activity=None)
    man_act = info["implanted"]
    clin = {
        "sirt": [{"time": IMPLANT.isoformat(), "device": "glass", "activity_bq": 1.2 * man_act}]
    }
    (tmp_path / "clinical.json").write_text(json.dumps(clin), encoding="utf-8")
    res = study_y90_dosimetry(tmp_path, method="ldm")
    assert res.implanted_activity_bq == pytest.approx(1.2 * man_act)
    assert any("clinical record" in f for f in res.flags)


def test_errors_wrong_nuclide_and_missing_ct(tmp_path: Path) -> None:
    lu = tmp_path / "lu"
    lu.mkdir()
    _write_study(lu, nuclide="Lu-177")  # the DICOM header names Lu-177
    with pytest.raises(InvalidInputError, match="Y-90"):
        load_y90_inputs(Study.load(lu))
    noct = tmp_path / "noct"
    noct.mkdir()
    _write_study(noct, with_ct=False)
    with pytest.raises(InvalidInputError, match="CT of the 90Y scan"):
        study_y90_dosimetry(noct, method="ldm")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"series": {}}), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="post-implant 90Y"):
        load_y90_inputs(Study.load(empty))


def _prrt_results(path: Path) -> Path:
    rows = [
        {
            "cycle": k,
            "nuclide": "Lu-177",
            "regions": [{"name": "liver", "dose_gy": 0.8, "t_eff_h": 60.0}],
        }
        for k in (1, 2)
    ]
    doc = {"stages": {"dosimetry": {"organ_level": {"cycles": rows}}}}
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_read_prrt_liver_cycles(tmp_path: Path) -> None:
    run = _prrt_results(tmp_path / "run")
    assert [c.cycle for c in read_prrt_liver_cycles(run)] == [1, 2]
    assert len(read_prrt_liver_cycles(run / "results.json")) == 2
    with pytest.raises(InvalidInputError, match="--prrt-results"):
        read_prrt_liver_cycles(tmp_path / "nothing")


def test_cli_sirt_dose(study_dir: Path, tmp_path: Path) -> None:
    from sstrkit.cli.main import app

    out = tmp_path / "out"
    run = _prrt_results(tmp_path / "run")
    args = ["sirt", "dose", str(study_dir), "--method", "ldm", "--json", "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--prrt-results", str(run), "--maa-tumour-gy", "200"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    regions = {r["name"]: r for r in doc["dosimetry"]["regions"]}
    assert regions["tumour"]["predicted_gy"] == 200.0
    assert doc["dosimetry"]["maa_comparison"][0]["region"] == "tumour"
    bed = doc["liver_bed"]
    # SIRT BED of the normal liver + 2 × 0.8·(1 + 0.04·0.8/2.5) (G = 2.5/(2.5 + 60))
    assert bed["prrt_bed_gy"] == pytest.approx(2 * 0.8 * (1 + 0.04 * 0.8 / 2.5))
    assert bed["total_bed_gy"] == pytest.approx(bed["sirt_bed_gy"] + bed["prrt_bed_gy"])
    assert bed["status"] in ("ok", "caution", "exceeded")
    assert (out / "dose_ldm.nii.gz").is_file() and (out / "dose_ldm_rtdose.dcm").is_file()
    assert json.loads((out / "sirt_dose.json").read_text(encoding="utf-8"))["dosimetry"]
    bad = CliRunner().invoke(app, ["sirt", "dose", str(study_dir), "--method", "mc", "--json"])
    assert bad.exit_code == 2 and "--method" in bad.stdout


def test_sirt_group_has_plan_and_dose() -> None:
    from sstrkit.cli.main import app as root

    groups = {g.name: g.typer_instance for g in root.registered_groups}
    sirt = groups["sirt"]
    assert sirt is not None
    assert {c.name for c in sirt.registered_commands} == {"plan", "dose"}
