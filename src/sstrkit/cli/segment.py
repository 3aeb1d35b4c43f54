"""``sstrkit segment CT``: offline automatic organ segmentation on the CT grid.

A thin layer over :func:`sstrkit.organs.segment.segment_organs`: reads the CT
(DICOM folder or file, or NIfTI in HU) and optionally the PET (``--pet``, SUV,
or Bq/mL when the SUV cannot be computed) or the SPECT (``--spect``) of the same
scan, writes the integer label map on the CT grid (``--out``, NIfTI with its
JSON sidecar), ``labels.json`` beside it (``{"1": "liver", ...}``, the classes
present) and, with ``--seg-dicom``, a DICOM SEG referencing the CT series.
It prints the organs (name, label, volume mL, quality, reason) as a table, or
with ``--json`` exactly one document::

    {"organs": [{"name", "label", "volume_ml", "quality", ...}],
     "method": "...", "notes": [...], "outputs": {"labels", "labels_json", ...}}

Bad input is one line on stderr and exit status 2 (:mod:`sstrkit.cli.output`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, progress_reporter, table
from sstrkit.core.atomic import check_output_file, write_json_atomic
from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError, GeometryMismatchError, InvalidInputError
from sstrkit.organs.segment import EmissionKind

__all__ = ["register"]

NIFTI = (".nii", ".nii.gz")


def _exists(path: Path, option: str, what: str) -> None:
    if not path.exists():
        raise InvalidInputError(
            option,
            expected=f"an existing {what}",
            actual=f"{path} (not found)",
            fix=f"check the path given to {option}",
        )


def _read_dicom(path: Path, modalities: tuple[str, ...]) -> Volume:
    from sstrkit.io.dicom_read import read_series

    source: Path | list[Path] = path if path.is_dir() else [path]
    return read_series(source, modalities=modalities).volume


def load_segment_ct(path: Path) -> Volume:
    """CT in HU from a DICOM folder or file, or a NIfTI file."""
    _exists(path, "CT", "DICOM folder or file, or NIfTI file")
    if path.is_dir() or not path.name.endswith(NIFTI):
        return _read_dicom(path, ("CT",))
    from sstrkit.io.nifti import read_nifti

    return read_nifti(path)


def load_segment_pet(path: Path, notes: list[str]) -> Volume:
    """PET in SUV (SUVbw from DICOM), else in its stored unit (Bq/mL) with a note."""
    _exists(path, "--pet", "DICOM folder or file, or NIfTI file")
    if path.name.endswith(NIFTI):
        from sstrkit.io.nifti import read_nifti

        return read_nifti(path)
    if path.is_dir():
        from sstrkit.reading.inputs import load_suv_pet

        warnings: list[str] = []
        try:
            return load_suv_pet(path, assume_suv=False, role="PET", warnings=warnings)
        except DicomMetadataError as exc:
            if "CorrectedImage" in exc.what:
                raise
            reason = exc.one_line()
    else:
        reason = "a single DICOM file is read as stored"
    vol = _read_dicom(path, ("PT",))
    notes.append(
        f"PET used in {vol.unit} (not SUV): {reason}. The segmentation needs relative uptake "
        "only, so the organs are not affected"
    )
    return vol


def load_segment_spect(path: Path) -> Volume:
    """SPECT (NM) as stored: Bq/mL or counts, from DICOM or NIfTI."""
    _exists(path, "--spect", "DICOM folder or file, or NIfTI file")
    if path.name.endswith(NIFTI):
        from sstrkit.io.nifti import read_nifti

        return read_nifti(path)
    return _read_dicom(path, ("NM",))


def _check_outputs(out: Path, seg_dicom: Path | None, ct: Path) -> Path:
    if not out.name.endswith(NIFTI):
        raise InvalidInputError(
            "--out",
            expected="a NIfTI file name (.nii.gz or .nii)",
            actual=out.name,
            fix="e.g. --out organs.nii.gz",
        )
    labels_json = out.parent / "labels.json"
    from sstrkit.io.nifti import sidecar_path

    if sidecar_path(out) == labels_json:
        raise InvalidInputError(
            "--out",
            expected="a name other than labels.nii.gz (labels.json beside it holds the names)",
            actual=out.name,
            fix="e.g. --out organs.nii.gz",
        )
    check_output_file(out, "--out", example="organs.nii.gz")
    if seg_dicom is not None:
        if ct.name.endswith(NIFTI):
            raise InvalidInputError(
                "--seg-dicom",
                expected="a DICOM CT (the SEG references its series)",
                actual=f"a NIfTI CT ({ct.name})",
                fix="give the CT's DICOM folder, or leave out --seg-dicom",
            )
        check_output_file(seg_dicom, "--seg-dicom", example="organs_seg.dcm")
    return labels_json


def _same_frame(ct: Volume, emission: Volume, option: str) -> None:
    a, b = ct.frame_of_reference_uid, emission.frame_of_reference_uid
    if a and b and a != b:
        raise GeometryMismatchError(
            f"FrameOfReferenceUID of {option}",
            expected=f"{a} (the CT's)",
            actual=b,
            fix=f"give the {option[2:].upper()} of the same {option[2:].upper()}/CT scan "
            "(one frame of reference), or leave it out",
        )


def _render(doc: dict[str, Any]) -> None:
    rows = [
        (o["name"], o["label"], f"{o['volume_ml']:.1f}", o["quality"], o.get("reason"))
        for o in doc["organs"]
    ]
    console.print(
        table(
            f"Organs ({doc['method']})",
            ("name", "label", "volume mL", "quality", "reason"),
            rows,
        )
    )
    for note in doc["notes"]:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    for key, path in doc["outputs"].items():
        console.print(f"{key}: {path}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``sstrkit segment``."""

    @app.command("segment")
    @guarded
    def segment(
        ct: Path = typer.Argument(..., help="CT: DICOM folder or file, or NIfTI (HU)."),
        out: Path = typer.Option(
            ...,
            "--out",
            help="Label map on the CT grid (.nii.gz); labels.json is written beside it.",
        ),
        pet: Path | None = typer.Option(
            None, "--pet", help="SSTR PET of the same PET/CT (DICOM or NIfTI; SUV or Bq/mL)."
        ),
        spect: Path | None = typer.Option(
            None, "--spect", help="SPECT of the same SPECT/CT (DICOM or NIfTI)."
        ),
        seg_dicom: Path | None = typer.Option(
            None, "--seg-dicom", help="Also write a DICOM SEG of the organs (needs a DICOM CT)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Segment the organs on a CT (+ PET or SPECT): label map, labels.json, DICOM SEG."""
        if pet is not None and spect is not None:
            raise InvalidInputError(
                "--pet/--spect",
                expected="at most one emission scan",
                actual="both --pet and --spect",
                fix="give --pet for a PET/CT or --spect for a SPECT/CT, not both",
            )
        labels_json = _check_outputs(out, seg_dicom, ct)
        notes: list[str] = []
        with progress_reporter(not as_json) as report:
            report("reading the CT")
            ct_vol = load_segment_ct(ct)
            emission: Volume | None = None
            kind: EmissionKind | None = None
            if pet is not None:
                report("reading the PET")
                emission, kind = load_segment_pet(pet, notes), "pet"
                _same_frame(ct_vol, emission, "--pet")
            elif spect is not None:
                report("reading the SPECT")
                emission, kind = load_segment_spect(spect), "spect"
                _same_frame(ct_vol, emission, "--spect")
            from sstrkit.organs import segment as organs_segment

            result = organs_segment.segment_organs(
                ct_vol,
                emission,
                emission_kind=kind,
                progress=lambda stage, fraction: report(f"{stage} ({100 * fraction:.0f} %)"),
            )
            report("writing the label map")
            from sstrkit.io.nifti import write_nifti

            names = result.label_json()
            write_nifti(
                result.labels,
                out,
                extra={"Labels": names, "Method": result.method, "Notes": list(result.notes)},
            )
            write_json_atomic(labels_json, names)
            outputs: dict[str, str] = {"labels": str(out), "labels_json": str(labels_json)}
            if seg_dicom is not None:
                report("writing the DICOM SEG")
                from sstrkit.io.seg_write import write_seg

                outputs["seg_dicom"] = str(write_seg(result, ct, seg_dicom))
        doc = {
            "organs": [o.to_dict() for o in result.organs],
            "method": result.method,
            "notes": [*notes, *result.notes],
            "outputs": outputs,
        }
        emit(doc, as_json, _render)
