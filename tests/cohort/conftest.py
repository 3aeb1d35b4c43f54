"""One small synthetic cohort for every cohort test (session scope: made and run once).

Twenty digital patients (the issue's acceptance cohort), one cycle each, 8 mm voxels,
SPECT at 24/96/168 h (a set-up whose lesion doses are measured well enough for the
dose–response test, see test_cohort_pipeline.py), plus one broken study. They are run on
a Dask LocalCluster of two single-threaded workers into ``runs/`` and recorded in a SQLite registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sstrkit.cohort.runner import CohortRunResult, run_cohort
from sstrkit.phantom.cohort import Cohort, CohortConfig, make_cohort

#: The test cohort (power and bias of its dose–response fit: test_cohort_pipeline.py).
CONFIG = CohortConfig(
    n=20, seed=1, cycles=1, voxel_mm=8.0, timepoints_h=(24.0, 96.0, 168.0), residual_sd=0.12
)


@dataclass(frozen=True)
class CohortRun:
    cohort: Cohort
    broken: Path
    run: CohortRunResult
    registry_url: str
    root: Path


@pytest.fixture(scope="session")
def cohort_run(tmp_path_factory: pytest.TempPathFactory) -> CohortRun:
    from sstrkit.registry import open_registry

    root = tmp_path_factory.mktemp("cohort")
    cohort = make_cohort(root / "studies", CONFIG)
    broken = root / "studies" / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"series": {"spect": "not a list"}}', "utf-8")
    url = f"sqlite:///{root / 'registry.sqlite'}"
    with open_registry(url) as reg:
        run = run_cohort(
            [*cohort.study_folders, broken], root / "runs", workers=2, registry=reg, report=False
        )
    return CohortRun(cohort, broken, run, url, root)
