"""SPECT resolution estimated from the DICOM header (sstrkit.io.spect_resolution).

Reference values are computed here, by hand, from the published numbers the module cites:
the collimator hole diameter D and length L of the SIMIND collimator database (vendor
specifications), the geometric resolution R = D (L − 2/μ + x + c) / (L − 2/μ) with the
lead attenuation of Cecchin et al. (PeerJ 3 (2015) e722: 0.936 and 0.373 cm²/g at 200 and
300 keV, 11.34 g/cm³), c = 9.5 mm (3/8-inch crystal), the intrinsic FWHM 3.8 mm at
140.5 keV scaled as 1/√E (Cherry, Sorenson & Phelps 2012) and the 208.366 keV line of
177Lu (ICRP 107). They share no code with the module, so a wrong constant or formula
there fails here. Tolerance 1e-6 mm: the same arithmetic, float rounding only.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from sstrkit.core.volume import Volume
from sstrkit.io.dicom_write import (
    PatientInfo,
    Radiopharmaceutical,
    SpectAcquisition,
    StudyInfo,
    write_nm_series,
    write_pet_series,
)
from sstrkit.io.spect_resolution import (
    DEFAULT_MEAN_DISTANCE_MM,
    SOURCES,
    SpectHeaderInfo,
    estimate_spect_fwhm,
    header_info,
    read_header_info,
)

LU_MEV = 0.208366  # ICRP 107, 177Lu γ line of highest yield
#: (D, L) in mm, SIMIND collim.col: GE Infinia MEGP, Siemens Symbia ME, Philips BrightView MEGP.
GE_MEGP, SIEMENS_ME, PHILIPS_MEGP = (3.00, 58.0), (2.94, 40.64), (3.40, 58.4)


def _mu_lead_per_mm(e_mev: float) -> float:
    """Lead μ by log-log interpolation between Cecchin's 200 and 300 keV values."""
    t = math.log(e_mev / 0.2) / math.log(0.3 / 0.2)
    mu_rho = math.exp(math.log(0.936) + t * (math.log(0.373) - math.log(0.936)))
    return mu_rho * 11.34 / 10.0


def _geometric(coll: tuple[float, float], x_mm: float, e_mev: float = LU_MEV) -> float:
    d, length = coll
    l_eff = length - 2.0 / _mu_lead_per_mm(e_mev)
    return d * (l_eff + x_mm + 9.5) / l_eff


def _intrinsic(e_mev: float = LU_MEV) -> float:
    return 3.8 * math.sqrt(0.1405 / e_mev)


def test_ge_megp_at_150_mm_by_hand() -> None:
    # hand calculation: μ = 0.9672 /mm, L_eff = 58 − 2.0679 = 55.932 mm,
    # R_coll = 3 × 215.432 / 55.932 = 11.555 mm, R_int = 3.120 mm → 11.969 mm
    info = SpectHeaderInfo(
        nuclide="Lu-177", collimator="MEGP", manufacturer="GE MEDICAL SYSTEMS",
        radial_positions_mm=(150.0,), reconstruction="OSEM 4i10s AC SC",
    )  # fmt: skip
    est = estimate_spect_fwhm(info)
    assert est.method == "collimator model"
    assert est.fwhm_mm == pytest.approx(11.969, abs=0.001)
    want = math.hypot(_geometric(GE_MEGP, 150.0), _intrinsic())
    assert est.fwhm_mm == pytest.approx(want, abs=1e-6)
    assert est.inputs["collimators"] == ["GE MEGP"]
    assert "estimated: 12.0 mm FWHM" in est.flag and "assumed" not in est.flag


@pytest.mark.parametrize(
    ("manufacturer", "name", "coll"),
    [("SIEMENS", "MELP", SIEMENS_ME), ("Philips Medical Systems", "MEGP", PHILIPS_MEGP)],
)
def test_vendor_collimator_voxel_and_post_filter_add_in_quadrature(
    manufacturer: str, name: str, coll: tuple[float, float]
) -> None:
    info = SpectHeaderInfo(
        nuclide="Lu-177", collimator=name, manufacturer=manufacturer,
        radial_positions_mm=(140.0, 160.0, 180.0), reconstruction="OSEM 6i8s Gauss 8.0",
        voxel_mm=4.8,
    )  # fmt: skip
    est = estimate_spect_fwhm(info)
    voxel = math.sqrt(8 * math.log(2)) * 4.8 / math.sqrt(12)  # box of 4.8 mm: σ² = v²/12
    want = math.sqrt(_geometric(coll, 160.0) ** 2 + _intrinsic() ** 2 + voxel**2 + 8.0**2)
    assert est.fwhm_mm == pytest.approx(want, abs=1e-6)
    assert est.components["post_filter"] == 8.0
    assert est.inputs["mean_distance_mm"] == 160.0


def test_vendor_not_stated_is_the_mean_of_the_class_and_the_spread_is_named() -> None:
    est = estimate_spect_fwhm(
        SpectHeaderInfo(nuclide="Lu-177", collimator="ME", radial_positions_mm=(150.0,))
    )
    geo = [_geometric(c, 150.0) for c in (SIEMENS_ME, GE_MEGP, PHILIPS_MEGP)]
    assert est.fwhm_mm == pytest.approx(math.hypot(sum(geo) / 3, _intrinsic()), abs=1e-6)
    assert "vendor not stated" in est.flag and f"{min(geo):.1f}-{max(geo):.1f}" in est.flag


def test_typical_lu177_medium_energy_osem_lands_around_10_to_16_mm() -> None:
    """Sanity: 177Lu, ME collimators (MIRD 26), OSEM without resolution recovery, on
    body-contour orbits of 130-155 mm mean distance: every vendor within 10-16 mm (the
    phantom's model SPECT: 11 mm); at 180 mm Siemens' short ME holes reach ~18 mm."""
    for man, name in (("GE", "MEGP"), ("SIEMENS", "ME"), ("PHILIPS", "MEGP")):
        for x in (130.0, 155.0, 180.0):
            info = SpectHeaderInfo(
                nuclide="Lu-177", collimator=name, manufacturer=man, radial_positions_mm=(x,)
            )
            fwhm = estimate_spect_fwhm(info).fwhm_mm
            assert fwhm is not None and 10.0 <= fwhm <= (16.0 if x <= 155 else 18.5), (man, x)


def test_lehr_tc99m_is_sharper_than_medium_energy_lu177() -> None:
    tc = estimate_spect_fwhm(
        SpectHeaderInfo(nuclide="Tc-99m", collimator="LEHR", manufacturer="SIEMENS",
                        radial_positions_mm=(150.0,))
    )  # fmt: skip
    # Siemens LEHR (SIMIND): D 1.11, L 24.05 mm; at 140.5 keV μ is held at the 150 keV value
    mu = 1.910 * 11.34 / 10.0
    l_eff = 24.05 - 2.0 / mu
    want = math.hypot(1.11 * (l_eff + 150.0 + 9.5) / l_eff, 3.8 * math.sqrt(0.1405 / 0.140511))
    assert tc.fwhm_mm == pytest.approx(want, abs=1e-4)


def test_no_collimator_is_a_flagged_nuclide_class_guess_at_the_model_distance() -> None:
    est = estimate_spect_fwhm(SpectHeaderInfo(nuclide="Lu-177"))
    assert est.method == "nuclide class"
    assert "guessed from the nuclide" in est.flag and "ME class for 208 keV" in est.flag
    assert f"mean orbit distance {DEFAULT_MEAN_DISTANCE_MM:g} mm" in est.flag
    geo = [_geometric(c, DEFAULT_MEAN_DISTANCE_MM) for c in (SIEMENS_ME, GE_MEGP, PHILIPS_MEGP)]
    assert est.fwhm_mm == pytest.approx(math.hypot(sum(geo) / 3, _intrinsic()), abs=1e-6)


@pytest.mark.parametrize(
    "recon",
    ["OSEM 4i10s AC SC RR", "Flash3D 8i4s", "xSPECT Quant", "OSEM + resolution recovery",
     "Evolution for Bone"],
)  # fmt: skip
def test_resolution_recovery_is_not_given_a_gaussian_fwhm(recon: str) -> None:
    est = estimate_spect_fwhm(
        SpectHeaderInfo(nuclide="Lu-177", collimator="MEGP", reconstruction=recon)
    )
    assert est.fwhm_mm is None and est.method == "none: resolution recovery"
    assert "resolution recovery" in est.flag and "--spect-fwhm-mm" in est.flag


def test_negated_resolution_recovery_and_plain_osem_are_estimated() -> None:
    for recon in ("OSEM 4i10s no RR", "OSEM without resolution recovery", "FBP Butterworth"):
        est = estimate_spect_fwhm(
            SpectHeaderInfo(nuclide="Lu-177", collimator="MEGP", reconstruction=recon)
        )
        assert est.fwhm_mm is not None, recon


def test_non_parallel_collimator_and_unknown_energy_are_declined() -> None:
    fan = estimate_spect_fwhm(
        SpectHeaderInfo(nuclide="Tc-99m", collimator="LEFB", collimator_type="FANB")
    )
    assert fan.fwhm_mm is None and "FANB" in fan.flag
    none = estimate_spect_fwhm(SpectHeaderInfo(collimator="MEGP"))
    assert none.fwhm_mm is None and none.method == "none: photon energy"


def test_every_cited_source_key_exists() -> None:
    est = estimate_spect_fwhm(SpectHeaderInfo(nuclide="Lu-177", collimator="MEGP"))
    assert est.sources and set(est.sources) <= set(SOURCES)
    assert len(est.provenance.sources) == len(est.sources)


# ------------------------------------------------------------------- header parsing
def test_header_info_reads_detector_rotation_windows_and_kernel() -> None:
    ds = Dataset()
    ds.Manufacturer = "SIEMENS NM"
    ds.PixelSpacing = ["4.7952", "4.7952"]
    ds.ConvolutionKernel = ["OSEM 3D", "Gauss 9.6"]
    ds.SeriesDescription = "Lu177 SPECT 24h"
    det = Dataset()
    det.CollimatorGridName = "ME"
    det.CollimatorType = "PARA"
    det.RadialPosition = ["200", "180", "160"]
    rot = Dataset()
    rot.RadialPosition = ["140"]
    ds.DetectorInformationSequence = DicomSequence([det])
    ds.RotationInformationSequence = DicomSequence([rot])
    win = Dataset()
    rng = Dataset()
    rng.EnergyWindowLowerLimit, rng.EnergyWindowUpperLimit = "187.2", "228.8"
    win.EnergyWindowRangeSequence = DicomSequence([rng])
    ds.EnergyWindowInformationSequence = DicomSequence([win])
    info = header_info(ds, nuclide="Lu-177")
    assert info.collimator == "ME" and info.collimator_type == "PARA"
    assert info.radial_positions_mm == (200.0, 180.0, 160.0, 140.0)
    assert info.energy_windows_mev == (pytest.approx((0.1872, 0.2288)),)
    assert info.reconstruction == "OSEM 3D Gauss 9.6"
    assert info.voxel_mm == pytest.approx(4.7952)
    est = estimate_spect_fwhm(info)
    voxel = math.sqrt(8 * math.log(2)) * 4.7952 / math.sqrt(12)
    want = math.sqrt(_geometric(SIEMENS_ME, 170.0) ** 2 + _intrinsic() ** 2 + voxel**2 + 9.6**2)
    assert est.fwhm_mm == pytest.approx(want, abs=1e-6)


def test_pet_sop_collimator_type_none_is_not_a_camera_collimator() -> None:
    ds = Dataset()
    ds.CollimatorType = "NONE"
    ds.ReconstructionMethod = "OSEM 4i8s"
    info = header_info(ds, nuclide="Lu-177")
    assert info.collimator is None and info.collimator_type is None
    assert (info.iterations, info.subsets) == (4, 8)


TZ = dt.UTC
REF = dt.datetime(2026, 4, 7, 10, 0, tzinfo=TZ)
PATIENT = PatientInfo(name="Res^Test", patient_id="R1", birth_date="19600101", sex="F",
                      weight_kg=60.0, height_cm=160.0)  # fmt: skip
STUDY = StudyInfo(study_uid="1.2.826.0.1.3680043.8.498.991", study_time=REF, description="r",
                  accession_number="1", study_id="1")  # fmt: skip
LU = Radiopharmaceutical("177Lu-DOTATATE", "Lu-177", 7.4e9, REF - dt.timedelta(hours=24))
CAMERA = SpectAcquisition(
    collimator="MEGP", radial_positions_mm=(150.0, 170.0), energy_windows_kev=((187.6, 229.2),),
    energy_window_name="Lu177 208", reconstruction="OSEM 4i10s / AC SC",
)  # fmt: skip


def _volume() -> Volume:
    arr = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    return Volume.from_array(
        arr, spacing=(4.8, 4.8, 4.8), unit="Bq/mL", quantity="activity_concentration",
        reference_time=REF,
    )  # fmt: skip


def test_nm_written_with_a_camera_reads_back(tmp_path: Path) -> None:
    path = write_nm_series(
        _volume(), tmp_path / "nm.dcm", patient=PATIENT, study=STUDY, radiopharmaceutical=LU,
        acquisition_duration_s=1200.0, spect=CAMERA,
    )  # fmt: skip
    plain = write_nm_series(
        _volume(), tmp_path / "plain.dcm", patient=PATIENT, study=STUDY, radiopharmaceutical=LU,
        acquisition_duration_s=1200.0,
    )  # fmt: skip
    import pydicom

    # header only: the pixels are those of the same volume written without a camera
    assert pydicom.dcmread(path).PixelData == pydicom.dcmread(plain).PixelData
    info = read_header_info(path, nuclide="Lu-177")
    assert (info.collimator, info.collimator_type) == ("MEGP", "PARA")
    assert info.radial_positions_mm == (150.0, 170.0)
    assert info.energy_windows_mev == (pytest.approx((0.1876, 0.2292)),)
    assert info.reconstruction == "OSEM 4i10s AC SC" and info.manufacturer == "sstrkit"
    est = estimate_spect_fwhm(info)
    geo = [_geometric(c, 160.0) for c in (SIEMENS_ME, GE_MEGP, PHILIPS_MEGP)]
    voxel = math.sqrt(8 * math.log(2)) * 4.8 / math.sqrt(12)
    want = math.sqrt((sum(geo) / 3) ** 2 + _intrinsic() ** 2 + voxel**2)
    assert est.fwhm_mm == pytest.approx(want, abs=1e-6)


def test_pet_slices_written_with_a_camera_read_back_by_series(tmp_path: Path) -> None:
    write_pet_series(
        _volume(), tmp_path / "pt", patient=PATIENT, study=STUDY, radiopharmaceutical=LU,
        series_uid="1.2.826.0.1.3680043.8.498.992", spect=CAMERA,
    )  # fmt: skip
    info = read_header_info(tmp_path, "1.2.826.0.1.3680043.8.498.992", nuclide="Lu-177")
    assert info.collimator == "MEGP" and info.radial_positions_mm == ()
    assert info.reconstruction == "OSEM 4i10s / AC SC"
    assert info.energy_windows_mev == (pytest.approx((0.1876, 0.2292)),)
    missing = read_header_info(tmp_path, "1.2.3.999", nuclide="Lu-177")
    assert missing == SpectHeaderInfo(nuclide="Lu-177")
