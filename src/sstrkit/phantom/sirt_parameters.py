"""The cited parameters of the digital patient's SIRT (``phantom make --sirt``).

Kept in code, apart from ``data/parameters.toml``, so that a study made without ``--sirt``
keeps its ``truth.json`` source list byte for byte. Every number is a published value (its
source in :data:`SOURCES`) or a model choice (``model``), explained in ``docs/phantom.md``
("SIRT"). Units: Bq, s, h, mm, Gy, fractions; ranges are ``(low, high)`` of a uniform draw
unless named ``log``.

Examples
--------
>>> p = SIRT_PARAMETERS
>>> p.maa_activity_bq / 1e6, p.lung_shunt_fraction_range
(150.0, (0.03, 0.12))
>>> round(p.y90_positron_yield * 1e6, 2)
31.86
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SIRT_PARAMETERS", "SIRT_STREAM", "SOURCES", "SirtParameters"]

#: Random streams of the SIRT: ``[seed, SIRT_STREAM, k]`` (k = 0 draws, 1 MAA visit noise,
#: 2 90Y PET/CT noise), apart from every stream of the PRRT study.
SIRT_STREAM = 23

SOURCES: dict[str, str] = {
    "ho1996": "S. Ho et al., Partition model for estimating radiation doses from yttrium-90 "
    "microspheres in treating hepatic tumours. Eur. J. Nucl. Med. 23 (1996) 947-952 (activity "
    "from the normal-liver dose, the tumour-to-normal ratio and the lung shunt fraction)",
    "ho1997": "S. Ho et al., Tumour-to-normal uptake ratio of 90Y microspheres in hepatic cancer "
    "assessed with 99Tcm macroaggregated albumin. Br. J. Radiol. 70 (1997) 823-828",
    "leung1995": "T. W. T. Leung et al., Radiation pneumonitis after selective internal radiation "
    "treatment with intraarterial 90yttrium-microspheres for inoperable hepatic tumors. Int. J. "
    "Radiat. Oncol. Biol. Phys. 33 (1995) 919-924 (lung dose limit 30 Gy per treatment)",
    "giammarile2011": "F. Giammarile et al., EANM procedure guideline for the treatment of liver "
    "cancer and liver metastases with intra-arterial radioactive compounds. Eur. J. Nucl. Med. "
    "Mol. Imaging 38 (2011) 1393-1406 (99mTc-MAA into the hepatic artery at angiography, planar "
    "and SPECT imaging for the lung shunt and extrahepatic deposition)",
    "kennedy2007": "A. Kennedy et al., Recommendations for radioembolization of hepatic "
    "malignancies using yttrium-90 microsphere brachytherapy: a consensus panel report from "
    "the radioembolization brachytherapy oncology consortium. Int. J. Radiat. Oncol. Biol. Phys. "
    "68 (2007) 13-23 (MAA work-up 1-2 weeks before the implant)",
    "lsf_spect_2021": "Lung shunt fraction calculation using 99mTc-MAA SPECT/CT imaging for 90Y "
    "microsphere selective internal radiation therapy of liver tumors. EJNMMI Res. 11 (2021), "
    "doi:10.1186/s13550-021-00837-z (85 work-ups: LSF 4.6 % on SPECT/CT, 8.5 % on planar "
    "geometric means)",
    "allred2018": "J. D. Allred et al., The value of 99mTc-MAA SPECT/CT for lung shunt "
    "estimation in 90Y radioembolization: a phantom and patient study. EJNMMI Res. 8 (2018) 50 "
    "(planar LSF overestimates, up to 44 % in a phantom; pre- vs post-therapy LSF differ)",
    "selwyn2007": "R. G. Selwyn et al., A new internal pair production branching ratio of 90Y: "
    "the development of a non-destructive assay for 90Y and 90Sr. Appl. Radiat. Isot. 65 (2007) "
    "318-327 (31.86 +- 0.47 positrons per 10^6 decays)",
    "willowson2015": "K. P. Willowson, M. Tapner, QUEST Investigator Team, D. L. Bailey, A "
    "multicentre comparison of quantitative 90Y PET/CT for dosimetric purposes after "
    "radioembolization with resin microspheres: the QUEST phantom study. Eur. J. Nucl. Med. Mol. "
    "Imaging 42 (2015) 1202-1222 (90Y PET is quantitative but count-starved)",
    "lujan1999": "A. E. Lujan, E. W. Larsen, J. M. Balter, R. K. Ten Haken, A method for "
    "incorporating organ motion due to breathing into 3D dose calculations. Med. Phys. 26 (1999) "
    "715-720 (z(t) = z0 - b cos^(2n)(pi t / tau - phi): more time at exhale)",
    "dicom_cid25": "DICOM PS3.16 CID 25 Radiopharmaceuticals (SNOMED CT 85693008 'Technetium "
    "Tc^99m^ aggregated albumin', 764678003 'Yttrium^90^ microspheres')",
    "icrp107": "ICRP Publication 107, Nuclear decay data for dosimetric calculations. Ann. ICRP "
    "38(3), 2008 (90Y and 99mTc half-lives, 90Y mean beta energy)",
}


@dataclass(frozen=True)
class SirtParameters:
    """Every number of the SIRT simulation; ``*_source`` names its :data:`SOURCES` keys."""

    # ---- timeline (model; kennedy2007: work-up 1-2 weeks before the implant)
    weeks_after_last_cycle: float = 12.0
    maa_injection_hour: tuple[int, int] = (10, 30)
    implant_days_after_maa: int = 14
    implant_hour: tuple[int, int] = (11, 0)
    pet_hours_after_implant: float = 23.0
    timeline_source: str = "model, kennedy2007"
    # ---- 99mTc-MAA (giammarile2011: activity and imaging; numbers model)
    maa_activity_bq: float = 150e6
    planar_start_min: float = 60.0
    planar_speed_cm_min: float = 12.0
    maa_source: str = "giammarile2011, model"
    #: Lung shunt fraction (particles in the lungs / in lungs and liver), uniform.
    lung_shunt_fraction_range: tuple[float, float] = (0.03, 0.12)
    lsf_source: str = "lsf_spect_2021 (SPECT/CT-based LSF, mean 4.6 %), model (range)"
    #: Per-lesion tumour-to-normal ratio of MAA per gram, log-uniform.
    tn_log_range: tuple[float, float] = (2.0, 8.0)
    tn_source: str = "ho1997 (T/N from MAA), model (range for hypervascular NET metastases)"
    #: Free 99mTc-pertechnetate share of the MAA activity, and where it is (body, bladder,
    #: kidneys; thyroid and stomach are outside the torso model).
    free_pertechnetate_range: tuple[float, float] = (0.01, 0.04)
    free_split: tuple[tuple[str, float], ...] = (("body", 0.6), ("bladder", 0.3), ("kidneys", 0.1))
    # ---- 90Y vs MAA (allred2018: pre- and post-therapy shunts differ; numbers model)
    y90_tn_factor_range: tuple[float, float] = (0.7, 1.3)
    y90_lsf_factor_range: tuple[float, float] = (0.8, 1.2)
    #: Activity left in the vial, lines and catheter (net = prescribed x (1 - residual)).
    residual_range: tuple[float, float] = (0.02, 0.08)
    # ---- activity: partition model (ho1996) with the phantom's own arithmetic
    normal_liver_dose_gy_range: tuple[float, float] = (30.0, 40.0)
    lung_dose_limit_gy: float = 30.0
    activity_rounding_bq: float = 10e6
    activity_source: str = "ho1996, leung1995, model (target range)"
    # ---- breathing (lujan1999 form, n = 2; amplitude model)
    breathing_amplitude_mm_range: tuple[float, float] = (8.0, 15.0)
    breathing_n: int = 2
    breathing_phases: int = 8
    # ---- 90Y PET (selwyn2007 positron yield; willowson2015 context; numbers model)
    y90_positron_yield: float = 31.86e-6
    pet_frame_duration_s: float = 1200.0
    pet_fwhm_mm: float = 6.0
    pet_noise_variance_factor: float = 1.5
    pet_source: str = "selwyn2007, willowson2015, model (frame, FWHM, noise factor)"


SIRT_PARAMETERS = SirtParameters()
