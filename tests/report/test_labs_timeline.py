"""The liver tests (CTCAE v5.0 grades) and chromogranin A in the report's follow-up.

A hand-made clinical record: two PRRT cycles and one SIRT, four lab records with liver
tests and CgA. The follow-up stage is made by the pipeline's own functions
(:func:`sstrkit.pipeline.stages.followup.stage_followup`: typed grades and CgA response);
expected grades are CTCAE v5.0 by hand with the default reference limits
(:class:`sstrkit.followup.toxicity.HepaticRanges`: ALT ULN 55 U/L, bilirubin ULN
17.104 µmol/L, albumin LLN 35 g/L) and CgA categories by the issue's ≥ 50 % fall.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.run import RunResult
from sstrkit.pipeline.stages.followup import stage_followup
from sstrkit.pipeline.study import Study
from sstrkit.report.document import Report, TableBlock
from sstrkit.report.figures_labs import LabPoint, liver_cga_figure
from sstrkit.report.theranostic import build_report
from sstrkit.report.theranostic.labs import therapy_events

FOLLOW_UP = "Follow-up: response and toxicity"
TZ = dt.timezone(dt.timedelta(hours=1))


def _lab(day: int, alt: float, bili: float, alb: float, cga: float | None) -> dict[str, object]:
    t = dt.datetime(2025, 3, 1, 8, 0, tzinfo=TZ) + dt.timedelta(days=day)
    rec: dict[str, object] = {
        "time": t.isoformat(),
        "platelets_1e9_l": 250.0,
        "alt_u_l": alt,
        "bilirubin_umol_l": bili,
        "albumin_g_l": alb,
        "ast_u_l": 30.0,
        "alp_u_l": 80.0,
    }
    if cga is not None:
        rec["chromogranin_a_ug_l"] = cga
    return rec


#: ALT 30 → 200 → 300 → 50 U/L: G0, > 3–5 × ULN 55 (165–275) G2, > 5 × (275) G3, G0;
#: albumin 40 → 29.9 g/L: G2 (< 30 g/L); CgA 800 → 400 (−50 %: response) → 380 → 1000 (+25 %).
LABS = [
    _lab(0, 30.0, 10.0, 40.0, 800.0),
    _lab(60, 200.0, 10.0, 40.0, 400.0),
    _lab(120, 300.0, 10.0, 29.9, 380.0),
    _lab(180, 50.0, 10.0, 40.0, 1000.0),
]


def _study(root: Path, labs: list[dict[str, object]]) -> Study:
    root.mkdir(parents=True)
    admin = [
        {
            "cycle": c,
            "nuclide": "Lu-177",
            "activity_bq": 7.4e9,
            "time": f"2025-0{2 * c + 1}-03T10:00:00+01:00",
        }
        for c in (1, 2)
    ]
    clinical = {
        "administrations": admin,
        "labs": labs,
        "sirt": [{"time": "2025-08-04T11:00:00+01:00", "device": "glass", "activity_bq": 2e9}],
    }
    manifest = {"format": "sstrkit-study", "patient": {"id": "P-LAB"}, "series": {}}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (root / "clinical.json").write_text(json.dumps(clinical), encoding="utf-8")
    return Study.load(root)


def _report(tmp_path: Path, labs: list[dict[str, object]]) -> Report:
    study = _study(tmp_path / "study", labs)
    res = RunResult(study.root, tmp_path / "out")
    res.stages["follow-up"] = stage_followup(study, res)
    return build_report(study, res)


def _blocks(rep: Report) -> list[tuple[str, object]]:
    return next(s for s in rep.sections if s.title == FOLLOW_UP).blocks


def _table(rep: Report, start: str) -> TableBlock:
    return next(
        b for k, b in _blocks(rep) if isinstance(b, TableBlock) and b.caption.startswith(start)
    )


@pytest.fixture(scope="module")
def rep(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return _report(tmp_path_factory.mktemp("labs"), LABS)


def test_liver_grades_over_time(rep: Report) -> None:
    table = _table(rep, "Liver tests and CTCAE v5.0 grades over time")
    alt = table.columns.index("ALT (U/L)")
    alb = table.columns.index("albumin (g/L)")
    assert [r[0] for r in table.rows] == ["2025-03-01", "2025-04-30", "2025-06-29", "2025-08-28"]
    assert [r[1] for r in table.rows] == [0.0, 60.0, 120.0, 180.0]
    assert [r[alt] for r in table.rows] == ["30 (G0)", "200 (G2)", "300 (G3)", "50 (G0)"]
    assert [r[alb] for r in table.rows] == ["40 (G0)", "40 (G0)", "29.9 (G2)", "40 (G0)"]
    worst = {r[0]: r[1] for r in _table(rep, "Worst CTCAE v5.0 liver grade").rows}
    assert worst["alanine_aminotransferase_increased"] == 3
    assert worst["hypoalbuminemia"] == 2
    assert worst["blood_bilirubin_increased"] == 0  # 10 µmol/L < ULN 17.1


def test_cga_table_and_status(rep: Report) -> None:
    table = _table(rep, "Chromogranin A: biochemical response progression")
    cat = table.columns.index("category")
    change = table.columns.index("change from baseline (%)")
    assert [r[cat] for r in table.rows] == ["baseline", "response", "response", "progression"]
    assert [r[change] for r in table.rows] == [None, -50.0, -52.5, 25.0]
    assert "(best: response)" in table.caption
    assert "at least 50 %" in table.note


def test_figure_with_both_panels_and_the_therapies(rep: Report) -> None:
    captions = [b.caption for k, b in _blocks(rep) if k == "figure"]  # type: ignore[attr-defined]
    (fig,) = [c for c in captions if c.startswith("Liver tests and chromogranin A")]
    assert "CTCAE v5.0 grade" in fig and "chromogranin A (µg/L)" in fig
    assert "(C1, C2, SIRT 90Y (glass))" in fig
    # the blood-count timeline is still there (its therapies: therapy_events, tested below)
    assert any(c.startswith("Treatment timeline") for c in captions)


def test_therapy_events_in_time_order(tmp_path: Path) -> None:
    study = _study(tmp_path / "study", LABS)
    events = therapy_events(study)
    assert [(e[0].date().isoformat(), e[1], e[2]) for e in events] == [
        ("2025-03-03", 7.4, "C1"),
        ("2025-05-03", 7.4, "C2"),
        ("2025-08-04", 2.0, "SIRT 90Y (glass)"),
    ]


def test_cga_only_gives_a_cga_panel(tmp_path: Path) -> None:
    labs = [
        {"time": "2025-03-01T08:00:00+01:00", "chromogranin_a_ug_l": 800.0},
        {"time": "2025-05-01T08:00:00+01:00", "chromogranin_a_ug_l": 900.0},
    ]
    rep = _report(tmp_path, labs)
    captions = [b.caption for k, b in _blocks(rep) if k == "figure"]  # type: ignore[attr-defined]
    (fig,) = [c for c in captions if c.startswith("Liver tests and chromogranin A")]
    assert "liver tests as multiples" not in fig
    assert not [
        b for k, b in _blocks(rep) if isinstance(b, TableBlock) and "CTCAE v5.0 liver" in b.caption
    ]
    table = _table(rep, "Chromogranin A: biochemical response stable")
    assert [r[3] for r in table.rows] == [None, 12.5]  # 900 / 800 − 1


def test_figure_rejects_naive_times_and_nothing() -> None:
    with pytest.raises(InvalidInputError, match="liver tests or CgA"):
        liver_cga_figure({}, [])
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        liver_cga_figure({}, [LabPoint(dt.datetime(2025, 1, 1), 100.0)])
    with pytest.raises(InvalidInputError, match="finite"):
        liver_cga_figure({}, [LabPoint(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), -1.0)])
