"""Bad-input corpus: named cases of wrong inputs, each with its exit status and message.

Every case runs the CLI in-process (typer's ``CliRunner``) twice, with ``--json``
and without, and checks the contract of README "Errors and exit codes":

* exit status 0 (possibly with a warning) or 2, as the case says; never a
  traceback or another uncaught exception;
* exit 2: exactly one ``error: ... Fix: ...`` line on stderr naming what the
  case names; with ``--json`` one JSON error document on stdout, else nothing;
* exit 0: with ``--json`` one JSON document on stdout and only ``warning:``
  lines on stderr; the warnings a case names are in it (``warnings`` of the
  document, or stderr without ``--json``); where a case gives a number it is
  checked, with its derivation next to it.

The inputs are generated in code from one small PET series (8×8×4 voxels,
:func:`sstrkit.io.dicom_write.write_pet_series`; 70 kg, 175 cm, male, 150 MBq
Ga-68 injected one hour before the scan), written once per module; each case
writes its own variant into its own folder.

Reference numbers of the base series (QIBA SUVbw, the formula of
:mod:`sstrkit.io.suv`): D(t_ref) = 150 MBq × 2^(−3600 s / T½) with T½ = 4062.6 s
(ICRP 107 Ga-68, written into the header); SUV factor = 70 000 g / D(t_ref).
Voxels are 1000 × (1 + flat index) Bq/mL (1 to 256 kBq/mL), stored as int16
with a per-slice RescaleSlope (max|slice|/32767), so a read value is within
slope/2 ≤ 3.91 Bq/mL of it (write_pet_series docstring); means below are
compared with rel 1e-4 (3.91 / 64 500 = 6e-5 for the smallest mean used).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import generate_uid
from typer.testing import CliRunner, Result

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.errors import DicomMetadataError
from sstrkit.io.body_size import lbm_janmahasatian
from sstrkit.io.dicom_read import read_series
from sstrkit.io.dicom_write import PatientInfo, Radiopharmaceutical, StudyInfo, write_pet_series
from sstrkit.io.discover import discover
from sstrkit.io.nifti import write_nifti
from sstrkit.physics.nuclides import get_nuclide

runner = CliRunner()

SCAN = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
INJECTION = SCAN - dt.timedelta(hours=1)
ACTIVITY_BQ = 150e6
WEIGHT_KG, HEIGHT_CM = 70.0, 175.0
SHAPE = (4, 8, 8)
SPACING = (3.0, 3.0, 4.0)  # x, y, z (mm)
ORIGIN = (-12.0, -12.0, 0.0)
FRAME_OF_REFERENCE = "1.2.826.0.1.3680043.8.498.2"

HALF_LIFE_S = get_nuclide("Ga-68").half_life_s
#: Administered activity decayed to the scan (QIBA): D0 · 2^(−Δt/T½), Δt = 3600 s.
DECAYED_BQ = ACTIVITY_BQ * 2 ** (-3600 / HALF_LIFE_S)
#: SUVbw factor (g/mL)/(Bq/mL) = W / D(t_ref).
FACTOR_BW = WEIGHT_KG * 1000 / DECAYED_BQ
#: Mean of the voxel values 1000 × (1..256) Bq/mL, and of slices 0-1 only (1..128).
MEAN_BQML = 1000 * (1 + 256) / 2
MEAN_BQML_SLICES_01 = 1000 * (1 + 128) / 2
QUANT_REL = 1e-4  # quantisation of int16 storage, see the module docstring


def voxel_values() -> np.ndarray[Any, np.dtype[np.float32]]:
    return (np.arange(math.prod(SHAPE), dtype=np.float32).reshape(SHAPE) + 1) * 1000


def write_base_series(folder: Path) -> list[Path]:
    volume = Volume.from_array(
        voxel_values(),
        spacing=SPACING,
        origin=ORIGIN,
        modality="PT",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=SCAN,
        frame_of_reference_uid=FRAME_OF_REFERENCE,
    )
    return write_pet_series(
        volume,
        folder,
        patient=PatientInfo(patient_id="CORPUS", sex="M", weight_kg=WEIGHT_KG, height_cm=HEIGHT_CM),
        study=StudyInfo(study_time=SCAN, description="bad-input corpus"),
        radiopharmaceutical=Radiopharmaceutical("68Ga-DOTATATE", "Ga-68", ACTIVITY_BQ, INJECTION),
    )


# ------------------------------------------------------------------ header edits
Edit = Callable[[Dataset, int], None]


def _raw(keyword: str, text: str) -> RawDataElement:
    """An element with exactly these characters (no validation: as a broken export writes)."""
    tag = Tag(tag_for_keyword(keyword))
    value = text.encode("utf-8")
    if len(value) % 2:
        value += b" "
    return RawDataElement(tag, dictionary_VR(tag), len(value), value, 0, False, True)


def put(keyword: str, text: str) -> Edit:
    """Set a top-level attribute (every file) to ``text`` as written."""

    def edit(ds: Dataset, k: int) -> None:
        ds[Tag(tag_for_keyword(keyword))] = _raw(keyword, text)

    return edit


def put_radio(keyword: str, text: str) -> Edit:
    """Set an attribute of the RadiopharmaceuticalInformationSequence item."""

    def edit(ds: Dataset, k: int) -> None:
        item = ds.RadiopharmaceuticalInformationSequence[0]
        item[Tag(tag_for_keyword(keyword))] = _raw(keyword, text)

    return edit


def put_us(keyword: str, value: int) -> Edit:
    """Set a US (binary) attribute to ``value``."""

    def edit(ds: Dataset, k: int) -> None:
        tag = Tag(tag_for_keyword(keyword))
        ds[tag] = RawDataElement(tag, "US", 2, value.to_bytes(2, "little"), 0, False, True)

    return edit


def drop(*keywords: str) -> Edit:
    def edit(ds: Dataset, k: int) -> None:
        for kw in keywords:
            if kw in ds:
                delattr(ds, kw)

    return edit


def drop_radio(*keywords: str) -> Edit:
    def edit(ds: Dataset, k: int) -> None:
        item = ds.RadiopharmaceuticalInformationSequence[0]
        for kw in keywords:
            if kw in item:
                delattr(item, kw)

    return edit


def scale_slope(factor: float) -> Edit:
    def edit(ds: Dataset, k: int) -> None:
        ds.RescaleSlope = f"{float(ds.RescaleSlope) * factor:.10g}"

    return edit


def philips_scale(suv_scale: float) -> Edit:
    """Philips private SUV scale factor (7053,1000) under its creator (QIBA Appendix G)."""

    def edit(ds: Dataset, k: int) -> None:
        block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
        block.add_new(0x00, "DS", f"{suv_scale:.10g}")

    return edit


def on_file(index: int, inner: Edit) -> Edit:
    def edit(ds: Dataset, k: int) -> None:
        if k == index:
            inner(ds, k)

    return edit


# ------------------------------------------------------------------ environment
@dataclass
class Env:
    """Shared inputs of the module: the base series and its reference SUV document."""

    root: Path
    pet: Path
    names: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    ref: dict[str, Any] = field(default_factory=dict)
    n: int = 0

    def folder(self, name: str) -> Path:
        self.n += 1
        path = self.root / f"{self.n:03d}_{name}"
        path.mkdir()
        return path

    def variant(self, name: str, *edits: Edit, skip: tuple[int, ...] = ()) -> Path:
        """The base series with ``edits`` applied, files ``skip`` left out."""
        out = self.folder(name)
        for k, (fname, ds) in enumerate(zip(self.names, self.datasets, strict=True)):
            if k in skip:
                continue
            ds = copy.deepcopy(ds)
            for e in edits:
                e(ds, k)
            ds.save_as(out / fname, enforce_file_format=False)
        return out

    def copy_pet(self, name: str) -> Path:
        out = self.folder(name)
        for fname in self.names:
            shutil.copy2(self.pet / fname, out / fname)
        return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Env:
    root = tmp_path_factory.mktemp("corpus")
    files = write_base_series(root / "pet")
    e = Env(
        root,
        root / "pet",
        tuple(f.name for f in files),
        tuple(pydicom.dcmread(f) for f in files),
    )
    res = runner.invoke(app, ["suv", str(e.pet), "--json"])
    assert res.exit_code == 0, res.output
    e.ref = json.loads(res.stdout)
    return e


@dataclass
class Ctx:
    """What a case's builder gets: the shared inputs and a monkeypatch."""

    env: Env
    name: str
    monkeypatch: pytest.MonkeyPatch

    def folder(self) -> Path:
        return self.env.folder(self.name)

    def variant(self, *edits: Edit, skip: tuple[int, ...] = ()) -> Path:
        return self.env.variant(self.name, *edits, skip=skip)


# ------------------------------------------------------------------ checks of exit-0 documents
Check = Callable[[dict[str, Any], Env], None]


def same_as_reference(doc: dict[str, Any], env: Env) -> None:
    """The SUV of the unmutated series (same inputs, same numbers)."""
    assert doc["suv_factor"] == pytest.approx(env.ref["suv_factor"], rel=1e-9)
    for key in ("min", "median", "mean", "max"):
        assert doc["stats"][key] == pytest.approx(env.ref["stats"][key], rel=1e-9), key
    assert doc["stats"]["n_voxels"] == env.ref["stats"]["n_voxels"]


def reference_numbers(doc: dict[str, Any], env: Env) -> None:
    """SUVbw factor by hand (module docstring); mean = factor × 128 500 Bq/mL."""
    assert doc["suv_factor"] == pytest.approx(FACTOR_BW, rel=1e-12)
    assert doc["stats"]["mean"] == pytest.approx(FACTOR_BW * MEAN_BQML, rel=QUANT_REL)
    assert doc["stats"]["max"] == pytest.approx(FACTOR_BW * 256_000, rel=QUANT_REL)
    assert doc["stats"]["n_voxels"] == math.prod(SHAPE)
    assert doc["reference_time"] == SCAN.isoformat() and doc["warnings"] == []


def no_suv(doc: dict[str, Any], env: Env) -> None:
    """Warn mode: the problem is reported, and no SUV at all (no factor, no statistics)."""
    assert doc["suv_factor"] is None and doc["unit"] is None
    assert all(doc["stats"][k] is None for k in ("min", "median", "mean", "max"))


def skipped_one(doc: dict[str, Any], env: Env) -> None:
    same_as_reference(doc, env)
    assert [Path(s["file"]).name for s in doc["skipped_files"]] == ["garbage.dcm"]


def resampled_mask(doc: dict[str, Any], env: Env) -> None:
    """Mask voxel 0 of the 6×6×8 mm grid (z 2 mm ± 4) covers image slices 0 and 1 (z 0, 4 mm):
    128 voxels, mean 1000 × mean(1..128) Bq/mL × factor."""
    assert doc["mask"]["resampled"] is True
    assert doc["stats"]["n_voxels"] == 128
    assert doc["stats"]["mean"] == pytest.approx(FACTOR_BW * MEAN_BQML_SLICES_01, rel=QUANT_REL)


def lbm_female(doc: dict[str, Any], env: Env) -> None:
    """SUVlbm (Janmahasatian) with --sex F: LBM_F(70 kg, 175 cm) / D(t_ref)."""
    bmi = WEIGHT_KG / (HEIGHT_CM / 100) ** 2  # 22.857 kg/m²
    lbm_f = 9270 * WEIGHT_KG / (8780 + 244 * bmi)  # Janmahasatian et al. 2005, female
    assert lbm_f == pytest.approx(lbm_janmahasatian(WEIGHT_KG, HEIGHT_CM, "F"), rel=1e-12)
    assert doc["suv_factor"] == pytest.approx(lbm_f * 1000 / DECAYED_BQ, rel=1e-12)


def gml_lbm_sex_o(doc: dict[str, Any], env: Env) -> None:
    """Stored SUVlbm (DICOM "LBM" = James, 120/148) 1..256 g/mL with sex O → SUVbw with the
    mean of the male and female ratios W/LBM (docs/dicom.md): LBM_M = 1.10·70 − 120·0.16 =
    57.8 kg, LBM_F = 1.07·70 − 148·0.16 = 51.22 kg ((W/H)² = (70/175)² = 0.16)."""
    ratio = 0.5 * (WEIGHT_KG / 57.8 + WEIGHT_KG / 51.22)
    assert doc["stats"]["mean"] == pytest.approx(ratio * MEAN_BQML / 1000, rel=QUANT_REL)


def philips(doc: dict[str, Any], env: Env) -> None:
    """SUVbw = CNTS × (7053,1000) (QIBA Appendix G), the factor written being FACTOR_BW to 10
    significant digits: the reference statistics within 1e-9."""
    for key in ("min", "median", "mean", "max"):
        assert doc["stats"][key] == pytest.approx(env.ref["stats"][key], rel=1e-9), key


def converted(doc: dict[str, Any], env: Env) -> None:
    assert Path(doc["output"]).is_file() and doc["unit"] == "Bq/mL"


def ls_unreadable(doc: dict[str, Any], env: Env) -> None:
    assert len(doc["series"]) == 1 and doc["series"][0]["n_files"] == 4
    assert [Path(u["file"]).name for u in doc["unreadable"]] == ["garbage.dcm"]


def ls_dicomdir(doc: dict[str, Any], env: Env) -> None:
    assert len(doc["series"]) == 1 and doc["series"][0]["n_files"] == 4
    assert [Path(p).name for p in doc["media_directories"]] == ["DICOMDIR"]
    assert doc["unreadable"] == [] and doc["warnings"] == []


def ls_missing(doc: dict[str, Any], env: Env) -> None:
    assert len(doc["series"]) == 1 and len(doc["missing_referenced_files"]) == 1
    assert doc["unreadable"] == []


# ------------------------------------------------------------------ input builders
def garbage_dicom(path: Path) -> Path:
    """A file with the DICOM preamble and nothing valid after it."""
    path.write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    return path


def with_garbage(ctx: Ctx) -> Path:
    folder = ctx.env.copy_pet(ctx.name)
    garbage_dicom(folder / "garbage.dcm")
    return folder


def write_fileset(datasets: list[Dataset], out: Path) -> FileSet:
    """Write ``datasets`` as a File-set (DICOMDIR + files) with pydicom's FileSet."""
    fs = FileSet()
    for ds in datasets:
        fs.add(ds)
    fs.write(out)
    # FileSet stages files in a TemporaryDirectory it never removes itself (a ResourceWarning
    # when it is collected): remove it now
    stage = getattr(fs, "_stage", {}).get("t")
    if isinstance(stage, tempfile.TemporaryDirectory):
        stage.cleanup()
    return fs


def cd_export(ctx: Ctx, *, extra: bool = False) -> Path:
    """The series as a CD export written by pydicom's FileSet: DICOMDIR + files without
    extension (PT000000/ST000000/SE000000/IM000000...); ``extra`` adds a second series of
    one file to the index and then deletes that file (listed but missing)."""
    out = ctx.folder()
    datasets = [copy.deepcopy(ds) for ds in ctx.env.datasets]
    if extra:
        ds = copy.deepcopy(ctx.env.datasets[0])
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        datasets.append(ds)
    fs = write_fileset(datasets, out)
    if extra:
        lost = fs.find(SOPInstanceUID=datasets[-1].SOPInstanceUID)[0]
        Path(lost.path).unlink()
    return out


def cd_lowercase(ctx: Ctx) -> Path:
    """The CD export with every file and folder name in lower case (as some mounts show an
    ISO 9660 disc); the DICOMDIR keeps its upper-case file IDs."""
    out = cd_export(ctx)
    for dirpath, dirnames, filenames in os.walk(out, topdown=False):
        for name in filenames + dirnames:
            if name != "DICOMDIR":
                os.rename(Path(dirpath) / name, Path(dirpath) / name.lower())
    return out / "DICOMDIR"


def cd_no_preamble(ctx: Ctx) -> Path:
    """The CD export with one referenced file rewritten without preamble and file meta."""
    out = cd_export(ctx)
    first = next(p for p in sorted(out.rglob("IM*")))
    ds = pydicom.dcmread(first)
    del ds.file_meta
    ds.preamble = None
    ds.save_as(first, implicit_vr=False, little_endian=True, enforce_file_format=False)
    return out / "DICOMDIR"


def corrupt_dicomdir(ctx: Ctx) -> Path:
    folder = ctx.env.copy_pet(ctx.name)
    garbage_dicom(folder / "DICOMDIR")
    return folder


def mask_other_grid(ctx: Ctx) -> Path:
    """Labels on a 6×6×8 mm grid (4×4×2 voxels over the image's extent), no JSON sidecar:
    label 1 in the first z voxel (z 2 mm ± 4 mm)."""
    labels = np.zeros((2, 4, 4), np.uint8)
    labels[0] = 1
    vol = Volume.from_array(
        labels,
        spacing=(6.0, 6.0, 8.0),
        origin=(-10.5, -10.5, 2.0),
        modality="SEG",
        quantity="labels",
        unit="1",
        frame_of_reference_uid=FRAME_OF_REFERENCE,
    )
    path = write_nifti(vol, ctx.folder() / "mask.nii.gz")
    path.with_name("mask.json").unlink()
    return path


def manifest(**changes: Any) -> dict[str, Any]:
    """The valid hand-written manifest of tests/pipeline/test_study_model.py, with changes
    given as dotted paths (``series.pet.nuclide=...``; value ``None`` removes the key)."""
    inj = "2025-03-03T10:00:00+01:00"

    def emission(**extra: Any) -> dict[str, Any]:
        return {
            "path": "dicom/x",
            "series_uid": "1.2.3",
            "frame_of_reference_uid": "1.2.3.4",
            "tracer": "177Lu-DOTATATE",
            "nuclide": "Lu-177",
            "injection_time": inj,
            "injected_activity_bq": 7.4e9,
            "time": "2025-03-04T10:00:00+01:00",
            "fwhm_mm": 11.0,
            **extra,
        }

    doc: dict[str, Any] = {
        "format": "sstrkit-study",
        "version": 2,
        "patient": {"id": "P1", "sex": "F", "weight_kg": 70.0, "height_cm": 165.0},
        "series": {
            "pet": emission(tracer="68Ga-DOTATATE", nuclide="Ga-68", injected_activity_bq=1.5e8),
            "pet_ct": {"path": "dicom/ct", "series_uid": "9.8", "time": inj},
            "spect": [emission(cycle=1, hours_post_injection=24.0)],
            "spect_ct": [
                {"path": "dicom/sct", "series_uid": "9.9", "cycle": 1, "hours_post_injection": 24.0}
            ],
        },
        "segmentation": {"labels_nifti": {"baseline": "seg.nii.gz"}, "label_names": "n.json"},
        "clinical": "clinical.json",
    }
    for path, value in changes.items():
        *parents, last = path.split(".")
        node: Any = doc
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return doc


def study(text: str | dict[str, Any] | list[Any]) -> Callable[[Ctx], Path]:
    def build(ctx: Ctx) -> Path:
        folder = ctx.folder()
        body = text if isinstance(text, str) else json.dumps(text)
        (folder / "manifest.json").write_text(body, encoding="utf-8")
        return folder

    return build


def label_names(text: str) -> Callable[[Ctx], list[str]]:
    """``study init PET --segmentation SEG --label-names NAMES`` with NAMES = ``text``."""

    def build(ctx: Ctx) -> list[str]:
        folder = ctx.folder()
        seg = write_nifti(
            Volume.from_array(
                np.ones(SHAPE, np.uint8),
                spacing=SPACING,
                origin=ORIGIN,
                modality="SEG",
                quantity="labels",
                unit="1",
                frame_of_reference_uid=FRAME_OF_REFERENCE,
            ),
            folder / "seg.nii.gz",
        )
        names = folder / "names.json"
        names.write_text(text, encoding="utf-8")
        return [
            "study", "init", str(ctx.env.pet), "--out", str(folder / "study"),
            "--segmentation", str(seg), "--label-names", str(names),
        ]  # fmt: skip

    return build


# ------------------------------------------------------------------ the cases
Build = Callable[[Ctx], list[str]]


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, its exit status, what the message must name."""

    name: str
    build: Build
    exit_code: int
    says: tuple[str, ...] = ()  # fragments of the error line (2) or of a warning (0)
    check: Check | None = None
    json_flag: bool = True  # append --json for the JSON run (False: the case is the flags)


def suv(folder: Callable[[Ctx], Path], *options: str) -> Build:
    return lambda ctx: ["suv", str(folder(ctx)), *options]


def base(ctx: Ctx) -> Path:
    return ctx.env.pet


def variant(*edits: Edit, skip: tuple[int, ...] = ()) -> Callable[[Ctx], Path]:
    return lambda ctx: ctx.variant(*edits, skip=skip)


SWAPPED = (put("PatientWeight", "1.75"), put("PatientSize", "70"))
NO_INJECTION_TIME = drop_radio("RadiopharmaceuticalStartTime", "RadiopharmaceuticalStartDateTime")
SEX_O = put("PatientSex", "O")


def _deny_write(ctx: Ctx, folder: Path) -> None:
    """``os.access`` reports ``folder`` as not writable (root ignores mode bits; as in
    tests/cli/test_os_errors.py)."""
    real = os.access

    def fake(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
        if mode & os.W_OK and Path(path).absolute() == folder.absolute():
            return False
        return real(path, mode, *args, **kwargs)

    ctx.monkeypatch.setattr(os, "access", fake)


def convert_unwritable(ctx: Ctx) -> list[str]:
    out = ctx.folder()
    _deny_write(ctx, out)
    return ["convert", str(ctx.env.pet), str(out / "pet.nii.gz")]


def convert_existing_file(ctx: Ctx) -> list[str]:
    out = ctx.folder() / "pet.nii.gz"
    out.write_bytes(b"an old result")
    return ["convert", str(ctx.env.pet), str(out)]


def convert_parent_is_file(ctx: Ctx) -> list[str]:
    blocker = ctx.folder() / "blocker"
    blocker.write_text("x", encoding="utf-8")
    return ["convert", str(ctx.env.pet), str(blocker / "pet.nii.gz")]


def run_out_is_file(ctx: Ctx) -> list[str]:
    folder = study(manifest())(ctx)
    out = folder / "results"
    out.write_text("a file", encoding="utf-8")
    return ["run", str(folder), "--out", str(out)]


def phantom_into_file(ctx: Ctx) -> list[str]:
    out = ctx.folder() / "phantom"
    out.write_text("a file", encoding="utf-8")
    return ["phantom", "make", str(out)]


def run_manifest(doc: str | dict[str, Any] | list[Any]) -> Build:
    def build(ctx: Ctx) -> list[str]:
        folder = study(doc)(ctx)
        return ["run", str(folder), "--out", str(folder / "out")]

    return build


def study_init(*options: str, dicom: Callable[[Ctx], Path] = base) -> Build:
    def build(ctx: Ctx) -> list[str]:
        out = ctx.folder() / "study"
        return ["study", "init", str(dicom(ctx)), "--out", str(out), *options]

    return build


def empty(ctx: Ctx) -> Path:
    return ctx.folder()


def text_only(ctx: Ctx) -> Path:
    folder = ctx.folder()
    (folder / "README.txt").write_text("not DICOM\n", encoding="utf-8")
    return folder


def pet_and_text(ctx: Ctx) -> Path:
    folder = ctx.env.copy_pet(ctx.name)
    (folder / "README.txt").write_text("exported by PACS\n", encoding="utf-8")
    return folder


def truncated_pixels(ctx: Ctx) -> Path:
    folder = ctx.env.copy_pet(ctx.name)
    path = folder / ctx.env.names[2]
    path.write_bytes(path.read_bytes()[:-10])
    return folder


def truncated_header(ctx: Ctx) -> Path:
    folder = ctx.env.copy_pet(ctx.name)
    path = folder / ctx.env.names[2]
    path.write_bytes(path.read_bytes()[:300])
    return folder


def truncated_in_pixel_element(ctx: Ctx) -> Path:
    """One file cut 9 bytes into its 12-byte PixelData element header (explicit VR OW): the
    discovery scan still finds the element, the pixel reader cannot read its header."""
    folder = ctx.env.copy_pet(ctx.name)
    path = folder / ctx.env.names[3]
    with path.open("rb") as fh:
        pydicom.dcmread(fh, stop_before_pixels=True)
        offset = fh.tell()
    path.write_bytes(path.read_bytes()[: offset + 9])
    return folder


def single_file(ctx: Ctx) -> Path:
    return ctx.env.pet / ctx.env.names[1]


def gml_lbm_o(ctx: Ctx) -> Path:
    return ctx.variant(put("Units", "GML"), put("SUVType", "LBM"), SEX_O, scale_slope(1e-3))


CASES: list[Case] = [
    # ---- the reference and inputs that change nothing
    Case("reference_series", suv(base), 0, check=reference_numbers),
    Case("non_dicom_file_next_to_the_series", suv(pet_and_text), 0, check=same_as_reference),
    Case(
        "duplicate_instance_numbers", suv(variant(put("InstanceNumber", "1"))), 0,
        check=same_as_reference,
    ),
    Case(
        "lower_case_units", suv(variant(put("Units", "bqml"))), 0, check=same_as_reference,
    ),
    Case(
        "missing_timezone_everywhere",
        suv(variant(drop("TimezoneOffsetFromUTC"),
                    put_radio("RadiopharmaceuticalStartDateTime", "20260105090000"))),
        0, check=same_as_reference,
    ),
    Case(
        "half_life_from_the_nuclide_code", suv(variant(drop_radio("RadionuclideHalfLife"))), 0,
        check=same_as_reference,
    ),
    # ---- DICOMDIR (an index, never an error)
    Case("dicomdir_cd_export_folder", suv(cd_export), 0, check=same_as_reference),
    Case(
        "dicomdir_given_as_the_input", suv(lambda ctx: cd_export(ctx) / "DICOMDIR"), 0,
        check=same_as_reference,
    ),
    Case("dicomdir_lower_case_file_names", suv(cd_lowercase), 0, check=same_as_reference),
    Case("dicomdir_file_without_preamble", suv(cd_no_preamble), 0, check=same_as_reference),
    Case(
        "dicomdir_lists_a_missing_file", suv(lambda ctx: cd_export(ctx, extra=True)), 0,
        says=("DICOMDIR", "lists 1 file(s) that are missing"), check=same_as_reference,
    ),
    Case(
        "dicomdir_missing_file_given_as_the_input",
        suv(lambda ctx: cd_export(ctx, extra=True) / "DICOMDIR"), 0,
        says=("lists 1 file(s) that are missing",), check=same_as_reference,
    ),
    Case(
        "dicomdir_corrupt_in_the_series_folder", suv(corrupt_dicomdir), 0,
        says=("could not be read as an index",), check=same_as_reference,
    ),
    Case(
        "dicomdir_ls", lambda ctx: ["dicom", "ls", str(cd_export(ctx))], 0, check=ls_dicomdir,
    ),
    Case(
        "dicomdir_ls_missing_file",
        lambda ctx: ["dicom", "ls", str(cd_export(ctx, extra=True))], 0,
        says=("missing",), check=ls_missing,
    ),
    # ---- unreadable files and --skip-unreadable
    Case(
        "corrupt_file_in_the_series_folder", suv(with_garbage), 2,
        says=("garbage.dcm", "--skip-unreadable"),
    ),
    Case(
        "corrupt_file_skipped_is_reported", suv(with_garbage, "--skip-unreadable"), 0,
        says=("skipped unreadable DICOM file", "garbage.dcm"), check=skipped_one,
    ),
    Case(
        "corrupt_file_skipped_by_convert",
        lambda ctx: ["convert", str(with_garbage(ctx)), str(ctx.folder() / "pet.nii.gz"),
                     "--skip-unreadable"],
        0, says=("skipped unreadable DICOM file", "garbage.dcm"), check=converted,
    ),
    Case(
        "corrupt_file_listed_by_ls", lambda ctx: ["dicom", "ls", str(with_garbage(ctx))], 0,
        check=ls_unreadable,
    ),
    Case("truncated_pixel_data", suv(truncated_pixels), 2, says=("PixelData", "truncated")),
    Case("truncated_header", suv(truncated_header), 2, says=("--skip-unreadable",)),
    Case(
        "truncated_header_skipped_leaves_a_gap", suv(truncated_header, "--skip-unreadable"), 2,
        says=("missing",),
    ),
    Case("non_dicom_file_only", suv(text_only), 2, says=("Modality",)),
    Case("empty_folder", suv(empty), 2, says=("Modality",)),
    Case("folder_does_not_exist", suv(lambda ctx: ctx.env.root / "nowhere"), 2,
         says=("nowhere",)),
    Case("single_slice_file_as_the_series", suv(single_file), 2, says=("NumberOfSlices",)),
    Case(
        "one_slice_missing", suv(variant(skip=(1,))), 2,
        says=("ImagePositionPatient", "missing or overlapping slices"),
    ),
    Case(
        "duplicate_slice_position",
        suv(variant(on_file(1, put("ImagePositionPatient", "-12\\-12\\0")))), 2,
        says=("duplicate position",),
    ),
    # ---- patient data
    Case("swapped_weight_and_height", suv(variant(*SWAPPED)), 2, says=("looks like metres",)),
    Case(
        "swapped_weight_and_height_warn_mode", suv(variant(*SWAPPED), "--strictness", "warn"), 0,
        says=("looks like metres",), check=no_suv,
    ),
    Case(
        "swapped_weight_and_height_overridden",
        suv(variant(*SWAPPED), "--weight-kg", "70", "--height-cm", "175"), 0,
        check=same_as_reference,
    ),
    Case(
        "weight_negative", suv(variant(put("PatientWeight", "-70"))), 2,
        says=("PatientWeight", "physically impossible"),
    ),
    Case("weight_nan", suv(variant(put("PatientWeight", "NaN"))), 2, says=("PatientWeight",)),
    Case("weight_text", suv(variant(put("PatientWeight", "abc"))), 2,
         says=("PatientWeight", "'abc'")),
    Case(
        "weight_in_grams", suv(variant(put("PatientWeight", "70000"))), 0,
        says=("can only be grams",), check=same_as_reference,
    ),
    Case("weight_missing", suv(variant(drop("PatientWeight"))), 2, says=("--weight-kg",)),
    Case(
        "sex_o_with_lbm", suv(variant(SEX_O), "--norm", "lbm"), 2,
        says=("PatientSex", "'O'", "--sex"),
    ),
    Case(
        "sex_o_with_lbm_and_sex_override", suv(variant(SEX_O), "--norm", "lbm", "--sex", "F"), 0,
        check=lbm_female,
    ),
    Case("sex_o_gml_lbm_to_bw", suv(gml_lbm_o), 0, says=("mean of the male",),
         check=gml_lbm_sex_o),
    # ---- administration
    Case(
        "half_life_zero", suv(variant(put_radio("RadionuclideHalfLife", "0"))), 0,
        says=("is not a half-life",), check=same_as_reference,
    ),
    Case(
        "half_life_and_nuclide_unknown",
        suv(variant(drop_radio("RadionuclideHalfLife", "RadionuclideCodeSequence"),
                    put_radio("Radiopharmaceutical", "mystery tracer"))),
        2, says=("half-life",),
    ),
    Case(
        "activity_zero", suv(variant(put_radio("RadionuclideTotalDose", "0"))), 2,
        says=("RadionuclideTotalDose", "physically impossible"),
    ),
    Case(
        "activity_in_mbq", suv(variant(put_radio("RadionuclideTotalDose", "150"))), 0,
        says=("can only be MBq",), check=same_as_reference,
    ),
    Case("injection_time_missing", suv(variant(NO_INJECTION_TIME)), 2,
         says=("--injection-time",)),
    Case(
        "injection_time_missing_overridden",
        suv(variant(NO_INJECTION_TIME), "--injection-time", "2026-01-05T09:00:00+00:00"), 0,
        check=same_as_reference,
    ),
    Case(
        "scan_dated_before_the_injection",
        suv(variant(put("SeriesDate", "20260104"), put("AcquisitionDate", "20260104"))), 2,
        says=("negative decay interval",),
    ),
    Case(
        "radiopharmaceutical_sequence_empty",
        suv(variant(lambda ds, k: setattr(ds, "RadiopharmaceuticalInformationSequence",
                                          DicomSequence([])))),
        2, says=("--dose-mbq",),
    ),
    # ---- units and geometry
    Case(
        "philips_cnts_with_suv_scale_factor",
        suv(variant(put("Units", "CNTS"), philips_scale(FACTOR_BW))), 0, check=philips,
    ),
    Case("philips_cnts_without_scale_factor", suv(variant(put("Units", "CNTS"))), 2,
         says=("CNTS",)),
    Case("units_relative", suv(variant(put("Units", "PROPCNTS"))), 2, says=("PROPCNTS",)),
    Case("units_unknown", suv(variant(put("Units", "MBQML"))), 2, says=("MBQML",)),
    Case("units_missing", suv(variant(drop("Units"))), 2, says=("Units",)),
    Case("pixel_spacing_missing", suv(variant(drop("PixelSpacing"))), 2, says=("PixelSpacing",)),
    Case(
        "image_position_missing", suv(variant(on_file(2, drop("ImagePositionPatient")))), 2,
        says=("ImagePositionPatient",),
    ),
    # ---- found by tests/io/test_fuzz.py (each one a traceback or a stray stderr line once)
    Case(
        "timezone_offset_out_of_range", suv(variant(put("TimezoneOffsetFromUTC", "+2500"))), 2,
        says=("TimezoneOffsetFromUTC",),
    ),
    Case(
        "injection_datetime_offset_out_of_range",
        suv(variant(put_radio("RadiopharmaceuticalStartDateTime", "20260105090000+9999"))), 2,
        says=("RadiopharmaceuticalStartDateTime",),
    ),
    Case("columns_missing", suv(variant(drop("Columns"))), 2, says=("Columns",)),
    Case("rows_zero", suv(variant(put_us("Rows", 0))), 2, says=("Rows",)),
    Case(
        "rescale_intercept_infinite", suv(variant(put("RescaleIntercept", "1e400"))), 2,
        says=("RescaleIntercept",),
    ),
    Case(
        "rescale_slope_beyond_float32",
        suv(variant(on_file(0, put("RescaleSlope", "-1.8e46")))), 2, says=("RescaleSlope",),
    ),
    Case(
        "frame_duration_overflows",
        suv(variant(put_us("BitsStored", 12), put("ActualFrameDuration", "3e00612"))), 2,
        says=("ActualFrameDuration",),
    ),
    Case(
        "image_position_huge",
        suv(variant(on_file(0, put("ImagePositionPatient", "1e308\\0\\0")))), 2,
        says=("ImagePositionPatient",),
    ),
    Case(
        "truncated_in_the_pixel_data_header", suv(truncated_in_pixel_element), 2,
        says=("PixelData",),
    ),
    Case(
        # 2^(−3600 s / 1 s) underflows to 0: the decayed activity must not be divided by
        "half_life_one_second", suv(variant(put_radio("RadionuclideHalfLife", "1"))), 2,
        says=("RadionuclideHalfLife",),
    ),
    Case(
        # 7e-206 MBq: the SUV factor overflows float32 (no finite SUV exists)
        "activity_vanishingly_small",
        suv(variant(put_radio("RadionuclideTotalDose", "7.236949604540213e-206"))), 2,
        says=("RadionuclideTotalDose",),
    ),
    # ---- masks
    Case(
        "mask_on_another_grid_without_flag",
        lambda ctx: ["suv", str(ctx.env.pet), "--mask", str(mask_other_grid(ctx))], 2,
        says=("--resample-labels",),
    ),
    Case(
        "mask_on_another_grid_resampled",
        lambda ctx: ["suv", str(ctx.env.pet), "--mask", str(mask_other_grid(ctx)),
                     "--resample-labels"],
        0, check=resampled_mask,
    ),
    Case("mask_missing", suv(base, "--mask", "no-such-mask.nii.gz"), 2,
         says=("no-such-mask.nii.gz",)),
    Case(
        "mask_and_rtstruct_together",
        suv(base, "--mask", "m.nii.gz", "--rtstruct", "rs.dcm", "--roi", "liver"), 2,
        says=("--mask or --rtstruct",),
    ),
    Case("roi_without_rtstruct", suv(base, "--roi", "liver"), 2, says=("--roi",)),
    # ---- option values
    Case("dose_mbq_text", suv(base, "--dose-mbq", "abc"), 2, says=("--dose-mbq",)),
    Case("dose_mbq_negative", suv(base, "--dose-mbq", "-5"), 2, says=("injected_activity_bq",)),
    Case("dose_mbq_nan", suv(base, "--dose-mbq", "nan"), 2, says=("injected_activity_bq",)),
    Case("weight_kg_zero", suv(base, "--weight-kg", "0"), 2, says=("weight_kg",)),
    Case("sex_unknown", suv(base, "--sex", "X"), 2, says=("sex",)),
    Case("injection_time_text", suv(base, "--injection-time", "yesterday"), 2,
         says=("--injection-time",)),
    Case("norm_unknown", suv(base, "--norm", "suvmax"), 2, says=("--norm",)),
    Case("strictness_unknown", suv(base, "--strictness", "lenient"), 2, says=("--strictness",)),
    Case("decay_correction_unknown", suv(base, "--decay-correction", "SOMETIMES"), 2,
         says=("decay_correction",)),
    Case("half_life_override_zero", suv(base, "--half-life-s", "0"), 2, says=("half_life_s",)),
    Case("series_uid_unknown", suv(base, "--series", "1.2.3.4"), 2, says=("1.2.3.4",)),
    Case("json_flag_with_a_value", suv(base, "--json=yes"), 2, says=("--json",),
         json_flag=False),
    Case("unknown_option", suv(base, "--frobnicate"), 2, says=("--frobnicate",)),
    Case("missing_argument", lambda ctx: ["suv"], 2, says=("folder",)),
    # ---- convert
    Case(
        "convert_onto_an_existing_folder",
        lambda ctx: ["convert", str(ctx.env.pet), str(ctx.folder())], 2,
        says=("existing folder",),
    ),
    Case("convert_into_an_existing_file", convert_existing_file, 0, check=converted),
    Case("convert_parent_is_a_file", convert_parent_is_file, 2, says=("not a folder",)),
    Case("convert_unwritable_folder", convert_unwritable, 2, says=("write",)),
    Case(
        "convert_not_a_nifti_name",
        lambda ctx: ["convert", str(ctx.env.pet), str(ctx.folder() / "pet.txt")], 2,
        says=(".nii.gz",),
    ),
    Case(
        "convert_bqml_from_stored_suv",
        lambda ctx: ["convert", str(gml_lbm_o(ctx)), str(ctx.folder() / "x.nii.gz")], 2,
        says=("--quantity suvbw",),
    ),
    Case(
        "convert_quantity_unknown",
        lambda ctx: ["convert", str(ctx.env.pet), str(ctx.folder() / "x.nii.gz"),
                     "--quantity", "suvmax"],
        2, says=("--quantity",),
    ),
    # ---- sstrkit run: manifests
    Case("run_manifest_not_json", run_manifest("{not json"), 2, says=("manifest.json",)),
    Case("run_manifest_is_a_list", run_manifest([]), 2, says=("manifest",)),
    Case("run_manifest_without_series", run_manifest(manifest(series=None)), 2,
         says=("series",)),
    Case(
        "run_manifest_activity_as_text",
        run_manifest(manifest(**{"series.pet.injected_activity_bq": "a lot"})), 2,
        says=("injected_activity_bq",),
    ),
    Case(
        "run_manifest_negative_activity",
        run_manifest(manifest(**{"series.pet.injected_activity_bq": -1.0})), 2,
        says=("injected_activity_bq",),
    ),
    Case(
        "run_manifest_unknown_nuclide",
        run_manifest(manifest(**{"series.pet.nuclide": "Xx-999"})), 2, says=("Xx-999",),
    ),
    Case(
        "run_manifest_injection_time_text",
        run_manifest(manifest(**{"series.pet.injection_time": "yesterday"})), 2,
        says=("injection_time",),
    ),
    Case(
        "run_manifest_unknown_spect_nuclide",
        run_manifest(manifest(**{"series.spect.0.nuclide": "Xx-999"})), 2, says=("Xx-999",),
    ),
    Case("run_output_is_a_file", run_out_is_file, 2, says=("a file",)),
    Case(
        "run_study_missing",
        lambda ctx: ["run", str(ctx.env.root / "no-study"), "--out", str(ctx.folder())], 2,
        says=("no-study",),
    ),
    # ---- sstrkit study init
    Case("label_names_not_json", label_names("{liver: 1"), 2, says=("label names", "JSON")),
    Case("label_names_a_list", label_names('["liver"]'), 2, says=("--label-names",)),
    Case("label_names_bad_value", label_names('{"liver": "one"}'), 2,
         says=("--label-names",)),
    Case(
        "label_names_one_value_twice", label_names('{"liver": 1, "spleen": 1}'), 2,
        says=("--label-names",),
    ),
    Case(
        "label_names_without_segmentation",
        study_init("--label-names", "names.json"), 2, says=("--segmentation",),
    ),
    Case("role_without_equals", study_init("--role", "1.2.3"), 2, says=("--role",)),
    Case("role_unknown", study_init("--role", "1.2.3=wizard"), 2, says=("wizard",)),
    Case("spect_fwhm_negative", study_init("--spect-fwhm-mm", "-1"), 2,
         says=("--spect-fwhm-mm",)),
    Case("study_init_empty_folder", study_init(dicom=empty), 2, says=("DICOM",)),
    # ---- other commands
    Case("nuclide_unknown", lambda ctx: ["nuclide", "Xx-999"], 2, says=("Xx-999",)),
    Case(
        "dose_sphere_unknown_nuclide",
        lambda ctx: ["dose", "sphere", "--nuclide", "Unobtainium-1", "--mass-g", "10"], 2,
        says=("Unobtainium-1",),
    ),
    Case(
        "dose_sphere_mass_negative",
        lambda ctx: ["dose", "sphere", "--nuclide", "Lu-177", "--mass-g", "-10"], 2,
        says=("mass",),
    ),
    Case(
        "kinetics_fit_lengths_differ",
        lambda ctx: ["kinetics", "fit", "--times-h", "4,24,96", "--activity-mbq", "100,50"], 2,
        says=("--activity-mbq",),
    ),
    Case(
        "kinetics_fit_unknown_nuclide",
        lambda ctx: ["kinetics", "fit", "--times-h", "4,24,96", "--activity-mbq", "100,50,10",
                     "--nuclide", "Xx-999"],
        2, says=("Xx-999",),
    ),
    Case(
        "bed_negative_dose",
        lambda ctx: ["bed", "--dose-gy", "-1", "--t-eff-h", "50", "--tissue", "kidney"], 2,
        says=("absorbed dose", "≥ 0 Gy"),
    ),
    Case("catalog_tracer_unknown", lambda ctx: ["catalog", "tracer", "no-such-tracer"], 2,
         says=("no-such-tracer",)),
    Case(
        "plan_case_missing", lambda ctx: ["plan", str(ctx.env.root / "no-case.yaml")], 2,
        says=("no-case.yaml",),
    ),
    Case("phantom_make_into_a_file", phantom_into_file, 2, says=("a file",)),
]  # fmt: skip


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _run(case: Case, env: Env, monkeypatch: pytest.MonkeyPatch, as_json: bool) -> Result:
    argv = case.build(Ctx(env, case.name, monkeypatch))
    if as_json and case.json_flag:
        argv = [*argv, "--json"]
    return runner.invoke(app, argv)


def test_the_corpus_is_large_and_named_once() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 60
    assert {c.exit_code for c in CASES} == {0, 2}


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(env: Env, case: Case, as_json: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    res = _run(case, env, monkeypatch, as_json)
    context = (case.name, res.exit_code, res.stdout[-2000:], res.stderr[-2000:])
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        context,
        repr(res.exception),
    )
    assert "Traceback" not in res.output, context
    assert res.exit_code == case.exit_code, context
    lines = _lines(res.stderr)
    json_mode = as_json and case.json_flag
    if case.exit_code == 2:
        assert len(lines) == 1, context
        line = lines[0]
        assert line.startswith("error: ") and "Fix: " in line, context
        for fragment in case.says:
            assert fragment in line, (fragment, context)
        if json_mode:
            doc = json.loads(res.stdout)
            assert set(doc) == {"error"} and doc["error"]["exit_code"] == 2, context
            assert doc["error"]["message"] == line.removeprefix("error: "), context
            assert doc["error"]["fix"], context
        else:
            assert res.stdout == "", context
        return
    assert all(ln.startswith(("warning: ", "unreadable: ")) for ln in lines), context
    if json_mode:
        doc = json.loads(res.stdout)
        found = "\n".join(doc.get("warnings", [])) if case.says else ""
        for fragment in case.says:
            assert fragment in found, (fragment, context)
        if case.check is not None:
            case.check(doc, env)
    else:
        assert res.stdout.strip(), context
        for fragment in case.says:
            assert fragment in res.stderr, (fragment, context)


# ------------------------------------------------------------------ the library behind the cases
def test_dicomdir_is_an_index(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """discover: referenced files found (also from the DICOMDIR itself), the missing one a
    warning and in ``missing``, nothing unreadable, the series identified by content."""
    cd = cd_export(Ctx(env, "library_dicomdir", monkeypatch), extra=True)
    for root in (cd, cd / "DICOMDIR"):
        found = discover(root)
        assert [s.series_uid for s in found.series] == [env.datasets[0].SeriesInstanceUID]
        assert found.series[0].n_files == 4 and found.unreadable == ()
        assert found.media_directories == (cd / "DICOMDIR",)
        assert len(found.missing) == 1 and not found.missing[0].exists()
        assert len(found.warnings) == 1 and str(found.missing[0]) in found.warnings[0]
    series = read_series(cd / "DICOMDIR")
    assert series.volume.shape == SHAPE and series.warnings == found.warnings


def test_every_skipped_file_is_listed(env: Env) -> None:
    """12 corrupt files: all in ``skipped``; ten named warnings, then one with the count."""
    folder = env.copy_pet("library_skipped")
    for k in range(12):
        garbage_dicom(folder / f"bad{k:02d}.dcm")
    with pytest.raises(DicomMetadataError, match=r"12 unreadable file\(s\) in the folder"):
        read_series(folder)
    series = read_series(folder, skip_unreadable=True)
    assert sorted(Path(f).name for f, _ in series.skipped) == [f"bad{k:02d}.dcm" for k in range(12)]
    assert all(why for _, why in series.skipped)
    named = [w for w in series.warnings if w.startswith("skipped unreadable DICOM file")]
    assert len(named) == 10
    assert "skipped 2 more unreadable DICOM file(s)" in series.warnings[10]
    assert series.volume.shape == SHAPE


def test_a_file_list_reports_its_own_bad_files(env: Env) -> None:
    """read_series([...]): a corrupt file among those given raises (or is skipped and named);
    a given file that is not DICOM is named in a warning; the folder's other corrupt files do
    not matter."""
    folder = env.copy_pet("library_list")
    bad = garbage_dicom(folder / "bad.dcm")
    other = garbage_dicom(folder / "not-given.dcm")
    text = folder / "notes.txt"
    text.write_text("not DICOM", encoding="utf-8")
    files = [folder / n for n in env.names]
    assert read_series(files).warnings == ()  # not-given.dcm is not one of the files
    with pytest.raises(DicomMetadataError, match=r"bad\.dcm.*among the files given"):
        read_series([*files, bad])
    series = read_series([*files, bad, text], skip_unreadable=True)
    assert [Path(f).name for f, _ in series.skipped] == ["bad.dcm"]
    assert any("notes.txt" in w and "not DICOM files" in w for w in series.warnings)
    assert str(other) not in " ".join(series.warnings)
