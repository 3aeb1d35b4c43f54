"""The short preclinical HTML report: every section, tables with units, embedded figures."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from sstrkit.core.volume import Volume
from sstrkit.preclinical.biodist import Animal, Tube, biodistribution
from sstrkit.preclinical.correlate import pearson, regress
from sstrkit.preclinical.dose import OrganTac, small_animal_doses
from sstrkit.preclinical.quantify import Injection, RegionMask, quantify, ratio_change
from sstrkit.preclinical.report import preclinical_report

T = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def test_report_has_every_section_and_is_written_atomically(tmp_path: Path) -> None:
    mask = np.zeros((2, 2, 4), bool)
    mask[:, :, :2] = True
    quants = []
    for hours, tumour in ((1.0, 4e3), (4.0, 6e3)):
        a = np.full((2, 2, 4), 1e3)
        a[mask] = tumour
        img = Volume.from_array(
            a,
            unit="Bq/mL",
            quantity="activity_concentration",
            reference_time=T + dt.timedelta(hours=hours),
            name=f"{hours} h",
        )
        quants.append(
            quantify(
                img,
                Injection(1e6, T, 242326.08),
                [RegionMask.from_array("tumour", mask), RegionMask.from_array("muscle", ~mask)],
            )
        )
    change = ratio_change(quants[0], quants[1], "tumour", "muscle")
    tubes = [
        Tube("b", "background", 0, 10, T),
        Tube("s", "standard", 1e4, 10, T, id_fraction=0.01),
        Tube("k", "tissue", 500, 10, T, animal="m", tissue="kidney", weight_g=0.1),
    ]
    bd = biodistribution(tubes, [Animal("m", "A", 1.0)], half_life=242326.08)
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = 1 + 0.5 * x + np.array([0.1, -0.1, 0.05, 0.0, -0.05, 0.1])
    fit = regress(x, y)
    tac = OrganTac("kidneys", (3600.0, 86400.0), (20.0, 10.0), 0.4, "measured")
    dose = small_animal_doses([tac], nuclide="Lu-177", body_mass_g=25.0)
    rep = preclinical_report(
        quantifications=quants,
        ratio_changes=[change],
        biodistribution=bd,
        correlation=(fit, pearson(x, y), "expression", "uptake (%ID/g)"),
        doses=[dose],
    )
    out = rep.write(tmp_path / "r" / "report.html")
    html = out.read_text(encoding="utf-8")
    for text in (
        "Image quantification",
        "mean (%ID/g)",
        "tumour/muscle",
        "Ex-vivo biodistribution",
        "Expression",
        "slope",
        "Dosimetry",
        "total (mGy/MBq)",
    ):
        assert text in html, text
    assert html.count("data:image/png;base64") == 3  # biodistribution, regression, TACs
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]
