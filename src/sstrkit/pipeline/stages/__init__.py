"""The main job's stages, one module each, in clinical order.

:mod:`~sstrkit.pipeline.stages.organs` (automatic organ VOIs when the study has no
labels) → :mod:`~sstrkit.pipeline.stages.imports` → :mod:`~sstrkit.pipeline.stages.reading`
→ :mod:`~sstrkit.pipeline.stages.dosimetry` → :mod:`~sstrkit.pipeline.stages.planning`
→ :mod:`~sstrkit.pipeline.stages.followup`; :mod:`~sstrkit.pipeline.stages.tables` writes
the CSV tables. Each stage takes the :class:`~sstrkit.pipeline.study.Study` and the
:class:`~sstrkit.pipeline.results.RunResult` so far and returns its typed result
(:mod:`sstrkit.pipeline.results`); :func:`sstrkit.pipeline.run.run_study` drives them.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "StageSkippedError"]

#: Progress callback: one line of text per step.
Progress = Callable[[str], None]


class StageSkippedError(Exception):
    """A stage cannot run on this study; the reason goes into the report."""
