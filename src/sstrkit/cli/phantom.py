"""``sstrkit phantom make``: write the digital NET patient study (DICOM + truth).

A thin layer over :func:`sstrkit.phantom.study.make_study`; options carry their
unit in the name (``--timepoints-h``, ``--activity-gbq``) and are converted here.
Real-world complications are on by default (repositioning between scan sessions);
``--no-reposition``, ``--spect-format``, ``--no-labs`` and
``--fdg-discordant/--no-fdg-discordant`` change them. ``--anatomy ornl-stylized`` builds
the patient on the ORNL/MIRD stylized adult instead of the simulator's own layout.
``--sstr-imaging TRACER`` (repeatable) adds the SSTR imaging of another tracer for the same
patient: 111In-pentetreotide or 99mTc-HYNIC-TOC planar whole body and SPECT/CT,
64Cu-DOTATATE PET/CT (:mod:`sstrkit.phantom.scintigraphy`). ``--sirt`` adds a whole-liver
SIRT after the PRRT: the 99mTc-MAA work-up (planar whole body, SPECT/CT) and the 90Y PET/CT
after the implant, with their truth (:mod:`sstrkit.phantom.sirt`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sstrkit.cli.output import console, emit, guarded, output_folder, progress_reporter, table
from sstrkit.core.units import parse_quantity
from sstrkit.errors import InvalidInputError

if TYPE_CHECKING:
    from sstrkit.phantom.study import StudyConfig

phantom_app = typer.Typer(help="Digital NET patient and imaging simulator.", no_args_is_help=True)


def _hours(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidInputError(
            "--timepoints-h", expected="comma-separated hours, e.g. 4,24,96,168", actual=text
        ) from None
    return values


def _render(manifest: dict[str, Any]) -> None:
    s = manifest["series"]
    rows: list[tuple[object, ...]] = [
        (role, s[role]["path"], s[role].get("tracer", "CT"))
        for role in ("pet", "pet_ct", "fdg", "fdg_ct")
        if s.get(role)
    ]
    rows += [
        (f"spect c{x['cycle']} {x['hours_post_injection']:g} h", x["path"], "177Lu")
        for x in s["spect"]
    ]
    for role in ("scintigraphy_planar", "sstr_spect", "sstr_pet", "maa_planar", "maa_spect",
                 "y90_pet"):  # fmt: skip
        rows += [
            (f"{role} {x['hours_post_injection']:.3g} h", x["path"], x["tracer"])
            for x in s.get(role, [])
        ]
    console.print(table("Series", ("role", "path", "tracer"), rows))
    masses = manifest["summary"]["organ_masses_g"]
    console.print(
        table(
            "Organ masses (truth)",
            ("region", "mass (g)"),
            [(k, f"{v:.1f}") for k, v in masses.items()],
        )
    )
    console.print(f"Study written to {manifest['root']} (truth: {manifest['truth']['truth_json']})")


def _study_config(
    *,
    seed: int,
    sex: str,
    cycles: int,
    timepoints_h: str,
    activity_gbq: float,
    height_cm: float | None,
    weight_kg: float | None,
    voxel_mm: float,
    pet_tracer: str,
    no_fdg: bool,
    spect_recon: str,
    spect_post_filter_mm: float | None,
    no_reposition: bool,
    spect_format: str,
    no_labs: bool,
    fdg_discordant: bool | None,
    anatomy: str,
    sstr_imaging: list[str] | None = None,
    sirt: bool = False,
) -> StudyConfig:
    """Check the options (in the order they are listed) and convert them to a study config."""
    from sstrkit.phantom.study import StudyConfig

    sex_u = sex.upper()
    tracer = pet_tracer.upper()
    if sex_u not in ("F", "M"):
        raise InvalidInputError("--sex", expected="F or M", actual=sex)
    if tracer not in ("DOTATATE", "DOTATOC"):
        raise InvalidInputError("--pet-tracer", expected="DOTATATE or DOTATOC", actual=pet_tracer)
    recon = spect_recon.lower()
    if recon not in ("image", "osem"):
        raise InvalidInputError(
            "--spect-recon",
            expected="image or osem",
            actual=spect_recon,
            fix="use --spect-recon image (default, fast) or --spect-recon osem",
        )
    fmt = spect_format.lower()
    if fmt not in ("nm", "pet-slices"):
        raise InvalidInputError(
            "--spect-format",
            expected="nm or pet-slices",
            actual=spect_format,
            fix="use --spect-format nm (default) or --spect-format pet-slices",
        )
    layout = anatomy.lower()
    if layout not in ("sstrkit", "ornl-stylized"):
        raise InvalidInputError(
            "--anatomy",
            expected="sstrkit or ornl-stylized",
            actual=anatomy,
            fix="use --anatomy sstrkit (default) or --anatomy ornl-stylized",
        )
    from sstrkit.phantom.scintigraphy import BASELINE_TRACER, normalise_sstr_imaging

    imaging = normalise_sstr_imaging(sstr_imaging) if sstr_imaging else (BASELINE_TRACER,)
    return StudyConfig(
        sstr_imaging=imaging,
        sirt=sirt,
        seed=seed,
        sex=sex_u,  # type: ignore[arg-type]
        height_cm=height_cm,
        weight_kg=weight_kg,
        cycles=cycles,
        activity_bq=parse_quantity(activity_gbq, "activity", default_unit="GBq"),
        timepoints_h=_hours(timepoints_h),
        voxel_mm=voxel_mm,
        pet_tracer=tracer,  # type: ignore[arg-type]
        fdg=not no_fdg,
        spect_recon=recon,  # type: ignore[arg-type]
        spect_post_filter_mm=spect_post_filter_mm,
        reposition=not no_reposition,
        spect_format=fmt,  # type: ignore[arg-type]
        labs=not no_labs,
        fdg_discordant_lesion=fdg_discordant,
        anatomy=layout,  # type: ignore[arg-type]
    )


def _write_study(out: Path, config: StudyConfig, as_json: bool) -> None:
    """Make the study in ``out`` (progress on stderr unless JSON) and print its manifest."""
    from sstrkit.phantom.study import make_study

    with (
        output_folder(out, "OUT", command="sstrkit phantom make"),
        progress_reporter(not as_json) as say,
    ):
        manifest = make_study(out, config, progress=say)
    emit(manifest, as_json, _render)


def make(
    out: Path = typer.Argument(..., help="Output folder (created)."),
    seed: int = typer.Option(
        7,
        "--seed",
        help="Random seed of the patient. 7: the demo patient (eligible for PRRT); "
        "5: the documented excluded patient (FDG+/SSTR- liver lesion, NETPET P5).",
    ),
    sex: str = typer.Option("M", "--sex", help="F or M."),
    cycles: int = typer.Option(4, "--cycles", help="Number of 177Lu-DOTATATE cycles."),
    timepoints_h: str = typer.Option(
        "4,24,96,168", "--timepoints-h", help="SPECT/CT times after each injection (h)."
    ),
    activity_gbq: float = typer.Option(7.4, "--activity-gbq", help="Activity per cycle."),
    height_cm: float | None = typer.Option(None, "--height-cm", help="Default: from seed."),
    weight_kg: float | None = typer.Option(None, "--weight-kg", help="Default: from seed."),
    voxel_mm: float = typer.Option(2.0, "--voxel-mm", help="Truth-grid voxel size."),
    pet_tracer: str = typer.Option("DOTATATE", "--pet-tracer", help="DOTATATE or DOTATOC."),
    no_fdg: bool = typer.Option(False, "--no-fdg", help="Skip the 18F-FDG PET/CT."),
    spect_recon: str = typer.Option(
        "image",
        "--spect-recon",
        help="image (fast image-domain model) or osem (projection + OSEM, ~10 s per SPECT).",
    ),
    spect_post_filter_mm: float | None = typer.Option(
        None, "--spect-post-filter-mm", help="Gaussian post-filter FWHM for --spect-recon osem."
    ),
    no_reposition: bool = typer.Option(
        False,
        "--no-reposition",
        help="Image every session in the baseline position (default: the patient is "
        "moved rigidly, up to 10 mm and 3 deg per axis, for every session but the "
        "baseline 68Ga PET/CT; true motions in truth/truth.json 'positioning').",
    ),
    spect_format: str = typer.Option(
        "nm",
        "--spect-format",
        help="nm (one multi-frame NM file, GE/Philips style) or pet-slices (one PET-SOP "
        "file per slice in a folder, Bq/mL, Siemens xSPECT Quant style).",
    ),
    no_labs: bool = typer.Option(
        False, "--no-labs", help="Leave the laboratory values out of clinical.json."
    ),
    fdg_discordant: bool | None = typer.Option(
        None,
        "--fdg-discordant/--no-fdg-discordant",
        help="Add or omit the FDG-avid, SSTR-negative liver lesion (NETPET P5, not "
        "eligible for PRRT). Default: drawn from the seed (20 % of seeds; 7 has none, "
        "5 has one).",
    ),
    anatomy: str = typer.Option(
        "sstrkit",
        "--anatomy",
        help="Organ layout: sstrkit (the simulator's own ellipsoids) or ornl-stylized "
        "(the ORNL/MIRD stylized adult of Cristy & Eckerman 1987, organ shapes and "
        "positions from the published equations; same ICRP 89 organ masses).",
    ),
    sstr_imaging: list[str] | None = typer.Option(
        None,
        "--sstr-imaging",
        help="SSTR imaging of the patient (repeatable): 68Ga-DOTATATE (the baseline PET/CT, "
        "always made), 111In-pentetreotide (whole body 4 h and 24 h, SPECT/CT 24 h), "
        "99mTc-HYNIC-TOC (whole body 2 h and 4 h, SPECT/CT 4 h), 64Cu-DOTATATE (PET/CT "
        "1 h and 3 h). Truth per tracer in truth/scintigraphy_<tracer>.json.",
    ),
    sirt: bool = typer.Option(
        False,
        "--sirt",
        help="Add a whole-liver SIRT (90Y resin microspheres) 12 weeks after the last cycle: "
        "99mTc-MAA planar whole body and SPECT/CT, 90Y PET/CT the day after the implant. "
        "Truth (shunt, T/N, true 90Y doses, label maps) in truth/sirt.json.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Simulate the patient and write DICOM series, clinical data and truth to OUT."""
    config = _study_config(
        seed=seed,
        sex=sex,
        cycles=cycles,
        timepoints_h=timepoints_h,
        activity_gbq=activity_gbq,
        height_cm=height_cm,
        weight_kg=weight_kg,
        voxel_mm=voxel_mm,
        pet_tracer=pet_tracer,
        no_fdg=no_fdg,
        spect_recon=spect_recon,
        spect_post_filter_mm=spect_post_filter_mm,
        no_reposition=no_reposition,
        spect_format=spect_format,
        no_labs=no_labs,
        fdg_discordant=fdg_discordant,
        anatomy=anatomy,
        sstr_imaging=sstr_imaging,
        sirt=sirt,
    )
    _write_study(out, config, as_json)


def register(app: typer.Typer) -> None:
    """Add ``sstrkit phantom make``."""
    phantom_app.command("make")(guarded(make))
    app.add_typer(phantom_app, name="phantom")
