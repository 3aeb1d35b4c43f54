"""Fuzz ``sstrkit suv DIR --json`` with mutated headers of a small PET series (hypothesis).

A PET series of 8×8×4 voxels is written once with
:func:`sstrkit.io.dicom_write.write_pet_series`; every example copies its
headers, mutates one file or all of them (attributes removed, values of the
wrong type or out of range, NaN/inf, huge numbers, wrong units strings, odd
dates and times, a missing time zone, duplicate instance numbers or positions,
radiopharmaceutical sequence items removed or doubled, a truncated file) and
runs the command in-process through typer's ``CliRunner``.

The contract checked for every example (README, "Errors and exit codes"):

* exit status 0 or 2, never another; no uncaught exception (``res.exception``
  is ``None`` or the ``SystemExit`` of the exit status) and no Python warning
  (pytest turns warnings into errors, and a warning would be a second line on
  stderr);
* exit 2: exactly one ``error: ... Fix: ...`` line on stderr and one JSON error
  document on stdout;
* exit 0: one JSON document on stdout (finite numbers; the SUV factor is
  ``None`` or finite and > 0) and nothing on stderr;
* mutations that leave every SUV input intact (attributes sstrkit does not read
  for the SUV, such as StudyDescription or Laterality) give the statistics of
  the unmutated series (rel 1e-9) and its warnings.

``derandomize=True`` and ``database=None`` make every run test the same
examples (CI-reproducible, nothing written to ``.hypothesis``). Each example
runs under a hard time limit (``signal.setitimer``) so that a hang fails the
test instead of stalling it.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from typer.testing import CliRunner, Result

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.io.dicom_write import PatientInfo, Radiopharmaceutical, StudyInfo, write_pet_series
from sstrkit.physics.nuclides import get_nuclide

runner = CliRunner()

# ------------------------------------------------------------------ the base series
SCAN = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
INJECTION = SCAN - dt.timedelta(hours=1)
ACTIVITY_BQ = 150e6
WEIGHT_KG = 70.0
N_SLICES = 4
#: Seconds one example may take before it counts as a hang (a normal one takes ~0.05 s).
EXAMPLE_TIMEOUT_S = 20.0


def _values() -> np.ndarray[Any, np.dtype[np.float32]]:
    """Bq/mL: 1000 × (1 + flat voxel index), 1 kBq/mL to 256 kBq/mL, all distinct."""
    return (np.arange(N_SLICES * 8 * 8, dtype=np.float32).reshape(N_SLICES, 8, 8) + 1) * 1000


def write_base_series(folder: Path) -> list[Path]:
    """The unmutated PET series: 70 kg, 150 MBq Ga-68 one hour before the scan."""
    volume = Volume.from_array(
        _values(),
        spacing=(3.0, 3.0, 4.0),
        origin=(-12.0, -12.0, 0.0),
        modality="PT",
        quantity="activity_concentration",
        unit="Bq/mL",
        reference_time=SCAN,
        frame_of_reference_uid="1.2.826.0.1.3680043.8.498.1",
    )
    return write_pet_series(
        volume,
        folder,
        patient=PatientInfo(patient_id="FUZZ", sex="M", weight_kg=WEIGHT_KG, height_cm=175.0),
        study=StudyInfo(study_time=SCAN, description="fuzz base"),
        radiopharmaceutical=Radiopharmaceutical("68Ga-DOTATATE", "Ga-68", ACTIVITY_BQ, INJECTION),
    )


@dataclass(frozen=True)
class Base:
    """The base series: file names, parsed datasets and the CLI result of the unmutated files."""

    names: tuple[str, ...]
    datasets: tuple[Dataset, ...]
    doc: dict[str, Any]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    folder = tmp_path_factory.mktemp("fuzz_base")
    files = write_base_series(folder)
    res = runner.invoke(app, ["suv", str(folder), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    # The SUVbw factor by hand (QIBA): M / (D0 · 2^(−Δt/T½)) with M = 70 000 g, D0 = 150 MBq,
    # Δt = 3600 s and T½ = the ICRP-107 Ga-68 half-life the writer puts in the header.
    half_life = get_nuclide("Ga-68").half_life_s
    expected = WEIGHT_KG * 1000 / (ACTIVITY_BQ * 2 ** (-3600 / half_life))
    assert doc["suv_factor"] == pytest.approx(expected, rel=1e-12)
    assert doc["stats"]["n_voxels"] == N_SLICES * 64 and doc["warnings"] == []
    datasets = tuple(pydicom.dcmread(f) for f in files)
    return Base(tuple(f.name for f in files), datasets, doc)


# ------------------------------------------------------------------ mutations
#: Attributes sstrkit does not read for the SUV (removing or garbling them changes nothing).
NEUTRAL = (
    "StudyDescription",
    "SeriesDescription",
    "Laterality",
    "ReferringPhysicianName",
    "AccessionNumber",
    "Manufacturer",
    "SoftwareVersions",
    "CollimatorType",
    "PatientName",
    "PatientBirthDate",
    "PatientID",
    "StudyID",
    "StudyTime",
    "SeriesNumber",
    "InstanceNumber",
    "PositionReferenceIndicator",
    "ContentDate",
    "ContentTime",
    "SliceLocation",
    "ImageIndex",
    "RandomsCorrectionMethod",
    "AttenuationCorrectionMethod",
    "ReconstructionMethod",
    "CountsSource",
    "SeriesType",
    "PatientOrientationCodeSequence",
    "PatientGantryRelationshipCodeSequence",
)
#: Top-level attributes the SUV (or the volume) is computed from.
SUV_INPUTS = (
    "PatientWeight",
    "PatientSize",
    "PatientSex",
    "Units",
    "DecayCorrection",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDate",
    "AcquisitionTime",
    "StudyDate",
    "TimezoneOffsetFromUTC",
    "RescaleSlope",
    "RescaleIntercept",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "NumberOfSlices",
    "FrameReferenceTime",
    "ActualFrameDuration",
    "DecayFactor",
    "CorrectedImage",
    "SOPClassUID",
    "Modality",
    "FrameOfReferenceUID",
    "SeriesInstanceUID",
    "RadiopharmaceuticalInformationSequence",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PixelData",
)
#: Attributes of the RadiopharmaceuticalInformationSequence item.
RADIO = (
    "RadionuclideTotalDose",
    "RadiopharmaceuticalStartTime",
    "RadiopharmaceuticalStartDateTime",
    "RadionuclideHalfLife",
    "RadionuclideCodeSequence",
    "Radiopharmaceutical",
)
#: Values of the wrong type, sign or size for numbers (DS/IS), also what Python's float()
#: accepts but DICOM does not ("1_000", "٣", " 70 ").
BAD_NUMBERS = (
    "abc", "", " ", "-70", "0", "-0", "NaN", "nan", "inf", "-inf", "Infinity", "1e308",
    "1e400", "-1e400", "1e-300", "99999999999999999999", "1.75", "70", "0.001", "1,5",
    "80\\90", "+", ".", "1e", "0x10", "٣", "1_000", " 70 ", "70\x00", "-1e-9",
)  # fmt: skip
BAD_TIMES = (
    "250000", "096000", "1000", "10", "100000.123456789", "", "abc", "235959.999999",
    "-100000", "100000+0100", "000000", "085959", "9", "10:00:00",
)  # fmt: skip
BAD_DATES = (
    "20260104", "20260106", "20261301", "2026-01-05", "", "abc", "19000101", "99991231",
    "20260230", "2026", "00000000",
)  # fmt: skip
BAD_DATETIMES = (
    "20260105090000", "20260105090000+0100", "20260106090000", "20260105110000+0000",
    "abc", "2026", "20260105250000", "", "20260105090000-1400", "20260105090000+9999",
)  # fmt: skip
BAD_CODES = {
    "Units": ("bqml", "BQ/ML", "PROPCNTS", "CNTS", "CPS", "GML", "CM2ML", "MBQML", "", "1",
              "HU", "NONE", "BQML\\GML"),
    "DecayCorrection": ("ADMIN", "NONE", "start", "", "DECY", "START\\ADMIN", "XYZ"),
    "PatientSex": ("O", "F", "", "X", "MALE", "m"),
    "TimezoneOffsetFromUTC": ("+0100", "-1200", "+2500", "0100", "abc", "", "+01:00",
                              "+1400", "-0000"),
    "Modality": ("CT", "NM", "OT", "", "PET"),
    "SOPClassUID": ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.7", "1.2.3", "",
                    "1.2.840.10008.5.1.4.1.1.20"),
    "CorrectedImage": ("ATTN", "", "DECY"),
    "ImageOrientationPatient": ("1\\0\\0\\0\\1", "0\\0\\0\\0\\0\\0", "1\\0\\0\\1\\0\\0",
                                "NaN\\0\\0\\0\\1\\0", "abc", "0\\1\\0\\1\\0\\0",
                                "1\\0\\0\\0\\0\\-1"),
    "ImagePositionPatient": ("0\\0", "abc", "1e308\\0\\0", "NaN\\0\\0", "0\\0\\0", "", "inf\\0\\0"),
    "PixelSpacing": ("0\\0", "-3\\-3", "3", "abc", "inf\\inf", "1e-30\\1e-30", "1e30\\1e30"),
    "FrameOfReferenceUID": ("", "1.2.3"),
    "SeriesInstanceUID": ("1.2.3.4.5.6", ""),
}  # fmt: skip
#: US (binary) attributes and odd values for them.
BAD_US = {
    "Rows": (0, 1, 7, 9, 65535),
    "Columns": (0, 1, 9, 65535),
    "BitsAllocated": (0, 1, 8, 12, 32, 64),
    "BitsStored": (0, 8, 12, 17),
    "PixelRepresentation": (0, 2),
    "SamplesPerPixel": (0, 3),
    "NumberOfSlices": (0, 1, 3, 5, 65535),
}
TIME_KEYWORDS = ("SeriesTime", "AcquisitionTime", "RadiopharmaceuticalStartTime")
DATE_KEYWORDS = ("SeriesDate", "AcquisitionDate", "StudyDate")
NUMBER_KEYWORDS = (
    "PatientWeight",
    "PatientSize",
    "RescaleSlope",
    "RescaleIntercept",
    "SliceThickness",
    "FrameReferenceTime",
    "ActualFrameDuration",
    "DecayFactor",
    "RadionuclideTotalDose",
    "RadionuclideHalfLife",
    "GantryDetectorTilt",
    "DoseCalibrationFactor",
)


@dataclass(frozen=True)
class Mutation:
    """One change of the headers: ``op`` on file ``target`` (None: every file)."""

    op: str  # "del", "raw", "us", "seq", "dup_position", "dup_instance", "truncate"
    keyword: str = ""
    value: Any = None
    target: int | None = None

    def __str__(self) -> str:
        where = "all files" if self.target is None else f"file {self.target}"
        return f"{self.op} {self.keyword} {self.value!r} ({where})"


def _in_item(keyword: str) -> bool:
    return keyword in RADIO


def _raw(keyword: str, value: bytes) -> RawDataElement:
    """An element with exactly these value bytes (no validation, as a broken scanner writes)."""
    tag = Tag(tag_for_keyword(keyword))
    vr = dictionary_VR(tag)
    if len(value) % 2:
        value += b"\0" if vr == "UI" else b" "
    return RawDataElement(tag, vr, len(value), value, 0, False, True)


def _item(ds: Dataset) -> Dataset | None:
    seq = ds.get("RadiopharmaceuticalInformationSequence")
    return seq[0] if seq else None


def _apply(m: Mutation, ds: Dataset, k: int, datasets: list[Dataset]) -> None:
    owner: Dataset | None = _item(ds) if _in_item(m.keyword) else ds
    if owner is None:
        return
    if m.op == "del":
        tag = Tag(tag_for_keyword(m.keyword))
        if tag in owner:
            del owner[tag]
    elif m.op == "raw":
        owner[Tag(tag_for_keyword(m.keyword))] = _raw(m.keyword, str(m.value).encode("utf-8"))
    elif m.op == "us":
        owner[Tag(tag_for_keyword(m.keyword))] = _raw(m.keyword, int(m.value).to_bytes(2, "little"))
    elif m.op == "seq":
        if m.value == "empty":
            ds.RadiopharmaceuticalInformationSequence = DicomSequence([])
        elif m.value == "two_items" and _item(ds) is not None:
            second = copy.deepcopy(_item(ds))
            assert second is not None
            second.RadionuclideTotalDose = "300000000"
            ds.RadiopharmaceuticalInformationSequence.append(second)
        elif m.value == "bare_item":
            ds.RadiopharmaceuticalInformationSequence = DicomSequence([Dataset()])
    elif m.op == "dup_position":
        # the next file's position, as it is (raw: it may have been garbled already)
        tag = Tag(tag_for_keyword("ImagePositionPatient"))
        other = datasets[(k + 1) % len(datasets)]
        if tag in other:
            ds[tag] = copy.deepcopy(other.get_item(tag))
        elif tag in ds:
            del ds[tag]
    elif m.op == "dup_instance":
        ds.InstanceNumber = 1


def _targets(m: Mutation, n: int) -> range | list[int]:
    return range(n) if m.target is None else [m.target]


def _write(base: Base, mutations: list[Mutation], folder: Path) -> None:
    datasets = [copy.deepcopy(ds) for ds in base.datasets]
    for m in mutations:
        if m.op == "truncate":
            continue
        for k in _targets(m, len(datasets)):
            _apply(m, datasets[k], k, datasets)
    for name, ds in zip(base.names, datasets, strict=True):
        ds.save_as(folder / name, enforce_file_format=False)
    for m in mutations:
        if m.op == "truncate":
            for k in _targets(m, len(datasets)):
                path = folder / base.names[k]
                data = path.read_bytes()
                path.write_bytes(data[: int(len(data) * float(m.value))])


# ------------------------------------------------------------------ strategies
_target = st.one_of(st.none(), st.integers(0, N_SLICES - 1))


def _number_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(BAD_NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.floats(min_value=-1e6, max_value=1e6).map(lambda x: f"{x:.6g}"),
        st.integers(-(10**20), 10**20).map(str),
        st.text(alphabet="0123456789.-+eE \\", max_size=12),
    )


def _mutation() -> st.SearchStrategy[Mutation]:
    remove = st.builds(
        Mutation,
        op=st.just("del"),
        keyword=st.sampled_from(SUV_INPUTS + RADIO + NEUTRAL),
        target=_target,
    )
    numbers = st.builds(
        Mutation,
        op=st.just("raw"),
        keyword=st.sampled_from(NUMBER_KEYWORDS),
        value=_number_text(),
        target=_target,
    )
    times = st.builds(
        Mutation,
        op=st.just("raw"),
        keyword=st.sampled_from(TIME_KEYWORDS),
        value=st.sampled_from(BAD_TIMES),
        target=_target,
    )
    dates = st.one_of(
        st.builds(
            Mutation,
            op=st.just("raw"),
            keyword=st.sampled_from(DATE_KEYWORDS),
            value=st.sampled_from(BAD_DATES),
            target=_target,
        ),
        st.builds(
            Mutation,
            op=st.just("raw"),
            keyword=st.just("RadiopharmaceuticalStartDateTime"),
            value=st.sampled_from(BAD_DATETIMES),
            target=_target,
        ),
    )
    codes = st.sampled_from(sorted(BAD_CODES)).flatmap(
        lambda kw: st.builds(
            Mutation,
            op=st.just("raw"),
            keyword=st.just(kw),
            value=st.sampled_from(BAD_CODES[kw]),
            target=_target,
        )
    )
    binary = st.sampled_from(sorted(BAD_US)).flatmap(
        lambda kw: st.builds(
            Mutation,
            op=st.just("us"),
            keyword=st.just(kw),
            value=st.sampled_from(BAD_US[kw]),
            target=_target,
        )
    )
    structure = st.one_of(
        st.builds(
            Mutation,
            op=st.just("seq"),
            value=st.sampled_from(("empty", "two_items", "bare_item")),
            target=_target,
        ),
        st.builds(Mutation, op=st.just("dup_position"), target=st.integers(0, N_SLICES - 1)),
        st.builds(Mutation, op=st.just("dup_instance"), target=_target),
        st.builds(
            Mutation,
            op=st.just("truncate"),
            value=st.floats(0.0, 0.999),
            target=st.integers(0, N_SLICES - 1),
        ),
    )
    return st.one_of(remove, numbers, times, dates, codes, binary, structure)


def _neutral_mutation() -> st.SearchStrategy[Mutation]:
    text = st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=16
    )
    return st.one_of(
        st.builds(Mutation, op=st.just("del"), keyword=st.sampled_from(NEUTRAL), target=_target),
        st.builds(
            Mutation,
            op=st.just("raw"),
            keyword=st.sampled_from(
                ("StudyDescription", "SeriesDescription", "Laterality", "AccessionNumber")
            ),
            value=text,
            target=_target,
        ),
        st.builds(Mutation, op=st.just("dup_instance"), target=_target),
    )


#: Extra options drawn for the any-mutation examples.
OPTIONS = (
    (),
    ("--strictness", "warn"),
    ("--norm", "lbm"),
    ("--norm", "bsa"),
    ("--skip-unreadable",),
    ("--weight-kg", "70", "--dose-mbq", "150"),
)


# ------------------------------------------------------------------ harness
class ExampleTimeout(BaseException):
    """One example ran longer than EXAMPLE_TIMEOUT_S (a BaseException: nothing catches it)."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise ExampleTimeout(f"example ran longer than {EXAMPLE_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz_examples")


def _invoke(
    base: Base, scratch: Path, mutations: list[Mutation], options: tuple[str, ...]
) -> Result:
    folder = Path(tempfile.mkdtemp(dir=scratch))
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, EXAMPLE_TIMEOUT_S)
    try:
        _write(base, mutations, folder)
        return runner.invoke(app, ["suv", str(folder), "--json", *options])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        shutil.rmtree(folder, ignore_errors=True)


def _numbers(doc: Any) -> Iterator[float]:
    """Every number in a JSON document."""
    if isinstance(doc, dict):
        for v in doc.values():
            yield from _numbers(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _numbers(v)
    elif isinstance(doc, int | float) and not isinstance(doc, bool):
        yield float(doc)


def check_contract(res: Result, context: str) -> dict[str, Any]:
    """Exit 0 or 2 with the documented output; returns the JSON document."""
    assert res.exit_code in (0, 2), (context, res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        context,
        repr(res.exception),
    )
    doc = json.loads(res.stdout)  # one JSON document either way
    assert isinstance(doc, dict)
    if res.exit_code == 2:
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, (context, lines)
        assert lines[0].startswith("error: ") and "Fix: " in lines[0], (context, lines)
        assert set(doc) == {"error"} and doc["error"]["exit_code"] == 2, context
        assert doc["error"]["message"] == lines[0].removeprefix("error: "), context
        return doc
    assert res.stderr == "", (context, res.stderr)
    assert all(math.isfinite(v) for v in _numbers(doc)), context
    factor = doc["suv_factor"]
    assert factor is None or (math.isfinite(factor) and factor > 0), (context, factor)
    st_ = doc["stats"]
    if st_["mean"] is not None:
        assert st_["min"] <= st_["median"] <= st_["max"], context
        assert st_["min"] <= st_["mean"] <= st_["max"], context
    return doc


# ------------------------------------------------------------------ tests
#: ~40 ms per example on one core (write 4 files, run the command): 600 + 100 examples take
#: ~30 s, the whole file well under 60 s.
FUZZ = settings(
    max_examples=600,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(
    mutations=st.lists(_mutation(), min_size=1, max_size=3),
    options=st.sampled_from(OPTIONS),
)
def test_any_mutation_exits_0_or_2(
    base: Base, scratch: Path, mutations: list[Mutation], options: tuple[str, ...]
) -> None:
    context = "; ".join(map(str, mutations)) + f" | options {' '.join(options)}"
    check_contract(_invoke(base, scratch, mutations, options), context)


@settings(FUZZ, max_examples=100)
@given(mutations=st.lists(_neutral_mutation(), min_size=1, max_size=4))
def test_mutations_outside_the_suv_inputs_change_nothing(
    base: Base, scratch: Path, mutations: list[Mutation]
) -> None:
    context = "; ".join(map(str, mutations))
    res = _invoke(base, scratch, mutations, ())
    doc = check_contract(res, context)
    assert res.exit_code == 0, (context, res.output)
    assert doc["suv_factor"] == pytest.approx(base.doc["suv_factor"], rel=1e-9), context
    for key in ("min", "median", "mean", "max"):
        assert doc["stats"][key] == pytest.approx(base.doc["stats"][key], rel=1e-9), (context, key)
    assert doc["stats"]["n_voxels"] == base.doc["stats"]["n_voxels"]
    assert doc["warnings"] == base.doc["warnings"], context
    assert doc["reference_time"] == base.doc["reference_time"], context
