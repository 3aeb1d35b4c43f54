"""Reading without hand-made organ labels: automatic organs, precedence, record, images.

The automatic segmentation (:func:`sstrkit.organs.segment.segment_organs`) is
replaced by a stand-in that returns the synthetic abdomen's own class labels
(tests/reading/abdomen.py: liver 6, spleen 20, kidneys 14, bladder 40, soft tissue
0.8, 6 mm FWHM blur), so these tests check the reading side — which labels are
used, what is recorded and written, how missing organs are handled — not the
segmentation's accuracy (tests/reading/test_auto_organs_phantom.py does that).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.errors import InvalidInputError
from sstrkit.io.nifti import read_nifti, write_nifti
from sstrkit.reading.eligibility import Labs
from sstrkit.reading.images import OUTLINE_COLOURS, write_lesion_table, write_mip
from sstrkit.reading.reader import ORGANS_NONE, read_sstr_pet
from sstrkit.reading.segmentation import FLAG_TEXT, UNCINATE_FLAG

from .abdomen import Abdomen, segmenter

runner = CliRunner()
SEGMENT = "sstrkit.organs.segment.segment_organs"
#: A 20 mm liver lesion at 2 × liver and a 20 mm node of SUV 30 (Krenning 4 vs spleen 20).
LIVER_LESION = (-70.0, 10.0, 80.0)
NODE = (-20.0, -40.0, -60.0)
LABS = Labs.from_mapping(
    {
        "age_years": 60,
        "sex": "male",
        "creatinine_umol_l": 80,
        "haemoglobin_g_dl": 12.5,
        "platelets_1e9_per_l": 210,
        "wbc_1e9_per_l": 5.5,
        "bilirubin_umol_l": 9.0,  # normal liver tests (NETTER-1 liver rules pass)
        "albumin_g_l": 42.0,
    }
)


def _abdomen(*removed: str) -> Abdomen:
    a = Abdomen().remove(*removed)
    a.add_ball(LIVER_LESION, 10.0, 12.0)
    a.add_ball(NODE, 10.0, 30.0)
    return a


@pytest.fixture(scope="module")
def study() -> dict[str, Any]:
    return _abdomen().build()


def _at(result: Any, point: tuple[float, float, float], tol: float = 3.0) -> Any:
    hits = [m for m in result.lesions if np.linalg.norm(np.subtract(m.centroid_mm, point)) <= tol]
    assert len(hits) == 1, [(m.organ, m.centroid_mm) for m in result.lesions]
    return hits[0]


# ------------------------------------------------------------------ precedence
def test_automatic_organs_used_without_labels(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seg = segmenter(study)
    monkeypatch.setattr(SEGMENT, seg)
    r = read_sstr_pet(study["suv"], ct=study["ct"], labs=LABS)
    (call,) = seg.calls  # type: ignore[attr-defined]
    assert call["ct"] is study["ct"] and call["emission"] is study["suv"]
    assert call["emission_kind"] == "pet"
    assert r.organs_automatic and r.organs_source.startswith("automatic: sstrkit organs ")
    assert r.organs is not None and r.organs.source == "automatic"
    assert {q.name: q.status for q in r.organ_quality}["liver"] == "plausible"
    # references from the labels: set liver 6 / spleen 20 exactly (3 cm / 2 cm spheres
    # deep in uniform organs; blur does not reach their centres)
    assert r.references.liver is not None and r.references.liver.method == "organ_label"
    assert r.references.liver_mean == pytest.approx(6.0, abs=1e-3)
    assert r.references.spleen_mean == pytest.approx(20.0, abs=1e-3)
    liver = _at(r, LIVER_LESION)
    node = _at(r, NODE)
    assert liver.organ == "liver" and node.krenning == 4
    assert len(r.lesions) == 2  # kidneys, spleen, bladder suppressed, not read as lesions
    assert {"spleen", "kidney_right", "urinary_bladder"} <= {
        s.organ for s in r.segmentation.suppressed
    }
    d = r.to_dict()
    assert d["organs_source"] == r.organs_source and d["organs_automatic"] is True
    assert {q["name"]: q["quality"] for q in d["organ_quality"]}["spleen"] == "plausible"
    assert any("segmented automatically" in n for n in d["notes"])
    assert d["organ_segmentation"]["method"].startswith("synthetic abdomen")
    assert r.eligibility.status == "eligible"  # T/L 2 and 5; labs normal


def test_supplied_labels_take_precedence(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seg = segmenter(study)
    monkeypatch.setattr(SEGMENT, seg)
    r = read_sstr_pet(
        study["suv"], ct=study["ct"], organs=study["labels"], organ_names=study["names"]
    )
    assert seg.calls == []  # type: ignore[attr-defined]
    assert r.organs_source == "supplied: organs" and not r.organs_automatic
    assert r.organ_quality == () and r.organ_segmentation is None
    r2 = read_sstr_pet(
        study["suv"],
        organs=study["labels"],
        organ_names=study["names"],
        organs_source="supplied: /data/organs.nii.gz",
    )
    assert r2.to_dict()["organs_source"] == "supplied: /data/organs.nii.gz"


def test_switched_off_and_no_ct(study: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    seg = segmenter(study)
    monkeypatch.setattr(SEGMENT, seg)
    off = read_sstr_pet(study["suv"], ct=study["ct"], auto_organs=False)
    no_ct = read_sstr_pet(study["suv"])
    assert seg.calls == []  # type: ignore[attr-defined]
    for r in (off, no_ct):
        assert r.organs_source == ORGANS_NONE and r.organs is None
    assert any("switched off" in n for n in off.notes)
    assert any("no organ labels were available" in n for n in no_ct.notes)
    # today's behaviour without organs: the kidneys are read as lesions (not suppressed)
    assert any(np.linalg.norm(np.subtract(m.centroid_mm, (-70, 50, -5))) < 30 for m in off.lesions)


def test_segmentation_failure_reads_without_organs(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: Any, **_k: Any) -> Any:
        raise InvalidInputError("emission image", expected="uptake", actual="none")

    monkeypatch.setattr(SEGMENT, broken)
    r = read_sstr_pet(study["suv"], ct=study["ct"])
    assert r.organs_source == ORGANS_NONE
    assert any("automatic organ segmentation failed" in n for n in r.notes)


# ------------------------------------------------------------------ absent organs
def test_splenectomy_reading_grades_against_liver(monkeypatch: pytest.MonkeyPatch) -> None:
    st = _abdomen("spleen").build()
    monkeypatch.setattr(SEGMENT, segmenter(st))
    r = read_sstr_pet(st["suv"], ct=st["ct"], labs=LABS)
    assert r.references.spleen is None and r.references.spleen_missing
    assert any("splenectomy" in n for n in r.notes)
    # node SUV 30 > 1.1 × liver: grade 3 against the liver (4 needs the spleen)
    assert _at(r, NODE).krenning == 3 and _at(r, LIVER_LESION).krenning == 3
    assert r.to_dict()["reference"]["spleen_missing"] is True
    # the rule "uptake >= liver" is unaffected by the missing spleen
    rule = next(o for o in r.eligibility.rules if o.id == "uptake_ge_liver")
    assert rule.status == "pass"


def test_spleen_missed_by_the_segmentation_is_pointed_out(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the spleen is in the image (SUV 20) but the segmentation reports it absent: the
    # reading must not pretend a splenectomy silently
    monkeypatch.setattr(SEGMENT, segmenter(study, missed=("spleen",)))
    r = read_sstr_pet(study["suv"], ct=study["ct"])
    assert r.references.spleen_missing
    assert any("check the segmentation: a spleen-like region" in n for n in r.notes)
    # control: after a real splenectomy (no spleen in the image) no such warning
    st = _abdomen("spleen").build()
    monkeypatch.setattr(SEGMENT, segmenter(st))
    r2 = read_sstr_pet(st["suv"], ct=st["ct"])
    assert r2.references.spleen_missing
    assert not any("spleen-like region" in n for n in r2.notes)


@pytest.mark.parametrize("status", ["implausible", "absent"])
def test_missing_liver_never_passes_uptake_rule(
    status: str, study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SEGMENT, segmenter(study, {"liver": status}))
    r = read_sstr_pet(study["suv"], ct=study["ct"], labs=LABS)
    assert not r.references.liver_reliable
    rule = next(o for o in r.eligibility.rules if o.id == "uptake_ge_liver")
    assert rule.status == "missing" and rule.passed is None
    assert r.eligibility.status == "not_assessed" and "uptake_ge_liver" in r.eligibility.missing
    # the stand-in reference is the documented heuristic, flagged in the notes
    assert r.references.liver is None or r.references.liver.method == "heuristic"
    assert any("stand-in" in n for n in r.notes)
    # control: with a plausible liver the same patient is eligible (rule passes)
    monkeypatch.setattr(SEGMENT, segmenter(study))
    ok = read_sstr_pet(study["suv"], ct=study["ct"], labs=LABS)
    assert next(o for o in ok.eligibility.rules if o.id == "uptake_ge_liver").status == "pass"


# ------------------------------------------------------------------ CLI and images
@pytest.fixture(scope="module")
def files(study: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("abdomen")
    write_nifti(study["suv"], d / "pet.nii.gz")
    write_nifti(study["ct"], d / "ct.nii.gz")
    return d


def test_cli_writes_automatic_organs(
    files: Path, study: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SEGMENT, segmenter(study))
    out = tmp_path / "o"
    args = ["read", str(files / "pet.nii.gz"), "--ct", str(files / "ct.nii.gz")]
    res = runner.invoke(app, [*args, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["organs_source"].startswith("automatic: sstrkit organs")
    assert len(doc["organ_quality"]) == 13 and len(doc["lesions"]) == 2
    labels = json.loads((out / "labels.json").read_text())
    assert labels["1"] == "liver" and labels["2"] == "spleen" and "8" not in labels
    lab = read_nifti(out / "organs.nii.gz")
    assert lab.same_space(study["ct"])
    assert np.array_equal(np.asarray(lab.array), np.asarray(study["labels"].array))
    assert doc["files"]["organs_nifti"] == str(out / "organs.nii.gz")
    # the written label map reads back as supplied labels (sidecar names) with equal lesions
    back = runner.invoke(
        app,
        [
            *args[:2],
            "--organs",
            str(out / "organs.nii.gz"),
            "--out",
            str(tmp_path / "b"),
            "--json",
            "--no-images",
        ],
    )
    assert back.exit_code == 0, back.output
    doc2 = json.loads(back.stdout)
    assert doc2["organs_source"].startswith("supplied: ")
    assert [m["centroid_mm"] for m in doc2["lesions"]] == [m["centroid_mm"] for m in doc["lesions"]]
    # human output says where the organs came from
    human = runner.invoke(app, [*args, "--out", str(tmp_path / "h"), "--no-images"])
    assert human.exit_code == 0 and "organs: automatic" in human.stdout


def test_cli_no_auto_organs(
    files: Path, study: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seg = segmenter(study)
    monkeypatch.setattr(SEGMENT, seg)
    out = tmp_path / "o"
    res = runner.invoke(
        app,
        [
            "read",
            str(files / "pet.nii.gz"),
            "--ct",
            str(files / "ct.nii.gz"),
            "--out",
            str(out),
            "--json",
            "--no-auto-organs",
            "--no-images",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["organs_source"] == "none"
    assert seg.calls == [] and not (out / "organs.nii.gz").exists()  # type: ignore[attr-defined]


def _pixels_of(png: Path, colour: str, tol: int = 40) -> int:
    rgb = np.asarray(Image.open(png).convert("RGB"), dtype=int)
    want = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - want).sum(axis=2) <= tol).sum())


def test_mip_draws_organ_outlines(
    study: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SEGMENT, segmenter(study))
    r = read_sstr_pet(study["suv"], ct=study["ct"])
    plain = write_mip(study["suv"], tmp_path / "plain.png", r.lesions)
    drawn = write_mip(
        study["suv"],
        tmp_path / "mip.png",
        r.lesions,
        organs=r.organs,
        organs_source=r.organs_source,
    )
    # every outlined organ present in the map shows its colour; none without outlines
    # (the grey-scale MIP and red lesion numbers have none of these colours)
    for kind in ("liver", "spleen", "kidney", "bladder"):
        assert _pixels_of(plain, OUTLINE_COLOURS[kind]) == 0, kind
        assert _pixels_of(drawn, OUTLINE_COLOURS[kind]) > 20, kind


def test_lesion_table_explains_flags(tmp_path: Path) -> None:
    from sstrkit.reading.metrics import LesionMetrics

    m = LesionMetrics(1, (0.0, 0.0, 0.0), 8.0, 7.0, 6.0, 2.0, 12.0, flags=(UNCINATE_FLAG,))
    p = write_lesion_table([m], tmp_path / "t.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "compare with CT/prior" in FLAG_TEXT[UNCINATE_FLAG]


def test_fdg_of_the_same_session_uses_the_automatic_organs(
    study: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An FDG PET in the SSTR PET/CT's frame of reference gets the same automatic organs;
    in another frame of reference it is read without them, and the note says so."""
    seg = segmenter(study)
    monkeypatch.setattr(SEGMENT, seg)
    suv = study["suv"]
    fdg = suv.with_metadata(frame_of_reference_uid=suv.frame_of_reference_uid or "1.2.3")
    pet = suv.with_metadata(frame_of_reference_uid=fdg.frame_of_reference_uid)
    ct = study["ct"].with_metadata(frame_of_reference_uid=fdg.frame_of_reference_uid)
    same = read_sstr_pet(pet, ct=ct, fdg=fdg, labs=LABS)
    assert any("FDG PET: organs of the automatic segmentation" in n for n in same.notes)
    other = read_sstr_pet(
        pet, ct=ct, fdg=fdg.with_metadata(frame_of_reference_uid="9.9.9"), labs=LABS
    )
    assert any("FDG PET read without organ labels" in n for n in other.notes)
