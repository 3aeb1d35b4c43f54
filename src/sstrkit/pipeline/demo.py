"""The built-in demonstration: the digital NET patient through the whole main job.

:func:`run_demo` writes the digital patient's study into ``OUT/study`` (unless
a study for the same seed is already there) and runs :func:`run_study` on it
into ``OUT``; the report is ``OUT/report/index.html``. The default patient, seed 7
(``sstrkit.phantom.study.DEMO_SEED``), is eligible for PRRT; seed 5
(``EXCLUDED_SEED``) is the documented excluded patient (FDG+/SSTR- lesion). The
study has the phantom's real-world complications (patient repositioned between
sessions, see docs/phantom.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sstrkit.pipeline.run import RunResult, run_study

__all__ = ["run_demo"]


def _study_is_current(study: Path, seed: int) -> bool:
    try:
        manifest = json.loads((study / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    from sstrkit import __version__

    prov = manifest.get("provenance", {})
    return bool(
        manifest.get("patient", {}).get("seed") == seed
        and prov.get("sstrkit_version") == __version__
    )


def run_demo(
    out: str | Path, *, seed: int = 7, progress: Callable[[str], None] | None = None
) -> RunResult:
    """Make the digital patient ``seed`` and run the main job on it.

    The default, seed 7, is the demo patient, eligible for PRRT.
    """
    from sstrkit.phantom.study import StudyConfig, make_study

    say = progress or (lambda _m: None)
    out = Path(out)
    study = out / "study"
    if not _study_is_current(study, seed):
        say("digital patient")
        make_study(study, StudyConfig(seed=seed), progress=lambda m: say(f"digital patient: {m}"))
    return run_study(study, out, progress=say)
