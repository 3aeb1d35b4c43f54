"""The synthetic cohort (sstrkit.phantom.cohort): follow-up data, truth and survival draws."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.errors import InvalidInputError
from sstrkit.phantom.cohort import (
    MONTH_DAYS,
    OS_MEDIAN_DAYS,
    PFS_MEDIAN_DAYS,
    CohortConfig,
    draw_survival,
    plan_cohort,
)
from sstrkit.registry.clinical import parse_follow_up

from .conftest import CohortRun


def test_lesion_response_follows_the_true_relation(cohort_run: CohortRun) -> None:
    """truth.json ``cohort``: log ratio = beta x true cumulative dose + residual (to
    floating-point precision), and clinical.json holds the matching volumes."""
    patient = cohort_run.cohort.patients[0]
    folder = patient.folder
    truth = json.loads((folder / "truth" / "truth.json").read_text("utf-8"))
    clinical = json.loads((folder / "clinical.json").read_text("utf-8"))
    beta = truth["cohort"]["beta_per_gy"]
    vols: dict[str, list[float]] = {}
    for v in clinical["lesion_volumes"]:
        vols.setdefault(v["lesion"], []).append(v["volume_ml"])
    for les in truth["cohort"]["lesions"]:
        dose = sum(c["regions"][les["id"]]["total_gy"] for c in truth["cycles"])
        assert les["dose_gy_cumulative"] == pytest.approx(dose, rel=1e-12)
        assert les["log_volume_ratio"] == pytest.approx(beta * dose + les["residual"], abs=1e-12)
        base, follow = vols[les["id"]]
        assert math.log(follow / base) == pytest.approx(les["log_volume_ratio"], abs=1e-12)
    # the registry's reader accepts the follow-up sections as written
    f = parse_follow_up(clinical, name="clinical.json")
    assert f.survival is not None and f.responses[0].criteria == "RECIST 1.1"
    assert clinical["patient"]["sex"] == patient.plan.sex and clinical["patient"]["age_y"]


def test_patients_vary(cohort_run: CohortRun) -> None:
    pats = cohort_run.cohort.patients
    assert len({p.plan.phantom_seed for p in pats}) == len(pats) == 20
    acts = [p.plan.activity_bq for p in pats]
    assert all(3.7e9 <= a <= 7.4e9 for a in acts) and max(acts) - min(acts) > 1e9
    weights = {
        json.loads((p.folder / "manifest.json").read_text("utf-8"))["patient"]["weight_kg"]
        for p in pats
    }
    assert len(weights) >= 15  # weights drawn per patient (rounded: a few may repeat)


def test_survival_draws_have_the_cited_medians() -> None:
    """4000 draws without censoring and with hazard multiplier 1: sample medians within
    10 % of NETTER-1's (PFS 32.4 months from the 65.2 % PFS at 20 months, Strosberg 2017;
    OS 48.0 months, Strosberg 2021). The sample median of 4000 exponential draws has a
    relative standard error of 1/(ln 2 x sqrt(4000)) = 2.3 %: 10 % is over 4 SE."""
    cfg = CohortConfig(n=4000, seed=3, cutoff_days=1e6)
    draws = draw_survival([(p, 0.0) for p in plan_cohort(cfg)], cfg)
    assert all(d.pfs_event and d.os_event for d in draws)
    assert all(d.os_days >= d.pfs_days for d in draws)
    pfs = float(np.median([d.pfs_days for d in draws]))
    os_ = float(np.median([d.os_days for d in draws]))
    cited_pfs_months = PFS_MEDIAN_DAYS / MONTH_DAYS  # 20 ln 2 / -ln 0.652
    assert cited_pfs_months == pytest.approx(32.4, abs=0.05)
    assert pfs == pytest.approx(PFS_MEDIAN_DAYS, rel=0.10)
    assert os_ == pytest.approx(OS_MEDIAN_DAYS, rel=0.10)


def test_better_response_means_lower_hazard() -> None:
    cfg = CohortConfig(n=2, seed=0)
    plans = plan_cohort(cfg)
    d = draw_survival([(plans[0], -1.0), (plans[1], 0.0)], cfg)
    assert d[0].hazard_multiplier == pytest.approx(math.exp(-0.5))  # 1.0 x (-1 - (-0.5))
    assert d[1].hazard_multiplier == pytest.approx(math.exp(0.5))


def test_config_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="cut-off"):
        CohortConfig(cutoff_days=100.0)
    with pytest.raises(InvalidInputError, match="activity range"):
        CohortConfig(activity_bq_range=(7.4e9, 3.7e9))


def test_cli_phantom_cohort(tmp_path: Path) -> None:
    out = tmp_path / "c"
    result = CliRunner().invoke(
        app,
        [
            "phantom",
            "cohort",
            str(out),
            "--n",
            "1",
            "--seed",
            "4",
            "--cycles",
            "1",
            "--voxel-mm",
            "10",
            "--timepoints-h",
            "24",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["n"] == 1 and doc["truth"]["beta_per_gy"] == pytest.approx(-0.010)
    assert (out / "patient_001" / "manifest.json").is_file()
    assert json.loads((out / "cohort.json").read_text("utf-8"))["studies"] == [
        str((out / "patient_001").resolve())
    ]
