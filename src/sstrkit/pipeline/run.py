"""The main job: one command from a study's DICOM to the theranostic report.

Stages, in clinical order (each records its result, or why it was skipped):

1. ``import`` — the study's manifest, case file and clinical data; every series
   is found on disk by content (:func:`sstrkit.io.discover.discover_series`).
2. ``reading`` — the SSTR PET in SUVbw, reference regions, lesions, Krenning,
   NETPET against the FDG PET, PRRT eligibility with the baseline labs.
3. ``dosimetry`` — per cycle: CT-based registration of the SPECT time points,
   voxel TIA, dose map (kernel convolution, CT density), region DVHs; region
   time–activity curves from the same SPECTs → kinetics → MIRD organ, lesion
   and red-marrow (blood method) doses; BED per cycle and cumulatively.
4. ``planning`` — limits (kidney BED, red marrow) and the plan for the
   remaining cycles from the running dosimetry.
5. ``sirt`` — only for a study with SIRT series (99mTc-MAA, post-implant 90Y): the
   90Y-microsphere plan, the post-implant dosimetry and the normal-liver BED of SIRT
   plus this run's PRRT cycles (:mod:`sstrkit.pipeline.stages.sirt`).
6. ``follow-up`` — lesion uptake change over the cycles (post-therapy SPECT),
   CTCAE v5 toxicity of the labs, liver tests and chromogranin A.
7. ``report`` — ``OUT/report/index.html`` and the JSON/CSV/RTDOSE outputs.

A failing stage does not stop the run: the report states what was skipped and
why (nothing is invented in its place). Results of the dosimetry stage are
cached in ``OUT/cache`` keyed by the input files' sizes and modification times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sstrkit.core.atomic import write_json_atomic
from sstrkit.core.provenance import Step
from sstrkit.errors import SstrkitError
from sstrkit.pipeline.results import RunResult, StageResult
from sstrkit.pipeline.stages import Progress, StageSkippedError
from sstrkit.pipeline.stages.dosimetry import IMAGE_MARROW_REGION, stage_dosimetry
from sstrkit.pipeline.stages.followup import stage_followup
from sstrkit.pipeline.stages.imports import stage_import
from sstrkit.pipeline.stages.organs import auto_organs, merge_lesions
from sstrkit.pipeline.stages.planning import stage_planning
from sstrkit.pipeline.stages.reading import stage_reading
from sstrkit.pipeline.stages.sirt import has_sirt_series, stage_sirt
from sstrkit.pipeline.stages.tables import ORGAN_DOSE_COLUMNS, organ_dose_rows, write_tables
from sstrkit.pipeline.study import Study

if TYPE_CHECKING:
    from sstrkit.pipeline.intake.assembly import IntakeResult

__all__ = [
    "IMAGE_MARROW_REGION",
    "ORGAN_DOSE_COLUMNS",
    "RunResult",
    "organ_dose_rows",
    "run_study",
]


# -------------------------------------------------------------------- driver
def _scintigraphy_stages(study: Study, res: RunResult) -> list[tuple[str, Callable[[], Any]]]:
    """The scintigraphy and concordance stages, only for a study that has scintigraphy."""
    series = study.manifest.get("series", {})
    if not (series.get("scintigraphy_planar") or series.get("sstr_spect")):
        return []
    from sstrkit.pipeline.stages.scintigraphy import stage_concordance, stage_scintigraphy

    return [
        ("scintigraphy", lambda: stage_scintigraphy(study, res)),
        ("concordance", lambda: stage_concordance(study, res)),
    ]


def run_study(
    study_dir: str | Path,
    out: str | Path,
    *,
    progress: Progress | None = None,
    report: bool = True,
    segmentation: str | Path | None = None,
    label_names: str | Path | None = None,
    clinical: str | Path | None = None,
    roles: dict[str, str] | None = None,
    spect_fwhm_mm: float | None = None,
) -> RunResult:
    """Run the main job on a study folder and write everything into ``out``.

    ``study_dir`` may also be a bare DICOM folder (no ``manifest.json``): the
    intake (:func:`sstrkit.pipeline.intake.intake_study`, with ``segmentation``,
    ``label_names``, ``clinical`` and ``roles``) then writes the study into
    ``OUT/study`` first and the result says so (``intake``).
    """
    say = progress or (lambda _m: None)
    study_dir = Path(study_dir)
    intake: IntakeResult | None = None
    given = [
        n
        for n, v in (
            ("--segmentation", segmentation),
            ("--label-names", label_names),
            ("--clinical", clinical),
            ("--role", roles),
            ("--spect-fwhm-mm", spect_fwhm_mm),
        )
        if v is not None and v != {}
    ]
    if study_dir.is_dir() and not (study_dir / "manifest.json").is_file():
        from sstrkit.pipeline.intake import intake_study

        say("intake")
        made = intake_study(
            study_dir,
            Path(out) / "study",
            segmentation=segmentation,
            label_names=label_names,
            clinical=clinical,
            roles=roles,
            spect_fwhm_mm=spect_fwhm_mm,
            progress=say,
        )
        intake = made
        study_dir = made.manifest_path.parent
    elif given:
        from sstrkit.errors import InvalidInputError

        raise InvalidInputError(
            " ".join(given),
            expected="a bare DICOM folder (these options feed the intake)",
            actual=f"a study folder with its manifest ({study_dir / 'manifest.json'})",
            fix="edit that study's manifest, or give the DICOM folder instead",
        )
    study = Study.load(study_dir)
    res = RunResult(Path(study_dir).resolve(), Path(out).resolve())
    res.intake = intake
    res.out.mkdir(parents=True, exist_ok=True)
    stages: list[tuple[str, Callable[[], StageResult]]] = [
        ("import", lambda: stage_import(study, res)),
        ("reading", lambda: stage_reading(study, res)),
        *_scintigraphy_stages(study, res),
        ("dosimetry", lambda: stage_dosimetry(study, res, say)),
        ("planning", lambda: stage_planning(study, res)),
        # only for a study with SIRT series; sees the study as the dosimetry left it
        *([("sirt", lambda: stage_sirt(study, res, say))] if has_sirt_series(study) else []),
        ("follow-up", lambda: stage_followup(study, res)),
    ]
    if not study.has_labels:
        say("organs")
        t0 = time.perf_counter()
        try:
            study, res.stages["organs"] = auto_organs(study, res, say)
        except StageSkippedError as exc:
            res.skipped["organs"] = str(exc)
        except SstrkitError as exc:
            res.skipped["organs"] = exc.one_line()
        res.timings_s["organs"] = time.perf_counter() - t0
    for name, stage in stages:
        say(name)
        t0 = time.perf_counter()
        if name == "dosimetry" and res.organs is not None:
            study = merge_lesions(study, res)
        try:
            res.stages[name] = stage()
        except StageSkippedError as exc:
            res.skipped[name] = str(exc)
        except SstrkitError as exc:
            res.skipped[name] = exc.one_line()
        except OSError as exc:
            res.skipped[name] = f"{type(exc).__name__}: {exc}"
        res.timings_s[name] = time.perf_counter() - t0
    write_tables(res)
    if report:
        say("report")
        t0 = time.perf_counter()
        from sstrkit.report.theranostic import build_report

        path = build_report(study, res).write(res.out / "report" / "index.html")
        res.files["report"] = str(path)
        res.timings_s["report"] = time.perf_counter() - t0
    res.provenance = Step.make(
        "sstrkit_run",
        {"stages": [n for n, _ in stages]},
        inputs=(str(study.root),),
        sources=("ICRP Publication 107", "QIBA FDG-PET/CT profile", "MIRD Pamphlet 21"),
    ).to_dict()
    write_json_atomic(res.out / "results.json", res.to_dict())
    res.files["results_json"] = str(res.out / "results.json")
    return res
