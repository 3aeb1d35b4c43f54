"""The SIRT section of the theranostic report, on hand-made typed results (no pipeline run).

The stage is built from the library's own typed objects: MAA findings written by hand
(planar lung shunt fraction 10 % from ROI counts, SPECT/CT 5 %, T/N 4, masses), the plan
:func:`~sstrkit.sirt.planning.plan_sirt` makes of them, a post-implant local-deposition
dosimetry of a small synthetic 90Y PET (water everywhere, 0 HU → 1.0 g/mL; activity at the
implant time: normal liver 0.7, tumour 3.0, lungs 0.1 MBq/mL) and the combined liver BED
with one PRRT cycle. Expected values are those objects' own numbers (the report shows them,
it computes none) or hand calculations from ICRP Publication 107 (90Y mean β energy
0.932905 MeV, half-life 64.10 h: 49.76 J/GBq, so 1 MBq/mL in water gives 49.76 Gy).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest

from sstrkit.core.volume import Volume
from sstrkit.pipeline.run import RunResult
from sstrkit.pipeline.stages.sirt import SirtStage, maa_prediction_gy
from sstrkit.pipeline.study import Study
from sstrkit.report.document import Report, TableBlock
from sstrkit.report.theranostic import build_report
from sstrkit.report.theranostic.sirt import SIRT_SECTION, _status_of
from sstrkit.sirt.dose_vois import Y90Vois
from sstrkit.sirt.liver_bed import PrrtLiverCycle, liver_bed_from_dosimetry
from sstrkit.sirt.plan_inputs import MaaFindings
from sstrkit.sirt.plan_shunt import LungShunt, lung_shunt_planar_counts
from sstrkit.sirt.plan_uptake import TumourToNormal
from sstrkit.sirt.planning import LimitCheck, SirtPlan, plan_sirt
from sstrkit.sirt.y90_dose import Y90Image, y90_dosimetry
from sstrkit.therapy.limit_status import limit_status

T_IMPLANT = dt.datetime(2025, 8, 4, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
#: ICRP 107: Ē_β 0.932905 MeV × T½ 64.10 h / ln 2 × 1.602176634e-13 J/MeV (J per Bq)
E_J_PER_BQ = 0.932905 * 64.10 * 3600.0 / math.log(2.0) * 1.602176634e-13
#: LDM dose of 1 MBq/mL in water: E · 1e6 Bq / 1e-3 kg (Gy), ≈ 49.76
GY_PER_MBQ_ML = E_J_PER_BQ * 1e6 / 1e-3
CONC_MBQ_ML = {"normal_liver": 0.7, "tumour": 3.0, "lungs": 0.1}


def _study(root: Path) -> Study:
    root.mkdir(parents=True)
    manifest = {"format": "sstrkit-study", "patient": {"id": "P-SIRT"}, "series": {}}
    clinical = {
        "sirt": [
            {
                "time": T_IMPLANT.isoformat(),
                "device": "resin",
                "activity_bq": 1.5e9,
                "target": "whole_liver",
            }
        ]
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (root / "clinical.json").write_text(json.dumps(clinical), encoding="utf-8")
    return Study.load(root)


def _findings(planar: float = 0.10) -> MaaFindings:
    """Planar LSF from ROI counts (GM lung / (GM lung + GM liver) = ``planar``), SPECT/CT 5 %."""
    lung = 1e4 * planar / (1 - planar) * 9.0  # so that lung / (lung + 9e4) = planar
    return MaaFindings(
        lsf_planar=lung_shunt_planar_counts(
            lung_anterior=lung, lung_posterior=lung, liver_anterior=9e4, liver_posterior=9e4
        ),
        lsf_spect=LungShunt(0.05, "spect_ct", 5.0, 95.0, "Bq"),
        tumour_to_normal=TumourToNormal(4.0, 4.0, 1.0, "Bq/mL", 100.0, 1500.0, ()),
        liver_volume_ml=1600.0,
        tumour_volume_ml=100.0,
        liver_mass_g=1680.0,
        tumour_mass_g=104.0,
        normal_liver_mass_g=1575.0,
        lung_mass_g=1000.0,
        mass_source="hand-made",
        device="resin",
        voi_source="hand-made VOIs",
    )


def _y90(plan: SirtPlan) -> tuple[Y90Image, Y90Vois]:
    """10×10×10 voxels of 4 mm: lungs (z 0-1), normal liver (z 3-9) with a tumour cube."""
    lab = np.zeros((10, 10, 10), dtype=np.int16)
    lab[0:2] = 2
    lab[3:10] = 1
    lab[5:8, 4:7, 4:7] = 101
    conc = np.zeros(lab.shape)
    conc[lab == 2] = CONC_MBQ_ML["lungs"] * 1e6
    conc[lab == 1] = CONC_MBQ_ML["normal_liver"] * 1e6
    conc[lab == 101] = CONC_MBQ_ML["tumour"] * 1e6
    sp = (4.0, 4.0, 4.0)
    img = Volume.from_array(conc.astype(np.float32), spacing=sp, unit="Bq/mL", modality="PT")
    ct = Volume.from_array(np.zeros(lab.shape, np.float32), spacing=sp, unit="HU", modality="CT")
    implanted = float(conc.sum()) * 0.064  # Bq/mL × 0.064 mL per voxel: all in the FOV
    scan = Y90Image(img, ct, "pet", T_IMPLANT, T_IMPLANT, implanted)
    vois = Y90Vois(
        Volume.from_array(lab, spacing=sp),
        {1: "liver_normal", 2: "lungs", 101: "lesion_1"},
        "hand-made label map",
    )
    return scan, vois


def _stage(planar: float = 0.10) -> SirtStage:
    findings = _findings(planar)
    plan = plan_sirt(findings)
    scan, vois = _y90(plan)
    y90 = y90_dosimetry(
        scan,
        vois,
        method="ldm",
        pvc="none",
        predicted_gy=maa_prediction_gy(plan, scan.implanted_activity_bq),
    )
    bed = liver_bed_from_dosimetry(y90, [PrrtLiverCycle(1, 3.0, t_eff_s=70 * 3600.0)])
    return SirtStage(plan, findings, y90, bed, {}, {})


def _build(tmp_path: Path, stage: SirtStage | None = None, skipped: str = "") -> Report:
    study = _study(tmp_path / "study")
    res = RunResult(study.root, tmp_path / "out")
    if stage is not None:
        res.stages["sirt"] = stage
    if skipped:
        res.skipped["sirt"] = skipped
    return build_report(study, res)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[SirtStage, Report]:
    stage = _stage()
    return stage, _build(tmp_path_factory.mktemp("sirt_report"), stage)


def _section(rep: Report) -> list[tuple[str, object]]:
    return next(s for s in rep.sections if s.title == SIRT_SECTION).blocks


def _table(rep: Report, caption_start: str) -> TableBlock:
    return next(
        b
        for k, b in _section(rep)
        if k == "table" and isinstance(b, TableBlock) and b.caption.startswith(caption_start)
    )


def _texts(rep: Report) -> list[str]:
    return [str(b) for k, b in _section(rep) if k == "text"]


# ------------------------------------------------------------------ presence
def test_no_section_without_a_sirt_stage(tmp_path: Path) -> None:
    rep = _build(tmp_path)
    assert SIRT_SECTION not in [s.title for s in rep.sections]


def test_skipped_stage_says_why(tmp_path: Path) -> None:
    rep = _build(tmp_path, skipped="no MAA series")
    sec = next(s for s in rep.sections if s.title == SIRT_SECTION)
    assert sec.status == "skipped"
    assert ("text", "Not computed: no MAA series") in sec.blocks


def test_missing_part_makes_the_section_partial(tmp_path: Path) -> None:
    full = _stage()
    stage = SirtStage(None, full.findings, full.y90, full.liver_bed, {}, {"plan_skipped": "X"})
    rep = _build(tmp_path / "no_plan", stage)
    sec = next(s for s in rep.sections if s.title == SIRT_SECTION)
    assert sec.status == "partial"
    assert "Plan not computed: X." in _texts(rep)
    # no 90Y scan: the plan's limits table without measured doses
    notes = {"y90_skipped": "no 90Y", "liver_bed_skipped": "no post-implant dosimetry"}
    rep = _build(tmp_path / "no_y90", SirtStage(full.plan, full.findings, None, None, {}, notes))
    texts = _texts(rep)
    assert "Post-implant dosimetry not computed: no 90Y." in texts
    assert "Liver BED not computed: no post-implant dosimetry." in texts
    rows = _table(rep, "Doses against the cited limits and targets").rows
    assert all(r[5] is None and r[6] is None for r in rows)


def test_section_sits_between_planning_and_follow_up(built: tuple[SirtStage, Report]) -> None:
    titles = [s.title for s in built[1].sections]
    i = titles.index(SIRT_SECTION)
    assert titles[i - 1] == "Limits and planning"
    assert titles[i + 1].startswith("Follow-up")
    assert "1.5 GBq net implanted" in _texts(built[1])[0]  # the clinical record's SIRT


# ------------------------------------------------------------------ MAA and plan
def test_maa_findings_and_planar_overestimation_flag(built: tuple[SirtStage, Report]) -> None:
    _, rep = built
    rows = {r[0]: r[1] for r in _table(rep, "99mTc-MAA work-up").rows}
    # LSF in %: the hand-made 10 % (planar ROI counts) and 5 % (SPECT/CT)
    assert rows["lung shunt fraction, planar geometric mean (%)"] == pytest.approx(10.0)
    assert rows["lung shunt fraction, SPECT/CT (%)"] == pytest.approx(5.0)
    assert rows["lung shunt fraction used by the plan"] == "10.00 % (planar)"  # the larger
    assert rows["tumour-to-normal-liver ratio (MAA SPECT/CT)"] == 4.0
    (flag,) = [t for t in _texts(rep) if t.startswith("Flag: the planar")]
    assert "by 5.0 percentage points (2.0×): planar overestimation" in flag
    assert "Bastiaannet" in flag


def test_no_overestimation_flag_when_planar_and_spect_agree(tmp_path: Path) -> None:
    rep = _build(tmp_path, _stage(planar=0.06))  # 1 percentage point above SPECT/CT
    assert not [t for t in _texts(rep) if t.startswith("Flag:")]
    assert any(t.startswith("The planar lung shunt fraction") for t in _texts(rep))


def test_plan_table_is_the_plan(built: tuple[SirtStage, Report]) -> None:
    stage, rep = built
    plan = stage.plan
    assert plan is not None
    rows = {r[0]: r[1] for r in _table(rep, "SIRT plan (resin microspheres, partition").rows}
    assert rows["activity to implant (GBq)"] == pytest.approx(plan.activity_bq / 1e9, rel=1e-12)
    assert rows["activity set by"] == plan.limiting.replace("_", " ")


def test_limits_table_predicted_and_measured(built: tuple[SirtStage, Report]) -> None:
    stage, rep = built
    plan, y90 = stage.plan, stage.y90
    assert plan is not None and y90 is not None
    table = _table(rep, "Doses against the cited limits and targets")
    rows = {r[0]: r for r in table.rows}
    assert set(rows) == {c.name.replace("_", " ") for c in plan.checks}
    nl = rows["normal liver"]
    # measured: 0.7 MBq/mL in water, LDM = 0.7 × 49.76 Gy (float32 image: rel 2e-5)
    assert nl[5] == pytest.approx(CONC_MBQ_ML["normal_liver"] * GY_PER_MBQ_ML, rel=2e-5)
    # 34.8 Gy of the 40 Gy resin limit: 87 % → amber (limit_status, the package's rule)
    assert nl[2] == 40.0 and limit_status(nl[5], 40.0) == "amber"
    assert nl[6] == "amber (80–100 % of the limit)"
    predicted = next(c for c in plan.checks if c.name == "normal_liver")
    assert nl[3] == predicted.value_gy
    assert rows["tumour"][6] == "target met"  # 3.0 × 49.76 = 149 Gy ≥ 100 Gy


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("limit", 31.9, "green (below 80 % of the limit)"),
        ("limit", 32.0, "amber (80–100 % of the limit)"),
        ("limit", 40.0, "amber (80–100 % of the limit)"),
        ("limit", 40.1, "red (above the limit)"),
        ("target", 39.9, "target not met"),
        ("target", 40.0, "target met"),
        ("limit", None, "not evaluated"),
    ],
)
def test_measured_status_at_both_sides_of_each_threshold(
    kind: str, value: float | None, text: str
) -> None:
    """Against a 40 Gy threshold: 80 % (32 Gy) and 100 % are the traffic-light edges of
    limit_status; a target is met from its threshold up."""
    check = LimitCheck("x", kind, None, 40.0, "unknown", "")  # type: ignore[arg-type]
    assert _status_of(check, value) == text


# ------------------------------------------------------------------ post-implant
def test_post_implant_table_dvh_and_comparison(built: tuple[SirtStage, Report]) -> None:
    stage, rep = built
    y90 = stage.y90
    assert y90 is not None
    table = _table(rep, "Post-implant 90Y dosimetry (PET 0 h after the implant")
    rows = {r[0]: r for r in table.rows}
    col = table.columns.index("mean, ldm (Gy)")
    for name in ("tumour", "normal_liver", "lungs"):
        # hand calculation: concentration (MBq/mL) × 49.76 Gy (float32 image: rel 2e-5)
        assert rows[name][col] == pytest.approx(CONC_MBQ_ML[name] * GY_PER_MBQ_ML, rel=2e-5)
        assert rows[name][col] == y90.mean_gy(name)
    figs = [b.caption for k, b in _section(rep) if k == "figure"]  # type: ignore[attr-defined]
    assert any(c.startswith("Post-implant DVH, tumour and normal liver") for c in figs)
    comp = {r[0]: r for r in _table(rep, "MAA-predicted vs measured").rows}
    for c in y90.comparison:
        assert comp[c.region][1:4] == [c.predicted_gy, c.measured_gy, c.ratio]


# ------------------------------------------------------------------ liver BED
def test_liver_bed_tables_and_statuses(built: tuple[SirtStage, Report]) -> None:
    stage, rep = built
    bed = stage.liver_bed
    assert bed is not None
    rows = _table(rep, "Combined normal-liver BED (SIRT + PRRT)").rows
    assert [r[0] for r in rows] == [bed.sirt.label, "PRRT cycle 1", "total"]
    assert rows[-1][3] == bed.total_bed_gy
    assert rows[1][1] == 3.0  # the hand-made PRRT cycle dose
    checks = _table(rep, "Normal-liver BED against the liver tolerances").rows
    words = {
        "green": "green (below 80 % of the limit)",
        "amber": "amber (80–100 % of the limit)",
        "red": "red (above the limit)",
    }
    for row, c in zip(checks, bed.checks, strict=True):
        assert row[0] == c.tolerance.name
        assert row[5] == words[limit_status(bed.total_bed_gy, c.limit_bed_gy)]


def test_flags_and_assumptions(built: tuple[SirtStage, Report]) -> None:
    stage, rep = built
    plan = stage.plan
    assert plan is not None
    flags = [r[1] for r in _table(rep, "SIRT flags").rows]
    assert any("differ by more than 2 percentage points" in f for f in flags)
    assumptions = [r[1] for r in _table(rep, "Models' assumptions").rows]
    assert assumptions[: len(plan.assumptions)] == list(plan.assumptions)
    assert any(a.startswith("local deposition") for a in assumptions)
