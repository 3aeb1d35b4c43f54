"""Red-marrow absorbed dose by the blood-based method (EANM guideline).

Method (Hindorf et al., EANM Dosimetry Committee guidelines for bone marrow and
whole-body dosimetry, Eur J Nucl Med Mol Imaging 2010;37:1238–50)::

    Ã_RM  = [Ã]_blood · RMBLR · m_RM                 (blood TIA per mL × ratio × marrow mass)
    D_RM  = Ã_RM · S(RM←RM) + Ã_RB · S(RM←RB)        (Ã_RB = Ã_WB − Ã_RM)

* ``[Ã]_blood`` is the blood TIA concentration (Bq·s per mL); as in the
  guideline, activity per mL of blood and per g of marrow are equated.
* RMBLR, the red-marrow-to-blood activity-concentration ratio, defaults to 1:
  for 177Lu-DOTATATE the marrow concentration equals the blood concentration
  (Forrer et al., Eur J Nucl Med Mol Imaging 2009;36:1138–46), and the EANM
  guideline recommends RMBLR = 1 for small molecules without specific marrow
  uptake. Give another value for antibodies or specific binding.
* m_RM: the ICRP Publication 89 reference red-marrow mass (adult male 1170 g,
  female 900 g; the sex is a :data:`~sstrkit.core.body.Sex`, other spellings such
  as ``"female"`` are read by :func:`~sstrkit.core.body.parse_sex`), scaled to the
  patient by total-body mass (m_RM = m_RM,ref · m_WB / m_WB,ref, reference
  73 kg / 60 kg) as the guideline suggests, unless a patient-specific marrow mass is given.
* Electron self-dose: S_e(RM←RM) = E_e·φ_e / m_RM with φ_e = 1 by default
  (electrons absorbed in the marrow cavities; an overestimate for the most
  energetic β emitters such as 90Y, whose electrons partly reach the trabecular
  bone — give ``electron_absorbed_fraction`` to override).
* Photons (self and remainder of body): documented S-value approximation —
  photons from activity spread through the body (marrow or remainder) give a
  uniform photon dose rate over the whole body, S_γ(RM←RM) = S_γ(RM←TB) =
  S_γ(TB←TB) = E_γ·φ_γ(m_WB)/m_WB with the sphere-model φ_γ at the body mass.
  With this choice the MIRD remainder formula
  S(RM←RB) = S(RM←TB)·m_TB/m_RB − S(RM←RM)·m_RM/m_RB gives
  S_γ(RM←RB) = S_γ(TB←TB); the photon self and remainder parts are reported
  separately. Cross doses from individual organs/tumours are contained in the
  whole-body photon term when their TIA is part of the whole-body TIA.

Examples
--------
>>> d = red_marrow_dose("Lu-177", blood_tia_bq_s_per_ml=3.6e7)
>>> round(d.red_marrow_mass_g), round(d.self_electron_gy * 1000, 3)   # mGy
(1170, 0.853)
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

from sstrkit.core.body import Sex, parse_sex
from sstrkit.core.provenance import Step
from sstrkit.core.units import G_PER_KG, J_PER_MEV
from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import Nuclide, get_nuclide
from sstrkit.therapy.sphere import SOURCES, sphere_s_value

__all__ = ["MarrowDose", "Sex", "red_marrow_dose", "reference_mass_g", "sex_word"]

#: The word for each :data:`Sex` in the ICRP 89 tables, case files and JSON outputs.
SEX_WORDS: Final[dict[Sex, Literal["male", "female"]]] = {"M": "male", "F": "female"}

MARROW_SOURCES: Final[tuple[str, ...]] = (
    "Hindorf et al., EANM bone marrow dosimetry guideline, EJNMMI 2010;37:1238",
    "Forrer et al., EJNMMI 2009;36:1138 (RMBLR = 1 for 177Lu-DOTATATE)",
    "ICRP Publication 89 (2002) reference masses",
    *SOURCES,
)


@cache
def _reference_masses() -> dict[str, Any]:
    text = (
        resources.files("sstrkit.therapy")
        .joinpath("data", "reference_masses.toml")
        .read_text(encoding="utf-8")
    )
    return tomllib.loads(text)


def sex_word(sex: Sex) -> Literal["male", "female"]:
    """``"male"`` or ``"female"``: the spelling of ``sex`` in tables and outputs.

    >>> sex_word("F"), sex_word("M")
    ('female', 'male')
    """
    return SEX_WORDS[sex]


def reference_mass_g(tissue: str, sex: Sex | str = "M") -> float:
    """ICRP Publication 89 reference adult mass (g) of ``tissue``.

    ``sex`` is ``"F"`` or ``"M"``; other spellings (``"female"``...) are read by
    :func:`~sstrkit.core.body.parse_sex`.

    >>> reference_mass_g("red_marrow", "F"), reference_mass_g("kidneys")
    (900.0, 310.0)
    """
    table = _reference_masses()
    masses = table[sex_word(parse_sex(sex))]
    if tissue not in masses:
        raise InvalidInputError(
            "reference tissue", expected=f"one of {sorted(masses)}", actual=repr(tissue)
        )
    return float(masses[tissue])


@dataclass(frozen=True)
class MarrowDose:
    """Red-marrow absorbed dose (Gy) and the quantities it came from."""

    nuclide: str
    red_marrow_mass_g: float
    red_marrow_tia_bq_s: float
    remainder_tia_bq_s: float | None
    rmblr: float
    self_electron_gy: float
    self_photon_gy: float
    remainder_photon_gy: float | None
    electron_absorbed_fraction: float
    whole_body_mass_g: float
    mass_source: str
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def total_gy(self) -> float:
        return self.self_electron_gy + self.self_photon_gy + (self.remainder_photon_gy or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nuclide": self.nuclide,
            "total_gy": self.total_gy,
            "self_electron_gy": self.self_electron_gy,
            "self_photon_gy": self.self_photon_gy,
            "remainder_photon_gy": self.remainder_photon_gy,
            "red_marrow_mass_g": self.red_marrow_mass_g,
            "mass_source": self.mass_source,
            "red_marrow_tia_bq_s": self.red_marrow_tia_bq_s,
            "remainder_tia_bq_s": self.remainder_tia_bq_s,
            "rmblr": self.rmblr,
            "electron_absorbed_fraction": self.electron_absorbed_fraction,
            "whole_body_mass_g": self.whole_body_mass_g,
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _finite(name: str, value: float, lo: float, hi: float, unit: str) -> float:
    v = float(value)
    if not math.isfinite(v) or not lo <= v <= hi:
        raise InvalidInputError(name, expected=f"{lo}–{hi} {unit}", actual=value)
    return v


def red_marrow_dose(
    nuclide: str | Nuclide,
    *,
    blood_tia_bq_s_per_ml: float,
    rmblr: float = 1.0,
    sex: Sex | str = "M",
    patient_mass_g: float | None = None,
    red_marrow_mass_g: float | None = None,
    whole_body_tia_bq_s: float | None = None,
    electron_absorbed_fraction: float = 1.0,
    inputs: tuple[str, ...] = (),
) -> MarrowDose:
    """Red-marrow dose by the EANM blood-based method; see the module text.

    Parameters
    ----------
    nuclide
        ICRP-107 name or nuclide.
    blood_tia_bq_s_per_ml
        Time-integrated blood activity concentration (Bq·s/mL).
    rmblr
        Red-marrow-to-blood concentration ratio (default 1).
    sex
        Selects the ICRP 89 reference masses: ``"F"`` or ``"M"`` (other spellings
        are read by :func:`~sstrkit.core.body.parse_sex`).
    patient_mass_g
        Patient total-body mass; scales the reference marrow mass and is the
        mass of the uniform photon field (default: ICRP 89 reference body mass).
    red_marrow_mass_g
        Patient-specific red-marrow mass, overriding the scaled reference.
    whole_body_tia_bq_s
        Whole-body TIA; enables the remainder-of-body photon contribution.
    electron_absorbed_fraction
        φ_e(RM←RM), default 1.

    Raises
    ------
    InvalidInputError
        Negative or non-finite inputs, RMBLR outside 0–10, φ_e outside 0–1, or
        a whole-body TIA smaller than the marrow TIA.
    """
    nuc = nuclide if isinstance(nuclide, Nuclide) else get_nuclide(nuclide)
    body_sex = parse_sex(sex)
    word = sex_word(body_sex)
    c_blood = _finite("blood TIA concentration", blood_tia_bq_s_per_ml, 0.0, math.inf, "Bq·s/mL")
    ratio = _finite("RMBLR", rmblr, 0.0, 10.0, "(ratio)")
    phi_e = _finite("red-marrow electron absorbed fraction", electron_absorbed_fraction, 0, 1, "")
    m_wb_ref = reference_mass_g("total_body", body_sex)
    m_wb = m_wb_ref
    if patient_mass_g is not None:
        m_wb = _finite("patient mass", patient_mass_g, 1000.0, 500000.0, "g")
    if red_marrow_mass_g is not None:
        m_rm = _finite("red-marrow mass", red_marrow_mass_g, 1.0, 10000.0, "g")
        mass_source = "patient-specific"
    else:
        m_rm = reference_mass_g("red_marrow", body_sex) * m_wb / m_wb_ref
        mass_source = (
            f"ICRP 89 reference ({word}) scaled by body mass"
            if patient_mass_g is not None
            else f"ICRP 89 reference ({word})"
        )
    tia_rm = c_blood * ratio * m_rm
    remainder = None
    if whole_body_tia_bq_s is not None:
        tia_wb = _finite("whole-body TIA", whole_body_tia_bq_s, 0.0, math.inf, "Bq·s")
        if tia_wb < tia_rm:
            raise InvalidInputError(
                "whole-body TIA",
                expected=f"≥ the red-marrow TIA ({tia_rm:.4g} Bq·s)",
                actual=f"{tia_wb:.4g} Bq·s",
                fix="check the whole-body curve, the blood concentration units (per mL) and RMBLR",
            )
        remainder = tia_wb - tia_rm

    s_wb = sphere_s_value(nuc, m_wb, "soft")
    s_gamma_tb = s_wb.s_photon_gy_per_bq_s  # E_γ φ_γ(m_WB) / m_WB
    e_e = s_wb.electron_energy_mev + s_wb.alpha_energy_mev
    self_e = tia_rm * e_e * phi_e * J_PER_MEV / (m_rm / G_PER_KG)
    self_g = tia_rm * s_gamma_tb
    rem_g = None if remainder is None else remainder * s_gamma_tb
    step = Step.make(
        "red_marrow_dose_blood_method",
        {
            "nuclide": nuc.name,
            "blood_tia_bq_s_per_ml": c_blood,
            "rmblr": ratio,
            "sex": word,
            "patient_mass_g": patient_mass_g,
            "red_marrow_mass_g": m_rm,
            "mass_source": mass_source,
            "whole_body_tia_bq_s": whole_body_tia_bq_s,
            "electron_absorbed_fraction": phi_e,
            "photon_model": "uniform whole-body photon field, sphere phi_gamma at body mass",
        },
        inputs=inputs,
        sources=(*MARROW_SOURCES, nuc.data_source),
    )
    return MarrowDose(
        nuclide=nuc.name,
        red_marrow_mass_g=m_rm,
        red_marrow_tia_bq_s=tia_rm,
        remainder_tia_bq_s=remainder,
        rmblr=ratio,
        self_electron_gy=self_e,
        self_photon_gy=self_g,
        remainder_photon_gy=rem_g,
        electron_absorbed_fraction=phi_e,
        whole_body_mass_g=m_wb,
        mass_source=mass_source,
        provenance=(step,),
    )
