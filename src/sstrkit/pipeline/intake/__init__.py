"""Study intake: ``manifest.json`` from the DICOM headers of a clinic's PACS export.

:func:`intake_study` finds every series in a folder tree by content
(:func:`sstrkit.io.discover.discover`: per-slice or multi-frame files, nested
folders, a DICOMDIR is skipped), gives each series a role from its headers
(SSTR PET, FDG PET, therapy SPECT, SSTR scintigraphy — planar whole-body time points
and 111In/99mTc SPECT —, SIRT work-up and post-implant imaging, the CT of each emission
scan), groups the
therapy SPECTs into cycles by their administration, computes the hours after
injection and writes a validated ``manifest.json`` (version 2) in the study
folder. Every choice that is not certain is reported as a note with the
choice made and how to override it (``roles={uid: role}``, CLI ``--role
UID=ROLE``, or by editing the manifest). The rules, with the radionuclide
codes and photon energies they use, are in ``docs/intake.md``.

The package's modules, in the order intake uses them:

- :mod:`~sstrkit.pipeline.intake.series`: what one series' headers say (times,
  administration, radionuclide, energy windows) and its path in the manifest;
- :mod:`~sstrkit.pipeline.intake.roles`: candidates, overrides, the chosen SSTR/FDG
  PET and the CT paired with each emission scan;
- :mod:`~sstrkit.pipeline.intake.clinical`: ``clinical.json`` administrations and
  the patient block;
- :mod:`~sstrkit.pipeline.intake.cycles`: therapy cycles and time points;
- :mod:`~sstrkit.pipeline.intake.scintigraphy`: SSTR scintigraphy roles (planar whole-body
  time points, 111In/99mTc SPECT);
- :mod:`~sstrkit.pipeline.intake.sirt`: SIRT roles (99mTc-MAA planar and SPECT, 90Y PET and
  bremsstrahlung SPECT, their CTs);
- :mod:`~sstrkit.pipeline.intake.segmentation`: the NIfTI label map or DICOM SEG;
- :mod:`~sstrkit.pipeline.intake.assembly`: manifest entries, validation, review table;
- :mod:`~sstrkit.pipeline.intake.driver`: :func:`intake_study`, the steps in order.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> from sstrkit.errors import InvalidInputError
>>> with tempfile.TemporaryDirectory() as d:
...     try:
...         intake_study(d, Path(d) / "study")
...     except InvalidInputError as exc:
...         print(exc.what)
DICOM folder
"""

from __future__ import annotations

from sstrkit.pipeline.intake.assembly import IntakeResult, IntakeRow
from sstrkit.pipeline.intake.clinical import BODY_TOLERANCE as BODY_TOLERANCE
from sstrkit.pipeline.intake.clinical import _Admin as _Admin
from sstrkit.pipeline.intake.cycles import CYCLE_GAP as CYCLE_GAP
from sstrkit.pipeline.intake.cycles import _cycle_numbers as _cycle_numbers
from sstrkit.pipeline.intake.driver import intake_study
from sstrkit.pipeline.intake.roles import CT_WINDOW as CT_WINDOW
from sstrkit.pipeline.intake.roles import FDG_WORDS as FDG_WORDS
from sstrkit.pipeline.intake.roles import OTHER_TRACER_WORDS as OTHER_TRACER_WORDS
from sstrkit.pipeline.intake.roles import ROLES
from sstrkit.pipeline.intake.roles import SAME_EXAM as SAME_EXAM
from sstrkit.pipeline.intake.roles import SSTR_PET_NUCLIDES as SSTR_PET_NUCLIDES
from sstrkit.pipeline.intake.roles import SSTR_WORDS as SSTR_WORDS
from sstrkit.pipeline.intake.roles import THERAPY_NUCLIDES as THERAPY_NUCLIDES
from sstrkit.pipeline.intake.scintigraphy import (
    SCINTIGRAPHY_NUCLIDES as SCINTIGRAPHY_NUCLIDES,
)
from sstrkit.pipeline.intake.series import CT_SOP as CT_SOP
from sstrkit.pipeline.intake.series import NM_SOP as NM_SOP
from sstrkit.pipeline.intake.series import PET_SOP as PET_SOP
from sstrkit.pipeline.intake.series import RADIONUCLIDE_CODE_VALUES as RADIONUCLIDE_CODE_VALUES

__all__ = ["ROLES", "IntakeResult", "IntakeRow", "intake_study"]
