"""SIRT planning limits and targets, each with its source (the numbers in one place).

**Lung** (both devices): at most 30 Gy to the lungs in one treatment and 50 Gy over
all treatments — the partition-model limits of Ho et al. (Eur J Nucl Med 1997;24:
293-298), after radiation pneumonitis was seen above them (Leung TWT et al., Int J
Radiat Oncol Biol Phys 1995;33:919-924); repeated by the consensus recommendations
(Kennedy A et al., Int J Radiat Oncol Biol Phys 2007;68:13-23), AAPM TG-144 (Dezarn
WA et al., Med Phys 2011;38:4824-4845) and the EANM procedure guideline (Weber M et
al., Eur J Nucl Med Mol Imaging 2022;49:1682-1699).

**Normal liver and tumour** (multi-compartment, i.e. partition-model, mean absorbed
doses; Weber et al. 2022, Tables 2 and 3, the resin table modified from Levillain H et
al., Eur J Nucl Med Mol Imaging 2021;48:1570-1584):

* resin microspheres: normal perfused liver < 40 Gy (unilobar and bilobar
  treatments), < 30 Gy in pretreated patients or those with compromised liver
  function (``pretreated_liver``); tumour > 100 Gy (the metastatic-colorectal row;
  ≥ 100-120 Gy for HCC). Single-compartment dosimetry is not recommended for resin
  except radiation segmentectomy (perfused volume > 150 Gy).
* glass microspheres: whole normal liver < 75 Gy (range 50-90 Gy: < 50 Gy for HCC
  with bilirubin > 1.1 mg/dL, used here for ``pretreated_liver``); tumour ≥ 189 Gy
  (metastatic colorectal row; ≥ 205 Gy HCC, ≥ 260 Gy ICC);
  single compartment: perfused volume 80-150 Gy (TheraSphere instructions for use;
  Table 2), target :data:`GLASS_PERFUSED_TARGET_GY` = 120 Gy, the middle of the range.

The guideline has no row for neuroendocrine liver metastases; the metastatic
(colorectal) row is used for liver metastases, and each value is an option.
"Limits" cap the activity (a plan never exceeds them); "targets" are reported as met
or not.

**Resin BSA method: lung-shunt reductions** (SIR-Spheres instructions for use;
Kennedy et al. 2007): LSF < 10 % full activity; 10-15 % reduce by 20 %; 15-20 %
reduce by 40 %; > 20 % do not treat. A value on a band edge takes the larger
reduction (10 % → 20 % off, 15 % → 40 % off; 20 % is still "15-20 %"):
:func:`resin_lsf_reduction`.

Examples
--------
>>> default_limits("resin").normal_liver_gy, default_limits("resin", pretreated_liver=True
... ).normal_liver_gy
(40.0, 30.0)
>>> [resin_lsf_reduction(x) for x in (0.0999, 0.10, 0.1499, 0.15, 0.20, 0.2001)]
[1.0, 0.8, 0.8, 0.6, 0.6, None]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from sstrkit.errors import InvalidInputError

__all__ = [
    "DEVICES",
    "GLASS_PERFUSED_TARGET_GY",
    "LUNG_CUMULATIVE_GY",
    "LUNG_PER_TREATMENT_GY",
    "RESIN_LSF_BANDS",
    "SOURCES",
    "Device",
    "SirtLimits",
    "default_limits",
    "parse_device",
    "resin_lsf_reduction",
]

Device = Literal["resin", "glass"]
DEVICES: Final = ("resin", "glass")

HO_1997 = (
    "Ho S, Lau WY, Leung TWT et al. Clinical evaluation of the partition model for "
    "estimating radiation doses from yttrium-90 microspheres in the treatment of hepatic "
    "cancer. Eur J Nucl Med 1997;24:293-298"
)
LEUNG_1995 = (
    "Leung TWT, Lau WY, Ho SKW et al. Radiation pneumonitis after selective internal "
    "radiation treatment with intraarterial 90yttrium-microspheres for inoperable hepatic "
    "tumors. Int J Radiat Oncol Biol Phys 1995;33:919-924"
)
KENNEDY_2007 = (
    "Kennedy A, Nag S, Salem R et al. Recommendations for radioembolization of hepatic "
    "malignancies using yttrium-90 microsphere brachytherapy: a consensus panel report from "
    "the Radioembolization Brachytherapy Oncology Consortium. Int J Radiat Oncol Biol Phys "
    "2007;68:13-23"
)
TG144 = (
    "Dezarn WA, Cessna JT, DeWerd LA et al. Recommendations of the American Association of "
    "Physicists in Medicine on dosimetry, imaging, and quality assurance procedures for 90Y "
    "microsphere brachytherapy in the treatment of hepatic malignancies (TG-144). Med Phys "
    "2011;38:4824-4845"
)
EANM_2022 = (
    "Weber M, Lam M, Chiesa C et al. EANM procedure guideline for the treatment of liver "
    "cancer and liver metastases with intra-arterial radioactive compounds. Eur J Nucl Med "
    "Mol Imaging 2022;49:1682-1699"
)
LEVILLAIN_2021 = (
    "Levillain H, Bagni O, Deroose CM et al. International recommendations for personalised "
    "selective internal radiation therapy of primary and metastatic liver diseases with "
    "yttrium-90 resin microspheres. Eur J Nucl Med Mol Imaging 2021;48:1570-1584"
)
SIRSPHERES_IFU = "SIR-Spheres Y-90 resin microspheres, Instructions for Use (Sirtex Medical)"
THERASPHERE_IFU = "TheraSphere Y-90 glass microspheres, Instructions for Use (Boston Scientific)"

#: Source of each number, by key (also printed in the plan's provenance and the docs).
SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "lung": f"{HO_1997}; {LEUNG_1995}; {KENNEDY_2007}; {TG144}; {EANM_2022}",
        "resin_normal_liver": f"{EANM_2022}, Table 3 (after {LEVILLAIN_2021})",
        "resin_tumour": f"{EANM_2022}, Table 3 (metastatic colorectal row)",
        "glass_normal_liver": f"{EANM_2022}, Table 2 (whole normal liver, < 75 Gy, 50-90)",
        "glass_tumour": f"{EANM_2022}, Table 2 (metastatic colorectal row)",
        "glass_perfused": f"{THERASPHERE_IFU}; {EANM_2022}, Table 2 (80-150 Gy)",
        "resin_bsa": f"{SIRSPHERES_IFU}; {KENNEDY_2007}",
    }
)

#: Lung mean absorbed dose limits (Gy): one treatment, all treatments.
LUNG_PER_TREATMENT_GY: Final = 30.0
LUNG_CUMULATIVE_GY: Final = 50.0
#: Glass single-compartment target: the middle of 80-150 Gy.
GLASS_PERFUSED_TARGET_GY: Final = 120.0
GLASS_PERFUSED_RANGE_GY: Final = (80.0, 150.0)

#: Resin BSA method: (LSF upper edge, activity factor); beyond the last edge: no SIRT.
RESIN_LSF_BANDS: Final = ((0.10, 1.0), (0.15, 0.8), (0.20, 0.6))
#: A fraction within this of a band edge is on the edge (the conservative side).
_EDGE_TOL: Final = 1e-9


def parse_device(device: str) -> Device:
    """``"resin"`` or ``"glass"`` (case-insensitive), else :class:`InvalidInputError`."""
    d = str(device).strip().lower()
    if d == "resin":
        return "resin"
    if d == "glass":
        return "glass"
    raise InvalidInputError(
        "microsphere device",
        expected="resin (SIR-Spheres) or glass (TheraSphere)",
        actual=repr(device),
    )


def resin_lsf_reduction(lung_shunt_fraction: float) -> float | None:
    """Activity factor of the resin BSA method for an LSF, or None (> 20 %: no SIRT).

    Edges take the larger reduction (module docstring).
    """
    lsf = float(lung_shunt_fraction)
    if not 0.0 <= lsf < 1.0:
        raise InvalidInputError("lung shunt fraction", expected="a fraction in [0, 1)", actual=lsf)
    (e1, f1), (e2, f2), (e3, f3) = RESIN_LSF_BANDS
    if lsf < e1 - _EDGE_TOL:
        return f1
    if lsf < e2 - _EDGE_TOL:
        return f2
    if lsf <= e3 + _EDGE_TOL:
        return f3
    return None


@dataclass(frozen=True)
class SirtLimits:
    """Safety limits (capping the activity) and targets (reported) of one plan, in Gy."""

    device: Device
    normal_liver_gy: float
    tumour_target_gy: float
    perfused_target_gy: float | None
    lung_per_treatment_gy: float = LUNG_PER_TREATMENT_GY
    lung_cumulative_gy: float = LUNG_CUMULATIVE_GY
    pretreated_liver: bool = False
    sources: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "normal_liver_gy": self.normal_liver_gy,
            "tumour_target_gy": self.tumour_target_gy,
            "perfused_target_gy": self.perfused_target_gy,
            "lung_per_treatment_gy": self.lung_per_treatment_gy,
            "lung_cumulative_gy": self.lung_cumulative_gy,
            "pretreated_liver": self.pretreated_liver,
            "sources": dict(self.sources),
        }


def default_limits(device: str, *, pretreated_liver: bool = False) -> SirtLimits:
    """The cited default limits and targets of ``device`` (module docstring)."""
    dev = parse_device(device)
    if dev == "resin":
        return SirtLimits(
            device=dev,
            normal_liver_gy=30.0 if pretreated_liver else 40.0,
            tumour_target_gy=100.0,
            perfused_target_gy=None,
            pretreated_liver=pretreated_liver,
            sources={
                "lung": SOURCES["lung"],
                "normal_liver": SOURCES["resin_normal_liver"],
                "tumour": SOURCES["resin_tumour"],
            },
        )
    return SirtLimits(
        device=dev,
        normal_liver_gy=50.0 if pretreated_liver else 75.0,
        tumour_target_gy=189.0,
        perfused_target_gy=GLASS_PERFUSED_TARGET_GY,
        pretreated_liver=pretreated_liver,
        sources={
            "lung": SOURCES["lung"],
            "normal_liver": SOURCES["glass_normal_liver"],
            "tumour": SOURCES["glass_tumour"],
            "perfused": SOURCES["glass_perfused"],
        },
    )
