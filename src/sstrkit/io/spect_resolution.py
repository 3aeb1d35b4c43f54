"""The reconstructed resolution (FWHM) of a SPECT, estimated from what its DICOM header says.

Clinical SPECT exports do not state the resolution of the reconstructed image, yet the
partial-volume correction of the dosimetry needs it (:mod:`sstrkit.therapy.pvc`). A
physicist estimates it from the camera and the acquisition; :func:`estimate_spect_fwhm`
does the same, from the header fields a camera writes (:func:`header_info`), and says
that it is an estimate (:attr:`ResolutionEstimate.flag`). A measured value (manifest
``fwhm_mm``, ``--spect-fwhm-mm``) always wins over it (docs/dosimetry.md, "SPECT
resolution").

Model (units: mm, MeV)
----------------------
* **Collimator** (parallel hole; CollimatorGridName / CollimatorType of the
  DetectorInformationSequence, or of the PET series module of per-slice exports): the
  class (LEHR, LEGP, ME, HE) from the name, the vendor from ``Manufacturer``, the hole
  diameter D and length L from the vendor specification as tabulated in the SIMIND
  collimator database (``simind_collim``). Geometric FWHM at distance x from the face
  (``cecchin2015``, after ``cherry2012``):
  R_coll = D (L_eff + x + c) / L_eff, L_eff = L − 2/μ_Pb(E), with c = 9.5 mm (a 3/8-inch
  NaI crystal, the commonest; model choice) and μ_Pb from the lead mass attenuation
  coefficients of ``cecchin2015`` (NIST values; log-log interpolated, density
  11.34 g/cm³). A vendor not stated: the mean over the class's tabulated vendors (their
  spread is named in the flag).
* **Distance**: the mean RadialPosition (rotation axis to collimator face) over the views
  (DetectorInformationSequence / RotationInformationSequence): a point at the rotation
  axis is at that distance in every view, and an off-axis point's distances average to
  it. Not stated: 155 mm (model: a body-contour orbit 15 mm clear of an adult torso of
  330 mm × 220 mm, whose mean half-width is its perimeter / 2π = 139 mm).
* **Intrinsic**: R_int(E) = 3.8 mm × √(140.5 keV / E) (3.8 mm at 140.5 keV inside the
  2.9–4.5 mm of modern cameras, ``cherry2012``; the 1/√E dependence on the number of
  scintillation photons, ``cherry2012``).
* **System** (planar): √(R_coll² + R_int²) (``cecchin2015``). **Reconstruction**: OSEM (or
  FBP) without resolution recovery keeps the system FWHM at the orbit's mean distance
  (``mird23``); the detector bins (the voxel size v, a uniform distribution of
  variance v²/12) and a stated Gaussian post-filter add in quadrature.
* **Photon energy**: the nuclide's γ line of highest yield (ICRP 107; 208.4 keV for 177Lu,
  the photopeak ``mird26`` and ``trangia2021`` image), else the centre of the first
  energy window.

Not estimated (``fwhm_mm`` None, with the reason): a reconstruction with resolution
recovery stated in ReconstructionMethod / ConvolutionKernel (RR, Flash3D, xSPECT,
Evolution, Astonish, CDR, PSF): its response is not a Gaussian of the system FWHM
(``hippelainen2016``: resolution compensation raised the 1.3 cm sphere's recovery from
0.19 to 0.43; ``uribe2017``), so no Gaussian FWHM stands for it; and a non-parallel
collimator (fan, cone, pinhole...).

No collimator in the header: the nuclide's class (photopeak ≤ 160 keV: LEHR; ≤ 300 keV:
medium energy, as ``mird26`` recommends for 177Lu; above: high energy) at the stated or
the model distance, flagged as a guess rather than an estimate.

Examples
--------
>>> info = SpectHeaderInfo(nuclide="Lu-177", collimator="MEGP", manufacturer="GE MEDICAL",
...                        radial_positions_mm=(150.0,), voxel_mm=4.8)
>>> est = estimate_spect_fwhm(info)
>>> est.method, round(est.fwhm_mm, 1)
('collimator model', 12.4)
>>> rr = estimate_spect_fwhm(SpectHeaderInfo(nuclide="Lu-177", reconstruction="OSEM 4i10s RR"))
>>> rr.fwhm_mm, rr.method
(None, 'none: resolution recovery')
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sstrkit.core.provenance import Step, jsonable
from sstrkit.core.units import KEV_PER_MEV

__all__ = [
    "COLLIMATORS",
    "DEFAULT_MEAN_DISTANCE_MM",
    "SOURCES",
    "Collimator",
    "ResolutionEstimate",
    "SpectHeaderInfo",
    "estimate_series_fwhm",
    "estimate_spect_fwhm",
    "header_info",
    "read_header_info",
]

#: Publications behind every number of this module (keys as named in the docstrings).
SOURCES: Mapping[str, str] = MappingProxyType(
    {
        "cecchin2015": "D. Cecchin et al., Analytical and experimental FWHM of a gamma camera: "
        "theoretical and practical issues. PeerJ 3 (2015) e722, and its calculator "
        "(rad.unipd.it/fwhm): R_coll = D (L_eff + x + c) / L_eff, L_eff = L - 2/mu, "
        "R_sys = sqrt(R_coll^2 + R_int^2); lead mass attenuation 1.910, 0.936, 0.373, 0.215, "
        "0.150 cm2/g at 150, 200, 300, 400, 500 keV, density 11.34 g/cm3",
        "cherry2012": "S. R. Cherry, J. A. Sorenson, M. E. Phelps, Physics in Nuclear "
        "Medicine, 4th ed., Elsevier 2012, ch. 14 (intrinsic resolution of modern cameras "
        "with 99mTc 2.9-4.5 mm FWHM, improving with energy as 1/sqrt(E); parallel-hole "
        "collimator resolution)",
        "simind_collim": "M. Ljungberg, SIMIND Monte Carlo program, collimator database "
        "collim.col (vendor hole diameter, septa and hole length; as distributed with "
        "PyTomography, src/pytomography/data/collim.col): Siemens Symbia ME 2.94/40.64 mm, "
        "LEHR 1.11/24.05, LEAP 1.45/24.05, HE 4.00/59.70; GE Infinia MEGP 3.00/58.0, LEHR "
        "1.50/35.0, LEGP 1.90/35.0, HEGP 4.00/66.0; Philips BrightView MEGP 3.40/58.4, LEHR "
        "1.22/27.0, LEGP 1.40/24.7, HEGP 3.81/58.4 (hole diameter / length)",
        "mird23": "Y. K. Dewaraja et al., MIRD Pamphlet No. 23: Quantitative SPECT for "
        "patient-specific 3-dimensional dosimetry in internal radionuclide therapy. J. Nucl. "
        "Med. 53 (2012) 1310-1325 (collimator-detector response, partial-volume effects)",
        "mird26": "M. Ljungberg et al., MIRD Pamphlet No. 26: Joint EANM/MIRD guidelines for "
        "quantitative 177Lu SPECT applied for dosimetry of radiopharmaceutical therapy. "
        "J. Nucl. Med. 57 (2016) 151-162 (medium-energy collimator, 208 keV photopeak)",
        "uribe2017": "C. F. Uribe et al., Accuracy of 177Lu activity quantification in SPECT "
        "imaging: a phantom study. EJNMMI Phys. 4 (2017) 2 (OSEM with collimator-detector "
        "response: recovery coefficients depend on the object)",
        "hippelainen2016": "E. Hippelainen et al., Quantitative accuracy of 177Lu SPECT "
        "reconstruction using different compensation methods: phantom and patient studies. "
        "EJNMMI Res. 6 (2016) 16 (resolution compensation: 1.3 cm sphere recovery 0.19 -> "
        "0.43)",
        "trangia2021": "J. Tran-Gia et al., A multicentre and multi-national evaluation of the "
        "accuracy of quantitative Lu-177 SPECT/CT imaging performed within the MRTDosimetry "
        "project. EJNMMI Phys. 8 (2021) 55 (medium-energy collimator, 208.4 keV 20 % window, "
        "body-contour orbit, 120 projections)",
        "icrp107": "ICRP Publication 107, Nuclear decay data for dosimetric calculations. "
        "Ann. ICRP 38(3), 2008 (photon lines)",
    }
)

#: Mean rotation-axis-to-collimator distance when the header has no RadialPosition (mm;
#: model: body-contour orbit 15 mm clear of an adult 330 × 220 mm torso, whose mean
#: half-width is its perimeter / 2π ≈ 139 mm).
DEFAULT_MEAN_DISTANCE_MM = 155.0
#: Collimator back face to the image plane: a 3/8-inch NaI crystal (cecchin2015's c; model).
CRYSTAL_MM = 9.5
#: Intrinsic FWHM at 140.5 keV (inside cherry2012's 2.9-4.5 mm) and its reference energy.
INTRINSIC_FWHM_MM = 3.8
INTRINSIC_REF_MEV = 0.1405
#: Lead mass attenuation (cm²/g) by photon energy (MeV), cecchin2015 (NIST); density g/cm³.
_PB_MU_RHO_CM2_G = ((0.150, 1.910), (0.200, 0.936), (0.300, 0.373), (0.400, 0.215), (0.500, 0.150))
_PB_DENSITY_G_CM3 = 11.34
_CM_PER_MM = 0.1
_FWHM_PER_SIGMA = math.sqrt(8.0 * math.log(2.0))
#: Photopeak class limits (MeV) of the no-collimator guess: ≤ 160 keV LEHR, ≤ 300 keV ME.
_LE_MAX_MEV, _ME_MAX_MEV = 0.160, 0.300


@dataclass(frozen=True)
class Collimator:
    """A parallel-hole collimator: vendor, class, hole diameter and length (mm)."""

    vendor: str
    name: str
    cls: str
    hole_mm: float
    length_mm: float

    def geometric_fwhm_mm(self, distance_mm: float, energy_mev: float) -> float:
        """R_coll = D (L_eff + x + c) / L_eff, L_eff = L − 2/μ_Pb(E) (cecchin2015)."""
        l_eff = self.length_mm - 2.0 / lead_mu_per_mm(energy_mev)
        return self.hole_mm * (l_eff + distance_mm + CRYSTAL_MM) / l_eff


#: Vendor collimators (simind_collim), by class: LEHR, LEGP (general/all purpose), ME, HE.
COLLIMATORS: tuple[Collimator, ...] = (
    Collimator("Siemens", "LEHR", "LEHR", 1.11, 24.05),
    Collimator("Siemens", "LEAP", "LEGP", 1.45, 24.05),
    Collimator("Siemens", "ME (MELP)", "ME", 2.94, 40.64),
    Collimator("Siemens", "HE", "HE", 4.00, 59.70),
    Collimator("GE", "LEHR", "LEHR", 1.50, 35.0),
    Collimator("GE", "LEGP", "LEGP", 1.90, 35.0),
    Collimator("GE", "MEGP", "ME", 3.00, 58.0),
    Collimator("GE", "HEGP", "HE", 4.00, 66.0),
    Collimator("Philips", "LEHR", "LEHR", 1.22, 27.0),
    Collimator("Philips", "LEGP", "LEGP", 1.40, 24.7),
    Collimator("Philips", "MEGP", "ME", 3.40, 58.4),
    Collimator("Philips", "HEGP", "HE", 3.81, 58.4),
)


def lead_mu_per_mm(energy_mev: float) -> float:
    """Linear attenuation of lead (1/mm) at ``energy_mev``: log-log interpolation of
    cecchin2015's NIST values, held at the table's ends.

    >>> round(lead_mu_per_mm(0.2), 4), round(lead_mu_per_mm(0.208366), 3)
    (1.0614, 0.967)
    """
    table = _PB_MU_RHO_CM2_G
    e = min(max(energy_mev, table[0][0]), table[-1][0])
    for (e0, m0), (e1, m1) in itertools.pairwise(table):
        if e <= e1:
            t = math.log(e / e0) / math.log(e1 / e0)
            mu_rho = math.exp(math.log(m0) + t * (math.log(m1) - math.log(m0)))
            return mu_rho * _PB_DENSITY_G_CM3 * _CM_PER_MM
    raise AssertionError("unreachable")  # pragma: no cover


def intrinsic_fwhm_mm(energy_mev: float) -> float:
    """R_int(E) = 3.8 mm × √(140.5 keV / E) (cherry2012)."""
    return INTRINSIC_FWHM_MM * math.sqrt(INTRINSIC_REF_MEV / energy_mev)


# ----------------------------------------------------------------------------- header
@dataclass(frozen=True)
class SpectHeaderInfo:
    """What a SPECT's DICOM header says about its resolution (None or empty: not stated).

    ``energy_windows_mev`` are (lower, upper) pairs; ``radial_positions_mm`` every
    RadialPosition value found (one per view of the orbit); ``reconstruction`` the
    ReconstructionMethod and ConvolutionKernel text; ``description`` the SeriesDescription
    (read for a post-filter only).
    """

    nuclide: str | None = None
    collimator: str | None = None
    collimator_type: str | None = None
    manufacturer: str | None = None
    radial_positions_mm: tuple[float, ...] = ()
    energy_windows_mev: tuple[tuple[float, float], ...] = ()
    reconstruction: str | None = None
    description: str | None = None
    iterations: int | None = None
    subsets: int | None = None
    voxel_mm: float | None = None

    def to_dict(self) -> dict[str, Any]:
        r = self.radial_positions_mm
        return {
            "nuclide": self.nuclide,
            "collimator": self.collimator,
            "collimator_type": self.collimator_type,
            "manufacturer": self.manufacturer,
            "mean_radial_position_mm": sum(r) / len(r) if r else None,
            "radial_positions": len(r),
            "energy_windows_kev": [
                [lo * KEV_PER_MEV, hi * KEV_PER_MEV] for lo, hi in self.energy_windows_mev
            ],
            "reconstruction": self.reconstruction,
            "iterations": self.iterations,
            "subsets": self.subsets,
            "voxel_mm": self.voxel_mm,
        }


def _text(ds: Any, key: str) -> str | None:
    value = ds.get(key) if ds is not None else None
    if value is None:
        return None
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = " ".join(str(v) for v in value)
    text = str(value).strip()
    return text or None


def _floats(value: Any) -> list[float]:
    if value is None:
        return []
    values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    out = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            out.append(f)
    return out


def _windows(ds: Any) -> tuple[tuple[float, float], ...]:
    ranges = []
    for item in ds.get("EnergyWindowInformationSequence") or []:
        ranges += list(item.get("EnergyWindowRangeSequence") or [])
    ranges += list(ds.get("EnergyWindowRangeSequence") or [])  # PET Isotope module
    out = []
    for rng in ranges:
        lo = _floats(rng.get("EnergyWindowLowerLimit"))
        hi = _floats(rng.get("EnergyWindowUpperLimit"))
        if lo and hi and hi[0] > lo[0]:
            out.append((lo[0] / KEV_PER_MEV, hi[0] / KEV_PER_MEV))
    return tuple(out)


_ITER_SUBSETS = re.compile(r"(\d+)\s*i\s*(\d+)\s*s\b", re.IGNORECASE)
_ITER_WORDS = re.compile(r"(\d+)\s*(?:iterations?|iter)\b", re.IGNORECASE)
_SUBSET_WORDS = re.compile(r"(\d+)\s*subsets?\b", re.IGNORECASE)


def _iterations(ds: Any, recon: str | None) -> tuple[int | None, int | None]:
    it = _floats(ds.get("NumberOfIterations"))
    sub = _floats(ds.get("NumberOfSubsets"))
    iterations = int(it[0]) if it else None
    subsets = int(sub[0]) if sub else None
    if recon:
        m = _ITER_SUBSETS.search(recon)
        if m:
            iterations = iterations or int(m.group(1))
            subsets = subsets or int(m.group(2))
        mi, ms = _ITER_WORDS.search(recon), _SUBSET_WORDS.search(recon)
        iterations = iterations or (int(mi.group(1)) if mi else None)
        subsets = subsets or (int(ms.group(1)) if ms else None)
    return iterations, subsets


def header_info(ds: Any, *, nuclide: str | None = None) -> SpectHeaderInfo:
    """The resolution-related fields of a SPECT header (NM, or per-slice PET SOP).

    ``nuclide`` (e.g. the manifest's) names the photopeak; the header's own fields are
    read where they exist: CollimatorGridName / CollimatorType (DetectorInformationSequence
    or the top level), RadialPosition (DetectorInformationSequence and
    RotationInformationSequence), energy windows, ReconstructionMethod, ConvolutionKernel,
    NumberOfIterations / NumberOfSubsets (or ``4i8s`` in the method), PixelSpacing.
    """
    dets = list(ds.get("DetectorInformationSequence") or [])
    rots = list(ds.get("RotationInformationSequence") or [])
    names = [n for n in (_text(d, "CollimatorGridName") for d in [*dets, ds]) if n]
    types = [t for t in (_text(d, "CollimatorType") for d in [*dets, ds]) if t]
    # PET SOP: CollimatorType NONE / RING describes PET septa, not a gamma camera
    types = [t for t in types if t.upper() not in ("NONE", "RING", "UNKN")]
    radial = tuple(r for item in [*dets, *rots] for r in _floats(item.get("RadialPosition")))
    recon = " ".join(
        t for t in (_text(ds, "ReconstructionMethod"), _text(ds, "ConvolutionKernel")) if t
    )
    iterations, subsets = _iterations(ds, recon or None)
    spacing = _floats(ds.get("PixelSpacing"))
    return SpectHeaderInfo(
        nuclide=nuclide,
        collimator=names[0] if names else None,
        collimator_type=types[0].upper() if types else None,
        manufacturer=_text(ds, "Manufacturer"),
        radial_positions_mm=radial,
        energy_windows_mev=_windows(ds),
        reconstruction=recon or None,
        description=_text(ds, "SeriesDescription"),
        iterations=iterations,
        subsets=subsets,
        voxel_mm=sum(spacing) / len(spacing) if spacing else None,
    )


def read_header_info(
    path: str | Path, series_uid: str | None = None, *, nuclide: str | None = None
) -> SpectHeaderInfo:
    """:func:`header_info` of the first DICOM file of the series at ``path`` (a file, or a
    folder searched in path order for ``series_uid``:
    :func:`sstrkit.io.dicom_read.first_series_header`); only ``nuclide`` when none reads."""
    from sstrkit.io.dicom_read import first_series_header

    ds = first_series_header(path, series_uid)
    return SpectHeaderInfo(nuclide=nuclide) if ds is None else header_info(ds, nuclide=nuclide)


# --------------------------------------------------------------------------- estimate
@dataclass(frozen=True)
class ResolutionEstimate:
    """A SPECT resolution estimated from the header, never a measurement.

    ``fwhm_mm`` None: not estimated (``flag`` says why). ``method``: ``collimator model``
    (collimator named in the header), ``nuclide class`` (no collimator: a guess),
    ``none: ...``. ``inputs``: the header values used; ``components``: the FWHM terms
    (mm); ``sources``: keys of :data:`SOURCES`; ``flag``: the data-quality message.
    """

    fwhm_mm: float | None
    method: str
    inputs: Mapping[str, Any] = field(default_factory=dict, repr=False)
    components: Mapping[str, float] = field(default_factory=dict, repr=False)
    sources: tuple[str, ...] = field(default=(), repr=False)
    flag: str = field(default="", repr=False)

    @property
    def provenance(self) -> Step:
        return Step.make(
            "estimate_spect_fwhm",
            {
                "fwhm_mm": self.fwhm_mm,
                "method": self.method,
                "inputs": self.inputs,
                "components": self.components,
            },
            sources=tuple(SOURCES[k] for k in self.sources),
        )

    @property
    def source(self) -> str:
        """Where a SPECT's FWHM came from, as results and reports name it."""
        return f"estimated from the DICOM header ({self.method})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fwhm_mm": self.fwhm_mm,
            "method": self.method,
            "inputs": jsonable(dict(self.inputs)),
            "components_mm": dict(self.components),
            "sources": list(self.sources),
            "flag": self.flag,
        }


_RR_TOKENS = frozenset({"RR", "FLASH3D", "XSPECT", "EVOLUTION", "ASTONISH", "CDR", "PSF"})
_RR_PHRASES = ("RESOLUTION RECOVERY", "RESOLUTION MODEL", "DETECTOR RESPONSE")
_NEGATIONS = frozenset({"NO", "WITHOUT", "NON"})
_GAUSS = re.compile(r"gauss(?:ian)?\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(?:mm)?", re.IGNORECASE)
_NON_PARALLEL = frozenset({"FANB", "CONE", "PINH", "SLNT", "ASTG", "DIVG"})


def _resolution_recovery(text: str | None) -> str | None:
    """The word of ``text`` that states resolution recovery (not negated), or None."""
    if not text:
        return None
    up = text.upper()
    tokens = [t for t in re.split(r"[^A-Z0-9]+", up) if t]
    for i, tok in enumerate(tokens):
        if tok in _RR_TOKENS and (i == 0 or tokens[i - 1] not in _NEGATIONS):
            return tok
    for phrase in _RR_PHRASES:
        at = up.find(phrase)
        if at >= 0 and not any(up[:at].rstrip().endswith(n) for n in _NEGATIONS):
            return phrase.lower()
    return None


def _post_filter_mm(info: SpectHeaderInfo) -> float | None:
    for text in (info.reconstruction, info.description):
        m = _GAUSS.search(text or "")
        if m and 0.0 < float(m.group(1)) <= 50.0:
            return float(m.group(1))
    return None


def _collimator_class(name: str) -> str | None:
    key = re.sub(r"[^A-Z]", "", name.upper())
    if key.startswith("ME") or "MEDIUM" in key:
        return "ME"
    if key.startswith("HE") or ("HIGH" in key and "RES" not in key):
        return "HE"
    if key.startswith(("LEHR", "LEUHR", "LEUR")) or key in ("HR", "HIRES"):
        return "LEHR"
    if key.startswith("LE") or "LOW" in key:
        return "LEGP"
    return None


def _vendor(manufacturer: str | None) -> str | None:
    m = (manufacturer or "").upper()
    if "SIEMENS" in m:
        return "Siemens"
    if "PHILIPS" in m or "ADAC" in m:
        return "Philips"
    if m.startswith("GE") or "GENERAL ELECTRIC" in m:
        return "GE"
    return None


def _photon_mev(info: SpectHeaderInfo) -> float | None:
    if info.nuclide:
        from sstrkit.errors import UnknownNuclideError
        from sstrkit.physics.nuclides import get_nuclide

        try:
            lines = get_nuclide(info.nuclide).gammas()
        except UnknownNuclideError:
            lines = []
        if lines:
            return float(max(lines, key=lambda line: line[1])[0])
    if info.energy_windows_mev:
        lo, hi = info.energy_windows_mev[0]
        return (lo + hi) / 2.0
    return None


def _class_for_energy(energy_mev: float) -> str:
    if energy_mev <= _LE_MAX_MEV:
        return "LEHR"
    return "ME" if energy_mev <= _ME_MAX_MEV else "HE"


def _declined(method: str, reason: str, inputs: dict[str, Any]) -> ResolutionEstimate:
    return ResolutionEstimate(None, method, inputs, {}, ("hippelainen2016", "uribe2017"), reason)


def estimate_spect_fwhm(info: SpectHeaderInfo) -> ResolutionEstimate:
    """The reconstructed FWHM (mm) of a SPECT from its header (module docstring: model).

    Never raises on missing fields: what is not stated is assumed, and the flag names
    each assumption.
    """
    inputs: dict[str, Any] = {k: v for k, v in info.to_dict().items() if v not in (None, [], 0)}
    rr = _resolution_recovery(info.reconstruction)
    if rr is not None:
        return _declined(
            "none: resolution recovery",
            f"reconstruction with resolution recovery ({rr!r} in {info.reconstruction!r}): "
            "the image response is not a Gaussian of the system FWHM, so no FWHM is "
            "estimated; give the one measured on a sphere phantom (--spect-fwhm-mm or "
            "manifest fwhm_mm)",
            inputs,
        )
    if info.collimator_type in _NON_PARALLEL:
        return _declined(
            "none: collimator geometry",
            f"collimator type {info.collimator_type} (not parallel hole): no model; give "
            "the measured FWHM (--spect-fwhm-mm or manifest fwhm_mm)",
            inputs,
        )
    energy = _photon_mev(info)
    if energy is None:
        return _declined(
            "none: photon energy",
            "neither the nuclide nor an energy window is known: no estimate",
            inputs,
        )
    inputs["photon_kev"] = round(energy * KEV_PER_MEV, 2)
    assumed: list[str] = []
    cls = _collimator_class(info.collimator) if info.collimator else None
    guess = cls is None
    if guess:
        cls = _class_for_energy(energy)
        what = "not stated" if not info.collimator else f"{info.collimator!r} not recognised"
        assumed.append(f"collimator {what}: the {cls} class for {energy * KEV_PER_MEV:.0f} keV")
    vendor = _vendor(info.manufacturer)
    cands = [c for c in COLLIMATORS if c.cls == cls]
    chosen = [c for c in cands if c.vendor == vendor] or cands
    if len(chosen) > 1:
        assumed.append(f"vendor not stated: mean of {', '.join(c.vendor for c in chosen)}")
    r = info.radial_positions_mm
    distance = sum(r) / len(r) if r else DEFAULT_MEAN_DISTANCE_MM
    if not r:
        assumed.append(f"no RadialPosition: mean orbit distance {distance:g} mm (model)")
    geo = [c.geometric_fwhm_mm(distance, energy) for c in chosen]
    geometric = sum(geo) / len(geo)
    intrinsic = intrinsic_fwhm_mm(energy)
    components = {"collimator": geometric, "intrinsic": intrinsic}
    if info.voxel_mm:
        components["voxel"] = _FWHM_PER_SIGMA * info.voxel_mm / math.sqrt(12.0)
    post = _post_filter_mm(info)
    if post is not None:
        components["post_filter"] = post
    if not info.reconstruction:
        assumed.append("reconstruction not stated: OSEM/FBP without resolution recovery")
    fwhm = math.sqrt(sum(v * v for v in components.values()))
    inputs["collimator_class"] = cls
    inputs["collimators"] = [f"{c.vendor} {c.name}" for c in chosen]
    inputs["mean_distance_mm"] = round(distance, 1)
    spread = {"collimator": f" (vendors {min(geo):.1f}-{max(geo):.1f})"} if len(geo) > 1 else {}
    terms = ", ".join(f"{k} {v:.1f}{spread.get(k, '')}" for k, v in components.items())
    kind = "guessed from the nuclide (no collimator in the header)" if guess else "estimated"
    flag = (
        f"SPECT resolution {kind}: {fwhm:.1f} mm FWHM from {cls} collimator "
        f"{'/'.join(c.vendor + ' ' + c.name for c in chosen)} at {distance:.0f} mm, "
        f"{energy * KEV_PER_MEV:.1f} keV (terms in quadrature, mm: {terms})"
        + (f"; assumed: {'; '.join(assumed)}" if assumed else "")
        + ". Not a measurement: partial-volume correction uses it; give the measured FWHM "
        "(--spect-fwhm-mm or manifest fwhm_mm) to replace it"
    )
    return ResolutionEstimate(
        fwhm_mm=fwhm,
        method="nuclide class" if guess else "collimator model",
        inputs=inputs,
        components={k: round(v, 3) for k, v in components.items()},
        sources=("simind_collim", "cecchin2015", "cherry2012", "mird23", "mird26", "icrp107"),
        flag=flag,
    )


def estimate_series_fwhm(
    path: str | Path, series_uid: str | None = None, *, nuclide: str | None = None
) -> ResolutionEstimate:
    """:func:`estimate_spect_fwhm` of the SPECT series at ``path`` (:func:`read_header_info`):
    the one header estimate of every SPECT of a study (post-therapy 177Lu, 99mTc-MAA)."""
    return estimate_spect_fwhm(read_header_info(path, series_uid, nuclide=nuclide))
