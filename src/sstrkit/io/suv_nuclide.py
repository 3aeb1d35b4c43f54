"""The radionuclide a PET/SPECT header names, and its ICRP 107 half-life.

The SUV computation needs the nuclide for the half-life check
(:func:`sstrkit.io.plausibility.check_half_life`) and for the usual range of
administered activity. It is read, in this order, from

1. RadionuclideCodeSequence (0054,0300) > CodeMeaning (``"^68^Gallium"``);
2. the Radionuclide (0018,0030) or Radiopharmaceutical (0018,0031) name
   (``"68Ga-DOTATATE"``, ``"Ga-68 DOTATOC"``; ``FDG`` alone means F-18);
3. the half-life (override or RadionuclideHalfLife (0018,1075)) when it is
   within the plausibility tolerance of an ICRP 107 nuclide with an activity range.

Only names of nuclides in ICRP 107 (:mod:`sstrkit.physics.nuclides`) are accepted.

Examples
--------
>>> nuclide_from_code_meaning("Fluorine^18^"), nuclide_from_radiopharmaceutical("18F-FDG")
('F-18', 'F-18')
"""

from __future__ import annotations

import re

from pydicom.dataset import Dataset

from sstrkit.errors import SstrkitError
from sstrkit.io import plausibility
from sstrkit.io.suv_header import _num, _radiopharm_item

__all__ = ["nuclide_from_code_meaning", "nuclide_from_radiopharmaceutical"]

#: Element names of CodeMeaning values (``"^68^Gallium"``) → chemical symbol.
_ELEMENT_NAMES = {
    "fluorine": "F",
    "gallium": "Ga",
    "lutetium": "Lu",
    "copper": "Cu",
    "indium": "In",
    "technetium": "Tc",
    "yttrium": "Y",
    "iodine": "I",
    "zirconium": "Zr",
    "carbon": "C",
    "oxygen": "O",
    "nitrogen": "N",
    "rubidium": "Rb",
    "scandium": "Sc",
    "terbium": "Tb",
    "actinium": "Ac",
    "lead": "Pb",
    "bismuth": "Bi",
    "thallium": "Tl",
    "samarium": "Sm",
    "holmium": "Ho",
    "rhenium": "Re",
    "radium": "Ra",
    "strontium": "Sr",
    "xenon": "Xe",
    "cobalt": "Co",
    "germanium": "Ge",
}


def nuclide_from_code_meaning(meaning: str) -> str | None:
    """``"^18^Fluorine"`` or ``"Fluorine^18^"`` → ``"F-18"``; None if not recognised.

    Both orders are tried (mass number first, element first); a reading whose element is
    named (``Technetium``) or which is an ICRP 107 nuclide wins over a bare one- or
    two-letter reading, so that ``"Technetium^99m"`` is Tc-99m and not "M-99".

    >>> nuclide_from_code_meaning("^177^Lutetium"), nuclide_from_code_meaning("^99m^Technetium")
    ('Lu-177', 'Tc-99m')
    >>> nuclide_from_code_meaning("Technetium^99m"), nuclide_from_code_meaning("Indium-111")
    ('Tc-99m', 'In-111')
    """
    text = meaning.strip()
    candidates: list[tuple[str, bool]] = []  # (nuclide, element named in full)
    for pattern, mass_first in (
        (r"\^?(\d+m?)\^?\s*-?\s*([A-Za-z]+)", True),
        (r"([A-Za-z]+)\s*-?\s*\^?(\d+m?)\^?", False),
    ):
        for m in re.finditer(pattern, text):
            a, name = m.group(1, 2) if mass_first else m.group(2, 1)
            symbol = _ELEMENT_NAMES.get(name.lower())
            named = symbol is not None
            if symbol is None and len(name) <= 2:
                symbol = name.capitalize()
            if symbol:
                candidates.append((f"{symbol}-{a}", named))
    for nuclide, named in candidates:
        if named:
            return nuclide
    for nuclide, _ in candidates:
        if _icrp_half_life_s(nuclide) is not None:
            return nuclide
    return candidates[0][0] if candidates else None


def _code_nuclide(ds: Dataset) -> str | None:
    """Nuclide named by RadionuclideCodeSequence (0054,0300) > CodeMeaning, if any."""
    item = _radiopharm_item(ds)
    codes = item.get("RadionuclideCodeSequence") if item is not None else None
    if not codes:
        return None
    return nuclide_from_code_meaning(str(codes[0].get("CodeMeaning") or ""))


def _icrp_half_life_s(nuclide: str | None) -> float | None:
    """ICRP 107 half-life (s) of ``nuclide``, or None when it is not in ICRP 107."""
    if nuclide is None:
        return None
    from sstrkit.physics.nuclides import get_nuclide

    try:
        return get_nuclide(nuclide).half_life_s
    except SstrkitError:
        return None


#: A nuclide in a radiopharmaceutical name: mass number first ("68Ga") or symbol first ("Ga-68").
_NAME_NUCLIDE = (
    re.compile(r"(?<![A-Za-z0-9])(\d{1,3}m?)-?([A-Z][a-z]?)(?![a-z])"),
    re.compile(r"(?<![A-Za-z])([A-Z][a-z]?)-?(\d{1,3}m?)(?![0-9])"),
)


def nuclide_from_radiopharmaceutical(name: str) -> str | None:
    """``"68Ga-DOTATATE"``, ``"Ga-68 DOTATOC"``, ``"18F-FDG"`` → ICRP 107 name; else None.

    Only names of nuclides in ICRP 107 are accepted; ``FDG`` alone means F-18.

    >>> nuclide_from_radiopharmaceutical("68Ga-DOTATATE"), nuclide_from_radiopharmaceutical("FDG")
    ('Ga-68', 'F-18')
    >>> nuclide_from_radiopharmaceutical("PSMA-11") is None
    True
    """
    for pattern in _NAME_NUCLIDE:
        for m in pattern.finditer(name):
            a, sym = (m.group(1), m.group(2)) if m.group(1)[0].isdigit() else m.group(2, 1)
            candidate = f"{sym}-{a}"
            if _icrp_half_life_s(candidate) is not None:
                return candidate
    upper = name.upper()
    if "FDG" in upper or "FLUORODEOXYGLUCOSE" in upper:
        return "F-18"
    return None


def _identify_nuclide(ds: Dataset, half_life_override: float | None) -> tuple[str | None, str]:
    """Radionuclide for the plausibility checks: code sequence, name, else half-life.

    ``half_life_override`` (s) takes the place of RadionuclideHalfLife (0018,1075).
    """
    code = _code_nuclide(ds)
    if code is not None:
        return code, "RadionuclideCodeSequence"
    item = _radiopharm_item(ds)
    for keyword in ("Radionuclide", "Radiopharmaceutical"):
        text = str(item.get(keyword) or "") if item is not None else ""
        from_name = nuclide_from_radiopharmaceutical(text) if text else None
        if from_name is not None:
            return from_name, f"{keyword} {text!r}"
    hl = half_life_override or _num(item, "RadionuclideHalfLife", "0018,1075")
    if hl is not None and hl > 0:
        for name in plausibility.ACTIVITY_RANGES:
            ref = _icrp_half_life_s(name)
            if ref is not None and abs(hl - ref) <= plausibility.HALF_LIFE_TOLERANCE * ref:
                return name, f"half-life {hl:g} s"
    return None, ""
