"""PET-vs-scintigraphy lesion concordance (`sstrkit.reading.concordance`) and its CLI.

Reading documents are written here with set lesion positions (LPS mm) and volumes, so
every pairing, distance and size below is known by construction; the registration test
moves a synthetic CT by a set translation, so the PET centroids must land on the SPECT
centroids within the registration's error (sub-voxel, < 2 mm on a 4 mm grid).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sstrkit.cli.main import app
from sstrkit.core.volume import Volume
from sstrkit.errors import GeometryMismatchError, InvalidInputError
from sstrkit.reading.concordance import (
    PLANAR_TOLERANCE_MM,
    SPECT_TOLERANCE_MM,
    compare_readings,
    sphere_diameter_mm,
)

runner = CliRunner()

#: PET lesions: id → (centroid LPS mm, volume mL). Diameters of the spheres of these
#: volumes: 33.7 mL → 40 mm, 4.19 mL → 20 mm, 0.524 mL → 10 mm, 0.113 mL → 6 mm.
PET_LESIONS = {
    1: ((-60.0, 10.0, 80.0), 33.51),
    2: ((30.0, -20.0, 0.0), 4.189),
    3: ((40.0, 30.0, -50.0), 0.5236),
    4: ((-20.0, 0.0, -90.0), 0.1131),
}
#: SPECT: lesions 1 and 2 seen (offset 3-4-0 mm and 0-0-12 mm), 3 and 4 not; one lesion
#: seen on SPECT only (id 9, 100 mm from every PET lesion).
SPECT_LESIONS = {
    1: ((-57.0, 14.0, 80.0), 9.0, 3),
    2: ((30.0, -20.0, 12.0), 6.0, 2),
    9: ((90.0, 0.0, 60.0), 5.0, 2),
}


def _pet(frame: str | None = "1.2.3") -> dict[str, Any]:
    return {
        "modality": "pet",
        "tracer": "68Ga-DOTATATE",
        "frame_of_reference_uid": frame,
        "lesions": [
            {"id": i, "centroid_mm": list(c), "volume_ml": v, "suv_max": 20.0, "krenning": 4}
            for i, (c, v) in PET_LESIONS.items()
        ],
    }


def _spect(frame: str | None = "1.2.3", shift: tuple[float, float, float] = (0, 0, 0)) -> Any:
    return {
        "modality": "spect",
        "tracer": "111In-pentetreotide",
        "frame_of_reference_uid": frame,
        "lesions": [
            {
                "id": i,
                "centroid_mm": list(np.add(c, shift)),
                "suv_max": s,
                "krenning": k,
                "t_l": s / 4.0,
            }
            for i, (c, s, k) in SPECT_LESIONS.items()
        ],
    }


def test_pairs_statuses_sizes_and_distances() -> None:
    c = compare_readings(_pet(), _spect())
    rows = {(x.pet_id, x.scintigraphy_id): x for x in c.lesions}
    assert set(rows) == {(1, 1), (2, 2), (3, None), (4, None), (None, 9)}
    assert rows[1, 1].status == "both" and rows[1, 1].distance_mm == pytest.approx(5.0)
    assert rows[2, 2].distance_mm == pytest.approx(12.0)
    assert rows[3, None].status == "pet_only" and rows[None, 9].status == "scintigraphy_only"
    # sizes: the sphere of the PET volume (d = (6V/π)^(1/3))
    assert rows[1, 1].pet_diameter_mm == pytest.approx(40.0, abs=0.01)
    assert rows[2, 2].pet_diameter_mm == pytest.approx(20.0, abs=0.01)
    assert rows[3, None].pet_diameter_mm == pytest.approx(10.0, abs=0.01)
    assert rows[1, 1].scintigraphy == {"suv_max": 9.0, "krenning": 3, "t_l": 2.25}
    assert c.counts == {"both": 2, "pet_only": 2, "scintigraphy_only": 1}
    by = {r["pet_diameter"]: r for r in c.by_size()}
    assert (by["< 10 mm"]["pet_lesions"], by["10-20 mm"]["pet_lesions"]) == (1, 1)
    assert by[">= 20 mm"] == {
        "pet_diameter": ">= 20 mm",
        "pet_lesions": 2,
        "both": 2,
        "pet_only": 0,
        "seen_on_scintigraphy_fraction": 1.0,
    }
    # statistics from sstrkit.followup.concordance: sensitivity 2/4, PPV 2/3
    assert c.statistics is not None
    assert (c.statistics.sensitivity.k, c.statistics.sensitivity.n) == (2, 4)
    assert (c.statistics.ppv.k, c.statistics.ppv.n) == (2, 3)
    assert c.tolerance_mm == SPECT_TOLERANCE_MM
    d = c.to_dict()
    assert d["counts"]["both"] == 2 and len(d["lesions"]) == 5
    json.dumps(d, allow_nan=False)


def test_tolerance_decides_a_pair() -> None:
    # lesion 2 lies 12 mm from its SPECT partner: paired at 20 mm, not at 10 mm (control)
    c = compare_readings(_pet(), _spect(), tolerance_mm=10.0)
    assert c.counts == {"both": 1, "pet_only": 3, "scintigraphy_only": 2}


def test_other_frame_refused_without_registration() -> None:
    with pytest.raises(GeometryMismatchError, match="--register"):
        compare_readings(_pet("1.2.3"), _spect("4.5.6"))
    with pytest.raises(GeometryMismatchError):
        compare_readings(_pet(None), _spect("4.5.6"))  # not recorded: not assumed equal
    c = compare_readings(_pet(None), _spect("4.5.6"), same_frame=True)
    assert c.counts["both"] == 2 and any("same_frame" in n for n in c.notes)


def test_wrong_documents_refused() -> None:
    with pytest.raises(InvalidInputError, match="PET reading"):
        compare_readings(_spect(), _spect())
    with pytest.raises(InvalidInputError, match="SPECT or planar"):
        compare_readings(_pet(), _pet())
    with pytest.raises(InvalidInputError, match="lesions"):
        compare_readings(_pet(), {"modality": "spect"})


def _ct(shift_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Volume:
    """A 4 mm CT: an elliptic body (40 HU) with a spine and ribs-like rods (700 HU) and
    lungs (−800 HU), drawn at a set translation (anatomy at p appears at p + shift)."""
    shape = (48, 56, 64)
    z, y, x = np.indices(shape, dtype=float)
    origin = (-128.0, -112.0, -96.0)
    px = origin[0] + 4.0 * x - shift_mm[0]
    py = origin[1] + 4.0 * y - shift_mm[1]
    pz = origin[2] + 4.0 * z - shift_mm[2]
    hu = np.full(shape, -1000.0)
    hu[(px / 110.0) ** 2 + (py / 80.0) ** 2 <= 1.0] = 40.0
    hu[(px**2 + (py - 45.0) ** 2 <= 15.0**2)] = 700.0
    lungs = (((np.abs(px) - 55.0) / 35.0) ** 2 + (py / 45.0) ** 2 + ((pz - 50.0) / 40.0) ** 2) <= 1
    hu[lungs] = -800.0
    hu[((px + 60.0) ** 2 + (py + 10.0) ** 2 <= 12.0**2) & (pz < -20.0)] = 700.0
    return Volume.from_array(
        hu.astype(np.float32), spacing=(4.0, 4.0, 4.0), origin=origin, modality="CT", unit="HU"
    )


def test_registration_maps_pet_into_the_spect_frame() -> None:
    from sstrkit.therapy.registration import register_ct

    shift = (12.0, -8.0, 16.0)
    reg = register_ct(_ct(), _ct(shift))
    # without registration the shifted lesions (22 mm off) do not pair within 20 mm
    off = compare_readings(_pet(), _spect("1.2.3", shift))
    assert off.counts["both"] == 0
    c = compare_readings(_pet("1.2.3"), _spect("4.5.6", shift), registration=reg)
    rows = {(x.pet_id, x.scintigraphy_id): x for x in c.lesions}
    assert (1, 1) in rows and (2, 2) in rows
    # after registration the distances are the set offsets (5 and 12 mm) within 2 mm
    assert rows[1, 1].distance_mm == pytest.approx(5.0, abs=2.0)
    assert rows[2, 2].distance_mm == pytest.approx(12.0, abs=2.0)
    assert "registration" in c.alignment and c.registration is not None


def _planar(offset_rc: tuple[float, float], drop: tuple[int, ...] = ()) -> dict[str, Any]:
    """Planar lesions at the PET lesions' coronal projection: row = −z + r0, col = x + c0."""
    les = []
    for i, (c, _v) in PET_LESIONS.items():
        if i in drop:
            continue
        les.append(
            {
                "id": 10 + i,
                "position_mm": [-c[2] + offset_rc[0], c[0] + offset_rc[1]],
                "peak_counts": 100.0,
                "ratio_liver": 1.5,
                "krenning": 3,
                "diameter_mm": 25.0,
            }
        )
    return {"modality": "planar", "tracer": "111In-pentetreotide", "lesions": les}


def test_planar_projection_and_translation() -> None:
    # image origin 700 mm above z = 0 and 300 mm right of x = 0: the translation that
    # pairs most lesions puts every projected PET centroid on its planar lesion (distance 0)
    c = compare_readings(_pet(), _planar((700.0, 300.0), drop=(4,)))
    assert c.tolerance_mm == PLANAR_TOLERANCE_MM
    assert c.counts == {"both": 3, "pet_only": 1, "scintigraphy_only": 0}
    for x in c.lesions:
        if x.status == "both":
            assert x.scintigraphy_id == 10 + x.pet_id
            assert x.distance_mm == pytest.approx(0.0, abs=1e-6)
    assert any("depth is unknown" in n for n in c.notes)
    assert "translation" in c.alignment
    with pytest.raises(GeometryMismatchError, match="at least two"):
        compare_readings(_pet(), _planar((0.0, 0.0), drop=(1, 2, 3)))


def test_planar_alignment_from_reference_organs() -> None:
    # Liver and spleen centres of both readings give the translation (image origin 700 mm
    # above z = 0, 300 mm right of x = 0) up to the regions' different placement (here
    # the planar liver region 20 mm off, the spleen's exact: prior off by 10 mm); the pairs
    # it makes refine it to the lesions' own offset (distance 0). Only two lesions and one
    # planar-only focus: lesion consensus alone could not place the frame robustly.
    pet = _pet()
    pet["reference"] = {
        "regions": {
            "liver": {"center_mm": [-60.0, 0.0, 100.0]},
            "spleen": {"center_mm": [90.0, 30.0, 80.0]},
        }
    }
    planar = _planar((700.0, 300.0), drop=(3, 4))
    planar["reference"] = {
        "liver": {"centroid_mm": [-100.0 + 700.0 + 20.0, -60.0 + 300.0]},
        "spleen": {"centroid_mm": [-80.0 + 700.0, 90.0 + 300.0]},
    }
    planar["lesions"].append({"id": 99, "position_mm": [900.0, 100.0], "krenning": 1})
    c = compare_readings(pet, planar)
    assert "liver and spleen reference centres" in c.alignment and "refined" in c.alignment
    rows = {(x.pet_id, x.scintigraphy_id): x for x in c.lesions}
    assert set(rows) == {(1, 11), (2, 12), (3, None), (4, None), (None, 99)}
    assert rows[1, 11].distance_mm == pytest.approx(0.0, abs=1e-6)


def test_sphere_diameter() -> None:
    assert sphere_diameter_mm(4.0 / 3.0 * math.pi) == pytest.approx(20.0)
    assert sphere_diameter_mm(None) is None and sphere_diameter_mm(0.0) is None


# ----------------------------------------------------------------------------- CLI
def test_cli_readings_mode_writes_json_and_csv(tmp_path: Path) -> None:
    pet = tmp_path / "pet.json"
    spect = tmp_path / "spect.json"
    pet.write_text(json.dumps(_pet()))
    spect.write_text(json.dumps(_spect()))
    out = tmp_path / "conc"
    res = runner.invoke(
        app,
        [
            "stats",
            "concordance",
            "--pet",
            str(pet),
            "--scintigraphy",
            str(spect),
            "--json",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["counts"] == {"both": 2, "pet_only": 2, "scintigraphy_only": 1}
    saved = json.loads((out / "concordance.json").read_text())
    assert saved["counts"] == d["counts"]
    lines = (out / "concordance_lesions.csv").read_text().splitlines()
    assert len(lines) == 1 + 5 and lines[0].startswith("status,pet_id")
    # the human table
    res = runner.invoke(
        app, ["stats", "concordance", "--pet", str(pet), "--scintigraphy", str(spect)]
    )
    assert res.exit_code == 0 and "PET only 2" in res.output


def test_cli_modes_not_mixed_and_frames_checked(tmp_path: Path) -> None:
    pet = tmp_path / "pet.json"
    spect = tmp_path / "spect.json"
    pet.write_text(json.dumps(_pet("1.2.3")))
    spect.write_text(json.dumps(_spect("4.5.6")))
    res = runner.invoke(
        app, ["stats", "concordance", "--pet", str(pet), "--scintigraphy", str(spect)]
    )
    assert res.exit_code == 2 and "--register" in res.output
    res = runner.invoke(
        app,
        ["stats", "concordance", "--pet", str(pet), "--scintigraphy", str(spect), "--both", "3"],
    )
    assert res.exit_code == 2 and "either counts" in res.output
    res = runner.invoke(app, ["stats", "concordance", "--both", "3"])
    assert res.exit_code == 2 and "missing" in res.output
    res = runner.invoke(
        app,
        ["stats", "concordance", "--pet", str(pet), "--scintigraphy", str(spect), "--register"],
    )
    assert res.exit_code == 2 and "--pet-ct" in res.output
