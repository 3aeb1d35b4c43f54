"""Combined SIRT + PRRT normal-liver BED (sstrkit.sirt.liver_bed).

Hand calculations use the LQ model with incomplete repair (Dale RG, Br J Radiol
1985;58:515): BED = D(1 + G·D/(α/β)); for a mono-exponential dose rate of decay
constant λ and repair rate μ = ln 2/T_rep, G = λ/(λ + μ) = T_rep/(T_rep + T_eff).
Liver α/β = 2.5 Gy and T_rep = 2.5 h (Strigari 2010, the packaged table); 90Y half-life
64.10 h (ICRP 107); tolerances 93 Gy BED (Strigari 2010) and 30 Gy EQD2 (QUANTEC 2010).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import yaml

from sstrkit.errors import InvalidInputError
from sstrkit.sirt.liver_bed import (
    DEFAULT_LIVER_TOLERANCES,
    PrrtLiverCycle,
    combined_liver_bed,
    prrt_liver_cycles_from_case,
    prrt_liver_cycles_from_results,
)
from sstrkit.therapy.radiobiology import dose_for_bed, tissue_parameters

H = 3600.0
AB = 2.5  # Gy, liver α/β
T_REP_H = 2.5
# SIRT, permanent implant: T_eff = 90Y physical half-life 64.10 h
G_SIRT = T_REP_H / (T_REP_H + 64.10)  # = 2.5/66.6 = 0.037538


def test_liver_entry_of_the_table() -> None:
    tp = tissue_parameters("liver")
    assert tp.alpha_beta_gy == AB and tp.t_repair_s == pytest.approx(T_REP_H * H)
    assert any("Strigari" in s for s in tp.sources)


def test_sirt_term_hand_calculation() -> None:
    # D = 40 Gy: BED = 40 · (1 + 0.037538 · 40 / 2.5) = 40 · 1.600601 = 64.024 Gy
    s = combined_liver_bed(40.0)
    assert s.sirt.g_factor == pytest.approx(G_SIRT, rel=1e-9)
    assert s.sirt.bed_gy == pytest.approx(40.0 * (1.0 + G_SIRT * 40.0 / AB), rel=1e-9)
    assert s.sirt.bed_gy == pytest.approx(64.024, abs=1e-3)
    assert s.total_bed_gy == s.sirt.bed_gy and s.prrt == ()
    # EQD2 = BED / (1 + 2/(α/β)) = 64.024 / 1.8
    assert s.total_eqd2_gy == pytest.approx(64.024 / 1.8, abs=1e-3)


def test_sum_with_prrt_cycles_hand_calculation() -> None:
    # four 177Lu cycles, 0.8 Gy each to the liver, T_eff 60 h: G = 2.5/62.5 = 0.04,
    # BED = 0.8 · (1 + 0.04 · 0.8 / 2.5) = 0.81024 Gy per cycle; cycles add (full repair)
    cycles = [PrrtLiverCycle(cycle=k, dose_gy=0.8, t_eff_s=60 * H) for k in (1, 2, 3, 4)]
    s = combined_liver_bed(40.0, cycles)
    per = 0.8 * (1.0 + 0.04 * 0.8 / AB)
    assert [t.bed_gy for t in s.prrt] == pytest.approx([per] * 4, rel=1e-9)
    assert s.prrt_bed_gy == pytest.approx(4 * 0.81024, rel=1e-9)
    assert s.total_bed_gy == pytest.approx(64.024024 + 3.24096, abs=1e-5)
    # a G given (from the kinetics fit) is used as is
    g = combined_liver_bed(40.0, [PrrtLiverCycle(1, 1.0, g_factor=0.1)])
    assert g.prrt[0].bed_gy == pytest.approx(1.0 * (1 + 0.1 * 1.0 / AB))


def test_voxel_doses_sum_the_bed_of_the_mean_and_report_the_voxel_bed() -> None:
    # two voxels at 20 and 60 Gy: BED of the 40 Gy mean = 40(1 + 40G/2.5) = 40 + 640·G
    # (summed); mean voxel BED = ½[20(1 + 8G) + 60(1 + 24G)] = 40 + 800·G (reported)
    s = combined_liver_bed(np.array([20.0, 60.0]))
    assert s.sirt.bed_gy == pytest.approx(40.0 + 640.0 * G_SIRT, rel=1e-9)
    assert s.sirt.voxel_mean_bed_gy == pytest.approx(40.0 + 800.0 * G_SIRT, rel=1e-9)
    assert s.sirt.dose_gy == 40.0 and s.total_bed_gy == s.sirt.bed_gy


@pytest.mark.parametrize(
    ("fraction", "status"),
    [(0.799, "ok"), (0.801, "caution"), (0.999, "caution"), (1.001, "exceeded")],
)
def test_tolerance_status_both_sides(fraction: float, status: str) -> None:
    # Strigari 2010 BED 93 Gy: ok below 80 % (74.4 Gy), caution up to 93 Gy, exceeded above
    dose = dose_for_bed(93.0 * fraction, alpha_beta_gy=AB, g=G_SIRT)
    s = combined_liver_bed(dose)
    assert s.total_bed_gy == pytest.approx(93.0 * fraction, rel=1e-9)
    assert s.status == status
    assert s.checks[0].tolerance.name == "strigari_2010"


def test_quantec_limit_as_bed_and_its_status() -> None:
    # 30 Gy in 2-Gy fractions: BED = 15 · 2 · (1 + 2/2.5) = 54 Gy
    quantec = DEFAULT_LIVER_TOLERANCES[1]
    assert quantec.limit_bed_gy(AB) == pytest.approx(54.0)
    s = combined_liver_bed(dose_for_bed(54.5, alpha_beta_gy=AB, g=G_SIRT))
    assert s.checks[1].status == "exceeded" and s.checks[0].status == "ok"
    below = combined_liver_bed(dose_for_bed(43.0, alpha_beta_gy=AB, g=G_SIRT))
    assert below.checks[1].status == "ok"  # 43/54 = 0.796 < 0.8


def _results_doc(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"stages": {"dosimetry": {"organ_level": {"cycles": rows}}}}


def test_prrt_liver_cycles_from_results_json() -> None:
    doc = _results_doc(
        [
            {
                "cycle": 1,
                "nuclide": "Lu-177",
                "regions": [
                    {"name": "kidneys", "dose_gy": 3.1, "t_eff_h": 40.0},
                    {"name": "liver", "dose_gy": 1.2, "t_eff_h": 70.0, "model": "mono"},
                ],
            },
            {
                "cycle": 2,
                "regions": [
                    {"name": "liver", "dose_gy": 1.1, "t_eff_h": 70.0, "status": "estimated"}
                ],
            },
        ]
    )
    cycles = prrt_liver_cycles_from_results(doc)
    assert [(c.cycle, c.dose_gy, c.t_eff_s) for c in cycles] == [
        (1, 1.2, 70 * H),
        (2, 1.1, 70 * H),
    ]
    assert cycles[1].status == "estimated"
    # the case-dosimetry JSON (cycles at the top) is read too
    assert prrt_liver_cycles_from_results(
        {"cycles": doc["stages"]["dosimetry"]["organ_level"]["cycles"]}
    )
    with pytest.raises(InvalidInputError, match="liver"):
        prrt_liver_cycles_from_results(_results_doc([{"cycle": 1, "regions": []}]))
    with pytest.raises(InvalidInputError, match="PRRT results"):
        prrt_liver_cycles_from_results({"unrelated": 1})


def test_prrt_liver_cycles_from_a_case_dosimetry() -> None:
    # the packaged example case (177Lu, one cycle, mono-exponential liver fit): the exact
    # G of a mono-exponential fit is λ/(λ + μ) = T_rep/(T_rep + T_eff)
    from sstrkit.therapy.case import example_case_path, parse_case
    from sstrkit.therapy.case_dosimetry import case_dosimetry_result

    case = parse_case(yaml.safe_load(example_case_path().read_text(encoding="utf-8")))
    cyc = prrt_liver_cycles_from_case(case_dosimetry_result(case))
    assert len(cyc) == 1 and cyc[0].nuclide == "Lu-177"
    assert cyc[0].t_eff_s is not None and cyc[0].g_factor is not None
    assert cyc[0].g_factor == pytest.approx(T_REP_H * H / (T_REP_H * H + cyc[0].t_eff_s))
    s = combined_liver_bed(30.0, cyc)
    assert s.prrt[0].bed_gy == pytest.approx(
        cyc[0].dose_gy * (1 + cyc[0].g_factor * cyc[0].dose_gy / AB)
    )


def test_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="kinetics"):
        combined_liver_bed(10.0, [PrrtLiverCycle(1, 1.0)])
    with pytest.raises(InvalidInputError, match="liver dose"):
        combined_liver_bed(10.0, [PrrtLiverCycle(1, -1.0, t_eff_s=50 * H)])
    with pytest.raises(InvalidInputError, match="G factor"):
        combined_liver_bed(10.0, [PrrtLiverCycle(1, 1.0, g_factor=1.5)])
    with pytest.raises(InvalidInputError, match="SIRT normal-liver"):
        combined_liver_bed(float("nan"))
    # overridden α/β: the BED tolerance is kept as published, and the summary says so
    s = combined_liver_bed(30.0, alpha_beta_gy=3.0)
    assert s.tissue.alpha_beta_gy == 3.0 and s.notes
