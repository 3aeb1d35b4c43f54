"""The theranostic report of a run: what a physicist and a physician sign off.

:func:`build_report` turns a :class:`~sstrkit.pipeline.run.RunResult` into a
:class:`~sstrkit.report.document.Report`: patient and study, a data-quality box
(every flag the run raised, the intake notes), SSTR PET reading (MIP, lesion
slices, lesion table), eligibility rule by rule (eligible / not eligible / not
assessed), per-cycle time–activity curves with fits, one headline MIRD dose per
region beside the voxel-based means, status (measured / reduced time points /
estimated) and mass and density source, per-kidney rows, cumulative doses with
their estimated part, the reading lesions linked to the dosimetry VOIs by
overlap, limits and the plan, for a patient treated with 90Y microspheres the SIRT
section (MAA work-up, plan against the cited limits, post-implant doses and DVHs,
MAA-predicted vs measured, the normal-liver BED of SIRT and PRRT), follow-up (with
the liver tests' CTCAE grades and chromogranin A over time), and the methods laid
out as the items of the EANM dosimetry reporting guidance (Lassmann M et al., EANM
Dosimetry Committee guidance document: good practice of clinical dosimetry
reporting. Eur J Nucl Med Mol Imaging 2011;38:192–200). Stages that did not run are listed
with the reason. ``docs/report.md`` describes every section.

:func:`link_lesions` (pure) pairs each reading lesion with the dosimetry region
it overlaps most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sstrkit import __version__
from sstrkit.report.document import Report
from sstrkit.report.theranostic.common import EANM_REPORTING_SOURCE
from sstrkit.report.theranostic.dosimetry import _dosimetry
from sstrkit.report.theranostic.followup import _followup
from sstrkit.report.theranostic.lesions import _lesion_links, link_lesions
from sstrkit.report.theranostic.methods import _methods
from sstrkit.report.theranostic.overview import _data_quality, _reading, _summary
from sstrkit.report.theranostic.planning import _planning
from sstrkit.report.theranostic.sirt import _sirt

if TYPE_CHECKING:
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.study import Study

__all__ = ["EANM_REPORTING_SOURCE", "build_report", "link_lesions"]


def build_report(study: Study, res: RunResult) -> Report:
    """Assemble the report of a run."""
    pat = study.manifest.get("patient", {})
    rep = Report(
        title="SSTR theranostic report",
        subtitle=f"Patient {pat.get('id', '—')} · study {study.root.name} · sstrkit {__version__}",
    )
    _summary(rep, study, res)
    _data_quality(rep, res)
    _reading(rep, res)
    _dosimetry(rep, study, res)
    _lesion_links(rep, study, res)
    _planning(rep, res)
    _sirt(rep, study, res)
    _followup(rep, study, res)
    _methods(rep, study, res)
    return rep
