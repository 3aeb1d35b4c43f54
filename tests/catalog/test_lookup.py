"""Forgiving name look-ups and their errors."""

from __future__ import annotations

import pytest

from sstrkit import catalog as cat
from sstrkit.catalog.naming import name_key
from sstrkit.errors import CatalogError, InvalidInputError


@pytest.mark.parametrize(
    "query",
    [
        "68Ga-DOTATATE",
        "68ga-dotatate",
        "Ga-68 DOTATATE",
        "Ga68-DOTATATE",
        "68Ga-DOTA-TATE",
        "[68Ga]Ga-DOTA-TATE",
        "⁶⁸Ga-DOTATATE",
        "NETSPOT",
        " 68 Ga dotatate ",
    ],
)
def test_tracer_spellings(query: str) -> None:
    assert cat.tracer(query).name == "68Ga-DOTATATE"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Lu-177 DOTATATE", "177Lu-DOTATATE"),
        ("Lutathera", "177Lu-DOTATATE"),
        ("y-90 dotatoc", "90Y-DOTATOC"),
        ("OctreoScan", "111In-pentetreotide"),
        ("In-111 DTPAOC", "111In-DTPAOC"),
        ("Tc-94m Demotate 1", "94mTc-Demotate 1"),
        ("depreotide", "99mTc-P829"),
        ("FDG", "18F-FDG"),
    ],
)
def test_tracer_aliases(query: str, expected: str) -> None:
    assert cat.tracer(query).name == expected


def test_gallium_and_copper_dotatate_stay_distinct() -> None:
    assert name_key("68Ga-DOTATATE") != name_key("64Cu-DOTATATE")
    assert cat.tracer("Cu-64 DOTATATE").nuclide == "Cu-64"


def test_unknown_tracer_suggests_closest() -> None:
    with pytest.raises(CatalogError) as info:
        cat.tracer("Ga-68 DOTATAT")
    msg = info.value.one_line()
    assert "'Ga-68 DOTATAT'" in msg and "did you mean 68Ga-DOTATATE" in msg
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, KeyError)


def test_unknown_with_nothing_close_lists_valid_names() -> None:
    with pytest.raises(CatalogError, match="use one of"):
        cat.regimen("zzzzzzzzzzzzzzzzzzzz")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("NETTER-1", "lu177-dotatate-netter1"),
        ("netter1", "lu177-dotatate-netter1"),
        ("Waldherr 2002", "y90-dotatoc-bsa-7.4"),
        ("tandem", "tandem-177lu-90y-dotatate"),
        ("LU177-DOTATATE-ROTTERDAM", "lu177-dotatate-rotterdam"),
    ],
)
def test_regimen_lookup(query: str, expected: str) -> None:
    assert cat.regimen(query).id == expected


def test_unknown_regimen_suggests() -> None:
    with pytest.raises(CatalogError, match="did you mean lu177-dotatate-netter1"):
        cat.regimen("netter")


@pytest.mark.parametrize("query", ["Lu-177", "177Lu", "lu177", "LU-177"])
def test_nuclide_lookup(query: str) -> None:
    assert cat.nuclide(query).name == "Lu-177"


def test_nuclide_not_in_catalogue() -> None:
    # I-131 is in ICRP 107 but not an SSTR theranostic nuclide of the catalogue.
    with pytest.raises(CatalogError, match="radionuclide"):
        cat.nuclide("I-131")


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        ("PET", "PET"),
        ("pet", "PET"),
        ("SPECT", "SPECT"),
        ("gene", "gene"),
        ("Gene imaging", "gene"),
        ("reporter gene", "gene"),
        ("PRRT", "therapy"),
    ],
)
def test_group_names(group: str, expected: str) -> None:
    assert cat.normalise_group(group) == expected


def test_unknown_group() -> None:
    with pytest.raises(CatalogError, match="SPECT, PET, gene"):
        cat.tracers("MRI")


def test_filters() -> None:
    assert {t.name for t in cat.tracers(nuclide="177Lu")} == {"177Lu-DOTATATE", "177Lu-DOTATOC"}
    assert all(t.modality == "PET" for t in cat.tracers(modality="pet"))
    assert [t.id for t in cat.therapies("Y-90 DOTATOC")] == ["table3-90y-dotatoc"]


def test_entries_are_immutable() -> None:
    t = cat.tracer("68Ga-DOTATOC")
    with pytest.raises(AttributeError):
        t.nuclide = "F-18"  # type: ignore[misc]
    o = cat.outcomes()[1]
    with pytest.raises(TypeError):
        o.response_percent["PR"] = 99.0  # type: ignore[index]


def test_source_lookup() -> None:
    assert "177Lu-Dotatate" in cat.source("Strosberg2017").citation
    with pytest.raises(CatalogError, match="did you mean"):
        cat.source("strosberg2018")
