"""Voxel-dosimetry commands, attached to the ``dose`` group.

``sstrkit dose kernel NUCLIDE --voxel-mm X`` — voxel S-value kernel (mGy/(MBq·s)).
``sstrkit dose voxel STUDY --cycle N --out OUT`` — voxel dosimetry of one cycle of a
study folder (digital-patient layout): registration, voxel TIA, dose map (NIfTI +
RTDOSE), per-region DVH metrics.

:func:`register` attaches to the ``dose`` sub-app registered by
:mod:`sstrkit.cli.dose` (it must be registered first); if there is none yet it
creates the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import typer

from sstrkit.cli.output import console, emit, err_console, guarded, table
from sstrkit.core.atomic import (
    atomic_path,
    check_output_file,
    prepare_output_dir,
    write_json_atomic,
)
from sstrkit.errors import InvalidInputError
from sstrkit.physics.kernels import voxel_kernel
from sstrkit.therapy.voxel_dose import StudyDosimetry, study_cycle_dosimetry


def _dose_group(app: typer.Typer) -> typer.Typer:
    for info in app.registered_groups:
        if info.name == "dose" and info.typer_instance is not None:
            return info.typer_instance
    sub = typer.Typer(name="dose", help="Absorbed-dose calculations.", no_args_is_help=True)
    app.add_typer(sub, name="dose")
    return sub


def _check_npy(path: Path) -> None:
    check_output_file(path, "--out", example="kernel.npy")
    if path.suffix != ".npy":
        raise InvalidInputError(
            "--out",
            expected="a .npy file name",
            actual=str(path),
            fix=f"e.g. --out {path.with_suffix('.npy')}",
        )


def _save_npy(array: np.ndarray[Any, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, array)


def _render_kernel(d: dict[str, Any]) -> None:
    rows = [
        ("nuclide", d["nuclide"]),
        ("voxel (mm)", d["voxel_mm"]),
        ("tissue", f"{d['tissue']} ({d['density_g_cm3']} g/cm³)"),
        ("shape (z, y, x)", d["shape"]),
        ("centre voxel S (mGy/(MBq·s))", f"{d['center_mgy_per_mbq_s']:.4g}"),
        ("face neighbour S (mGy/(MBq·s))", f"{d['face_neighbour_mgy_per_mbq_s']:.4g}"),
        ("electron energy inside kernel", f"{100 * d['electron_fraction_in_kernel']:.1f} %"),
        ("photon energy inside kernel", f"{100 * d['photon_fraction_in_kernel']:.1f} %"),
        ("written to", d["out"] or "—"),
        ("method", d["method"]),
    ]
    console.print(table("voxel S-value kernel", ("quantity", "value"), rows))


def _render_study(d: dict[str, Any]) -> None:
    rows = [
        (
            r["name"],
            f"{r['volume_ml']:.1f}",
            f"{r['mean_gy']:.3g}",
            f"{r['d2_gy']:.3g}",
            f"{r['d90_gy']:.3g}",
            "—" if r["truth_mean_gy"] is None else f"{r['truth_mean_gy']:.3g}",
        )
        for r in d["regions"]
    ]
    console.print(
        table(
            f"cycle {d['cycle']} voxel dosimetry ({d['nuclide']}, {d['parameters']['method']})",
            ("region", "volume mL", "mean Gy", "D2 Gy", "D90 Gy", "truth mean Gy"),
            rows,
        )
    )
    console.print(f"files: {', '.join(d['files'].values())}")


def _write_outputs(res: StudyDosimetry, out: Path, source: Any = None) -> dict[str, str]:
    from sstrkit.io.dicom_write import PatientInfo, StudyInfo, write_rtdose
    from sstrkit.io.nifti import write_nifti

    prepare_output_dir(out, "--out")
    files = {
        "dose_nifti": str(write_nifti(res.dose, out / "dose.nii.gz")),
        "tia_nifti": str(write_nifti(res.tia, out / "tia.nii.gz")),
        "dose_rtdose": str(
            write_rtdose(
                res.dose,
                out / "dose_rtdose.dcm",
                source=source,
                patient=PatientInfo() if source is None else None,
                study=StudyInfo(description=f"sstrkit voxel dosimetry cycle {res.cycle}")
                if source is None
                else None,
                series_description=f"sstrkit voxel dosimetry, cycle {res.cycle}",
                comment=f"sstrkit {res.nuclide} cycle {res.cycle}",
            )
        ),
    }
    doc = {**res.to_dict(), "files": files}
    write_json_atomic(out / "voxel_dosimetry.json", doc)
    files["result_json"] = str(out / "voxel_dosimetry.json")
    return files


def register(app: typer.Typer) -> None:
    """Attach ``dose kernel`` to the ``dose`` group of ``app``."""
    dose = _dose_group(app)

    @dose.command("kernel")
    @guarded
    def kernel(
        nuclide: str = typer.Argument(..., help="Radionuclide, e.g. Lu-177, Y-90."),
        voxel_mm: float = typer.Option(..., "--voxel-mm", help="Cubic voxel size in mm."),
        half_size: int = typer.Option(5, "--half-size", help="Kernel is (2N+1)³ voxels."),
        tissue: str = typer.Option("soft", "--tissue", help="soft | bone | water."),
        electrons: str = typer.Option(
            "all", "--electrons", help="all (β + IC + Auger) | beta (β spectrum only)."
        ),
        out: Path | None = typer.Option(None, "--out", help="Write the kernel as .npy."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Voxel S values in mGy/(MBq·s), source voxel at the centre (numpy z, y, x)."""
        if tissue not in ("soft", "bone", "water"):
            raise InvalidInputError("--tissue", expected="soft, bone or water", actual=tissue)
        if out is not None:
            _check_npy(out)
        k = voxel_kernel(nuclide, voxel_mm, half_size=half_size, tissue=tissue, electrons=electrons)
        if out is not None:
            _save_npy(np.asarray(k.array, dtype=np.float64), out)
        h = k.half_size
        result = {
            "nuclide": k.nuclide,
            "voxel_mm": voxel_mm,
            "center_mgy_per_mbq_s": k.center_mgy_per_mbq_s,
            "shape": list(k.shape),
            "method": k.method,
            "unit": "mGy/(MBq*s)",
            "tissue": k.tissue,
            "density_g_cm3": k.density_g_cm3,
            "electrons": k.electrons,
            "face_neighbour_mgy_per_mbq_s": float(k.array[h, h, h + 1]) if h > 0 else None,
            "electron_fraction_in_kernel": k.electron_fraction_in_kernel,
            "photon_fraction_in_kernel": k.photon_fraction_in_kernel,
            "out": str(out) if out is not None else None,
            "provenance": [s.to_dict() for s in k.history],
        }
        emit(result, as_json, _render_kernel)

    @dose.command("voxel")
    @guarded
    def voxel(
        study: Path = typer.Argument(..., help="Study folder (with manifest.json)."),
        cycle: int = typer.Option(1, "--cycle", help="Therapy cycle number."),
        out: Path = typer.Option(..., "--out", help="Output folder."),
        method: str = typer.Option("convolution", "--method", help="convolution | local."),
        tia_method: str = typer.Option(
            "trapezoid", "--tia-method", help="trapezoid | mono_exp (voxel-wise)."
        ),
        pvc: str = typer.Option(
            "gtm", "--pvc", help="Partial-volume-corrected region doses: gtm | voi | none."
        ),
        no_register: bool = typer.Option(
            False, "--no-register", help="Skip CT registration (same geometry assumed)."
        ),
        no_density: bool = typer.Option(
            False, "--no-density-correction", help="Ignore the CT density."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Voxel dosimetry of one cycle: dose map (NIfTI, RTDOSE), TIA map, region DVHs."""
        if method not in ("convolution", "local"):
            raise InvalidInputError("--method", expected="convolution or local", actual=method)
        if tia_method not in ("mono_exp", "trapezoid"):
            raise InvalidInputError(
                "--tia-method", expected="mono_exp or trapezoid", actual=tia_method
            )

        if pvc not in ("gtm", "voi", "none"):
            raise InvalidInputError("--pvc", expected="gtm, voi or none", actual=pvc)
        prepare_output_dir(out, "--out")

        def say(msg: str) -> None:
            if not as_json:
                err_console.print(f"[dim]{msg}…[/dim]")

        res = study_cycle_dosimetry(
            study,
            cycle,
            method=method,  # type: ignore[arg-type]
            tia_method=tia_method,
            register=not no_register,
            density_correction=not no_density,
            pvc=pvc,  # type: ignore[arg-type]
            progress=say,
        )
        from sstrkit.pipeline.study import Study

        files = _write_outputs(res, out, Study.load(study).first_spect_header(cycle))
        doc = {**res.to_dict(), "files": files}
        doc.pop("history", None)
        emit(doc, as_json, _render_study)
