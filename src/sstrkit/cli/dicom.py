"""DICOM commands: ``sstrkit dicom ls``, ``sstrkit suv`` and ``sstrkit convert``.

A thin layer over :mod:`sstrkit.io`: options carry their unit in the name
(``--weight-kg``, ``--dose-mbq``) and are converted to internal units here.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from sstrkit.cli.output import console, emit, err_console, guarded, table, warn
from sstrkit.core.atomic import check_output_file
from sstrkit.core.volume import Volume
from sstrkit.errors import InvalidInputError
from sstrkit.io.dicom_read import DicomSeries, read_series
from sstrkit.io.discover import discover
from sstrkit.io.masks import rasterize_rtstruct, read_mask_nifti
from sstrkit.io.nifti import write_nifti
from sstrkit.io.suv import (
    NORMALIZATIONS,
    Overrides,
    SuvResult,
    activity_concentration,
    compute_suv,
)

dicom_app = typer.Typer(help="Inspect DICOM folders.", no_args_is_help=True)

QUANTITIES = {
    "native": None,
    "bqml": None,
    "suvbw": "bw",
    "suvlbm": "lbm",
    "suvlbm-james": "lbm-james",
    "suvbsa": "bsa",
    "suvibw": "ibw",
}


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _overrides(
    weight_kg: float | None,
    height_cm: float | None,
    sex: str | None,
    dose_mbq: float | None,
    injection_time: str | None,
    half_life_s: float | None,
    calibration_bqml_per_cps: float | None,
    sensitivity_cps_per_mbq: float | None,
    acq_duration_s: float | None,
    decay_correction: str | None,
) -> Overrides:
    t = None
    if injection_time is not None:
        try:
            t = _dt.datetime.fromisoformat(injection_time)
        except ValueError:
            raise InvalidInputError(
                "--injection-time",
                expected="an ISO 8601 datetime such as 2026-01-05T09:30 or 2026-01-05T09:30+01:00",
                actual=repr(injection_time),
            ) from None
    sex_u = sex.upper() if sex else None
    dc = decay_correction.upper() if decay_correction else None
    return Overrides(
        weight_kg=weight_kg,
        height_cm=height_cm,
        sex=sex_u,  # type: ignore[arg-type]
        injected_activity_bq=dose_mbq * 1e6 if dose_mbq is not None else None,
        injection_time=t,
        half_life_s=half_life_s,
        calibration_bqml_per_cps=calibration_bqml_per_cps,
        sensitivity_cps_per_mbq=sensitivity_cps_per_mbq,
        acquisition_duration_s=acq_duration_s,
        decay_correction=dc,  # type: ignore[arg-type]
    )


def _read(
    folder: Path,
    series: str | None,
    spacing_tolerance_mm: float | None,
    skip_unreadable: bool,
    show: bool,
    modalities: tuple[str, ...] | None = ("PT", "NM"),
    allow_incomplete: bool = False,
) -> DicomSeries:
    with _progress(show, "reading DICOM") as cb:
        return read_series(
            folder,
            series_uid=series,
            modalities=modalities if series is None else None,
            spacing_tolerance_mm=spacing_tolerance_mm,
            skip_unreadable=skip_unreadable,
            allow_incomplete=allow_incomplete,
            progress=cb,
        )


def _stats(values: np.ndarray[Any, Any] | None, n: int) -> dict[str, Any]:
    if values is None or values.size == 0:
        return {"min": None, "median": None, "mean": None, "max": None, "n_voxels": n}
    v = values.astype(np.float64)
    return {
        "min": float(v.min()),
        "median": float(np.median(v)),
        "mean": float(v.mean()),
        "max": float(v.max()),
        "n_voxels": int(v.size),
    }


def _mask(
    image: Volume,
    mask: Path | None,
    label: int | None,
    rtstruct: Path | None,
    roi: str | None,
    resample_labels: bool = False,
) -> tuple[Volume | None, dict[str, Any] | None]:
    if mask is not None and rtstruct is not None:
        raise InvalidInputError(
            "mask options", expected="--mask or --rtstruct, not both", actual="both"
        )
    if mask is not None:
        m = read_mask_nifti(mask, image, label=label, resample_labels=resample_labels)
        resampled = bool(m.history[-1].parameters.get("resampled_nearest"))
        return m, {"source": str(mask), "label": label, "resampled": resampled}
    if rtstruct is not None:
        if not roi:
            raise InvalidInputError(
                "--roi", expected="the ROI name to use from the RTSTRUCT", actual="absent"
            )
        return rasterize_rtstruct(rtstruct, roi, image), {"source": str(rtstruct), "roi": roi}
    if roi is not None:
        raise InvalidInputError("--roi", expected="together with --rtstruct", actual=roi)
    return None, None


# ---------------------------------------------------------------- commands
@dicom_app.command("ls")
@guarded
def ls(
    folder: Path = typer.Argument(..., help="Folder searched recursively (any file names)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """List the DICOM series in FOLDER: modality, SOP class, UID, units, tracer, time."""
    found = discover(folder)

    def render(res: dict[str, Any]) -> None:
        rows = [
            (
                s["modality"],
                s["description"],
                s["n_files"],
                s["n_frames"],
                s["units"],
                s["radiopharmaceutical"],
                s["acquisition_time"],
                s["sop_class"],
                s["series_uid"],
            )
            for s in res["series"]
        ]
        console.print(
            table(
                f"DICOM series in {folder}",
                (
                    "modality",
                    "description",
                    "files",
                    "frames",
                    "units",
                    "radiopharmaceutical",
                    "acquired",
                    "SOP class",
                    "series UID",
                ),
                rows,
            )
        )
        for bad in res["unreadable"]:
            err_console.print(
                f"unreadable: {bad['file']} ({bad['reason']})", markup=False, soft_wrap=True
            )
        for w in res["warnings"]:
            warn(w)

    emit(found.to_dict(), as_json, render)


_NORM_HELP = "SUV normalisation: " + ", ".join(n for n in NORMALIZATIONS if n != "lbm-james120")


def _suv_payload(res: SuvResult, stats: dict[str, Any], series: DicomSeries) -> dict[str, Any]:
    return {
        "normalization": res.normalization,
        "suv_factor": res.suv_factor,
        "stats": stats,
        "reference_time": res.reference_time.isoformat() if res.reference_time else None,
        "warnings": list(res.warnings),
        "unit": res.suv.unit if res.suv is not None else None,
        "series_uid": series.series_uid,
        "source_units": series.units,
        "parameters": dict(res.parameters),
        "skipped_files": _skipped(series),
    }


def _skipped(series: DicomSeries) -> list[dict[str, str]]:
    """Files left out with --skip-unreadable (also named in the warnings)."""
    return [{"file": f, "reason": why} for f, why in series.skipped]


def suv(
    folder: Path = typer.Argument(..., help="DICOM folder (PET or SPECT series)."),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to use."),
    mask: Path | None = typer.Option(None, "--mask", help="NIfTI mask/label map."),
    label: int | None = typer.Option(None, "--label", help="Label value in --mask (default: >0)."),
    rtstruct: Path | None = typer.Option(None, "--rtstruct", help="DICOM RTSTRUCT file."),
    roi: str | None = typer.Option(None, "--roi", help="ROI name in --rtstruct."),
    resample_labels: bool = typer.Option(
        False, "--resample-labels", help="Resample a --mask on another grid (nearest)."
    ),
    norm: str = typer.Option("bw", "--norm", help=_NORM_HELP),
    weight_kg: float | None = typer.Option(None, "--weight-kg", help="Override patient weight."),
    height_cm: float | None = typer.Option(None, "--height-cm", help="Override patient height."),
    sex: str | None = typer.Option(None, "--sex", help="Override patient sex (M|F)."),
    dose_mbq: float | None = typer.Option(None, "--dose-mbq", help="Override injected activity."),
    injection_time: str | None = typer.Option(
        None, "--injection-time", help="Override injection time (ISO 8601; no zone = scanner's)."
    ),
    half_life_s: float | None = typer.Option(None, "--half-life-s", help="Override half-life."),
    calibration_bqml_per_cps: float | None = typer.Option(
        None, "--calibration-bqml-per-cps", help="Calibration of a CPS PET image."
    ),
    sensitivity_cps_per_mbq: float | None = typer.Option(
        None, "--sensitivity-cps-per-mbq", help="SPECT sensitivity for counts → Bq/mL."
    ),
    acq_duration_s: float | None = typer.Option(
        None, "--acq-duration-s", help="SPECT acquisition duration."
    ),
    decay_correction: str | None = typer.Option(
        None, "--decay-correction", help="Override DecayCorrection: START|ADMIN|NONE."
    ),
    strictness: str = typer.Option(
        "raise", "--strictness", help="raise (default): stop on a missing value; warn: continue."
    ),
    spacing_tolerance_mm: float | None = typer.Option(
        None, "--spacing-tolerance-mm", help="Accepted deviation of slice spacing."
    ),
    skip_unreadable: bool = typer.Option(
        False,
        "--skip-unreadable",
        help="Leave out corrupt DICOM files in the folder (listed in the warnings).",
    ),
    allow_incomplete: bool = typer.Option(
        False,
        "--allow-incomplete",
        help="Read a series with fewer slices than its header announces (a warning, not an "
        "error), e.g. one cropped by a workstation.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """SUV statistics of a PET/SPECT series over a mask (whole image without one)."""
    if norm not in NORMALIZATIONS:
        raise InvalidInputError("--norm", expected=_NORM_HELP, actual=norm)
    if strictness not in ("raise", "warn"):
        raise InvalidInputError("--strictness", expected="raise or warn", actual=strictness)
    ov = _overrides(
        weight_kg,
        height_cm,
        sex,
        dose_mbq,
        injection_time,
        half_life_s,
        calibration_bqml_per_cps,
        sensitivity_cps_per_mbq,
        acq_duration_s,
        decay_correction,
    )
    data = _read(
        folder,
        series,
        spacing_tolerance_mm,
        skip_unreadable,
        not as_json,
        allow_incomplete=allow_incomplete,
    )
    res = compute_suv(data, norm, ov, strictness=strictness)  # type: ignore[arg-type]
    m, mask_info = _mask(data.volume, mask, label, rtstruct, roi, resample_labels)
    sel = m.array.astype(bool) if m is not None else None
    n = int(sel.sum()) if sel is not None else int(np.prod(data.volume.shape))
    values = None
    if res.suv is not None:
        values = res.suv.array[sel] if sel is not None else res.suv.array.ravel()
    payload = _suv_payload(res, _stats(values, n), data)
    payload["mask"] = mask_info

    def render(p: dict[str, Any]) -> None:
        st = p["stats"]
        rows = [
            (k, "—" if st[k] is None else f"{st[k]:.4g}") for k in ("min", "median", "mean", "max")
        ]
        rows.append(("voxels", st["n_voxels"]))
        rows.append(("SUV factor", p["suv_factor"]))
        rows.append(("reference time", p["reference_time"]))
        console.print(table(f"SUV{p['normalization']} ({p['unit']})", ("", "value"), rows))
        for w in p["warnings"]:
            warn(w)

    emit(payload, as_json, render)


def convert(
    folder: Path = typer.Argument(..., help="DICOM folder."),
    out: Path = typer.Argument(..., help="Output .nii.gz (a .json sidecar is written next to it)."),
    quantity: str = typer.Option(
        "bqml", "--quantity", help="native | bqml | suvbw | suvlbm | suvlbm-james | suvbsa | suvibw"
    ),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to use."),
    weight_kg: float | None = typer.Option(None, "--weight-kg"),
    height_cm: float | None = typer.Option(None, "--height-cm"),
    sex: str | None = typer.Option(None, "--sex"),
    dose_mbq: float | None = typer.Option(None, "--dose-mbq"),
    injection_time: str | None = typer.Option(None, "--injection-time"),
    half_life_s: float | None = typer.Option(None, "--half-life-s"),
    calibration_bqml_per_cps: float | None = typer.Option(None, "--calibration-bqml-per-cps"),
    sensitivity_cps_per_mbq: float | None = typer.Option(None, "--sensitivity-cps-per-mbq"),
    acq_duration_s: float | None = typer.Option(None, "--acq-duration-s"),
    decay_correction: str | None = typer.Option(None, "--decay-correction"),
    spacing_tolerance_mm: float | None = typer.Option(None, "--spacing-tolerance-mm"),
    skip_unreadable: bool = typer.Option(
        False,
        "--skip-unreadable",
        help="Leave out corrupt DICOM files in the folder (listed in the warnings).",
    ),
    allow_incomplete: bool = typer.Option(
        False,
        "--allow-incomplete",
        help="Read a series with fewer slices than its header announces (a warning, not an "
        "error), e.g. one cropped by a workstation.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Convert a DICOM series to NIfTI + JSON sidecar in Bq/mL, an SUV, or native units."""
    if quantity not in QUANTITIES:
        raise InvalidInputError(
            "--quantity", expected=f"one of {list(QUANTITIES)}", actual=quantity
        )
    ov = _overrides(
        weight_kg,
        height_cm,
        sex,
        dose_mbq,
        injection_time,
        half_life_s,
        calibration_bqml_per_cps,
        sensitivity_cps_per_mbq,
        acq_duration_s,
        decay_correction,
    )
    check_output_file(out, "OUT", example="image.nii.gz")
    if not out.name.endswith((".nii.gz", ".nii")):
        raise InvalidInputError(
            "OUT",
            expected="a NIfTI file name ending in .nii.gz or .nii",
            actual=out.name,
            fix=f"e.g. {out.with_name(out.name.split('.')[0] + '.nii.gz')}",
        )
    modalities = None if quantity == "native" else ("PT", "NM")
    data = _read(
        folder,
        series,
        spacing_tolerance_mm,
        skip_unreadable,
        not as_json,
        modalities,
        allow_incomplete=allow_incomplete,
    )
    extra: dict[str, Any] = {"SeriesInstanceUID": data.series_uid, "SourceUnits": data.units}
    warnings: list[str] = list(data.warnings)  # compute_suv repeats them in its own
    if quantity == "native":
        vol = data.volume
    elif quantity == "bqml":
        # Bq/mL needs no body measure: weight, height and sex are not read (an impossible
        # or missing weight does not block it)
        if data.units in ("GML", "CM2ML"):
            raise InvalidInputError(
                "--quantity bqml",
                expected="a series from which Bq/mL can be derived",
                actual=f"units {data.units} (already SUV)",
                fix="use --quantity suvbw (or another SUV)",
            )
        act = activity_concentration(data, ov)
        warnings = [*data.warnings, *act.warnings]
        vol = act.volume
        extra |= {
            "ReferenceTime": act.reference_time.isoformat(),
            "ReferenceTimeSource": act.reference_time_source,
            "DecayCorrection": act.decay_correction,
            "HalfLifeS": act.half_life_s,
        }
    else:
        res = compute_suv(data, QUANTITIES[quantity] or "bw", ov)
        warnings = list(res.warnings)
        assert res.suv is not None  # strict mode raised otherwise
        vol = res.suv
        extra |= {
            "SUVNormalization": res.normalization,
            "SUVFactor": res.suv_factor,
            "SUVParameters": dict(res.parameters),
        }
    path = write_nifti(vol, out, extra=extra)
    payload = {
        "output": str(path),
        "sidecar": str(path.with_name(path.name.split(".nii")[0] + ".json")),
        "quantity": vol.quantity,
        "unit": vol.unit,
        "shape_zyx": list(vol.shape),
        "spacing_mm": list(vol.spacing),
        "reference_time": vol.reference_time.isoformat() if vol.reference_time else None,
        "warnings": warnings,
        "skipped_files": _skipped(data),
    }

    def render(p: dict[str, Any]) -> None:
        console.print(f"wrote {p['output']} ({p['quantity']}, {p['unit']}) and {p['sidecar']}")
        for w in p["warnings"]:
            warn(w)

    emit(payload, as_json, render)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.add_typer(dicom_app, name="dicom")
    app.command("suv")(guarded(suv))
    app.command("convert")(guarded(convert))
