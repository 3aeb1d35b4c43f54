"""The validated study model: every manifest key checked, one source of truth per activity.

Issue 14 acceptance: "Every manifest key removed or corrupted in turn gives exit 2 and one
line naming that key (a test loops over them)". The manifest here is a complete, valid
one written by hand (the DICOM files need not exist: the manifest is validated before
anything is read).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.errors import InvalidInputError
from sstrkit.pipeline.manifest import schemas
from sstrkit.pipeline.regions import classify_regions, dosimetry_regions
from sstrkit.pipeline.study import Study

INJ = "2025-03-03T10:00:00+01:00"


def _emission(**extra: Any) -> dict[str, Any]:
    return {
        "path": "dicom/x",
        "series_uid": "1.2.3",
        "frame_of_reference_uid": "1.2.3.4",
        "tracer": "177Lu-DOTATATE",
        "nuclide": "Lu-177",
        "injection_time": INJ,
        "injected_activity_bq": 7.4e9,
        "time": "2025-03-04T10:00:00+01:00",
        "fwhm_mm": 11.0,
        **extra,
    }


def _manifest() -> dict[str, Any]:
    return {
        "format": "sstrkit-study",
        "version": 2,
        "patient": {"id": "P1", "sex": "F", "weight_kg": 70.0, "height_cm": 165.0},
        "series": {
            "pet": _emission(tracer="68Ga-DOTATATE", nuclide="Ga-68", injected_activity_bq=1.5e8),
            "pet_ct": {"path": "dicom/ct", "series_uid": "9.8", "time": INJ},
            "spect": [_emission(cycle=1, hours_post_injection=24.0)],
            "spect_ct": [
                {"path": "dicom/sct", "series_uid": "9.9", "cycle": 1, "hours_post_injection": 24.0}
            ],
        },
        "segmentation": {"labels_nifti": {"baseline": "seg.nii.gz"}, "label_names": "n.json"},
        "clinical": "clinical.json",
    }


REQUIRED = [
    ("series",),
    ("series", "pet", "path"),
    ("series", "pet", "series_uid"),
    ("series", "pet", "nuclide"),
    ("series", "pet", "injection_time"),
    ("series", "pet", "injected_activity_bq"),
    ("series", "pet", "time"),
    ("series", "pet_ct", "path"),
    ("series", "pet_ct", "series_uid"),
    ("series", "spect", 0, "cycle"),
    ("series", "spect", 0, "hours_post_injection"),
    ("series", "spect", 0, "path"),
    ("series", "spect", 0, "series_uid"),
    ("series", "spect", 0, "nuclide"),
    ("series", "spect", 0, "injection_time"),
    ("series", "spect", 0, "injected_activity_bq"),
    ("series", "spect", 0, "time"),
    ("series", "spect_ct", 0, "path"),
    ("series", "spect_ct", 0, "series_uid"),
    ("series", "spect_ct", 0, "cycle"),
    ("series", "spect_ct", 0, "hours_post_injection"),
    ("segmentation", "labels_nifti"),
]
OPTIONAL = [
    ("format",),
    ("version",),
    ("patient", "sex"),
    ("patient", "weight_kg"),
    ("patient", "height_cm"),
    ("series", "pet", "frame_of_reference_uid"),
    ("series", "pet", "tracer"),
    ("series", "spect", 0, "fwhm_mm"),
    ("series", "pet_ct", "time"),
    ("segmentation", "label_names"),
    ("clinical",),
]


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


def _run(tmp_path: Path, manifest: dict[str, Any]) -> Any:
    study = tmp_path / "study"
    study.mkdir(exist_ok=True)
    (study / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return CliRunner().invoke(app, ["run", str(study), "--out", str(tmp_path / "out")])


def _name(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def test_the_reference_manifest_is_valid(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest()), encoding="utf-8")
    study = Study.load(tmp_path)
    assert study.model.series.spect[0].hours_post_injection == 24.0
    assert study.time_points == ()  # the DICOM is not there: flagged, not read
    assert study.intake_flags[0].kind == "missing_time_point"


@pytest.mark.parametrize("path", REQUIRED, ids=_name)
def test_every_required_key_removed_gives_exit_2_naming_it(
    tmp_path: Path, path: tuple[Any, ...]
) -> None:
    manifest = _manifest()
    del _parent(manifest, path)[path[-1]]
    res = _run(tmp_path, manifest)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and _name(path) in lines[0], res.stderr


@pytest.mark.parametrize("path", REQUIRED[1:] + OPTIONAL, ids=_name)
def test_every_key_corrupted_gives_exit_2_naming_it(tmp_path: Path, path: tuple[Any, ...]) -> None:
    manifest = copy.deepcopy(_manifest())
    _parent(manifest, path)[path[-1]] = {"not": ["a valid value"]}
    res = _run(tmp_path, manifest)
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and _name(path) in lines[0], res.stderr


def test_times_without_utc_offset_and_bad_numbers_are_named(tmp_path: Path) -> None:
    manifest = _manifest()
    manifest["series"]["spect"][0]["time"] = "2025-03-04T10:00:00"
    manifest["series"]["spect"][0]["injected_activity_bq"] = -1.0
    res = _run(tmp_path, manifest)
    assert res.exit_code == 2
    assert "series.spect[0].time: must include a UTC offset" in res.stderr
    assert "series.spect[0].injected_activity_bq" in res.stderr


def test_json_error_document_and_missing_manifest(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(app, ["run", str(empty), "--out", str(tmp_path / "o"), "--json"])
    assert res.exit_code == 2  # a folder without manifest.json and without DICOM
    assert len(res.stderr.strip().splitlines()) == 1


def test_clinical_record_is_validated(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest()), encoding="utf-8")
    (tmp_path / "clinical.json").write_text(
        json.dumps({"labs": [{"time": "2025-03-02T08:00:00+01:00", "platelets_1e9_l": "many"}]}),
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match=r"labs\[0\]\.platelets_1e9_l"):
        Study.load(tmp_path)


def test_measured_net_activity_wins_and_differences_are_flagged(tmp_path: Path) -> None:
    """clinical.json 7.0 GBq (measured, net) vs DICOM nominal 7.4 GBq: 7.0 is used and the
    5.7 % difference (hand calculation: 7.4 / 7.0 − 1) is flagged; 7.3 GBq would not be."""
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest()), encoding="utf-8")
    clinical = {
        "administrations": [
            {"cycle": 1, "nuclide": "Lu-177", "activity_bq": 7.0e9, "time": INJ},
        ]
    }
    (tmp_path / "clinical.json").write_text(json.dumps(clinical), encoding="utf-8")
    study = Study.load(tmp_path)
    (admin,) = study.administrations
    assert admin.activity_bq == 7.0e9 and admin.source.startswith("clinical.json")
    flags = [f for f in study.intake_flags if f.kind == "activity_mismatch"]
    assert len(flags) == 1 and "+5.7 %" in flags[0].message
    clinical["administrations"][0]["activity_bq"] = 7.3e9
    (tmp_path / "clinical.json").write_text(json.dumps(clinical), encoding="utf-8")
    assert not [f for f in Study.load(tmp_path).intake_flags if f.kind == "activity_mismatch"]


def test_patient_comes_from_the_headers_when_nothing_else_says(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(_manifest()), encoding="utf-8")
    pat = Study.load(tmp_path).patient()
    assert pat["sex"] == "female" and pat["weight_kg"] == 70.0
    assert pat["sources"]["weight_kg"] == "DICOM header"


def test_published_schemas_are_current() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "schema"
    for name, schema in schemas().items():
        on_disk = json.loads((docs / name).read_text(encoding="utf-8"))
        assert on_disk == json.loads(json.dumps(schema)), f"regenerate docs/schema/{name}"


# ------------------------------------------------------------------ region names
def test_region_synonyms() -> None:
    m = dosimetry_regions(
        {
            1: "Liver",
            2: "Kidney L",
            3: "kidney_right",
            4: "tumour_1",
            5: "Metastasis liver seg 7",
            6: "spleen",
            7: "urinary_bladder",
            8: "adrenal_left",
            9: "L1 vertebra",
        }
    )
    assert m.regions["kidneys"] == (2, 3)
    assert m.regions["kidney_left"] == (2,) and m.regions["kidney_right"] == (3,)
    assert m.kinds["tumour_1"] == "lesion" and m.kinds["Metastasis liver seg 7"] == "lesion"
    assert m.regions["liver"] == (1,)  # the metastasis is not liver
    assert set(m.not_dosed) == {"urinary_bladder", "adrenal_left", "L1 vertebra"}


def test_unknown_region_name_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="'gizzard'"):
        dosimetry_regions({1: "liver", 2: "gizzard"})


def test_composite_and_part_names_merge() -> None:
    m = classify_regions({"kidneys": [7, 8, 9, 10], "kidney_left_cortex": [7]})
    assert m.regions["kidneys"] == (7, 8, 9, 10) and m.regions["kidney_left"] == (7,)


def test_vessels_and_cysts_are_not_the_organ() -> None:
    m = dosimetry_regions(
        {1: "portal_vein_and_splenic_vein", 2: "spleen", 3: "kidney_cyst_left", 4: "kidney_left"}
    )
    assert m.regions["spleen"] == (2,) and m.regions["kidneys"] == (4,)
    assert set(m.not_dosed) == {"portal_vein_and_splenic_vein", "kidney_cyst_left"}


def test_a_label_value_in_two_regions_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="label 5 in both"):
        classify_regions({"liver": [1, 5], "lesion_1": [5]})


def test_intake_numbers_cycles_after_the_clinical_record() -> None:
    """SPECTs of cycles 2 and 3 only (cycle 1 not exported): they keep numbers 2 and 3."""
    import datetime as dt

    from sstrkit.pipeline.intake import _Admin, _cycle_numbers

    tz = dt.timezone(dt.timedelta(hours=1))
    t = [dt.datetime(2025, m, 3, 10, tzinfo=tz) for m in (3, 5, 7)]
    admins = [_Admin(x, "Lu-177", 7.4e9, "clinical", k) for k, x in enumerate(t, start=1)]
    notes: list[str] = []
    assert _cycle_numbers(t[1:], admins, notes) == [2, 3]
    assert notes and "after the clinical record" in notes[0]
    assert _cycle_numbers(t[1:], [], []) == [1, 2]
