"""The shipped catalogue files load, validate and are consistent with ICRP 107."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import sstrkit.catalog
from sstrkit import catalog as cat
from sstrkit.catalog.loader import FILES, load_catalog
from sstrkit.physics.nuclides import available_nuclides, get_nuclide

DATA = Path(sstrkit.catalog.__file__).parent / "data"


@pytest.mark.parametrize("name", FILES)
def test_every_file_is_versioned_toml_inside_the_package(name: str) -> None:
    # Under src/sstrkit, so hatchling ships it in the wheel.
    path = DATA / name
    assert path.is_file()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["schema_version"] == 1
    assert data["catalog_version"] == cat.catalog_version()


def test_catalogue_loads_and_counts() -> None:
    c = load_catalog()
    assert c.version == cat.catalog_version()
    assert len(c.nuclides) == 12 and len(c.tracers) == 20
    assert len(c.therapies) == 4 and len(c.outcomes) == 11 and len(c.regimens) == 5
    assert set(c.provenance()["files_sha256"]) == set(FILES)


def test_every_entry_has_a_known_reference() -> None:
    c = cat.catalog()
    entries = [*c.nuclides, *c.tracers, *c.therapies, *c.outcomes, *c.regimens]
    for e in entries:
        assert e.refs, e
        for key in e.refs:
            assert cat.source(key).citation


def test_table_rows_cite_the_review() -> None:
    for e in [*cat.tracers("SPECT"), *cat.tracers("PET"), *cat.tracers("gene"), *cat.therapies()]:
        assert "wang2013" in e.refs


@pytest.mark.parametrize(
    "name",
    ["In-111", "Tc-99m", "I-123", "Ga-68", "Cu-64", "F-18", "Y-86", "Y-90", "Lu-177", "C-11"],
)
def test_issue_nuclides_present(name: str) -> None:
    assert cat.nuclide(name).name == name


def test_every_catalogue_nuclide_is_in_icrp107() -> None:
    icrp = set(available_nuclides())
    for n in cat.nuclides():
        assert n.name in icrp
        assert n.physics().half_life_s > 0


def test_physics_join_uses_icrp107_values() -> None:
    # ICRP 107: Lu-177 T½ = 6.647 d; Y-90 T½ = 64.1 h (2.671 d); values are not duplicated in
    # the catalogue, so the join must return get_nuclide's numbers exactly.
    lu = cat.nuclide("177Lu").to_dict(with_physics=True)
    assert lu["physics"] == get_nuclide("Lu-177").to_dict()
    assert lu["physics"]["half_life_s"] == pytest.approx(6.647 * 86400, rel=1e-4)
    assert cat.nuclide("Y90").physics().half_life_s == pytest.approx(2.671 * 86400, rel=1e-3)


def test_no_physical_data_duplicated_in_nuclides_file() -> None:
    data = tomllib.loads((DATA / "nuclides.toml").read_text(encoding="utf-8"))
    forbidden = {"half_life", "half_life_s", "energy", "emax", "yield", "gammas"}
    for entry in data["nuclide"]:
        assert not forbidden & set(entry), entry["name"]


def test_roles_are_consistent_with_tracers() -> None:
    # A nuclide labelling a PET tracer has the PET role, a therapy agent the therapy role.
    role_of = {"PET": "PET imaging", "SPECT": "SPECT imaging", "therapy": "therapy"}
    for t in cat.tracers():
        assert role_of[t.modality] in cat.nuclide(t.nuclide).roles, t.name


def test_lu177m_is_an_impurity() -> None:
    assert cat.nuclide("Lu-177m").roles == ("impurity",)
    assert "reactor" in cat.nuclide("Lu-177").production
