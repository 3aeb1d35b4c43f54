"""The example gallery (``examples/*.py``) runs, uses only the public facade and stays short.

Each script runs as a user would run it (``python examples/NAME.py``, no arguments: the
scripts that need images make a small 8 mm digital patient in a temporary folder), with
warnings as errors like the rest of the suite. The whole gallery takes about 20 s on
2 cores.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sstrkit

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

#: A line each script must print (proof that it got to its result, not only that it exited 0).
EXPECTED = {
    "cohort_survival.py": "log-rank",
    "kinetics_and_bed.py": "BED",
    "krenning_reading.py": "patient Krenning score",
    "main_job_on_a_study.py": "report:",
    "organ_doses_of_a_case.py": "limiting organ",
    "organ_segmentation.py": "labels.json",
    "suv_of_a_dicom_series.py": "SUVbw: max",
    "voxel_dose_of_a_cycle.py": "kidneys",
}
#: One script's time limit (s); the slowest (the main job) takes about 7 s on 2 cores.
TIMEOUT_S = 120


def test_gallery_is_complete() -> None:
    assert 6 <= len(SCRIPTS) <= 8
    assert {p.name for p in SCRIPTS} == set(EXPECTED)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_is_short_documented_and_uses_the_facade(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 60, f"{script.name} is longer than 60 lines"
    tree = ast.parse(text)
    doc = ast.get_docstring(tree)
    assert doc and f"python examples/{script.name}" in doc, "docstring with how to run it"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("sstrkit"), "use `import sstrkit`"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sstrkit"):
                    assert alias.name == "sstrkit" and alias.asname is None
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "sstrkit"
        ):
            assert node.attr in sstrkit.__all__, f"sstrkit.{node.attr} is not public"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_runs(script: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert EXPECTED[script.name] in proc.stdout, proc.stdout
    assert not proc.stderr.strip(), proc.stderr
    assert not list(tmp_path.iterdir()), "a script wrote into the working folder"
    assert elapsed < 60, f"{script.name} took {elapsed:.0f} s"
