"""Malformed catalogue files are rejected on load with a CatalogError naming file and fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import sstrkit.catalog
from sstrkit.catalog.loader import FILES, load_catalog, parse_cycles, parse_dosage
from sstrkit.errors import CatalogError

DATA = Path(sstrkit.catalog.__file__).parent / "data"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in FILES:
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_unmodified_copy_loads(copy: Path) -> None:
    assert load_catalog(copy).version == load_catalog().version


def test_missing_reference(copy: Path) -> None:
    # Drop the refs line of the first regimen.
    _edit(copy / "regimens.toml", 'refs = ["strosberg2017"]\n', "")
    with pytest.raises(
        CatalogError, match=r"regimens.toml: regimen 'lu177-dotatate-netter1', field 'refs'"
    ):
        load_catalog(copy)


def test_empty_reference_list(copy: Path) -> None:
    _edit(copy / "nuclides.toml", 'refs = ["wang2013", "iaea_trs468"]', "refs = []")
    with pytest.raises(CatalogError, match="refs"):
        load_catalog(copy)


def test_unknown_reference_key(copy: Path) -> None:
    _edit(copy / "tracers.toml", 'refs = ["wang2013", "reubi2000"]', 'refs = ["wang2031"]')
    with pytest.raises(CatalogError, match=r"keys of sources\.toml"):
        load_catalog(copy)


def test_version_mismatch(copy: Path) -> None:
    _edit(copy / "tracers.toml", 'catalog_version = "', 'catalog_version = "x')
    with pytest.raises(CatalogError, match="same version in every catalogue file"):
        load_catalog(copy)


def test_schema_version(copy: Path) -> None:
    _edit(copy / "therapies.toml", "schema_version = 1", "schema_version = 2")
    with pytest.raises(CatalogError, match="schema_version"):
        load_catalog(copy)


def test_missing_file(copy: Path) -> None:
    (copy / "regimens.toml").unlink()
    with pytest.raises(CatalogError, match=r"regimens\.toml"):
        load_catalog(copy)


def test_bad_toml(copy: Path) -> None:
    (copy / "sources.toml").write_text("this is = = not toml", encoding="utf-8")
    with pytest.raises(CatalogError, match="valid TOML"):
        load_catalog(copy)


def test_nuclide_not_in_icrp107(copy: Path) -> None:
    _edit(copy / "nuclides.toml", 'name = "C-11"', 'name = "C-12"')
    with pytest.raises(CatalogError, match="ICRP 107"):
        load_catalog(copy)


def test_nuclide_badly_written(copy: Path) -> None:
    _edit(copy / "nuclides.toml", 'name = "Lu-177"', 'name = "177Lu"')
    with pytest.raises(CatalogError, match="'Lu-177'"):
        load_catalog(copy)


def test_unknown_role(copy: Path) -> None:
    _edit(copy / "nuclides.toml", 'roles = ["therapy"]', 'roles = ["threapy"]')
    with pytest.raises(CatalogError, match="roles"):
        load_catalog(copy)


def test_tracer_with_uncatalogued_nuclide(copy: Path) -> None:
    _edit(copy / "tracers.toml", 'nuclide = "Cu-64"', 'nuclide = "Cu-67"')
    with pytest.raises(CatalogError, match=r"nuclides\.toml"):
        load_catalog(copy)


def test_bad_group(copy: Path) -> None:
    _edit(copy / "tracers.toml", 'group = "gene"', 'group = "genes"')
    with pytest.raises(CatalogError, match="group"):
        load_catalog(copy)


def test_ic50_needs_source(copy: Path) -> None:
    _edit(copy / "tracers.toml", 'ic50_ref = "reubi2000"\n', "")
    with pytest.raises(CatalogError, match="ic50"):
        load_catalog(copy)


def test_bad_ic50_value(copy: Path) -> None:
    _edit(copy / "tracers.toml", 'SSTR2 = "0.2"', 'SSTR2 = "about 0.2"')
    with pytest.raises(CatalogError, match="ic50_nm"):
        load_catalog(copy)


def test_alias_clash(copy: Path) -> None:
    # "Ga-68 DOTATOC" normalises to the canonical name of 68Ga-DOTATOC.
    _edit(copy / "tracers.toml", '"GaTate"', '"Ga-68 DOTATOC"')
    with pytest.raises(CatalogError, match="unique"):
        load_catalog(copy)


def test_duplicate_tracer(copy: Path) -> None:
    _edit(copy / "tracers.toml", 'name = "68Ga-DOTATOC"', 'name = "68Ga-DOTATATE"')
    with pytest.raises(CatalogError):
        load_catalog(copy)


def test_unparsable_dosage(copy: Path) -> None:
    _edit(copy / "therapies.toml", 'dosage = "7.4 GBq/m2"', 'dosage = "a lot"')
    with pytest.raises(CatalogError, match="table3-90y-dotatate"):
        load_catalog(copy)


def test_counts_exceeding_patients(copy: Path) -> None:
    _edit(
        copy / "therapies.toml",
        "response_counts = { PR = 2, MR = 5, SD = 12, PD = 8 }",
        "response_counts = { PR = 20, MR = 5, SD = 12, PD = 8 }",
    )
    with pytest.raises(CatalogError, match="n_patients"):
        load_catalog(copy)


def test_percent_over_100(copy: Path) -> None:
    _edit(
        copy / "therapies.toml",
        "{ CR = 4.0, PR = 23.0, SD = 62.0, PD = 11.0 }",
        "{ CR = 4.0, PR = 33.0, SD = 62.0, PD = 11.0 }",
    )
    with pytest.raises(CatalogError, match="100 %"):
        load_catalog(copy)


def test_regimen_nuclide_must_match_tracer(copy: Path) -> None:
    _edit(
        copy / "regimens.toml",
        'agent = "90Y-DOTATOC", nuclide = "Y-90"',
        'agent = "90Y-DOTATOC", nuclide = "Lu-177"',
    )
    with pytest.raises(CatalogError, match="nuclide of 90Y-DOTATOC"):
        load_catalog(copy)


def test_regimen_unknown_agent(copy: Path) -> None:
    _edit(copy / "regimens.toml", 'agent = "90Y-DOTATOC"', 'agent = "90Y-DOTANOC"')
    with pytest.raises(CatalogError, match=r"tracers\.toml"):
        load_catalog(copy)


def test_regimen_bad_activity_unit(copy: Path) -> None:
    _edit(copy / "regimens.toml", 'activity = "7.4 GBq"', 'activity = "7.4 Gy"')
    with pytest.raises(CatalogError, match="activity"):
        load_catalog(copy)


def test_regimen_bad_interval(copy: Path) -> None:
    _edit(
        copy / "regimens.toml",
        'interval = ["6 weeks", "10 weeks"]',
        'interval = ["10 weeks", "6 weeks"]',
    )
    with pytest.raises(CatalogError, match="interval"):
        load_catalog(copy)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 1 Ci = 3.7e10 Bq (definition): 750 mCi = 2.775e10 Bq, 800 mCi = 2.96e10 Bq.
        ("750 to 800 mCi", (2.775e10, 2.96e10, False)),
        ("162–200 mCi/m2", (162 * 3.7e7, 200 * 3.7e7, True)),
        ("162-200 mCi/m²", (162 * 3.7e7, 200 * 3.7e7, True)),
        ("7,400 MBq", (7.4e9, 7.4e9, False)),
        ("7.4 GBq/m2", (7.4e9, 7.4e9, True)),
    ],
)
def test_parse_dosage(text: str, expected: tuple[float, float, bool]) -> None:
    lo, hi, per_m2 = parse_dosage(text)
    assert (lo, hi) == pytest.approx(expected[:2], rel=1e-12) and per_m2 is expected[2]


@pytest.mark.parametrize("text", ["", "lots", "7.4", "7.4 Gy", "3-4-5 GBq"])
def test_parse_dosage_rejects(text: str) -> None:
    with pytest.raises(CatalogError):
        parse_dosage(text)


def test_parse_cycles() -> None:
    assert parse_cycles("2–4 cycles") == (2, 4)
    assert parse_cycles("4 cycles") == (4, 4)
    assert parse_cycles("once") == (1, 1)
    with pytest.raises(CatalogError):
        parse_cycles("every 8 weeks")
