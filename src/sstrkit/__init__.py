"""sstrkit: somatostatin-receptor theranostics toolkit.

The package follows the clinical workflow: import (``io``) → read SSTR imaging
(``reading``) → plan and dose PRRT (``therapy``) → follow up (``followup``) →
report (``report``); ``core`` holds the image model, units and provenance, and
``physics`` the nuclear data.

The names a physicist needs are importable from the top level (``sstrkit.<name>``,
listed in ``__all__``); each is loaded on first use, so ``import sstrkit`` stays
fast. They are the same objects as in their modules: ``sstrkit.fit_curve is
sstrkit.therapy.kinetics.fit_curve``. Runnable examples are in ``examples/``.

Examples
--------
>>> import sstrkit
>>> lu = sstrkit.get_nuclide("177Lu")
>>> lu.name, round(lu.half_life_s / 86400, 3)
('Lu-177', 6.647)
>>> round(sstrkit.bed(20.0, alpha_beta_gy=2.6, t_repair_s=2.8 * 3600, t_eff_s=52.8 * 3600), 2)
27.75
>>> sstrkit.catalog.regimen("NETTER-1").cycles
4
"""

__version__ = "0.2.0"

# ``typing`` and ``importlib`` are not imported here: ``typing`` alone would add ~10 ms to
# ``import sstrkit``, many times its own cost. Type checkers (mypy, pyright) treat a name
# ``TYPE_CHECKING`` as true, so they see the imports below; at run time each name is
# imported by ``__getattr__`` on first use.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from sstrkit import catalog, errors
    from sstrkit.core.volume import Volume
    from sstrkit.errors import SstrkitError
    from sstrkit.followup.survival import kaplan_meier, load_cohort, logrank
    from sstrkit.followup.tabular import read_table
    from sstrkit.io.dicom_read import read_series
    from sstrkit.io.suv import compute_suv
    from sstrkit.organs.segment import segment_organs
    from sstrkit.phantom.study import StudyConfig, make_study
    from sstrkit.physics.nuclides import get_nuclide
    from sstrkit.pipeline.results import RunResult
    from sstrkit.pipeline.run import run_study
    from sstrkit.pipeline.sirt_inputs import load_maa_inputs
    from sstrkit.pipeline.sirt_y90_inputs import study_y90_dosimetry
    from sstrkit.pipeline.study import Study
    from sstrkit.reading.reader import read_sstr_pet
    from sstrkit.sirt.liver_bed import combined_liver_bed
    from sstrkit.sirt.plan_inputs import measure_maa
    from sstrkit.sirt.planning import plan_sirt
    from sstrkit.therapy.case import example_case_path, load_case
    from sstrkit.therapy.kinetics import fit_curve
    from sstrkit.therapy.mird import Region, organ_doses
    from sstrkit.therapy.planning import case_dosimetry, plan_from_case
    from sstrkit.therapy.radiobiology import bed, eqd2, tissue_parameters
    from sstrkit.therapy.sphere import sphere_s_value
    from sstrkit.therapy.voxel_dose import dose_map, study_cycle_dosimetry

# public name → module that defines it (a module itself for ``catalog`` and ``errors``)
_LAZY: dict[str, str] = {
    # images and DICOM
    "Volume": "sstrkit.core.volume",
    "read_series": "sstrkit.io.dicom_read",
    "compute_suv": "sstrkit.io.suv",
    # reading and organs
    "read_sstr_pet": "sstrkit.reading.reader",
    "segment_organs": "sstrkit.organs.segment",
    # kinetics, dosimetry, radiobiology, planning
    "fit_curve": "sstrkit.therapy.kinetics",
    "Region": "sstrkit.therapy.mird",
    "organ_doses": "sstrkit.therapy.mird",
    "sphere_s_value": "sstrkit.therapy.sphere",
    "bed": "sstrkit.therapy.radiobiology",
    "eqd2": "sstrkit.therapy.radiobiology",
    "tissue_parameters": "sstrkit.therapy.radiobiology",
    "load_case": "sstrkit.therapy.case",
    "example_case_path": "sstrkit.therapy.case",
    "case_dosimetry": "sstrkit.therapy.planning",
    "plan_from_case": "sstrkit.therapy.planning",
    "dose_map": "sstrkit.therapy.voxel_dose",
    "study_cycle_dosimetry": "sstrkit.therapy.voxel_dose",
    # studies and the main job
    "Study": "sstrkit.pipeline.study",
    "run_study": "sstrkit.pipeline.run",
    "RunResult": "sstrkit.pipeline.results",
    "make_study": "sstrkit.phantom.study",
    # SIRT (90Y microspheres): MAA planning, post-implant dosimetry, liver BED
    "load_maa_inputs": "sstrkit.pipeline.sirt_inputs",
    "measure_maa": "sstrkit.sirt.plan_inputs",
    "plan_sirt": "sstrkit.sirt.planning",
    "study_y90_dosimetry": "sstrkit.pipeline.sirt_y90_inputs",
    "combined_liver_bed": "sstrkit.sirt.liver_bed",
    "StudyConfig": "sstrkit.phantom.study",
    # nuclear data and the catalogue
    "get_nuclide": "sstrkit.physics.nuclides",
    "catalog": "sstrkit.catalog",
    # follow-up
    "read_table": "sstrkit.followup.tabular",
    "load_cohort": "sstrkit.followup.survival",
    "kaplan_meier": "sstrkit.followup.survival",
    "logrank": "sstrkit.followup.survival",
    # errors
    "errors": "sstrkit.errors",
    "SstrkitError": "sstrkit.errors",
}

# submodules exposed as names (``sstrkit.catalog.tracer(...)``, ``sstrkit.errors.FitError``)
_MODULES: frozenset[str] = frozenset({"catalog", "errors"})

__all__ = [
    "Region",
    "RunResult",
    "SstrkitError",
    "Study",
    "StudyConfig",
    "Volume",
    "__version__",
    "bed",
    "case_dosimetry",
    "catalog",
    "combined_liver_bed",
    "compute_suv",
    "dose_map",
    "eqd2",
    "errors",
    "example_case_path",
    "fit_curve",
    "get_nuclide",
    "kaplan_meier",
    "load_case",
    "load_cohort",
    "load_maa_inputs",
    "logrank",
    "make_study",
    "measure_maa",
    "organ_doses",
    "plan_from_case",
    "plan_sirt",
    "read_series",
    "read_sstr_pet",
    "read_table",
    "run_study",
    "segment_organs",
    "sphere_s_value",
    "study_cycle_dosimetry",
    "study_y90_dosimetry",
    "tissue_parameters",
]


def __getattr__(name: str) -> object:
    """Import a public name's module on first access (PEP 562) and cache the name here."""
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sstrkit' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(module_name)
    value: object = module if name in _MODULES else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """Module attributes plus the lazily loaded public names (for tab completion)."""
    return sorted(set(globals()) | set(__all__))
