"""Radiopharmaceutical catalogue: nuclides, tracers, PRRT results and regimens.

Versioned TOML data files shipped inside the package (``sstrkit/catalog/data``)
encode Tables 1–3 of the SSTR imaging and therapy review (Wang et al. 2013)
plus cited standard PRRT schedules; every entry carries its literature
reference. Physical nuclide data are not duplicated here: they come from
ICRP 107 through :mod:`sstrkit.physics.nuclides`.

Look-ups forgive case, hyphens and nuclide order; unknown names raise
:class:`~sstrkit.errors.CatalogError` suggesting the closest valid names.

Examples
--------
>>> [t.name for t in tracers(group="PET")]
['68Ga-DOTATATE', '68Ga-DOTATOC', '68Ga-DOTANOC', '64Cu-DOTATATE', '18F-FP-Gluc-TOCA']
>>> t = tracer("Ga-68 dotatate")
>>> t.name, t.nuclide, t.subtypes, t.ic50_nm("SSTR2").text
('68Ga-DOTATATE', 'Ga-68', ('SSTR2',), '0.2')
>>> r = regimen("NETTER-1")
>>> r.cycles, r.total_activity_bq() / 1e9
(4, 29.6)
>>> catalog_version() == catalog().version
True
"""

from __future__ import annotations

from functools import cache

from sstrkit.catalog.loader import Catalog, load_catalog, parse_cycles, parse_dosage
from sstrkit.catalog.model import (
    GROUPS,
    Administration,
    Dosage,
    Ic50,
    NuclideEntry,
    Outcome,
    Regimen,
    RegimenComponent,
    Source,
    Therapy,
    Tracer,
)
from sstrkit.catalog.naming import name_key, resolve
from sstrkit.errors import CatalogError
from sstrkit.physics.nuclides import normalise_name

__all__ = [
    "GROUPS",
    "Administration",
    "Catalog",
    "Dosage",
    "Ic50",
    "NuclideEntry",
    "Outcome",
    "Regimen",
    "RegimenComponent",
    "Source",
    "Therapy",
    "Tracer",
    "catalog",
    "catalog_version",
    "load_catalog",
    "normalise_group",
    "nuclide",
    "nuclides",
    "outcomes",
    "parse_cycles",
    "parse_dosage",
    "regimen",
    "regimens",
    "source",
    "therapies",
    "tracer",
    "tracers",
]

_GROUP_ALIASES = {
    "spect": "SPECT",
    "pet": "PET",
    "gene": "gene",
    "geneimaging": "gene",
    "reporter": "gene",
    "reportergene": "gene",
    "therapy": "therapy",
    "prrt": "therapy",
    "comparator": "comparator",
    "nonsstr": "comparator",
}


@cache
def catalog() -> Catalog:
    """The package's catalogue, loaded and validated once per process."""
    return load_catalog()


def catalog_version() -> str:
    """Version string shared by all catalogue files (record it for provenance)."""
    return catalog().version


def normalise_group(group: str) -> str:
    """``"pet"`` → ``"PET"``, ``"Gene imaging"`` → ``"gene"``; unknown → :class:`CatalogError`.

    >>> normalise_group("Gene imaging"), normalise_group("spect")
    ('gene', 'SPECT')
    """
    hit = _GROUP_ALIASES.get(name_key(group))
    if hit is None:
        raise CatalogError(
            "tracer group",
            expected=f"one of {', '.join(GROUPS)}",
            actual=repr(group),
            fix="use SPECT, PET or gene for the review's Table 2 groups",
        )
    return hit


def nuclides() -> tuple[NuclideEntry, ...]:
    """Every catalogued radionuclide (roles, use, production, references)."""
    return catalog().nuclides


def nuclide(name: str) -> NuclideEntry:
    """The catalogue entry of one radionuclide (``"177Lu"``, ``"lu-177"`` ...)."""
    entries = {n.name: n for n in catalog().nuclides}
    index = {name_key(n): n for n in entries}
    return entries[resolve(normalise_name(name), index, "radionuclide", entries)]


def tracers(
    group: str | None = None, *, modality: str | None = None, nuclide: str | None = None
) -> tuple[Tracer, ...]:
    """Catalogued tracers, optionally of one Table-2 ``group``, ``modality`` or ``nuclide``."""
    out = catalog().tracers
    if group is not None:
        g = normalise_group(group)
        out = tuple(t for t in out if t.group == g)
    if modality is not None:
        out = tuple(t for t in out if t.modality.lower() == modality.lower())
    if nuclide is not None:
        wanted = normalise_name(nuclide)
        out = tuple(t for t in out if t.nuclide == wanted)
    return out


def tracer(name: str) -> Tracer:
    """One tracer by name or alias (``"Ga-68 DOTATATE"``, ``"NETSPOT"`` ...)."""
    c = catalog()
    canonical = resolve(name, c.tracer_index, "tracer", (t.name for t in c.tracers))
    return next(t for t in c.tracers if t.name == canonical)


def therapies(agent: str | None = None) -> tuple[Therapy, ...]:
    """The rows of the review's Table 3, optionally of one agent."""
    rows = catalog().therapies
    if agent is None:
        return rows
    key = name_key(tracer(agent).name)
    return tuple(r for r in rows if name_key(r.agent) == key)


def outcomes(agent: str | None = None) -> tuple[Outcome, ...]:
    """The response/survival figures of the review's section 3.4, optionally of one agent."""
    rows = catalog().outcomes
    if agent is None:
        return rows
    key = name_key(tracer(agent).name)
    return tuple(r for r in rows if name_key(r.agent) == key)


def regimens() -> tuple[Regimen, ...]:
    """Every catalogued PRRT regimen."""
    return catalog().regimens


def regimen(name: str) -> Regimen:
    """One regimen by id, name or alias (``"NETTER-1"``, ``"lu177-dotatate-netter1"``)."""
    c = catalog()
    rid = resolve(name, c.regimen_index, "regimen", (r.id for r in c.regimens))
    return next(r for r in c.regimens if r.id == rid)


def source(key: str) -> Source:
    """One bibliography entry by key (``"wang2013"``)."""
    c = catalog()
    index = {name_key(k): k for k in c.sources}
    return c.sources[resolve(key, index, "source", c.sources)]
