"""The measurements of a 99mTc-MAA work-up: typed inputs in, the planning quantities out.

:class:`MaaInputs` holds what a SIRT plan is measured on — the planar ANT/POST study
(:class:`~sstrkit.io.planar.PlanarWholeBody`, with or without lung/liver ROIs), the
MAA SPECT (a :class:`~sstrkit.core.volume.Volume` in Bq/mL or counts) with its CT
resampled onto the SPECT grid, and the volumes of interest on that grid
(:class:`MaaVois`: liver with tumours, lungs, tumours) — no file paths:
:func:`sstrkit.pipeline.sirt_inputs.load_maa_inputs` reads them from a study folder.

:func:`measure_maa` turns them into :class:`MaaFindings`: the planar and the SPECT/CT
lung shunt fractions (:mod:`sstrkit.sirt.plan_shunt`), T/N
(:mod:`sstrkit.sirt.plan_uptake`; measured, and partial-volume corrected when the SPECT's
resolution ``spect_fwhm_mm`` is known: :mod:`sstrkit.sirt.plan_tn_pvc`), volumes and
masses of liver, tumour, normal liver and lungs (CT densitometry, else reference densities;
no lung mass without a CT), with every flag raised on the way.
:func:`sstrkit.sirt.planning.plan_sirt` plans on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sstrkit.core.provenance import Step
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.io.planar import PlanarWholeBody
from sstrkit.sirt.plan_shunt import (
    LungShunt,
    lung_shunt_planar,
    lung_shunt_spect,
    planar_rois,
)
from sstrkit.sirt.plan_uptake import TumourToNormal, mass_g, tumour_to_normal

__all__ = ["MaaFindings", "MaaInputs", "MaaVois", "PriorSirt", "measure_maa"]

_LIVER_DENSITY = 1.05  # g/mL, ICRP Publication 110 (as therapy.region_activity)
_LESION_DENSITY = 1.04


@dataclass(frozen=True)
class MaaVois:
    """Volumes of interest on the MAA SPECT grid.

    ``liver`` is the whole liver (tumours included, the perfused territory for a
    whole-liver treatment), ``lungs`` both lungs, ``tumours`` name → mask.
    ``automatic_organs`` / ``automatic_tumours`` say which were segmented by sstrkit.
    """

    liver: NDArray[np.bool_] = field(repr=False)
    lungs: NDArray[np.bool_] | None = field(repr=False)
    tumours: Mapping[str, NDArray[np.bool_]] = field(default_factory=dict, repr=False)
    source: str = ""
    automatic_organs: bool = False
    automatic_tumours: bool = False
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriorSirt:
    """An earlier 90Y treatment (its lung dose counts against the 50 Gy cumulative limit).

    ``lung_shunt_fraction`` None: unknown (the plan then uses the current LSF, flagged).
    """

    activity_bq: float
    lung_shunt_fraction: float | None = None
    time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "activity_bq": self.activity_bq,
            "lung_shunt_fraction": self.lung_shunt_fraction,
            "time": self.time,
        }


@dataclass(frozen=True)
class MaaInputs:
    """A 99mTc-MAA work-up as typed objects (no paths); every part optional.

    ``ct_hu`` is the MAA CT resampled onto the SPECT grid (HU) for the masses.
    ``planar_lung_roi``/``planar_liver_roi`` (anterior-view geometry) replace the
    automatic planar ROIs. ``bsa_m2``, ``sex`` and ``prior_lung_dose_gy`` come from the
    clinical record (``prior_lung_dose_gy``: lung dose of earlier treatments known as a
    dose; ``prior_sirt``: earlier treatments known by activity and LSF, whose lung dose
    the plan computes with its lung mass); ``target`` is the treated territory,
    ``device`` the planned device when the clinical record names it.
    ``spect_fwhm_mm``: the MAA SPECT's reconstructed resolution for the partial-volume
    correction of T/N, ``spect_fwhm_source`` where it comes from (``--spect-fwhm-mm``,
    the manifest, a header estimate); None: unknown (``spect_fwhm_note`` may say why) —
    no corrected T/N then.
    """

    planar: PlanarWholeBody | None = None
    planar_lung_roi: NDArray[np.bool_] | None = field(default=None, repr=False)
    planar_liver_roi: NDArray[np.bool_] | None = field(default=None, repr=False)
    spect: Volume | None = None
    ct_hu: Volume | None = None
    vois: MaaVois | None = None
    bsa_m2: float | None = None
    sex: str | None = None
    prior_lung_dose_gy: float = 0.0
    prior_sirt: tuple[PriorSirt, ...] = ()
    target: str = "whole_liver"
    device: str | None = None
    perfused_fraction: float = 1.0
    notes: tuple[str, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    spect_fwhm_mm: float | None = None
    spect_fwhm_source: str | None = None
    spect_fwhm_note: str = ""


@dataclass(frozen=True)
class MaaFindings:
    """The planning quantities measured on a MAA work-up (internal units)."""

    lsf_planar: LungShunt | None = None
    lsf_spect: LungShunt | None = None
    tumour_to_normal: TumourToNormal | None = None
    liver_volume_ml: float | None = None
    tumour_volume_ml: float | None = None
    liver_mass_g: float | None = None
    tumour_mass_g: float | None = None
    normal_liver_mass_g: float | None = None
    lung_mass_g: float | None = None
    mass_source: str | None = None
    lung_mass_source: str | None = None
    bsa_m2: float | None = None
    sex: str | None = None
    prior_lung_dose_gy: float = 0.0
    prior_sirt: tuple[PriorSirt, ...] = ()
    target: str = "whole_liver"
    device: str | None = None
    perfused_fraction: float = 1.0
    voi_source: str | None = None
    flags: tuple[str, ...] = ()
    provenance: Step = field(default_factory=lambda: Step.make("measure_maa"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "lsf_planar": None if self.lsf_planar is None else self.lsf_planar.to_dict(),
            "lsf_spect": None if self.lsf_spect is None else self.lsf_spect.to_dict(),
            "tumour_to_normal": (
                None if self.tumour_to_normal is None else self.tumour_to_normal.to_dict()
            ),
            "liver_volume_ml": self.liver_volume_ml,
            "tumour_volume_ml": self.tumour_volume_ml,
            "liver_mass_g": self.liver_mass_g,
            "tumour_mass_g": self.tumour_mass_g,
            "normal_liver_mass_g": self.normal_liver_mass_g,
            "lung_mass_g": self.lung_mass_g,
            "mass_source": self.mass_source,
            "lung_mass_source": self.lung_mass_source,
            "bsa_m2": self.bsa_m2,
            "sex": self.sex,
            "prior_lung_dose_gy": self.prior_lung_dose_gy,
            "prior_sirt": [p.to_dict() for p in self.prior_sirt],
            "target": self.target,
            "device": self.device,
            "perfused_fraction": self.perfused_fraction,
            "voi_source": self.voi_source,
            "flags": list(self.flags),
            "provenance": self.provenance.to_dict(),
        }


def _planar_lsf(inputs: MaaInputs, flags: list[str]) -> LungShunt | None:
    planar = inputs.planar
    if planar is None:
        return None
    lung, liver = inputs.planar_lung_roi, inputs.planar_liver_roi
    if lung is None or liver is None:
        try:
            rois = planar_rois(planar)
        except InvalidInputError as exc:
            flags.append(f"no planar lung shunt fraction: {exc.one_line()}")
            return None
        lung = rois.lung if lung is None else lung
        liver = rois.liver if liver is None else liver
        shunt = lung_shunt_planar(planar, lung_roi=lung, liver_roi=liver, flags=rois.flags)
        return replace(shunt, details={**shunt.details, "rois": rois.method})
    return lung_shunt_planar(planar, lung_roi=lung, liver_roi=liver)


def _masses(
    inputs: MaaInputs, vois: MaaVois, spect: Volume, out: dict[str, Any], flags: list[str]
) -> None:
    vml = spect.voxel_volume_ml
    rho = None
    if inputs.ct_hu is not None:
        from sstrkit.therapy.region_activity import density_from_ct

        if inputs.ct_hu.shape != spect.shape:
            raise GeometryMismatchError(
                "MAA CT",
                expected=f"the CT resampled onto the SPECT grid {spect.shape}",
                actual=inputs.ct_hu.shape,
            )
        rho = np.asarray(density_from_ct(inputs.ct_hu), dtype=np.float64)
    union = np.zeros(spect.shape, dtype=bool)
    for m in vois.tumours.values():
        union |= np.asarray(m, dtype=bool)
    liver = np.asarray(vois.liver, dtype=bool) | union
    out["liver_volume_ml"] = float(liver.sum()) * vml
    out["tumour_volume_ml"] = float(union.sum()) * vml
    out["liver_mass_g"], source = mass_g(
        liver, vml, density_g_ml=rho, reference_density_g_ml=_LIVER_DENSITY
    )
    out["tumour_mass_g"], _ = mass_g(
        union, vml, density_g_ml=rho, reference_density_g_ml=_LESION_DENSITY
    )
    out["normal_liver_mass_g"], _ = mass_g(
        liver & ~union, vml, density_g_ml=rho, reference_density_g_ml=_LIVER_DENSITY
    )
    out["mass_source"] = source
    if vois.lungs is not None and rho is not None and np.asarray(vois.lungs).any():
        out["lung_mass_g"], _ = mass_g(np.asarray(vois.lungs, dtype=bool), vml, density_g_ml=rho)
        out["lung_mass_source"] = "CT densitometry of the lung VOI (Kao YH et al. 2014)"
        z_any = np.asarray(np.asarray(vois.lungs, dtype=bool).any(axis=(1, 2)), dtype=bool)
        if bool(z_any[0]) or bool(z_any[-1]):
            flags.append(
                "lungs cut by the SPECT/CT field of view: CT lung mass too low (lung dose "
                "overestimated, the safe side)"
            )


def measure_maa(
    inputs: MaaInputs,
    *,
    lung_margin_mm: float = 20.0,
    liver_margin_mm: float = 10.0,
    tumour_margin_mm: float = 0.0,
) -> MaaFindings:
    """Lung shunt fractions, T/N, volumes and masses of a MAA work-up (module docstring)."""
    if inputs.planar is None and inputs.spect is None:
        raise InvalidInputError(
            "99mTc-MAA study",
            expected="a planar ANT/POST study or a SPECT",
            actual="neither",
            fix="add the MAA series to the manifest (series.maa_planar / series.maa_spect)",
        )
    flags: list[str] = list(inputs.notes)
    out: dict[str, Any] = {}
    lsf_planar = _planar_lsf(inputs, flags)
    lsf_spect = None
    tn = None
    spect, vois = inputs.spect, inputs.vois
    if spect is not None and vois is None:
        flags.append("MAA SPECT without volumes of interest: no SPECT/CT LSF, T/N or masses")
    if spect is not None and vois is not None:
        flags.extend(vois.notes)
        if vois.lungs is not None and np.asarray(vois.lungs).any():
            lsf_spect = lung_shunt_spect(
                spect,
                lungs=vois.lungs,
                liver=vois.liver,
                lung_margin_mm=lung_margin_mm,
                liver_margin_mm=liver_margin_mm,
            )
        else:
            flags.append("no lung VOI on the MAA SPECT/CT: no SPECT/CT lung shunt fraction")
        if vois.tumours:
            tn = tumour_to_normal(
                spect,
                tumours=vois.tumours,
                liver=vois.liver,
                tumour_margin_mm=tumour_margin_mm,
                lungs=vois.lungs,
                fwhm_mm=inputs.spect_fwhm_mm,
                fwhm_source=inputs.spect_fwhm_source,
                fwhm_note=inputs.spect_fwhm_note,
            )
            flags.extend(tn.flags)
        else:
            flags.append("no tumour VOI: T/N unknown (tumour mass 0 in the partition model)")
        _masses(inputs, vois, spect, out, flags)
    if inputs.target != "whole_liver" and inputs.perfused_fraction == 1.0:
        flags.append(
            f"treated territory {inputs.target!r}: the liver VOI is taken as the perfused "
            "territory; give a 'maa' segmentation of the perfused territory"
        )
    params = {
        "lung_margin_mm": lung_margin_mm,
        "liver_margin_mm": liver_margin_mm,
        "tumour_margin_mm": tumour_margin_mm,
        "spect_fwhm_mm": inputs.spect_fwhm_mm,
        "spect_fwhm_source": inputs.spect_fwhm_source,
        "inputs": dict(inputs.inputs),
        "voi_source": None if vois is None else vois.source,
    }
    return MaaFindings(
        lsf_planar=lsf_planar,
        lsf_spect=lsf_spect,
        tumour_to_normal=tn,
        bsa_m2=inputs.bsa_m2,
        sex=inputs.sex,
        prior_lung_dose_gy=inputs.prior_lung_dose_gy,
        prior_sirt=inputs.prior_sirt,
        target=inputs.target,
        device=inputs.device,
        perfused_fraction=inputs.perfused_fraction,
        voi_source=None if vois is None else vois.source,
        flags=tuple(dict.fromkeys(flags)),
        provenance=Step.make("measure_maa", params),
        **out,
    )
