"""Three processes recording the same studies at the same time (SQLite and PostgreSQL).

Each worker process opens the registry itself (for a new database: both run the
migration at once), waits at a file barrier until the others are ready too, then
records the same run folders in the same order, so that both try to create the
same patients, studies and runs at the same moment.
Expected: no error in any, one row per patient, study and distinct run, and
exactly one current run per study: the one that finished last.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from sstrkit.registry import open_registry
from sstrkit.registry import schema as t

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from sstrkit.registry import open_registry

    url, me, barrier, *folders = sys.argv[1:]
    reg = open_registry(url)
    Path(barrier, me).touch()
    deadline = time.monotonic() + 60
    while len(list(Path(barrier).iterdir())) < 3:
        if time.monotonic() > deadline:
            sys.exit("barrier timeout")
        time.sleep(0.001)
    for folder in folders:
        reg.add_run(folder)
    reg.close()
    """
)

T0 = dt.datetime(2025, 9, 1, 12, 0, tzinfo=dt.UTC)


def test_concurrent_writer_processes_make_no_duplicates(
    url: str, make_run: Callable[..., Path], tmp_path: Path
) -> None:
    folders = []
    for p in range(6):
        for v in range(2):  # two runs per study, the second finished later
            folders.append(
                make_run(
                    f"P{p}",
                    run_name=f"out{v}",
                    kidney_dose_gy=4.0 + v,
                    finished=T0 + dt.timedelta(hours=v),
                )
            )
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    args = [str(f) for f in folders]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, name, str(barrier), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b", "c")
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    with open_registry(url) as reg, reg.engine.connect() as conn:
        for model, n in ((t.Patient, 6), (t.Study, 6), (t.Run, 12), (t.Reading, 12)):
            assert conn.scalar(select(func.count()).select_from(model)) == n, model.__tablename__
        # every run's rows once (2 cycles × 3 regions organ level + 2 voxel rows per run)
        assert conn.scalar(select(func.count()).select_from(t.RegionDose)) == 12 * (6 + 2)
        current = conn.execute(select(t.Run.study_pk, t.Run.out_dir).where(t.Run.is_current)).all()
        assert len(current) == 6
        assert all(out.endswith("out1") for _, out in current)  # the later run of each study
