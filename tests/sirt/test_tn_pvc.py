"""Partial-volume-corrected T/N on the 99mTc-MAA SPECT (sstrkit.sirt.plan_tn_pvc) and plans on it.

Reference values, none computed by the code under test:

* **Gaussian-blurred sphere** (analytic): a uniform sphere of radius R and concentration T
  in a uniform liver block (concentration N, faces on voxel boundaries), blurred by an
  isotropic Gaussian of standard deviation s. The blurred block is the product of three
  1-D erf differences; the blurred sphere at distance r from its centre is
  ½[erf((R−r)/(√2 s)) + erf((R+r)/(√2 s))] − s/(r√(2π)) [e^(−(R−r)²/2s²) − e^(−(R+r)²/2s²)]
  (the convolution of the ball's indicator with the Gaussian, integrated over spherical
  shells). The true T/N is T/N by construction.
* **Digital patient**, seed 5 (``sstrkit phantom make --sirt --cycles 1 --voxel-mm 4 --seed
  5``, ``StudyConfig(seed=5, cycles=1, voxel_mm=4.0, sirt=True)``): ``truth/sirt.json``
  ``maa`` (the true T/N of all perfused tumour and per lesion, set by the phantom) and the
  manifest's ``maa_spect`` ``fwhm_mm`` (the SPECT simulation's Gaussian, 9 mm).
* **Partition model** by hand (Ho S et al., Eur J Nucl Med 1996;23:947):
  A = D_N (r M_T + M_N) / (E (1 − LSF)), D_T = r D_N, D_L = E A LSF / M_L.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy import ndimage, special
from typer.testing import CliRunner

from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.study import StudyConfig, make_study
from sstrkit.pipeline.sirt_inputs import load_maa_inputs
from sstrkit.sirt.physics import Y90_ENERGY_J_PER_GBQ
from sstrkit.sirt.plan_inputs import MaaFindings, MaaInputs, MaaVois, measure_maa
from sstrkit.sirt.plan_shunt import lung_shunt_planar_counts
from sstrkit.sirt.plan_tn_pvc import LesionPvc, TnPvc
from sstrkit.sirt.plan_uptake import NO_FWHM_NOTE, TumourToNormal, tumour_to_normal
from sstrkit.sirt.planning import plan_sirt
from sstrkit.therapy.pvc import gaussian_sigma_voxels

E = Y90_ENERGY_J_PER_GBQ
FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
SEED = 5
#: Seed 5: corrected T/N within 25 % of the truth. Measured with the CLI (docs/sirt.md):
#: −18.3 % corrected, −29.4 % uncorrected — the uncorrected value fails. The corrected T/N
#: stays low because the phantom's liver breathes (14 mm amplitude on seed 5) during the
#: SPECT, a blur the isotropic 9 mm Gaussian does not model; with the true VOIs (no
#: registration error) the GTM reads −12 %.
SEED5_TN_TOLERANCE = 0.25
#: Seed 5, the 53 mL lesion (the only one above 27 resolution volumes): within 20 %
#: (corrected −12 %, uncorrected −24 %).
SEED5_LESION_TOLERANCE = 0.20


# ------------------------------------------------------------------ analytic phantoms
def _sphere_in_liver(
    voxel_mm: float, radius_mm: float, fwhm_mm: float, t: float, n: float
) -> tuple[Volume, NDArray[np.bool_], NDArray[np.bool_]]:
    """The analytic blurred image (module docstring), the sphere's and the liver's VOIs
    (voxel centres inside)."""
    s = fwhm_mm * FWHM_TO_SIGMA
    k = round(160.0 / voxel_mm)
    c = (np.arange(k) - (k - 1) / 2.0) * voxel_mm  # voxel centres, edges on multiples of v
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    half = 48.0  # liver block 96 mm: its faces lie on voxel boundaries (2 and 4 mm voxels)

    def box(u: NDArray[np.float64]) -> NDArray[np.float64]:
        a = special.erf((half - u) / (math.sqrt(2.0) * s))
        b = special.erf((-half - u) / (math.sqrt(2.0) * s))
        return np.asarray(0.5 * (a - b), dtype=np.float64)

    r = np.maximum(np.sqrt(x * x + y * y + z * z), 1e-9)
    rr = radius_mm
    ball = 0.5 * (
        special.erf((rr - r) / (math.sqrt(2.0) * s)) + special.erf((rr + r) / (math.sqrt(2.0) * s))
    ) - s / (r * math.sqrt(2.0 * math.pi)) * (
        np.exp(-((rr - r) ** 2) / (2 * s * s)) - np.exp(-((rr + r) ** 2) / (2 * s * s))
    )
    img = n * box(x) * box(y) * box(z) + (t - n) * ball
    liver = (np.abs(x) <= half) & (np.abs(y) <= half) & (np.abs(z) <= half)
    spect = Volume.from_array(img, spacing=(voxel_mm,) * 3, unit="Bq/mL")
    return spect, r <= radius_mm, liver


def test_gtm_tn_exact_when_the_image_is_the_gtm_model() -> None:
    """Voxel labels blurred by the same discrete Gaussian: W c = m holds exactly, so the
    corrected T/N is the true one to linear-algebra round-off (rel 1e-9)."""
    lab = np.zeros((24, 24, 24), np.int8)
    lab[2:22, 2:22, 2:22] = 1  # liver
    lab[8:12, 8:12, 8:12] = 2  # lesion a (T/N 6)
    lab[14:17, 13:16, 12:15] = 3  # lesion b (T/N 3)
    lab[:, :, 22:] = 4  # a lung slab (0.2)
    conc = np.choose(lab, [0.05, 1.0, 6.0, 3.0, 0.2])
    img = ndimage.gaussian_filter(conc, gaussian_sigma_voxels(11.0, (4.0,) * 3), mode="constant")
    spect = Volume.from_array(img, spacing=(4.0, 4.0, 4.0), unit="Bq/mL")
    tn = tumour_to_normal(
        spect,
        tumours={"a": lab == 2, "b": lab == 3},
        liver=lab >= 1,
        lungs=lab == 4,
        fwhm_mm=11.0,
        fwhm_source="test",
    )
    assert tn.pvc is not None
    true_union = (6.0 * 64 + 3.0 * 27) / 91  # volume-weighted: 64 and 27 voxels
    assert tn.pvc.ratio == pytest.approx(true_union, rel=1e-9)
    assert {le.name: le.tumour_to_normal for le in tn.pvc.lesions} == pytest.approx(
        {"a": 6.0, "b": 3.0}, rel=1e-9
    )
    assert tn.ratio < 0.7 * true_union  # the measured value is far off: a real correction
    assert tn.pvc.regions == ("rest", "normal_liver", "lungs", "a", "b")
    assert (tn.pvc.fwhm_mm, tn.pvc.fwhm_source, tn.pvc.method) == (11.0, "test", "gtm")


def test_gtm_recovers_an_analytically_blurred_sphere() -> None:
    """Sphere R 16 mm (17 mL), T/N 8, 12 mm FWHM, 2 mm voxels: corrected within 2 %.

    Tolerance: the GTM takes the voxel mask as the object; the 2 mm mask of this sphere
    is 1.5 % larger than the sphere, and the GTM's discretely sampled Gaussian is not the
    continuous one — 2 % bounds both (measured −0.6 %). Uncorrected: −27 %.
    """
    spect, sphere, liver = _sphere_in_liver(2.0, 16.0, 12.0, t=8.0, n=1.0)
    tn = tumour_to_normal(spect, tumours={"s": sphere}, liver=liver, fwhm_mm=12.0)
    assert tn.pvc is not None
    assert tn.pvc.ratio == pytest.approx(8.0, rel=0.02)
    assert tn.ratio == pytest.approx(8.0 * 0.73, rel=0.02)  # the blur's loss, for contrast
    assert tn.pvc.fwhm_source == "given"  # no source named: "given"
    # 17.2 mL in spheres of 12 mm diameter (0.905 mL): 19, below 27 (3 FWHM diameter): flagged
    (small,) = [f for f in tn.flags if "resolution volumes" in f]
    assert "s (19)" in small


def test_no_fwhm_gives_no_corrected_value_and_says_why() -> None:
    spect, sphere, liver = _sphere_in_liver(4.0, 16.0, 12.0, t=8.0, n=1.0)
    tn = tumour_to_normal(spect, tumours={"s": sphere}, liver=liver)
    assert tn.pvc is None and tn.pvc_ratio is None and tn.pvc_note == NO_FWHM_NOTE
    assert f"no partial-volume-corrected T/N: {NO_FWHM_NOTE}" in tn.flags
    assert tn.to_dict()["pvc"] is None and tn.to_dict()["pvc_note"] == NO_FWHM_NOTE
    for bad in (0.0, -3.0, math.nan):  # a given FWHM is checked, never dropped silently
        with pytest.raises(InvalidInputError, match="FWHM"):
            tumour_to_normal(spect, tumours={"s": sphere}, liver=liver, fwhm_mm=bad)
    # through measure_maa: the reason from the loader is kept, the plan refuses pvc
    vois = MaaVois(liver=liver, lungs=None, tumours={"lesion_1": sphere})
    f = measure_maa(MaaInputs(spect=spect, vois=vois, spect_fwhm_note="no header estimate (test)"))
    assert f.tumour_to_normal is not None and f.tumour_to_normal.pvc is None
    assert f.tumour_to_normal.pvc_note.endswith("no header estimate (test)")
    assert any(x.startswith("no partial-volume-corrected T/N") for x in f.flags)
    f = _with_lsf(f)
    with pytest.raises(InvalidInputError, match="partial-volume-corrected T/N"):
        plan_sirt(f, device="resin", tn_source="pvc")
    p = plan_sirt(f, device="resin")
    assert p.tn is not None and p.tn.pvc is None and p.tn.doses_pvc is None
    assert p.to_dict()["tn_comparison"]["pvc_note"].endswith("(test)")


def _with_lsf(f: MaaFindings) -> MaaFindings:
    from dataclasses import replace

    shunt = lung_shunt_planar_counts(
        lung_anterior=6e4, lung_posterior=6e4, liver_anterior=94e4, liver_posterior=94e4
    )
    return replace(f, lsf_planar=shunt)


# ------------------------------------------------------------------ planning
LSF, M_T, M_N, M_L = 0.06, 210.0, 1575.0, 850.0
R_MEAS, R_PVC = 3.0, 4.5


def _findings(lsf: float = LSF, pvc: bool = True) -> MaaFindings:
    pvc_rec = TnPvc(
        R_PVC, R_PVC * 100.0, 100.0, "Bq/mL", "gtm", 9.0, "manifest fwhm_mm",
        (LesionPvc("lesion_1", R_PVC * 100.0, R_PVC, 0.7, 60.0),), ("rest", "normal_liver"),
        3.0,
    )  # fmt: skip
    tn = TumourToNormal(
        R_MEAS, R_MEAS * 100.0, 100.0, "Bq/mL", 200.0, 1500.0, (),
        pvc=pvc_rec if pvc else None,
    )  # fmt: skip
    shunt = lung_shunt_planar_counts(
        lung_anterior=lsf * 1e6,
        lung_posterior=lsf * 1e6,
        liver_anterior=(1 - lsf) * 1e6,
        liver_posterior=(1 - lsf) * 1e6,
    )
    return MaaFindings(
        lsf_planar=shunt,
        tumour_to_normal=tn,
        liver_volume_ml=1700.0,
        tumour_volume_ml=200.0,
        liver_mass_g=M_T + M_N,
        tumour_mass_g=M_T,
        normal_liver_mass_g=M_N,
        lung_mass_g=M_L,
        sex="F",
    )


def _partition_bq(r: float, d_n: float = 40.0, lsf: float = LSF) -> float:
    return d_n * (r * M_T / 1000 + M_N / 1000) / (E * (1 - lsf)) * 1e9


def test_default_plan_uses_the_measured_tn_as_before() -> None:
    """Default (measured): the activity of the partition model with the measured T/N, the
    same as a plan on findings without any corrected T/N (the plan before this feature)."""
    p = plan_sirt(_findings(), device="resin")
    before = plan_sirt(_findings(pvc=False), device="resin")
    assert p.activity_bq == before.activity_bq  # bit-identical
    assert p.activity_bq == pytest.approx(_partition_bq(R_MEAS), rel=1e-12)
    assert p.doses == before.doses and p.checks == before.checks
    assert p.tn_source == "measured" and p.tumour_to_normal == R_MEAS
    # the corrected T/N beside it, with its doses at the planned activity
    assert p.tn is not None and (p.tn.measured, p.tn.pvc) == (R_MEAS, R_PVC)
    assert p.tn.doses_measured == p.doses
    d_n = E * p.activity_bq / 1e9 * (1 - LSF) / (R_PVC * M_T / 1000 + M_N / 1000)
    assert p.tn.doses_pvc is not None
    assert p.tn.doses_pvc.normal_liver_gy == pytest.approx(d_n, rel=1e-12)
    assert p.tn.doses_pvc.tumour_gy == pytest.approx(R_PVC * d_n, rel=1e-12)
    assert not any("tn_source pvc" in f for f in p.flags)
    doc = p.to_dict()["tn_comparison"]
    assert (doc["pvc"], doc["pvc_fwhm_mm"], doc["pvc_fwhm_source"]) == (
        R_PVC,
        9.0,
        "manifest fwhm_mm",
    )


def test_pvc_plan_raises_the_activity_and_is_flagged() -> None:
    p = plan_sirt(_findings(), device="resin", tn_source="pvc")
    default = plan_sirt(_findings(), device="resin")
    # higher T/N → more of the activity in the tumour → higher activity for 40 Gy
    assert p.activity_bq == pytest.approx(_partition_bq(R_PVC), rel=1e-12)
    assert p.activity_bq > default.activity_bq
    assert p.tn_source == "pvc" and p.tumour_to_normal == R_PVC
    assert any(
        "partial-volume-corrected T/N 4.50" in f and "not the safe side" in f for f in p.flags
    )
    # the limit checks ran on the T/N that planned the activity: 40 Gy normal liver
    nl = next(c for c in p.checks if c.name == "normal_liver")
    assert nl.value_gy == pytest.approx(40.0, rel=1e-12)
    # with the measured T/N the same activity gives the normal liver more than its limit
    d_meas = E * p.activity_bq / 1e9 * (1 - LSF) / (R_MEAS * M_T / 1000 + M_N / 1000)
    assert p.tn is not None and p.tn.doses_measured is not None
    assert p.tn.doses_measured.normal_liver_gy == pytest.approx(d_meas, rel=1e-12)
    assert d_meas > 40.0
    assert any(f"would be {d_meas:.1f} Gy, above the resin limit 40 Gy" in f for f in p.flags)
    # lung shunt and lung limits do not depend on T/N
    assert p.lung_shunt_fraction == default.lung_shunt_fraction
    assert p.method_result.activity_lung_limit_bq == default.method_result.activity_lung_limit_bq


def test_pvc_plan_keeps_the_lung_limit() -> None:
    """LSF 19 %, 500 g lungs: 30 Gy lungs allow A = 30 × 0.5 / (E × 0.19) GBq, below either
    partition activity — both plans are capped at the same lung-limited activity."""
    f = _findings(lsf=0.19)
    args: dict[str, Any] = {"device": "resin", "lung_mass_g": 500.0}
    p, default = plan_sirt(f, tn_source="pvc", **args), plan_sirt(f, **args)
    a_lung = 30.0 * 0.5 / (E * 0.19) * 1e9
    assert a_lung < _partition_bq(R_MEAS, lsf=0.19) < _partition_bq(R_PVC, lsf=0.19)
    assert p.activity_bq == pytest.approx(a_lung, rel=1e-12)
    assert default.activity_bq == pytest.approx(a_lung, rel=1e-12)
    assert p.limiting == default.limiting == "lung_per_treatment"


def test_tn_source_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="T/N source"):
        plan_sirt(_findings(), device="resin", tn_source="truth")


# ------------------------------------------------------------------ digital patient
@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tn_pvc") / f"s{SEED}"
    make_study(root, StudyConfig(seed=SEED, cycles=1, voxel_mm=4.0, sirt=True))
    return root


@pytest.fixture(scope="module")
def findings(study: Path) -> MaaFindings:
    return measure_maa(load_maa_inputs(study))


def _truth(study: Path) -> dict[str, Any]:
    return dict(json.loads((study / "truth" / "sirt.json").read_text("utf-8"))["maa"])


def test_seed5_corrected_tn_against_the_truth(study: Path, findings: MaaFindings) -> None:
    truth = _truth(study)
    tn = findings.tumour_to_normal
    assert tn is not None and tn.pvc is not None
    manifest = json.loads((study / "manifest.json").read_text("utf-8"))
    assert tn.pvc.fwhm_mm == manifest["series"]["maa_spect"][0]["fwhm_mm"]
    assert tn.pvc.fwhm_source == "manifest fwhm_mm"
    t = truth["tumour_to_normal_ratio"]
    assert tn.pvc.ratio == pytest.approx(t, rel=SEED5_TN_TOLERANCE)
    assert tn.ratio < tn.pvc.ratio < t  # corrected upwards, still low (breathing)
    assert abs(tn.ratio / t - 1) > SEED5_TN_TOLERANCE  # the uncorrected value would fail
    big = max(truth["lesions"], key=lambda le: le["mass_g"])
    corrected = tn.pvc.lesion(big["lesion"])
    assert corrected is not None
    assert corrected.tumour_to_normal == pytest.approx(
        big["tumour_to_normal_ratio"], rel=SEED5_LESION_TOLERANCE
    )
    measured = next(le for le in tn.lesions if le.name == big["lesion"])
    assert abs(measured.tumour_to_normal / big["tumour_to_normal_ratio"] - 1) > (
        SEED5_LESION_TOLERANCE
    )


def test_seed5_cli_pvc_plan(study: Path, findings: MaaFindings) -> None:
    from sstrkit.cli.main import app

    res = CliRunner().invoke(app, ["sirt", "plan", str(study), "--json", "--tn-source", "pvc"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    default = plan_sirt(findings)
    assert findings.tumour_to_normal is not None and findings.tumour_to_normal.pvc is not None
    assert doc["tn_source"] == "pvc"
    assert doc["tumour_to_normal"] == pytest.approx(findings.tumour_to_normal.pvc.ratio, 1e-12)
    assert doc["activity_gbq"] > default.activity_bq / 1e9
    assert doc["lung_shunt_fraction"] == pytest.approx(default.lung_shunt_fraction, rel=1e-12)
    assert any("not the safe side" in f for f in doc["flags"])
    nl = next(c for c in doc["checks"] if c["name"] == "normal_liver")
    assert nl["value_gy"] <= nl["threshold_gy"] * (1 + 1e-12) and nl["status"] != "red"
