"""What a PACS export of SIRT images carries beyond the generic writers' headers.

:func:`annotate` completes written NM/PT files in place (atomically):

* RadiopharmaceuticalCodeSequence (0054,0304) in the RadiopharmaceuticalInformationSequence,
  DICOM CID 25: SNOMED CT ``85693008`` "Technetium Tc^99m^ aggregated albumin"
  (:data:`MAA_CODE`) or ``764678003`` "Yttrium^90^ microspheres" (:data:`Y90_SPHERES_CODE`);
* RadionuclidePositronFraction (0018,1076) of a 90Y PET (31.86e-6, Selwyn et al. 2007);
* for a reconstructed NM SPECT whose EnergyWindowInformationSequence is empty: its photopeak
  window (lower and upper limit, keV, and a name).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from sstrkit.io.dicom_modules import _atomic_save

__all__ = ["MAA_CODE", "Y90_SPHERES_CODE", "annotate"]

#: (code value, scheme, meaning) of DICOM CID 25.
MAA_CODE = ("85693008", "SCT", "Technetium Tc^99m^ aggregated albumin")
Y90_SPHERES_CODE = ("764678003", "SCT", "Yttrium^90^ microspheres")


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


def _windows(windows: Sequence[tuple[float, float]], name: str) -> DicomSequence:
    ranges = []
    for lo, hi in windows:
        r = Dataset()
        r.EnergyWindowLowerLimit = f"{lo:.6g}"
        r.EnergyWindowUpperLimit = f"{hi:.6g}"
        ranges.append(r)
    item = Dataset()
    item.EnergyWindowRangeSequence = DicomSequence(ranges)
    item.EnergyWindowName = name[:16]  # SH
    return DicomSequence([item])


def annotate(
    paths: Iterable[Path],
    *,
    code: tuple[str, str, str],
    positron_fraction: float | None = None,
    energy_windows: Sequence[tuple[float, float]] = (),
    window_name: str = "",
) -> None:
    """Add the radiopharmaceutical code (and the other attributes above) to every file."""
    for path in paths:
        ds = pydicom.dcmread(path)
        item = ds.RadiopharmaceuticalInformationSequence[0]
        item.RadiopharmaceuticalCodeSequence = DicomSequence([_code(*code)])
        if positron_fraction is not None:
            item.RadionuclidePositronFraction = f"{positron_fraction:.6g}"
        if energy_windows and ds.Modality == "NM" and not ds.get("EnergyWindowInformationSequence"):
            ds.EnergyWindowInformationSequence = _windows(energy_windows, window_name)
        _atomic_save(ds, Path(path))
