"""plan_sirt end to end on numbers, then on a study folder written by the test, then the CLI.

References: the partition model, BSA method and limits as in test_planning_methods.py
(Ho et al. 1996; SIR-Spheres / TheraSphere instructions for use; Kennedy et al. 2007;
Weber et al. EANM 2022); the ICRP 89 reference lungs (woman 950 g, man 1200 g); the
study folder holds known activities (SPECT Bq/mL put in by the test, no blur), so the
SPECT/CT LSF and T/N are exact and masses are volume × the CT density (HU → g/mL by
sstrkit's default calibration: 50 HU → 1.05, −800 HU → 0.20096 g/mL).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from sstrkit.cli import sirt_plan
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    StudyInfo,
    write_ct_series,
    write_nm_series,
)
from sstrkit.io.nifti import write_nifti
from sstrkit.io.planar import PlanarWholeBody
from sstrkit.io.planar_write import write_planar_wholebody
from sstrkit.pipeline.sirt_inputs import load_maa_inputs
from sstrkit.sirt.physics import Y90_ENERGY_J_PER_GBQ
from sstrkit.sirt.plan_inputs import MaaFindings, PriorSirt, measure_maa
from sstrkit.sirt.plan_shunt import lung_shunt_planar_counts
from sstrkit.sirt.plan_uptake import TumourToNormal
from sstrkit.sirt.planning import default_lung_mass_g, plan_sirt

E = Y90_ENERGY_J_PER_GBQ
REL = 1e-9


def _lsf(fraction: float):  # type: ignore[no-untyped-def]
    """A planar LSF of exactly ``fraction`` (ANT = POST counts)."""
    return lung_shunt_planar_counts(
        lung_anterior=fraction * 1e6,
        lung_posterior=fraction * 1e6,
        liver_anterior=(1 - fraction) * 1e6,
        liver_posterior=(1 - fraction) * 1e6,
    )


def _tn(ratio: float) -> TumourToNormal:
    return TumourToNormal(ratio, ratio * 100.0, 100.0, "Bq/mL", 200.0, 1500.0, ())


def _findings(**kw: object) -> MaaFindings:
    base: dict[str, object] = {
        "lsf_planar": _lsf(0.06),
        "tumour_to_normal": _tn(4.0),
        "liver_volume_ml": 1700.0,
        "tumour_volume_ml": 200.0,
        "liver_mass_g": 1785.0,
        "tumour_mass_g": 210.0,
        "normal_liver_mass_g": 1575.0,
        "lung_mass_g": 850.0,
        "bsa_m2": 1.9,
        "sex": "F",
    }
    base.update(kw)
    return MaaFindings(**base)  # type: ignore[arg-type]


def test_partition_plan_resin_defaults() -> None:
    p = plan_sirt(_findings(), device="resin")
    # by hand: D_N 40 Gy (EANM 2022 resin limit) → A = 40 (4·0.21 + 1.575)/(E·0.94)
    a = 40.0 * (4.0 * 0.210 + 1.575) / (E * 0.94) * 1e9
    assert p.method == "partition" and p.limiting == "normal_liver_prescription"
    assert p.activity_bq == pytest.approx(a, rel=REL)
    assert p.doses.normal_liver_gy == pytest.approx(40.0, rel=REL)
    assert p.doses.tumour_gy == pytest.approx(160.0, rel=REL)
    assert p.doses.lung_gy == pytest.approx(E * a / 1e9 * 0.06 / 0.850, rel=REL)
    assert p.lung_mass_source == "ct" and p.treatable and p.limits_ok
    checks = {c.name: c for c in p.checks}
    assert checks["normal_liver"].status == "amber"  # at the limit
    assert checks["tumour"].status == "met"  # 160 Gy ≥ 100 Gy
    doc = p.to_dict()
    json.dumps(doc, allow_nan=False)  # the JSON document is valid
    assert doc["activity_bq"] == p.activity_bq and doc["method_result"]["method"] == "partition"


def test_plan_picks_the_larger_lsf_and_refuses_without_one() -> None:
    from sstrkit.sirt.plan_shunt import LungShunt

    spect = LungShunt(0.04, "spect_ct", 4.0, 96.0, "Bq")
    p = plan_sirt(_findings(lsf_planar=_lsf(0.07), lsf_spect=spect), device="resin")
    assert (p.lung_shunt_fraction, p.lsf_source) == (pytest.approx(0.07), "planar")
    assert any("differ by more than 2" in f for f in p.flags)
    p2 = plan_sirt(
        _findings(lsf_planar=_lsf(0.07), lsf_spect=spect), device="resin", lsf_source="spect"
    )
    assert p2.lsf_source == "spect" and p2.lung_shunt_fraction == 0.04
    with pytest.raises(InvalidInputError, match="never taken as 0"):
        plan_sirt(_findings(lsf_planar=None), device="resin")
    with pytest.raises(InvalidInputError, match="device"):
        plan_sirt(_findings(), device=None)


def test_missing_lung_mass_takes_a_flagged_conservative_default() -> None:
    assert default_lung_mass_g("M") == 1000.0  # min(1000, ICRP 89 man 1200)
    assert default_lung_mass_g("F") == 950.0  # ICRP 89 woman
    assert default_lung_mass_g(None) == 950.0  # unknown sex: the smaller
    p = plan_sirt(_findings(lung_mass_g=None, sex=None), device="resin")
    assert p.lung_mass_g == 950.0 and p.lung_mass_source == "default"
    assert any("lung mass unknown" in f for f in p.flags)
    assert plan_sirt(_findings(), device="resin", lung_mass_g=700.0).lung_mass_source == "given"


def test_bsa_plan_capped_by_the_lung_limit() -> None:
    # LSF 14 % (× 0.8), BSA 2.2: A = (2.2 − 0.2 + 0.2/1.7·... ) — lungs of 300 g make the
    # 30 Gy limit bind: A_max = 30 · 0.3 / (E · 0.14)
    f = _findings(
        lsf_planar=_lsf(0.14),
        lung_mass_g=300.0,
        bsa_m2=2.2,
        tumour_to_normal=None,
        normal_liver_mass_g=None,
    )
    p = plan_sirt(f, device="resin", method="bsa")
    bsa_a = (2.2 - 0.2 + 200.0 / 1700.0) * 0.8 * 1e9
    cap = 30.0 * 0.300 / (E * 0.14) * 1e9
    assert cap < bsa_a
    assert p.method_activity_bq == pytest.approx(bsa_a, rel=REL)
    assert p.activity_bq == pytest.approx(cap, rel=REL)
    assert p.limiting == "lung_per_treatment"
    assert p.doses.lung_gy == pytest.approx(30.0, rel=REL)
    assert any("activity lowered" in f for f in p.flags)


def test_bsa_plan_not_treatable_above_20_percent() -> None:
    p = plan_sirt(_findings(lsf_planar=_lsf(0.21)), device="resin", method="bsa")
    assert not p.treatable and p.activity_bq == 0.0 and p.limiting == "not_treatable"


def test_bsa_plan_capped_by_the_normal_liver_limit_when_tn_is_known() -> None:
    # small liver, big BSA: the BSA activity would give the normal liver > 40 Gy
    f = _findings(
        liver_volume_ml=900.0,
        tumour_volume_ml=100.0,
        liver_mass_g=945.0,
        tumour_mass_g=105.0,
        normal_liver_mass_g=840.0,
        bsa_m2=2.3,
    )
    p = plan_sirt(f, device="resin", method="bsa")
    cap = 40.0 * (4.0 * 0.105 + 0.840) / (E * 0.94) * 1e9
    assert p.activity_bq == pytest.approx(cap, rel=REL)
    assert p.activity_bq < p.method_activity_bq
    assert p.limiting == "normal_liver_limit"
    assert p.doses.normal_liver_gy == pytest.approx(40.0, rel=REL)


def test_glass_single_compartment_and_resin_needs_a_dose() -> None:
    f = _findings(tumour_to_normal=None, normal_liver_mass_g=None)
    p = plan_sirt(f, device="glass")
    assert p.method == "single_compartment"
    assert p.method_activity_bq == pytest.approx(120.0 * 1.785 / (E * 0.94) * 1e9, rel=REL)
    assert p.doses.perfused_liver_gy == pytest.approx(120.0, rel=REL)
    with pytest.raises(InvalidInputError, match="perfused-dose-gy"):
        plan_sirt(f, device="resin", method="single-compartment")
    with pytest.raises(InvalidInputError, match="resin"):
        plan_sirt(f, device="glass", method="bsa")


def test_prior_treatment_counts_against_the_cumulative_limit() -> None:
    # an earlier 3 GBq with LSF 0.25 in 850 g lungs: 3·E·0.25/0.85 ≈ 43.9 Gy already given
    prior = 3.0 * E * 0.25 / 0.850
    f = _findings(lsf_planar=_lsf(0.12), prior_sirt=(PriorSirt(3e9, 0.25, "2025-01-01"),))
    p = plan_sirt(f, device="resin")
    assert p.prior_lung_dose_gy == pytest.approx(prior, rel=REL)
    left = 50.0 - prior
    assert p.limiting == "lung_cumulative"
    assert p.activity_bq == pytest.approx(left * 0.850 / (E * 0.12) * 1e9, rel=REL)
    lung_cum = next(c for c in p.checks if c.name == "lung_cumulative")
    assert lung_cum.value_gy == pytest.approx(50.0, rel=REL)


def test_prescription_above_the_limit_is_capped() -> None:
    p = plan_sirt(_findings(), device="resin", normal_liver_dose_gy=60.0)
    assert p.doses.normal_liver_gy == pytest.approx(40.0, rel=REL)
    assert any("capped at the limit" in f for f in p.flags)
    p30 = plan_sirt(_findings(), device="resin", pretreated_liver=True)
    assert p30.doses.normal_liver_gy == pytest.approx(30.0, rel=REL)


# ---------------------------------------------------------------- a study folder
UTC = dt.UTC
INJ = dt.datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
FOR = "1.2.826.0.1.3680043.10.99.1"


def _study(root: Path, *, lesion_labels: bool = True) -> dict[str, float]:
    """MAA planar + SPECT/CT + 'maa' label map; returns the true LSF, T/N and masses."""
    shape, sp = (40, 30, 30), 5.0
    lungs = np.zeros(shape, bool)
    lungs[2:20, 5:25, 3:13] = True
    lungs[2:20, 5:25, 17:27] = True
    liver = np.zeros(shape, bool)
    liver[20:32, 5:25, 3:27] = True
    tumour = np.zeros(shape, bool)
    tumour[24:28, 10:14, 8:12] = True  # 64 voxels, 8 mL
    act = np.zeros(shape)
    act[lungs], act[liver], act[tumour] = 200.0, 5000.0, 25000.0
    t_scan = INJ + dt.timedelta(hours=1)
    geo = {"spacing": (sp, sp, sp), "origin": (-75.0, -75.0, -100.0), "frame_of_reference_uid": FOR}
    spect = Volume.from_array(
        act.astype(np.float32),
        modality="NM",
        unit="Bq/mL",
        quantity="activity_concentration",
        reference_time=t_scan,
        **geo,
    )  # type: ignore[arg-type]
    hu = np.full(shape, -1000.0)
    hu[2:34, 2:28, 1:29] = 0.0
    hu[lungs], hu[liver] = -800.0, 50.0
    ct = Volume.from_array(
        hu.astype(np.float32),
        modality="CT",
        unit="HU",
        quantity="ct_number",
        reference_time=t_scan,
        **geo,
    )  # type: ignore[arg-type]
    patient = PatientInfo(patient_id="SIRT01", sex="F", weight_kg=70.0, height_cm=170.0)
    study = StudyInfo(study_uid="1.2.826.0.1.3680043.10.99.2")
    rp = Radiopharmaceutical("99mTc-MAA", "Tc-99m", 150e6, INJ)
    (root / "dicom").mkdir(parents=True)
    write_nm_series(
        spect,
        root / "dicom" / "spect.dcm",
        patient=patient,
        study=study,
        radiopharmaceutical=rp,
        series_uid="1.2.3.1",
        acquisition_duration_s=900.0,
    )
    write_ct_series(
        ct,
        root / "dicom" / "ct",
        patient=patient,
        study=study,
        acquisition_time=t_scan,
        series_uid="1.2.3.2",
    )
    views = np.zeros((64, 48), np.float32)
    views[5:25, 8:20], views[5:25, 28:40] = 10.0, 10.0  # lungs
    views[30:45, 10:38] = 400.0  # liver
    planar = PlanarWholeBody(
        views,
        views[:, ::-1].copy(),
        (4.0, 4.0),
        600.0,
        None,
        None,
        "Tc-99m",
        "99mTc-MAA",
        150e6,
        INJ,
        t_scan,
        series_uid="1.2.3.3",
    )
    write_planar_wholebody(planar, root / "dicom" / "planar.dcm", study_uid=study.study_uid)
    labels = np.zeros(shape, np.int16)
    labels[liver], labels[lungs] = 1, 2
    if lesion_labels:
        labels[tumour] = 101
    write_nifti(
        Volume.from_array(labels, unit="1", quantity="label", **geo),  # type: ignore[arg-type]
        root / "labels" / "maa.nii.gz",
    )
    names = {"1": "liver_normal", "2": "lungs", "101": "lesion_1"}
    (root / "labels" / "names.json").write_text(json.dumps(names))
    common = {
        "tracer": "99mTc-MAA",
        "nuclide": "Tc-99m",
        "injection_time": INJ.isoformat(),
        "injected_activity_bq": 150e6,
        "time": t_scan.isoformat(),
        "hours_post_injection": 1.0,
        "frame_of_reference_uid": FOR,
    }
    manifest = {
        "format": "sstrkit-study",
        "series": {
            "maa_planar": [{"path": "dicom/planar.dcm", "series_uid": "1.2.3.3", **common}],
            "maa_spect": [{"path": "dicom/spect.dcm", "series_uid": "1.2.3.1", **common}],
            "maa_spect_ct": [
                {"path": "dicom/ct", "series_uid": "1.2.3.2", "frame_of_reference_uid": FOR}
            ],
        },
        "segmentation": {
            "labels_nifti": {"maa": "labels/maa.nii.gz"},
            "label_names": "labels/names.json",
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    clinical = {
        "patient": {"sex": "F", "weight_kg": 70.0, "height_cm": 170.0},
        "sirt": [
            {
                "time": (INJ + dt.timedelta(days=10)).isoformat(),
                "device": "resin",
                "activity_bq": 1.5e9,
            }
        ],
    }
    (root / "clinical.json").write_text(json.dumps(clinical))
    vml = 0.125
    a_lung, a_liver = 200.0 * lungs.sum() * vml, float(act[liver].sum()) * vml
    normal = liver & ~tumour
    return {
        "lsf_spect": a_lung / (a_lung + a_liver),
        "lsf_planar": (10.0 * 480) / (10.0 * 480 + 400.0 * 420),
        "tn": 25000.0 / 5000.0,
        # sstrkit's HU → density line from (−1000 HU, 0.0012) to (0 HU, 1.0 g/mL)
        "lung_mass_g": float(lungs.sum()) * vml * (0.0012 + 0.2 * (1.0 - 0.0012)),
        "tumour_mass_g": float(tumour.sum()) * vml * 1.05,
        "normal_liver_mass_g": float(normal.sum()) * vml * 1.05,
    }


def test_load_and_measure_a_study_folder(tmp_path: Path) -> None:
    truth = _study(tmp_path / "study")
    inputs = load_maa_inputs(tmp_path / "study")
    assert inputs.device == "resin" and inputs.sex == "female"
    assert inputs.bsa_m2 == pytest.approx(0.007184 * 70**0.425 * 170**0.725, rel=1e-9)
    f = measure_maa(inputs)
    assert f.lsf_spect is not None and f.lsf_planar is not None and f.tumour_to_normal
    # the SPECT is stored in 16 bits with one slope (25000/32767 Bq/mL per unit): the lungs'
    # 200 Bq/mL are quantised to within 0.2 %
    assert f.lsf_spect.fraction == pytest.approx(truth["lsf_spect"], rel=2e-3)
    assert f.tumour_to_normal.ratio == pytest.approx(truth["tn"], rel=2e-3)
    assert f.lsf_planar.fraction == pytest.approx(truth["lsf_planar"], abs=0.005)
    # CT: −800 HU → 0.20096 g/mL, 50 HU → 1.05 g/mL (integer HU stored exactly)
    assert f.lung_mass_g == pytest.approx(truth["lung_mass_g"], rel=1e-9)
    assert f.tumour_mass_g == pytest.approx(truth["tumour_mass_g"], rel=1e-6)
    assert f.normal_liver_mass_g == pytest.approx(truth["normal_liver_mass_g"], rel=1e-6)
    p = plan_sirt(f)
    # auto: the larger of the two (here the SPECT/CT one)
    assert p.device == "resin" and p.method == "partition" and p.lsf_source == "spect"


def test_automatic_tumours_when_the_label_map_has_none(tmp_path: Path) -> None:
    _study(tmp_path / "study", lesion_labels=False)
    f = measure_maa(load_maa_inputs(tmp_path / "study"))
    assert f.tumour_to_normal is not None
    assert f.tumour_to_normal.ratio == pytest.approx(5.0, rel=2e-3)  # 16-bit storage
    assert any("automatically" in x for x in f.flags)


def _app() -> typer.Typer:
    app = typer.Typer()
    sirt = typer.Typer()
    sirt_plan.register(sirt)

    @sirt.callback()
    def _group() -> None:
        """SIRT."""

    app.add_typer(sirt, name="sirt")
    return app


def test_cli_plan_json_and_out(tmp_path: Path) -> None:
    _study(tmp_path / "study")
    runner = CliRunner()
    res = runner.invoke(
        _app(),
        [
            "sirt",
            "plan",
            str(tmp_path / "study"),
            "--json",
            "--lsf-source",
            "spect",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert "activity_bq" not in doc and doc["activity_gbq"] > 0
    assert doc["method_result"]["activity_gbq"] == pytest.approx(doc["method_activity_gbq"])
    assert doc["lsf_source"] == "spect" and doc["device"] == "resin"
    saved = json.loads((tmp_path / "out" / "sirt_plan.json").read_text())
    assert saved["activity_gbq"] == doc["activity_gbq"]
    bad = runner.invoke(_app(), ["sirt", "plan", str(tmp_path / "study"), "--device", "ceramic"])
    assert bad.exit_code == 2
    missing = runner.invoke(_app(), ["sirt", "plan", str(tmp_path / "nope"), "--json"])
    assert missing.exit_code == 2 and json.loads(missing.stdout)["error"]["exit_code"] == 2


def test_partition_needs_tn_when_there_is_tumour() -> None:
    with pytest.raises(InvalidInputError, match="tumour-to-normal"):
        plan_sirt(_findings(tumour_to_normal=None), device="resin", method="partition")
    # no tumour at all: the partition model is the normal liver alone (r irrelevant)
    p = plan_sirt(_findings(tumour_to_normal=None, tumour_mass_g=0.0), device="resin")
    assert p.method == "partition" and p.doses.tumour_gy is None
    a = 40.0 * 1.575 / (E * 0.94) * 1e9
    assert p.activity_bq == pytest.approx(a, rel=REL)


def test_cli_spect_fwhm_and_tn_source(tmp_path: Path) -> None:
    """The MAA SPECT resolution: --spect-fwhm-mm wins; without it (no manifest fwhm_mm) the
    DICOM-header estimate, flagged spect_resolution_estimated; --tn-source pvc plans with
    the corrected T/N. This SPECT is not blurred (T/N exactly 5), so any GTM correction
    raises T/N above the measured 5 and the pvc activity above the default one."""
    _study(tmp_path / "study")
    runner = CliRunner()
    base = ["sirt", "plan", str(tmp_path / "study"), "--json"]
    est = runner.invoke(_app(), base)
    assert est.exit_code == 0, est.output
    doc = json.loads(est.stdout)
    tn = doc["tn_comparison"]
    assert doc["tn_source"] == "measured" and tn["measured"] == pytest.approx(5.0, rel=2e-3)
    assert tn["pvc_fwhm_source"].startswith("estimated from the DICOM header")
    assert any(f.startswith("spect_resolution_estimated (MAA SPECT)") for f in doc["flags"])
    given = runner.invoke(_app(), [*base, "--spect-fwhm-mm", "11", "--tn-source", "pvc"])
    assert given.exit_code == 0, given.output
    pvc = json.loads(given.stdout)
    assert pvc["tn_comparison"]["pvc_fwhm_mm"] == 11.0
    assert pvc["tn_comparison"]["pvc_fwhm_source"] == "--spect-fwhm-mm"
    assert pvc["tn_source"] == "pvc" and pvc["tumour_to_normal"] > 5.0
    assert pvc["activity_gbq"] > doc["activity_gbq"]
    assert any("tn_source pvc" in f for f in pvc["flags"])
    bad = runner.invoke(_app(), [*base, "--tn-source", "truth"])
    assert bad.exit_code == 2
