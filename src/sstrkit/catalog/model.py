"""Immutable catalogue entries: nuclides, tracers, Table-3 therapies, outcomes, regimens.

Entries are built by :mod:`sstrkit.catalog.loader` from the TOML files in
``sstrkit/catalog/data``; they hold no physical data. Physical data of a
nuclide come from ICRP 107 through :func:`sstrkit.physics.nuclides.get_nuclide`
(:meth:`NuclideEntry.physics`). Activities are stored in Bq, times in s.

Examples
--------
>>> c = RegimenComponent("177Lu-DOTATATE", "Lu-177", "7.4 GBq", 7.4e9, per_m2=False)
>>> r = Regimen("demo", "demo", (), "same", 2, None, None, (c,), None, ("strosberg2017",))
>>> [a.activity_bq for a in r.administrations()]
[7400000000.0, 7400000000.0]
>>> r.total_activity_bq()
14800000000.0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

from sstrkit.errors import InvalidInputError
from sstrkit.physics.nuclides import Nuclide, get_nuclide

__all__ = [
    "GROUPS",
    "MODALITIES",
    "PRODUCTION_ROUTES",
    "RESPONSE_CATEGORIES",
    "ROLES",
    "SSTR_SUBTYPES",
    "Administration",
    "Dosage",
    "Ic50",
    "NuclideEntry",
    "Outcome",
    "Regimen",
    "RegimenComponent",
    "Source",
    "Therapy",
    "Tracer",
]

ROLES: Final = ("PET imaging", "SPECT imaging", "therapy", "impurity")
PRODUCTION_ROUTES: Final = ("generator", "cyclotron", "reactor")
GROUPS: Final = ("SPECT", "PET", "gene", "therapy", "comparator")
MODALITIES: Final = ("SPECT", "PET", "therapy")
SSTR_SUBTYPES: Final = ("SSTR1", "SSTR2", "SSTR3", "SSTR4", "SSTR5")
RESPONSE_CATEGORIES: Final = ("CR", "PR", "MR", "SD", "PD")


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Source:
    """One bibliography entry of ``sources.toml``."""

    key: str
    citation: str
    doi: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"key": self.key, "citation": self.citation, "doi": self.doi, "note": self.note}


@dataclass(frozen=True)
class NuclideEntry:
    """A radionuclide's role in SSTR theranostics (no physical data: see :meth:`physics`)."""

    name: str
    roles: tuple[str, ...]
    use: str
    production: tuple[str, ...]
    production_note: str | None
    refs: tuple[str, ...]

    def physics(self) -> Nuclide:
        """ICRP-107 data of this nuclide (:func:`sstrkit.physics.nuclides.get_nuclide`)."""
        return get_nuclide(self.name)

    def to_dict(self, *, with_physics: bool = False) -> dict[str, Any]:
        """JSON-able form; ``with_physics`` adds the ICRP-107 values under ``"physics"``."""
        d: dict[str, Any] = {
            "name": self.name,
            "roles": list(self.roles),
            "use": self.use,
            "production": list(self.production),
            "production_note": self.production_note,
            "refs": list(self.refs),
        }
        if with_physics:
            d["physics"] = self.physics().to_dict()
        return d


@dataclass(frozen=True)
class Ic50:
    """Half-maximal inhibitory concentration at one SSTR subtype (nM).

    ``qualifier`` is ``">"`` for a censored value (no displacement up to that
    concentration), ``"="`` for a measured mean.

    >>> Ic50("SSTR2", 0.2, "=").text, Ic50("SSTR1", 10000.0, ">").text
    ('0.2', '>10000')
    """

    subtype: str
    value_nm: float
    qualifier: Literal["=", ">"]

    @property
    def text(self) -> str:
        """The value as written in the source table."""
        number = f"{self.value_nm:g}"
        return number if self.qualifier == "=" else f">{number}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"subtype": self.subtype, "value_nm": self.value_nm, "qualifier": self.qualifier}


@dataclass(frozen=True)
class Tracer:
    """A radiolabelled ligand: imaging tracer (Table 2), PRRT agent or non-SSTR comparator."""

    name: str
    aliases: tuple[str, ...]
    nuclide: str
    modality: str
    group: str
    table2: bool
    sstr_targeting: bool
    peptide: str
    chelator: str
    affinity_profile: str
    subtypes: tuple[str, ...]
    ic50: tuple[Ic50, ...]
    ic50_compound: str | None
    ic50_ref: str | None
    note: str | None
    refs: tuple[str, ...]

    def ic50_nm(self, subtype: str) -> Ic50 | None:
        """The IC50 record for ``subtype`` (``"SSTR2"``), or None if not catalogued."""
        return next((i for i in self.ic50 if i.subtype == subtype.upper()), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "nuclide": self.nuclide,
            "modality": self.modality,
            "group": self.group,
            "table2": self.table2,
            "sstr_targeting": self.sstr_targeting,
            "peptide": self.peptide,
            "chelator": self.chelator,
            "affinity_profile": self.affinity_profile,
            "subtypes": list(self.subtypes),
            "ic50_compound": self.ic50_compound,
            "ic50_nm": [i.to_dict() for i in self.ic50],
            "ic50_ref": self.ic50_ref,
            "note": self.note,
            "refs": list(self.refs),
        }


@dataclass(frozen=True)
class Dosage:
    """An administered-activity statement parsed from text ("162–200 mCi/m2").

    ``min_bq``/``max_bq`` are equal for a single value; with ``per_m2`` they are
    Bq per m² of body surface. ``scope`` is ``"total"``, ``"per cycle"``,
    ``"single administration"`` or ``"not stated"``.
    """

    text: str
    min_bq: float
    max_bq: float
    per_m2: bool
    scope: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "text": self.text,
            "min_bq": self.min_bq,
            "max_bq": self.max_bq,
            "per_m2": self.per_m2,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Therapy:
    """One row of the review's Table 3 (PRRT agent and efficacy), text verbatim."""

    id: str
    agent: str
    subjects: str
    n_patients: int
    dosage: Dosage
    duration: str
    cycles_min: int
    cycles_max: int
    main_finding: str
    pfs_months: float | None
    response_counts: Mapping[str, int]
    review_ref: str
    primary: str | None
    refs: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "id": self.id,
            "agent": self.agent,
            "subjects": self.subjects,
            "n_patients": self.n_patients,
            "dosage": self.dosage.to_dict(),
            "duration": self.duration,
            "cycles_min": self.cycles_min,
            "cycles_max": self.cycles_max,
            "main_finding": self.main_finding,
            "pfs_months": self.pfs_months,
            "response_counts": dict(self.response_counts),
            "review_ref": self.review_ref,
            "primary": self.primary,
            "refs": list(self.refs),
        }


@dataclass(frozen=True)
class Outcome:
    """Response and survival figures of one study as the review states them (section 3.4)."""

    id: str
    agent: str
    cohort: str
    finding: str
    review_ref: str
    refs: tuple[str, ...]
    n_patients: int | None = None
    dosage_text: str | None = None
    schedule: str | None = None
    response_percent: Mapping[str, float] = field(default_factory=_empty)
    response_counts: Mapping[str, int] = field(default_factory=_empty)
    response_kind: str | None = None
    reported_objective_response_percent: float | None = None
    pfs_months: float | None = None
    pfs_qualifier: Literal["=", ">"] = "="
    os_months: float | None = None
    primary: str | None = None
    note: str | None = None

    def response_rates_percent(self) -> dict[str, float]:
        """Percent of patients per response category (CR, PR, MR, SD, PD) where known.

        Reported percentages are returned as given; counts are divided by the
        number of patients.

        >>> o = Outcome("x", "a", "c", "f", "[1]", ("wang2013",), n_patients=4,
        ...             response_counts=MappingProxyType({"PR": 1, "SD": 3}))
        >>> o.response_rates_percent()
        {'PR': 25.0, 'SD': 75.0}
        """
        if self.response_percent:
            return {k: float(v) for k, v in self.response_percent.items()}
        if self.response_counts and self.n_patients:
            return {k: 100.0 * v / self.n_patients for k, v in self.response_counts.items()}
        return {}

    @property
    def objective_response_percent(self) -> float | None:
        """CR + PR in percent (as reported if the review states it directly).

        None when the categories are not tumour responses (``response_kind``
        such as "clinical response at six months").
        """
        if self.reported_objective_response_percent is not None:
            return self.reported_objective_response_percent
        if self.response_kind is not None and not self.response_kind.startswith("tumour"):
            return None
        rates = self.response_rates_percent()
        if "CR" not in rates and "PR" not in rates:
            return None
        return rates.get("CR", 0.0) + rates.get("PR", 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (with the derived response rates)."""
        return {
            "id": self.id,
            "agent": self.agent,
            "cohort": self.cohort,
            "n_patients": self.n_patients,
            "dosage": self.dosage_text,
            "schedule": self.schedule,
            "response_percent": dict(self.response_percent),
            "response_counts": dict(self.response_counts),
            "response_kind": self.response_kind,
            "response_rates_percent": self.response_rates_percent(),
            "objective_response_percent": self.objective_response_percent,
            "pfs_months": self.pfs_months,
            "pfs_qualifier": self.pfs_qualifier,
            "os_months": self.os_months,
            "finding": self.finding,
            "review_ref": self.review_ref,
            "primary": self.primary,
            "note": self.note,
            "refs": list(self.refs),
        }


@dataclass(frozen=True)
class RegimenComponent:
    """One radiopharmaceutical of a regimen and its activity per administration (Bq)."""

    agent: str
    nuclide: str
    activity_text: str
    activity_bq: float
    per_m2: bool

    def activity_for(self, bsa_m2: float | None) -> float:
        """Activity (Bq) for a patient of body-surface area ``bsa_m2`` (m²)."""
        if not self.per_m2:
            return self.activity_bq
        if bsa_m2 is None or not bsa_m2 > 0:
            raise InvalidInputError(
                f"body-surface area for {self.agent} ({self.activity_text}/m²)",
                expected="a body-surface area > 0 m²",
                actual=bsa_m2,
                fix="pass bsa_m2 (e.g. 1.8) for a per-m² regimen",
            )
        return self.activity_bq * float(bsa_m2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "agent": self.agent,
            "nuclide": self.nuclide,
            "activity": self.activity_text,
            "activity_bq": self.activity_bq,
            "per_m2": self.per_m2,
        }


@dataclass(frozen=True)
class Administration:
    """One planned administration of a regimen (cycle numbered from 1)."""

    cycle: int
    agent: str
    nuclide: str
    activity_bq: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "cycle": self.cycle,
            "agent": self.agent,
            "nuclide": self.nuclide,
            "activity_bq": self.activity_bq,
        }


@dataclass(frozen=True)
class Regimen:
    """A PRRT treatment schedule.

    ``schedule`` ``"same"``: every cycle gives every component;
    ``"alternating"``: cycle *i* (from 0) gives component *i* mod *n*.
    ``interval_min_s``/``interval_max_s`` are None where the source does not
    state the interval, equal where it gives one value.
    """

    id: str
    name: str
    aliases: tuple[str, ...]
    schedule: Literal["same", "alternating"]
    cycles: int
    interval_min_s: float | None
    interval_max_s: float | None
    components: tuple[RegimenComponent, ...]
    note: str | None
    refs: tuple[str, ...]

    @property
    def per_m2(self) -> bool:
        """True if any component is dosed per m² of body surface."""
        return any(c.per_m2 for c in self.components)

    def administrations(self, bsa_m2: float | None = None) -> tuple[Administration, ...]:
        """Every administration of the regimen, in order (activities in Bq)."""
        out: list[Administration] = []
        for i in range(self.cycles):
            given = (
                self.components
                if self.schedule == "same"
                else (self.components[i % len(self.components)],)
            )
            out.extend(
                Administration(i + 1, c.agent, c.nuclide, c.activity_for(bsa_m2)) for c in given
            )
        return tuple(out)

    def total_activity_bq(self, nuclide: str | None = None, bsa_m2: float | None = None) -> float:
        """Cumulative activity (Bq), optionally of one nuclide only (``"Y-90"``)."""
        return float(
            sum(
                a.activity_bq
                for a in self.administrations(bsa_m2)
                if nuclide is None or a.nuclide == nuclide
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "id": self.id,
            "name": self.name,
            "aliases": list(self.aliases),
            "schedule": self.schedule,
            "cycles": self.cycles,
            "per_m2": self.per_m2,
            "interval_min_s": self.interval_min_s,
            "interval_max_s": self.interval_max_s,
            "components": [c.to_dict() for c in self.components],
            "note": self.note,
            "refs": list(self.refs),
        }
