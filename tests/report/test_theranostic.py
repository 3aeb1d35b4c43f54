"""The theranostic report of a run, on a hand-made RunResult (no pipeline run).

The run below is written by hand from the typed stage results the pipeline returns (a
``ReadingResult`` with two liver lesions, the case dosimetry, a follow-up stage): a study
with a liver, kidneys and two lesion VOIs (``tumour_1``, ``tumour_2``), cycle 1 measured
and cycle 2 estimated from it, no
baseline labs (eligibility not assessed), no blood samples (planning skipped), one
cycle of imaging (follow-up not assessed), and a run started from a DICOM folder
(intake notes). Expected values are the hand-written inputs or sums of them, said at
each assertion.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sstrkit import __version__
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError
from sstrkit.io.nifti import write_nifti
from sstrkit.pipeline.administrations import Administration as PipelineAdministration
from sstrkit.pipeline.intake.assembly import IntakeResult, IntakeRow
from sstrkit.pipeline.manifest import LabRecord as ClinicalLab
from sstrkit.pipeline.regions import RegionMap
from sstrkit.pipeline.results import DosimetryStage, FollowupStage, PlanningStage, ReadingStage
from sstrkit.pipeline.run import RunResult
from sstrkit.pipeline.stages.records import (
    CycleTacs,
    PvcDose,
    RigidTransfer,
    UptakeChange,
    VoiTransfer,
    VoxelCycle,
    VoxelParameters,
    VoxelRegionDose,
)
from sstrkit.pipeline.study import DataFlag, Study
from sstrkit.reading.eligibility import Labs, evaluate, load_rules
from sstrkit.reading.metrics import LesionMetrics, whole_body
from sstrkit.reading.reader import ReadingResult
from sstrkit.reading.reference import ReferenceRegion, ReferenceSet
from sstrkit.reading.segmentation import Segmentation
from sstrkit.reading.segmentation_settings import SegmentationSettings
from sstrkit.report.document import Report, TableBlock
from sstrkit.report.theranostic import build_report, link_lesions
from sstrkit.therapy.case import Administration, Case, parse_case
from sstrkit.therapy.case_dosimetry import (
    CaseCycle,
    CaseDosimetry,
    CaseRegionDose,
    CycleDosimetry,
    RegionCycleDose,
)
from sstrkit.therapy.kinetics import KineticsFit
from sstrkit.therapy.region_activity import RegionActivities

T0 = "2025-03-03T10:00:00+01:00"
#: The VOI label map along x (1 mm voxels): 4 = tumour_1, 5 = tumour_2, 1 = liver.
VOI_X = [0, 0, 4, 4, 4, 4, 0, 0, 5, 5, 1, 1]
#: The reading's lesion map along x (2 mm voxels, same origin): lesions 1 and 2.
LESION_X = [0, 1, 1, 1, 0, 2]
ESTIMATED_FLAG = "cycle 2: administration known but no SPECT; doses estimated from cycle 1"
INTAKE_NOTE = "fwhm_mm (SPECT system resolution) is not in DICOM and is left null"
NEEDS = "post-therapy SPECT of at least two cycles; only cycle 1 has imaging"
PLANNING = "planning needs both limiting organs; missing: red-marrow dose (no blood samples)"


def _study(root: Path) -> Study:
    seg = root / "seg"
    seg.mkdir(parents=True)
    voi = np.tile(np.asarray(VOI_X, dtype=np.int16), (2, 2, 1))
    write_nifti(Volume.from_array(voi, spacing=(1.0, 1.0, 1.0)), seg / "labels.nii.gz")
    names = {"1": "liver", "2": "kidney_left", "3": "kidney_right", "4": "tumour_1"}
    names["5"] = "tumour_2"
    (seg / "names.json").write_text(json.dumps(names), encoding="utf-8")
    spect = {
        "cycle": 1,
        "hours_post_injection": 24.0,
        "path": "dicom/spect",
        "series_uid": "1.2.3",
        "nuclide": "Lu-177",
        "injection_time": T0,
        "injected_activity_bq": 7.4e9,
        "time": "2025-03-04T10:00:00+01:00",
        "units": "BQML",
        "calibration_cps_per_mbq": 5.67,
        "fwhm_mm": 11.0,
        "energy_windows": [{"name": "peak", "lower_kev": 187.2, "upper_kev": 228.8}],
    }
    manifest = {
        "format": "sstrkit-study",
        "patient": {"id": "P-TEST", "sex": "F", "weight_kg": 70.0},
        "series": {"spect": [spect]},
        "segmentation": {
            "labels_nifti": {"baseline": "seg/labels.nii.gz"},
            "label_names": "seg/names.json",
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return Study.load(root)


#: Hand-made mono-exponential kinetics of every region: TIA 1000 MBq·h, T_eff 50 h.
TIA_BQ_S = 1000.0 * 3.6e9
T_EFF_S = 50.0 * 3600.0
ACTIVITY_BQ = 7.4e9
CT_DENSITY = (1.05, "CT (median HU in the VOI)")


def _fit() -> KineticsFit:
    """A mono-exponential A(t) = A₀e^(−λt) with TIA = A₀/λ = TIA_BQ_S, sampled at 4, 24, 96 h."""
    lam = math.log(2) / T_EFF_S
    times = (4 * 3600.0, 24 * 3600.0, 96 * 3600.0)
    return KineticsFit(
        "mono",
        {"a1_bq": TIA_BQ_S * lam, "lambda1_per_s": lam},
        TIA_BQ_S,
        0.05 * TIA_BQ_S,
        T_EFF_S,
        None,
        None,
        times,
        tuple(TIA_BQ_S * lam * math.exp(-lam * t) for t in times),
        6.647 * 86400.0,
    )


def _dose(name: str, kind: str, dose: float) -> RegionCycleDose:
    # dose per activity: the hand-written dose / 7.4 GBq; relative SD 0.05
    return RegionCycleDose(name, kind, None, _fit(), dose, dose / ACTIVITY_BQ, 0.05, 100.0)


def _estimated(rd: RegionCycleDose) -> CaseRegionDose:
    """Cycle 2's row of a cycle-1 dose: same activity, so the same dose."""
    return CaseRegionDose(
        rd, rd.dose_gy, status="estimated", estimated_from_cycle=1, note="no data in cycle 2"
    )


def _admin(cycle: int) -> Administration:
    return Administration(
        id=f"c{cycle}", cycle=cycle, nuclide="Lu-177", activity_mbq=7400.0, datetime=T0
    )


def _case() -> Case:
    doc = {
        "case_id": "P-TEST",
        "patient": {"sex": "F", "weight_kg": 70.0},
        "administrations": [_admin(c).model_dump() for c in (1, 2)],
    }
    return parse_case(doc)


def _organ_level() -> CaseDosimetry:
    c1 = [
        _dose("kidneys", "organ", 2.0),
        _dose("liver", "organ", 1.0),
        _dose("tumour_1", "lesion", 10.0),
        _dose("tumour_2", "lesion", 6.0),
    ]
    cycle1 = CaseCycle(
        _admin(1),
        CycleDosimetry(_admin(1), {rd.name: rd for rd in c1}),
        tuple(CaseRegionDose(rd, rd.dose_gy, density=CT_DENSITY) for rd in c1),
        "measured",
    )
    cycle2 = CaseCycle(
        _admin(2),
        None,
        tuple(_estimated(rd) for rd in c1 if rd.name != "tumour_2"),
        "estimated",
        estimated_from_cycle=1,
    )
    return CaseDosimetry(
        "P-TEST",
        (cycle1, cycle2),
        # cycle 1 + cycle 2 of the rows above: kidneys 2 + 2, liver 1 + 1, tumour_1 10 + 10
        {"kidneys": 4.0, "liver": 2.0, "tumour_1": 20.0, "tumour_2": 6.0},
        {"kidneys": 2.0, "liver": 1.0, "tumour_1": 10.0},
    )


def _dosimetry() -> DosimetryStage:
    left, right = _dose("kidney_left", "organ", 2.2), _dose("kidney_right", "organ", 1.8)
    kidney_parts = {
        1: (CaseRegionDose(left, 2.2), CaseRegionDose(right, 1.8)),
        2: (_estimated(left), _estimated(right)),
    }
    regions = RegionMap(
        regions={"kidneys": (2, 3), "kidney_left": (2,), "kidney_right": (3,), "liver": (1,)},
        kinds={
            "kidneys": "organ",
            "kidney_left": "organ_part",
            "kidney_right": "organ_part",
            "liver": "organ",
            "tumour_1": "lesion",
            "tumour_2": "lesion",
        },
        not_dosed=(),
        label_names={},
    )
    source = "clinical.json (measured net activity)"
    administrations = tuple(
        PipelineAdministration(
            c,
            "Lu-177",
            "177Lu-DOTATATE",
            ACTIVITY_BQ,
            datetime.fromisoformat(T0),
            source,
            ((source, ACTIVITY_BQ),),
        )
        for c in (1, 2)
    )
    transfer = RigidTransfer(
        translation_mm=(1.25, -2.5, 3.75),
        rotation_deg=(0.5, 0.0, -1.0),
        deformable=False,
        metric_value=None,
        ncc_before=0.8,
        ncc_after=0.99,
        acceptable=True,
    )
    voxel = {
        1: VoxelCycle(
            cycle=1,
            nuclide="Lu-177",
            parameters=VoxelParameters(
                cycle=1,
                method="convolution",
                tia_method="trapezoid",
                register=True,
                registration_levels=(4, 2),
                density_correction=True,
                times_s=(4.0 * 3600.0, 24.0 * 3600.0, 96.0 * 3600.0),
                reference_time_point=0,
                pvc="gtm",
                fwhm_mm=11.0,
                voi_source="label map 'baseline'",
            ),
            dose_max_gy=9.0,
            regions=(
                VoxelRegionDose(
                    "kidneys", 95, 95.0, 1.7, 0.5, 3.0, pvc=PvcDose("gtm", 1.95, 1.15, None)
                ),
                VoxelRegionDose(
                    "tumour_1", 4, 4.0, 7.0, 2.0, 9.0, pvc=PvcDose("gtm", 9.5, 1.36, None)
                ),
            ),
            partial_volume={},
            registrations=(),
            voi_registration=VoiTransfer("label map 'baseline'", transfer),
            notes=(),
            timings_s={},
            history=(),
            rtdose=None,
            nifti=Path("dose_cycle1.nii.gz"),
            tia_nifti=Path("tia_cycle1.nii.gz"),
        )
    }
    # only kidney_left's density is read from the activities (the rows give the others)
    activities = RegionActivities(
        times_s=(4.0 * 3600.0, 24.0 * 3600.0, 96.0 * 3600.0),
        activity_bq={},
        volume_ml={},
        mass_g={},
        density_g_ml={"kidney_left": 1.04},
        density_source={"kidney_left": "CT"},
        pvc="gtm",
        fwhm_mm=11.0,
    )
    tacs = {1: CycleTacs(activities)}
    return DosimetryStage(
        voi_source="study segmentation (manifest 'segmentation')",
        regions=regions,
        administrations=administrations,
        voxel=voxel,
        region_tacs=tacs,
        organ_level=_organ_level(),
        per_kidney=kidney_parts,
        truth_total_gy={},
        problems={},
        flags=(),
        case=_case(),
    )


def _lesion(i: int, organ: str) -> LesionMetrics:
    return LesionMetrics(
        id=i,
        centroid_mm=(0.0, 0.0, 0.0),
        suv_max=20.0 / i,
        suv_peak=15.0,
        suv_mean=12.0,
        volume_ml=2.0,
        tlse=24.0,
        t_l=3.0,
        t_s=1.0,
        organ=organ,
        krenning=4,
    )


def _reference(name: str, suv_mean: float) -> ReferenceRegion:
    return ReferenceRegion(name, suv_mean, 0.0, suv_mean, 100.0, 100, (0.0, 0.0, 0.0), "hand-made")


def _reading(lesion_map: Volume, out: Path) -> ReadingStage:
    """The reading: liver SUVmean 6, spleen 20, lesions 1 and 2 (in the liver), Krenning 4,
    eligibility evaluated without labs (not assessed)."""
    no_labs = evaluate(
        load_rules(), {"n_lesions": 2.0, "target_min_t_l": 3.0, **Labs().quantities()}
    )
    lesions = (_lesion(1, "liver"), _lesion(2, "liver"))
    result = ReadingResult(
        references=ReferenceSet(_reference("liver", 6.0), _reference("spleen", 20.0), None),
        segmentation=Segmentation(lesion_map, (), (), SegmentationSettings(), {}),
        lesions=lesions,
        whole_body=whole_body(lesions),
        krenning_patient=4,
        target_ids=(1, 2),
        eligibility=no_labs,
        netpet=None,
        fdg_lesions=(),
        fdg_references=None,
        ct_on_pet_grid=None,
        organs=None,
        history=(),
    )
    suv = Volume.from_array(np.ones(lesion_map.shape), spacing=lesion_map.spacing, unit="g/mL")
    return ReadingStage(result, suv, None, None, {}, out / "reading" / "reading.json")


def _run(tmp_path: Path) -> tuple[Study, RunResult]:
    study = _study(tmp_path / "study")
    out = tmp_path / "out"
    lesions = np.asarray(LESION_X, dtype=np.int16)[None, None, :]
    lesion_volume = Volume.from_array(lesions, spacing=(2.0, 2.0, 2.0))
    lesion_map = write_nifti(lesion_volume, out / "reading" / "lesions.nii.gz")
    res = RunResult(study.root, out)
    res.stages["reading"] = _reading(lesion_volume, out)
    res.stages["dosimetry"] = _dosimetry()
    res.stages["follow-up"] = FollowupStage(
        lesion_uptake_change=UptakeChange(
            first_cycle=1, last_cycle=1, status="not_assessed", needs=NEEDS
        ),
        toxicity=None,
    )
    res.skipped["planning"] = PLANNING
    res.data_quality.append(DataFlag("estimated_cycle", ESTIMATED_FLAG, cycle=2))
    res.intake = IntakeResult(
        manifest={"intake": {"source": "/data/pacs_export"}},
        manifest_path=study.root / "manifest.json",
        rows=(
            IntakeRow(
                role="spect",
                cycle=1,
                hours_post_injection=24.0,
                series_description="LU177 SPECT",
                date=T0,
                series_uid="1.2.3",
                n_files=1,
                path="dicom/spect",
                modality="NM",
            ),
        ),
        notes=(INTAKE_NOTE,),
    )
    res.files["lesions_nifti"] = str(lesion_map)
    return study, res


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, str]:
    study, res = _run(tmp_path_factory.mktemp("report"))
    rep = build_report(study, res)
    return rep, rep.to_html()


def _table(rep: Report, section: str, caption_start: str) -> TableBlock:
    sec = next(s for s in rep.sections if s.title == section)
    return next(
        b for kind, b in sec.blocks if kind == "table" and b.caption.startswith(caption_start)
    )


def _texts(rep: Report, section: str) -> list[str]:
    sec = next(s for s in rep.sections if s.title == section)
    return [b for kind, b in sec.blocks if kind == "text"]


# ------------------------------------------------------------------ data quality
def test_data_quality_box_lists_flags_and_intake_notes(built: tuple[Report, str]) -> None:
    rep, html = built
    titles = [s.title for s in rep.sections]
    assert titles.index("Data quality") < titles.index("SSTR PET reading")  # near the top
    issues = _table(rep, "Data quality", "Issues")
    kinds = [row[0] for row in issues.rows]
    assert "cycle estimated (no SPECT)" in kinds  # the flag of res.data_quality
    assert "stage not computed" in kinds  # planning skipped
    assert "eligibility not assessed" in kinds  # no labs
    assert ESTIMATED_FLAG in html
    notes = _table(rep, "Data quality", "Intake notes")
    assert [INTAKE_NOTE] in [list(r) for r in notes.rows]
    assert "/data/pacs_export" in html


def test_data_quality_box_says_no_issues(tmp_path: Path) -> None:
    study = _study(tmp_path / "study")
    rep = build_report(study, RunResult(study.root, tmp_path / "out"))
    (text,) = _texts(rep, "Data quality")
    assert text.startswith("No issues found")


# ------------------------------------------------------------------ reading
def test_pet_reading_from_the_typed_result(built: tuple[Report, str]) -> None:
    rep, _ = built
    (text,) = _texts(rep, "SSTR PET reading")
    # the hand-made references (liver 6, spleen 20) and the whole-body volume: 2 lesions × 2 mL
    assert "liver SUVmean 6.00, spleen SUVmean 20.00" in text
    assert "Patient Krenning score 4; SSTR-positive tumour volume 4.0 mL." in text
    lesions = _table(rep, "SSTR PET reading", "Lesions")
    # id and SUVmax of the hand-made lesions: 20 / id
    assert [(r[0], r[1]) for r in lesions.rows] == [(1, 20.0), (2, 10.0)]


# ------------------------------------------------------------------ eligibility
def test_not_assessed_headline(built: tuple[Report, str]) -> None:
    rep, html = built
    head = _texts(rep, "PRRT eligibility")[0]
    assert head.startswith(
        "Decision: NOT ASSESSED: labs missing (eGFR (creatinine, age, sex), haemoglobin, "
        "platelets, white cells)"
    )
    assert "NOT ELIGIBLE" not in html


# ------------------------------------------------------------------ dosimetry
def test_estimated_cycle_rows_and_cumulative_estimated_part(built: tuple[Report, str]) -> None:
    rep, _ = built
    c2 = _table(rep, "Dosimetry per cycle", "Cycle 2")
    cols = list(c2.columns)
    status = {row[0]: row[cols.index("status")] for row in c2.rows}
    assert status["kidneys"] == "estimated from cycle 1"
    assert status["kidney_left"] == "estimated from cycle 1"  # per-kidney rows follow kidneys
    assert [row[0] for row in c2.rows][:3] == ["kidneys", "kidney_left", "kidney_right"]
    assert "estimated from cycle 1" in c2.caption
    c1 = _table(rep, "Dosimetry per cycle", "Cycle 1")
    cols1 = list(c1.columns)
    row = {r[0]: r for r in c1.rows}
    # headline MIRD dose and the voxel means beside it: the hand-written inputs
    assert row["tumour_1"][cols1.index("MIRD dose (Gy)")] == 10.0
    assert row["tumour_1"][cols1.index("voxel mean (Gy)")] == 7.0
    assert row["tumour_1"][cols1.index("voxel PVC mean (Gy)")] == 9.5
    assert row["tumour_1"][cols1.index("kind")] == "lesion"
    # kidney_left has no density of its own: the cycle's region_tacs value (1.04)
    assert row["kidney_left"][cols1.index("density (g/mL)")] == 1.04
    assert "geometric transfer matrix" in c1.note and "CT (median HU in the VOI)" in c1.note
    cum = _table(rep, "Dosimetry per cycle", "Cumulative")
    ccols = list(cum.columns)
    kid = next(r for r in cum.rows if r[0] == "kidneys")
    # kidneys 2 Gy measured (cycle 1) + 2 Gy estimated (cycle 2): 4 Gy, 50 % estimated
    assert kid[ccols.index("estimated part (Gy)")] == 2.0
    assert kid[ccols.index("measured part (Gy)")] == 2.0
    assert kid[ccols.index("estimated (%)")] == pytest.approx(50.0)
    left = next(r for r in cum.rows if r[0] == "kidney_left")
    # per-kidney rows: 2.2 Gy per cycle (hand-written), cycle 2 estimated → 4.4 Gy, 2.2 estimated
    assert left[1] == pytest.approx(4.4) and left[3] == pytest.approx(2.2)


def test_tac_figures_show_the_stored_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time–activity figures draw the fits behind the doses (the case dosimetry's own
    objects, not a refit), with the points they were fitted to: cycle 1 only (cycle 2 is
    estimated, without fits of its own)."""
    from sstrkit.report import figures
    from sstrkit.report.theranostic.dosimetry import _tac_figures

    seen: list[tuple[str, list[Any]]] = []
    real = figures.tac_figure

    def spy(curves: list[Any], title: str, **kw: Any) -> Any:
        seen.append((title, list(curves)))
        return real(curves, title, **kw)

    monkeypatch.setattr(figures, "tac_figure", spy)
    dos = _dosimetry()
    _tac_figures(Report(title="t").section("s"), dos)
    assert [title for title, _ in seen] == ["Time–activity curves, cycle 1"]
    stored = dos.organ_level.cycles[0].dosimetry.regions  # type: ignore[union-attr]
    curves = seen[0][1]
    assert [c.name for c in curves] == list(stored)
    assert all(c.fit is stored[c.name].fit for c in curves)
    # the hand-made fit's sample times (4, 24, 96 h) and A₀e^(−λt) in MBq
    assert list(curves[0].times_h) == pytest.approx([4.0, 24.0, 96.0], rel=1e-12)
    lam = math.log(2) / T_EFF_S
    assert curves[0].activity_mbq[0] == pytest.approx(
        TIA_BQ_S * lam * math.exp(-lam * 4 * 3600) / 1e6, rel=1e-12
    )


def test_voi_transfer_is_reported(built: tuple[Report, str]) -> None:
    rep, _ = built
    table = _table(rep, "Dosimetry per cycle", "VOI transfer")
    # the hand-written voi_registration translation, one decimal
    assert table.rows[0][2] == "1.2, -2.5, 3.8"


# ------------------------------------------------------------------ lesion links
def test_link_lesions_hand_example() -> None:
    # Reading lesion 1 (3 voxels) shares 2 voxels with tumour_a (2 voxels) and 1 with
    # tumour_b (4 voxels): tumour_a wins; Dice 2·2/(3 + 2) = 0.8, fraction 2/3.
    # Lesion 2 (2 voxels) shares 1 voxel with each of tumour_b (4) and organ (1):
    # a tie in overlap, broken by Dice: organ 2·1/(2 + 1) = 0.667 > tumour_b 2·1/(2 + 4).
    # Lesion 3 overlaps nothing.
    reading = np.array([[[1, 1, 1, 0, 2, 2, 0, 3]]])
    vois = np.array([[[7, 7, 8, 8, 8, 9, 8, 0]]])
    rows = link_lesions(reading, vois, {"tumour_a": [7], "tumour_b": [8], "organ": [9]})
    assert [r["reading_lesion"] for r in rows] == [1, 2, 3]
    assert rows[0]["region"] == "tumour_a" and rows[0]["overlap_voxels"] == 2
    assert rows[0]["dice"] == pytest.approx(0.8)
    assert rows[0]["overlap_fraction"] == pytest.approx(2 / 3)
    assert rows[1]["region"] == "organ" and rows[1]["dice"] == pytest.approx(2 / 3)
    assert rows[2]["region"] is None and rows[2]["dice"] == 0.0
    # a region of several label values counts all of them: {7, 8} holds all 3 voxels of
    # lesion 1 and 2 + 4 = 6 voxels in all → Dice 2·3/(3 + 6) = 2/3
    merged = link_lesions(reading, vois, {"both": [7, 8]})
    assert merged[0]["overlap_voxels"] == 3 and merged[0]["dice"] == pytest.approx(2 / 3)
    with pytest.raises(GeometryMismatchError):
        link_lesions(reading, vois[..., :4], {"x": [7]})


def test_report_links_reading_lesions_to_dosimetry_vois(built: tuple[Report, str]) -> None:
    rep, _ = built
    table = _table(rep, "Reading lesions and dosimetry VOIs", "Each reading lesion")
    cols = list(table.columns)
    rows = {r[0]: r for r in table.rows}
    # The VOI map (1 mm) sampled at the lesion grid's centres x = 0, 2, …, 10 mm (nearest
    # neighbour, same origin) is [0, 4, 4, 0, 5, 1]. Lesion 1 (x = 2, 4, 6 mm) covers
    # [4, 4, 0]: tumour_1, 2 of 3 voxels, Dice 2·2/(3 + 2) = 0.8. Lesion 2 (x = 10 mm) lies
    # on liver (value 1): no lesion VOI.
    assert rows[1][cols.index("dosimetry VOI")] == "tumour_1"
    assert rows[1][cols.index("Dice")] == pytest.approx(0.8)
    assert rows[1][cols.index("overlap (fraction of lesion)")] == pytest.approx(2 / 3)
    # its doses: cycle 1 10 Gy, cycle 2 10 Gy (estimated), cumulative 20 Gy (inputs)
    assert rows[1][cols.index("dose cycle 1 (Gy)")] == 10.0
    assert rows[1][cols.index("cumulative (Gy)")] == 20.0
    assert rows[2][cols.index("dosimetry VOI")].startswith("—")
    assert any("tumour_2" in t for t in _texts(rep, "Reading lesions and dosimetry VOIs"))


# ------------------------------------------------------------------ follow-up, planning
def test_one_cycle_follow_up_says_what_it_needs(built: tuple[Report, str]) -> None:
    rep, html = built
    texts = _texts(rep, "Follow-up: response and toxicity")
    assert texts == [f"Lesion uptake change not assessed: it needs {NEEDS}."]
    assert "cycle 1 vs cycle 1" not in html


def test_planning_skipped_reason_is_stated(built: tuple[Report, str]) -> None:
    rep, _ = built
    sec = next(s for s in rep.sections if s.title == "Limits and planning")
    assert sec.status == "skipped"
    texts = _texts(rep, "Limits and planning")
    assert texts[0] == f"No plan: {PLANNING}."
    assert "No activity is recommended" in texts[1]


# ------------------------------------------------------------------ methods
def test_eanm_reporting_items_present(built: tuple[Report, str]) -> None:
    rep, html = built
    table = _table(rep, "Methods and provenance", "Dosimetry reporting items (EANM")
    items = {r[0]: r[1] for r in table.rows}
    assert list(items) == [
        "Radiopharmaceutical and administered activity",
        "Calibration and SPECT quantification",
        "Acquisition (time points)",
        "Reconstruction and corrections",
        "VOI definition and transfer",
        "Fit model and integration",
        "S values, masses and dose calculation",
        "Uncertainty",
        "Software",
    ]
    assert "7400 MBq" in items["Radiopharmaceutical and administered activity"]
    # the manifest's SPECT entry: units BQML, 5.67 cps/MBq, 24 h, 187.2-228.8 keV, 11 mm
    assert "BQML" in items["Calibration and SPECT quantification"]
    assert "5.67 cps/MBq" in items["Calibration and SPECT quantification"]
    assert "cycle 1: 24 h p.i." in items["Acquisition (time points)"]
    assert "187.2-228.8 keV" in items["Acquisition (time points)"]
    assert "11 mm" in items["Reconstruction and corrections"]
    assert "translation 1.2, -2.5, 3.8 mm" in items["VOI definition and transfer"]
    assert "kidneys mono (T_eff 50.0 h)" in items["Fit model and integration"]
    assert "CT (median HU in the VOI)" in items["S values, masses and dose calculation"]
    assert "range 5.0–5.0 %" in items["Uncertainty"]  # every rel. SD is 0.05 (inputs)
    assert __version__ in items["Software"]
    assert "Eur J Nucl Med Mol Imaging 2011;38:192-200" in html


def test_planning_section_reads_the_typed_plans() -> None:
    """The limits and the plan after cycle 1 are the PlanResult's own values (the packaged
    example case, planned by plan_from_case: the report shows them, it computes none)."""
    from sstrkit.report.theranostic.planning import _planning
    from sstrkit.therapy.case import example_case_path, load_case
    from sstrkit.therapy.planning import plan_from_case

    plan = plan_from_case(load_case(example_case_path()))
    res = RunResult(Path("s"), Path("o"))
    res.stages["planning"] = PlanningStage(after_cycle_1=plan, running=plan)
    rep = Report(title="t")
    _planning(rep, res)
    limits = _table(rep, "Limits and planning", "Limits (all cycles with dosimetry)")
    assert [(r[0], r[2]) for r in limits.rows] == [(c.organ, c.limit_gy) for c in plan.constraints]
    first = _table(rep, "Limits and planning", "Plan after cycle 1")
    items = {r[0]: r[1] for r in first.rows}
    assert items["limiting organ"] == plan.limiting_organ == "kidneys (bed)"
    # Bq → GBq: / 1e9 (the report divides by 1e6 then 1e3; 1e-12: rounding only)
    assert items["next cycle activity (GBq)"] == pytest.approx(
        plan.next_cycle_activity_bq / 1e9, rel=1e-12
    )
    # the plan's JSON states the same values (the typed plan is its one source)
    doc = plan.to_dict()
    assert doc["limiting_organ"] == plan.limiting_organ
    assert doc["next_cycle_activity_mbq"] * 1e6 == pytest.approx(
        plan.next_cycle_activity_bq, rel=1e-12
    )


def test_follow_up_shows_the_toxicity_report(tmp_path: Path) -> None:
    """Worst CTCAE v5.0 grades of the typed ToxicityReport: platelets 250 → 60 ×10⁹/L is
    grade 2 (CTCAE v5.0 platelet count decreased: < 75 and ≥ 50 ×10⁹/L)."""
    from sstrkit.followup.toxicity import LabRecord, assess_toxicity

    study = _study(tmp_path / "study")
    tox = assess_toxicity(
        [
            LabRecord("P-TEST", 0.0, plt_1e9_l=250.0),
            LabRecord("P-TEST", 30 * 86400.0, plt_1e9_l=60.0),
        ]
    )
    labs = (
        ClinicalLab(time=datetime.fromisoformat(T0), platelets_1e9_l=250.0),
        ClinicalLab(time=datetime.fromisoformat("2025-04-02T10:00:00+01:00"), platelets_1e9_l=60.0),
    )
    res = RunResult(study.root, tmp_path / "out")
    res.stages["follow-up"] = FollowupStage(None, tox, labs)
    rep = build_report(study, res)
    worst = _table(rep, "Follow-up: response and toxicity", "Worst CTCAE v5.0 grade")
    grades = {r[0]: r[1] for r in worst.rows}
    assert grades == dict(tox.patients[0].worst_grade)
    assert grades["platelet_count_decreased"] == 2
    sec = next(s for s in rep.sections if s.title == "Follow-up: response and toxicity")
    assert [k for k, _ in sec.blocks] == ["table", "figure"]  # grades, then the lab timeline
