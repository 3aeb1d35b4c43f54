"""Which T/N a SIRT plan uses — measured or partial-volume corrected — and the other beside it.

The MAA SPECT's blur makes the measured T/N (:func:`sstrkit.sirt.plan_uptake.
tumour_to_normal`) read low; :mod:`sstrkit.sirt.plan_tn_pvc` corrects it with the
geometric transfer matrix when the SPECT's resolution is known. For the partition model
(Ho et al. 1996) a lower T/N puts more of the liver's activity into the normal liver:
at a prescribed normal-liver dose it gives a **lower** activity. The measured T/N is
therefore the safe side for the normal liver, and :func:`sstrkit.sirt.planning.plan_sirt`
plans with it by default (``tn_source="measured"``); ``tn_source="pvc"`` plans with the
corrected T/N (a higher activity for the same normal-liver dose, flagged; every limit is
then checked with that T/N, and the normal-liver dose the measured T/N would give at the
planned activity is flagged when it exceeds the limit). The lung shunt fraction and the
lung dose do not depend on T/N.

:class:`TnComparison` keeps both ratios and the partition-model doses each one gives at
the planned activity, so the report shows what the other choice means.

Examples
--------
>>> from sstrkit.sirt.plan_uptake import TumourToNormal
>>> tn = TumourToNormal(3.5, 3.5, 1.0, "Bq/mL", 80.0, 1700.0, ())
>>> planning_tn(tn, "measured")
3.5
>>> try:
...     planning_tn(tn, "pvc")
... except InvalidInputError as exc:
...     print(exc.actual)
none (not computed)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from sstrkit.errors import InvalidInputError

if TYPE_CHECKING:
    from sstrkit.sirt.plan_methods import CompartmentDoses
    from sstrkit.sirt.plan_uptake import TumourToNormal

__all__ = ["TN_SOURCES", "TnComparison", "TnSource", "parse_tn_source", "planning_tn"]

TnSource = Literal["measured", "pvc"]
#: The T/N a plan can use: the measured one (default, the normal liver's safe side) or the
#: GTM partial-volume-corrected one.
TN_SOURCES: Final = ("measured", "pvc")


def parse_tn_source(value: str) -> TnSource:
    """``measured`` or ``pvc`` (case and spaces ignored), else an InvalidInputError."""
    v = value.strip().lower()
    if v not in TN_SOURCES:
        raise InvalidInputError("T/N source", expected="measured or pvc", actual=value)
    return "pvc" if v == "pvc" else "measured"


def planning_tn(tn: TumourToNormal | None, source: TnSource) -> float | None:
    """The T/N the plan uses (None: no T/N measured). ``source="pvc"`` without a corrected
    T/N is refused — the plan never falls back silently to the other value."""
    if tn is None:
        if source == "pvc":
            raise InvalidInputError(
                "partial-volume-corrected T/N (--tn-source pvc)",
                expected="a T/N measured on tumour VOIs of the MAA SPECT/CT",
                actual="no T/N",
                fix="give tumour VOIs, or plan with --tn-source measured",
            )
        return None
    if source == "measured":
        return tn.ratio
    if tn.pvc is None:
        raise InvalidInputError(
            "partial-volume-corrected T/N (--tn-source pvc)",
            expected="a GTM-corrected T/N on the MAA SPECT",
            actual=f"none ({tn.pvc_note or 'not computed'})",
            fix="give the MAA SPECT's resolution (--spect-fwhm-mm, or fwhm_mm in the "
            "manifest's maa_spect entry), or plan with --tn-source measured",
        )
    return tn.pvc.ratio


@dataclass(frozen=True)
class TnComparison:
    """Measured and corrected T/N and the partition-model doses each gives at the plan's
    activity (None where unknown); ``source``: the one the plan used."""

    source: TnSource
    measured: float | None
    pvc: float | None
    pvc_fwhm_mm: float | None
    pvc_fwhm_source: str | None
    pvc_note: str
    doses_measured: CompartmentDoses | None
    doses_pvc: CompartmentDoses | None

    @classmethod
    def of(
        cls,
        tn: TumourToNormal | None,
        source: TnSource,
        doses_measured: CompartmentDoses | None,
        doses_pvc: CompartmentDoses | None,
    ) -> TnComparison:
        pvc = None if tn is None else tn.pvc
        return cls(
            source=source,
            measured=None if tn is None else tn.ratio,
            pvc=None if pvc is None else pvc.ratio,
            pvc_fwhm_mm=None if pvc is None else pvc.fwhm_mm,
            pvc_fwhm_source=None if pvc is None else pvc.fwhm_source,
            pvc_note="" if tn is None else tn.pvc_note,
            doses_measured=doses_measured,
            doses_pvc=doses_pvc,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "measured": self.measured,
            "pvc": self.pvc,
            "pvc_method": None if self.pvc is None else "gtm",
            "pvc_fwhm_mm": self.pvc_fwhm_mm,
            "pvc_fwhm_source": self.pvc_fwhm_source,
            "pvc_note": self.pvc_note or None,
            "doses_measured_tn": (
                None if self.doses_measured is None else self.doses_measured.to_dict()
            ),
            "doses_pvc_tn": None if self.doses_pvc is None else self.doses_pvc.to_dict(),
        }
