"""Liver tests and chromogranin A of the digital patient (sstrkit.phantom.clinical, issue 23).

The cycles are small stand-ins with the fields the clinical record reads (two lesions of
30 g and 10 g, 30 Gy and 20 Gy per cycle, α_v = 0.01 /Gy): the reference values are hand
calculations of the documented model, and, for the values that existed before issue 23,
the output of the code before it (git c840168) for the same stand-ins.
"""

from __future__ import annotations

import datetime as _dt
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from sstrkit.followup.toxicity import HepaticRanges, LabRecord, assess_toxicity
from sstrkit.phantom import clinical
from sstrkit.phantom.clinical import CGA_BACKGROUND_UG_L, clinical_record, tumour_burden_g
from sstrkit.pipeline.manifest import parse_clinical

ALPHA = 0.01
DOSE = {"lesion_1": 30.0, "lesion_2": 20.0}
MASS = {"lesion_1": 30.0, "lesion_2": 10.0}


class _Tac:
    def value(self, t: float) -> float:
        return math.exp(-t / 3e5) * 1e-4


def _cycles(n: int = 2, alpha: float = ALPHA, floor: float = 0.0) -> list[Any]:
    out = []
    f = {k: 1.0 for k in MASS}
    for k in range(1, n + 1):
        out.append(
            SimpleNamespace(
                index=k,
                injection_time=_dt.datetime(2026, 1, 5, 10, tzinfo=_dt.UTC)
                + _dt.timedelta(days=56 * (k - 1)),
                activity_bq=7.4e9,
                kinetics=SimpleNamespace(blood_concentration_per_ml=_Tac()),
                dose={
                    "kidneys": {"total_gy": 4.0},
                    "red_marrow": {"total_gy": 0.3},
                    **{les: {"total_gy": d} for les, d in DOSE.items()},
                },
                lesion_volume_factors=dict(f),
                mass_g={les: MASS[les] * f[les] for les in MASS},
            )
        )
        f = {les: f[les] * max(math.exp(-alpha * DOSE[les]), floor) for les in MASS}
    return out


def test_values_from_before_issue_23_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    # seed 7, male, the stand-in cycles: the values the code gave before the liver tests
    # and CgA existed (git c840168), and the same values when the new stream is left out.
    rec = clinical_record(_cycles(), sex="M", seed=7)
    old = [
        (92.2, 12.67, 261.0, 6.41),
        (95.0, 12.72, 229.0, 5.88),
        (103.5, 12.66, 209.0, 5.61),
    ]
    keys = ("creatinine_umol_l", "haemoglobin_g_dl", "platelets_1e9_l", "wbc_1e9_l")
    assert [tuple(r[k] for k in keys) for r in rec["labs"]] == old
    monkeypatch.setattr(clinical, "_liver_and_cga", lambda cycles, seed, a: [{}] * 3)
    without = clinical_record(_cycles(), sex="M", seed=7)
    for a, b in zip(rec["labs"], without["labs"], strict=True):
        assert {k: a[k] for k in b} == b
    assert rec["blood_samples"] == without["blood_samples"]


def test_tumour_burden_follows_the_truth_response() -> None:
    # before cycle 1: 30 + 10 g; before cycle 2: 30 e^-0.3 + 10 e^-0.2; follow-up after
    # cycle 2's own response: 30 e^-0.6 + 10 e^-0.4 (α_v 0.01 /Gy, 30 and 20 Gy per cycle)
    expected = [
        40.0,
        30 * math.exp(-0.3) + 10 * math.exp(-0.2),
        30 * math.exp(-0.6) + 10 * math.exp(-0.4),
    ]
    assert tumour_burden_g(_cycles()) == pytest.approx(expected, rel=1e-12)  # α recovered
    assert tumour_burden_g(_cycles(), ALPHA) == pytest.approx(expected, rel=1e-12)
    # a given α_v wins; one cycle: the population median of parameters.toml (0.010 /Gy)
    assert tumour_burden_g(_cycles(), 0.02)[-1] < expected[-1]
    one = tumour_burden_g(_cycles(1))
    assert one == pytest.approx([40.0, 30 * math.exp(-0.3) + 10 * math.exp(-0.2)], rel=1e-12)


def test_cga_is_proportional_to_tumour_burden() -> None:
    # CgA = 40 + κ·B with 5 % assay noise: (CgA_k − 40)/(CgA_1 − 40) estimates B_k/B_1.
    # One ratio scatters by ~9 % (two 5 % noises on values ~5× the background); the mean
    # over 40 seeds by ~1.5 %: tolerance 5 % (> 3 standard errors).
    burden = tumour_burden_g(_cycles())
    ratios = []
    for seed in range(40):
        cga = [
            r["chromogranin_a_ug_l"] for r in clinical_record(_cycles(), sex="F", seed=seed)["labs"]
        ]
        ratios.append([(c - CGA_BACKGROUND_UG_L) / (cga[0] - CGA_BACKGROUND_UG_L) for c in cga])
    mean = np.mean(ratios, axis=0)
    assert mean == pytest.approx([b / burden[0] for b in burden], rel=0.05)


def test_liver_tests_are_normal_with_a_mild_transient_rise() -> None:
    # Over 40 seeds: ALT before cycle 2 / ALT before cycle 1 ≈ 1.25 (model), back to 1.0
    # at the follow-up; two 5 % noises → ratio sd ~7 %, mean of 40 ~1.1 %: tolerance 4 %.
    # Every value stays within the default reference limits: CTCAE grade 0 throughout.
    ratios = []
    for seed in range(40):
        labs = clinical_record(_cycles(), sex="M", seed=seed)["labs"]
        ratios.append([r["alt_u_l"] / labs[0]["alt_u_l"] for r in labs])
        recs = [
            LabRecord(
                "p",
                i * 56 * 86400.0,
                bili_umol_l=r["bilirubin_umol_l"],
                alb_g_l=r["albumin_g_l"],
                alt_u_l=r["alt_u_l"],
                ast_u_l=r["ast_u_l"],
                alp_u_l=r["alp_u_l"],
            )
            for i, r in enumerate(labs)
        ]
        rep = assess_toxicity(recs, hepatic=HepaticRanges())
        assert rep.patients[0].max_grade == 0, (seed, labs)
        assert all(0.8 <= r["inr"] <= 1.2 for r in labs)
    assert np.mean(ratios, axis=0) == pytest.approx([1.0, 1.25, 1.0], rel=0.04)


def test_record_is_a_valid_clinical_json_and_no_labs_leaves_them_out() -> None:
    rec = clinical_record(_cycles(), sex="F", seed=3)
    parsed = parse_clinical(rec)
    assert parsed.labs[0].chromogranin_a_ug_l == rec["labs"][0]["chromogranin_a_ug_l"]
    assert rec["units"]["chromogranin_a"] == "ug/L" and rec["units"]["bilirubin"] == "umol/L"
    without = clinical_record(_cycles(), sex="F", seed=3, labs=False)
    assert "labs" not in without and "bilirubin" not in without["units"]
