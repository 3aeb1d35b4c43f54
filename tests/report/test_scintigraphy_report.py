"""The reading sections of the theranostic report for scintigraphy readings.

The readings come as the pipeline's typed scintigraphy and concordance stages
(:class:`~sstrkit.pipeline.stages.scintigraphy.ScintigraphyStage`,
:class:`~sstrkit.pipeline.stages.scintigraphy.ConcordanceStage`). A SPECT reading is made
here on a small synthetic SPECT (set SUVs: liver 4, spleen 10, a lesion 12) so that its
typed result is the real one; the planar reading (a
:class:`~sstrkit.reading.planar.PlanarReading`) and its views image are made by hand (two
views with one hot spot). Section titles and table cells are checked
against these inputs; the PET report itself is covered by tests/report/test_theranostic.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from sstrkit.core.volume import Volume
from sstrkit.io.planar import PlanarWholeBody
from sstrkit.pipeline.run import RunResult
from sstrkit.pipeline.stages.scintigraphy import (
    ConcordanceStage,
    ScintigraphyReading,
    ScintigraphyStage,
)
from sstrkit.reading.concordance import compare_readings
from sstrkit.reading.planar import PlanarReading, PlanarSettings, ReferenceRoi
from sstrkit.reading.planar_lesions import PlanarLesion
from sstrkit.reading.spect import SpectReadingResult, read_sstr_spect
from sstrkit.report.document import Report, TableBlock
from sstrkit.report.theranostic.overview import _reading


def _scintigraphy(
    modality: str, result: PlanarReading | SpectReadingResult, files: dict[str, Any] | None = None
) -> ScintigraphyStage:
    """The scintigraphy stage of one typed reading (``files``: its reading.json file index)."""
    reading = ScintigraphyReading(
        modality,
        result.tracer,
        result.hours_post_injection,
        result,
        Path("reading.json"),
        files=files or {},
    )
    return ScintigraphyStage((reading,))


def _spect_reading() -> SpectReadingResult:
    a = np.full((40, 40, 40), 0.5)
    lab = np.zeros(a.shape, dtype=np.int16)
    a[5:35, 5:35, 2:18] = 4.0
    lab[5:35, 5:35, 2:18] = 1
    a[10:20, 10:20, 24:34] = 10.0
    lab[10:20, 10:20, 24:34] = 2
    a[25:32, 25:32, 25:32] = 12.0
    sp = (4.8, 4.8, 4.8)
    r = read_sstr_spect(
        Volume.from_array(a, spacing=sp, modality="NM", quantity="SUV", unit="g/mL"),
        tracer="111In-pentetreotide",
        hours_post_injection=24.0,
        organs=Volume.from_array(lab, spacing=sp),
        organ_names={1: "liver", 2: "spleen"},
    )
    return r


def _roi(name: str, mean_counts: float) -> ReferenceRoi:
    return ReferenceRoi(
        name, "automatic", (0.0, 0.0), 100.0, mean_counts, 100.0, 0.2, np.zeros((1, 1), bool)
    )


def _planar() -> tuple[PlanarReading, PlanarWholeBody]:
    img = np.full((200, 60), 5.0, dtype=np.float32)
    img[100:104, 40:44] = 80.0
    t0 = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)
    views = PlanarWholeBody(
        anterior=img,
        posterior=img[:, ::-1].copy(),
        pixel_spacing_mm=(4.8, 4.8),
        frame_duration_s=600.0,
        scan_speed_mm_per_s=None,
        scan_length_mm=None,
        radionuclide="In-111",
        tracer="111In-pentetreotide",
        injected_activity_bq=185e6,
        injection_time=t0,
        acquisition_time=t0 + dt.timedelta(hours=24),
    )
    lesion = PlanarLesion(
        id=1,
        position_mm=(489.6, 201.6),
        lateral_mm=57.6,
        peak_counts=80.0,
        background_counts=5.0,
        net_counts=75.0,
        diameter_mm=19.2,
        excess_intensity=1.0,
        z=10.0,
        over_liver=False,
        ratio_liver=3.8,
        ratio_spleen=1.9,
        krenning=4,
    )
    reading = PlanarReading(
        tracer="111In-pentetreotide",
        radionuclide="In-111",
        hours_post_injection=24.0,
        liver=_roi("liver", 20.0),
        spleen=_roi("spleen", 40.0),
        lesions=(lesion,),
        physiological=({"organ": "kidneys"}, {"organ": "bladder"}),
        krenning_patient=4,
        settings=PlanarSettings(),
        blur_fwhm_mm=12.0,
    )
    return reading, views


def _table(rep: Report, title: str, caption: str) -> TableBlock:
    (sec,) = [s for s in rep.sections if s.title.startswith(title)]
    (t,) = [b for k, b in sec.blocks if k == "table" and b.caption == caption]
    return t


def test_spect_reading_section_reads_like_pet() -> None:
    rd = _spect_reading()
    res = RunResult(
        study=Path("s"), out=Path("o"), stages={"scintigraphy": _scintigraphy("spect", rd)}
    )
    rep = Report("t")
    _reading(rep, res)
    titles = [s.title for s in rep.sections]
    # no PET reading in this run: its section says so, the SPECT one follows
    assert titles == [
        "SSTR PET reading",
        "SSTR SPECT reading (111In-pentetreotide, 24.0 h)",
        "PRRT eligibility",
    ]
    assert rep.sections[0].status == "skipped"
    t = _table(rep, "SSTR SPECT reading", "Lesions")
    # one lesion, SUVmax 12 (set), Krenning 4 (12 > spleen 10); note names the SPECT grade
    assert [(row[0], row[1], row[8]) for row in t.rows] == [(1, 12.0, 4)]
    assert "original scale read on the SPECT" in t.note
    text = rep.sections[1].blocks[0][1]
    assert "111In-pentetreotide at 24.0 h p.i." in text and "SPECT supplied in SUV" in text
    # the set references: liver SUV 4, spleen SUV 10 (two decimals)
    assert "liver SUVmean 4.00, spleen SUVmean 10.00" in text


def _views_png(views: PlanarWholeBody, path: Path) -> Path:
    """The views side by side, as the planar reading job writes them (a PNG file)."""
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(4.0, 4.0))
    axes = fig.subplots(1, 3)
    for ax, img in zip(
        axes, (views.anterior, views.posterior, views.geometric_mean()), strict=True
    ):
        ax.imshow(np.asarray(img, dtype=float), cmap="gray_r")
    fig.savefig(path, format="png")
    return path


def test_planar_section_views_side_by_side_and_concordance(tmp_path: Path) -> None:
    reading, views = _planar()
    files = {
        "reading_json": str(tmp_path / "reading.json"),
        "planar_views": str(_views_png(views, tmp_path / "planar_views.png")),
    }
    stage = _scintigraphy("planar", reading, files)
    pet = {
        "modality": "pet",
        "tracer": "68Ga-DOTATATE",
        "lesions": [
            {"id": 1, "centroid_mm": [0.0, 0.0, 0.0], "volume_ml": 4.19, "suv_max": 20.0},
            {"id": 2, "centroid_mm": [-60.0, 0.0, -100.0], "volume_ml": 0.52, "suv_max": 8.0},
        ],
    }
    conc = compare_readings(pet, stage.readings[0].to_dict(), same_frame=True)
    res = RunResult(
        study=Path("s"),
        out=Path("o"),
        stages={
            "scintigraphy": stage,
            "concordance": ConcordanceStage((conc,)),
        },
    )
    rep = Report("t")
    _reading(rep, res)
    assert [s.title for s in rep.sections] == [
        "SSTR PET reading",
        "SSTR planar scintigraphy reading (111In-pentetreotide, 24.0 h)",
        "PET versus scintigraphy",
        "PRRT eligibility",
    ]
    sec = rep.sections[1]
    figs = [b for k, b in sec.blocks if k == "figure"]
    # the views image of the reading, embedded as written
    assert len(figs) == 1 and figs[0].png == (tmp_path / "planar_views.png").read_bytes()
    assert "side by side" in figs[0].caption
    t = _table(rep, "SSTR planar", "Lesions (geometric mean)")
    assert t.rows[0] == [1, "490, 202", "patient left", 19.2, 80.0, 3.8, 1.9, 4]
    c = _table(rep, "PET versus", "Lesions")
    # same frame: PET lesion 1 at (x 0, z 0) vs planar (col 201.6, row 489.6 → x 201.6,
    # z −489.6) are far apart: nothing pairs within 30 mm
    assert sorted(row[0] for row in c.rows) == ["pet_only", "pet_only", "scintigraphy_only"]
    text = rep.sections[2].blocks[0][1]
    assert "0 lesion(s) on both, 2 on PET only, 1 on scintigraphy only" in text
