"""The main job on a study folder: import → reading → dosimetry → planning → follow-up → report.

``Study.load`` validates the study (manifest, clinical data) and lists its SPECT/CT time
points and administrations; ``run_study`` is ``sstrkit run`` in Python: it writes
``results.json``, CSV tables, DICOM RTDOSE/RTSTRUCT and the self-contained HTML report
into OUT. Without arguments a small digital NET patient (8 mm voxels, one cycle, three
time points) is made and run in a temporary folder::

    python examples/main_job_on_a_study.py [STUDY_DIR OUT_DIR]
"""

import sys
import tempfile
from pathlib import Path

import sstrkit


def main(study_dir: Path, out: Path) -> None:
    study = sstrkit.Study.load(study_dir)
    for a in study.administrations:
        hours = [tp.hours_post_injection for tp in study.time_points if tp.cycle == a.cycle]
        print(f"cycle {a.cycle}: {a.activity_bq / 1e9:.1f} GBq {a.agent}, SPECT/CT at {hours} h")

    result = sstrkit.run_study(study_dir, out, progress=lambda stage: print("  ..", stage))
    if result.reading is not None:  # typed stage results (sstrkit.pipeline.results)
        reading = result.reading.result
        print(f"Krenning {reading.krenning_patient}, {len(reading.lesions)} lesions")
    planning = result.planning
    running = planning.running if planning is not None else None
    if running is not None:  # a typed PlanResult (activities in Bq)
        print(
            f"plan: limiting organ {running.limiting_organ}, "
            f"next cycle {running.next_cycle_activity_bq / 1e6} MBq"
        )
    for flag in result.data_quality:
        print("data quality:", flag.message)
    for stage, reason in result.skipped.items():
        print(f"skipped {stage}: {reason}")
    print("report:", result.files["report"])


if __name__ == "__main__":
    if len(sys.argv) > 2:
        main(Path(sys.argv[1]), Path(sys.argv[2]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            config = sstrkit.StudyConfig(
                voxel_mm=8.0, cycles=1, timepoints_h=(4.0, 24.0, 96.0), fdg=False
            )
            sstrkit.make_study(Path(tmp) / "study", config)
            main(Path(tmp) / "study", Path(tmp) / "out")
