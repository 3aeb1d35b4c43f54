"""Load and validate the catalogue TOML files into immutable entries.

The files live in ``sstrkit/catalog/data`` (shipped inside the package):
``sources.toml`` (bibliography), ``nuclides.toml``, ``tracers.toml``,
``therapies.toml`` and ``regimens.toml``. Every file carries
``schema_version`` and ``catalog_version``; all files must agree on the
catalogue version. Every entry must cite at least one key of
``sources.toml``; a missing or unknown reference, an unknown field value, a
nuclide missing from ICRP 107, or a tracer used by a regimen but not
catalogued is a :class:`~sstrkit.errors.CatalogError` naming the file, the
entry and the fix.

Examples
--------
>>> parse_dosage("162–200 mCi/m2")
(5994000000.0, 7400000000.0, True)
>>> parse_dosage("7,400 MBq")
(7400000000.0, 7400000000.0, False)
>>> parse_cycles("3–5 cycles"), parse_cycles("Once")
((3, 5), (1, 1))
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, cast

from sstrkit.catalog.model import (
    GROUPS,
    MODALITIES,
    PRODUCTION_ROUTES,
    RESPONSE_CATEGORIES,
    ROLES,
    SSTR_SUBTYPES,
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
from sstrkit.catalog.naming import name_key
from sstrkit.core.units import parse_quantity, to_unit
from sstrkit.errors import CatalogError, SstrkitError
from sstrkit.physics.nuclides import available_nuclides, normalise_name

__all__ = [
    "FILES",
    "SCHEMA_VERSION",
    "Catalog",
    "load_catalog",
    "parse_cycles",
    "parse_dosage",
]

SCHEMA_VERSION: Final = 1
FILES: Final = ("sources.toml", "nuclides.toml", "tracers.toml", "therapies.toml", "regimens.toml")
DOSAGE_SCOPES: Final = ("total", "per cycle", "single administration", "not stated")

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
_DOSAGE = re.compile(
    rf"^\s*(?P<lo>{_NUM})(?:\s*(?:–|-|to)\s*(?P<hi>{_NUM}))?\s*(?P<unit>[A-Za-zµμ]+)"
    r"(?P<m2>\s*/\s*m(?:2|²))?\s*$"
)
_CYCLES = re.compile(r"^\s*(?P<lo>\d+)(?:\s*(?:–|-|to)\s*(?P<hi>\d+))?\s*cycles?\s*$", re.I)


def parse_dosage(text: str) -> tuple[float, float, bool]:
    """``(min_bq, max_bq, per_m2)`` from a dosage such as ``"750 to 800 mCi"``.

    Thousands separators ("7,400 MBq") and en-dash/hyphen/"to" ranges are
    accepted; ``/m2`` marks a per-body-surface dosage.
    """
    m = _DOSAGE.match(text)
    if m is None:
        raise CatalogError(
            "dosage",
            expected="'<number>[–<number>] <activity unit>[/m2]', e.g. '7.4 GBq/m2'",
            actual=repr(text),
            fix="write the dosage as in the source table",
        )
    lo = float(m.group("lo").replace(",", ""))
    hi = float(m.group("hi").replace(",", "")) if m.group("hi") else lo
    unit = m.group("unit")
    try:
        lo_bq, hi_bq = to_unit(lo, unit, "activity"), to_unit(hi, unit, "activity")
    except SstrkitError as exc:
        raise CatalogError(
            "dosage unit",
            expected="an activity unit (Bq, MBq, GBq, mCi...)",
            actual=repr(text),
            fix=exc.one_line(),
        ) from None
    if hi_bq < lo_bq:
        raise CatalogError(
            "dosage",
            expected="a range written low to high",
            actual=repr(text),
            fix="swap the bounds",
        )
    return lo_bq, hi_bq, m.group("m2") is not None


def parse_cycles(text: str) -> tuple[int, int]:
    """``(min, max)`` number of cycles from ``"3–5 cycles"``, ``"4 cycles"`` or ``"Once"``."""
    if text.strip().lower() in {"once", "single", "1 cycle"}:
        return 1, 1
    m = _CYCLES.match(text)
    if m is None:
        raise CatalogError(
            "duration",
            expected="'<n> cycles', '<n>–<m> cycles' or 'Once'",
            actual=repr(text),
            fix="write the number of cycles as in the source table",
        )
    lo = int(m.group("lo"))
    return lo, int(m.group("hi")) if m.group("hi") else lo


@dataclass(frozen=True)
class Catalog:
    """The whole catalogue, validated. Built by :func:`load_catalog`."""

    version: str
    schema_version: int
    sources: Mapping[str, Source]
    nuclides: tuple[NuclideEntry, ...]
    tracers: tuple[Tracer, ...]
    therapies: tuple[Therapy, ...]
    outcomes: tuple[Outcome, ...]
    regimens: tuple[Regimen, ...]
    file_sha256: Mapping[str, str]
    tracer_index: Mapping[str, str]
    regimen_index: Mapping[str, str]

    def provenance(self) -> dict[str, Any]:
        """What a result that used the catalogue should record."""
        return {
            "catalog_version": self.version,
            "schema_version": self.schema_version,
            "files_sha256": dict(self.file_sha256),
        }


# ----------------------------------------------------------------------------- helpers
class _Entry:
    """Typed access to one TOML table with errors that name file and entry."""

    def __init__(self, file: str, label: str, data: Mapping[str, Any]) -> None:
        self.file, self.label, self.data = file, label, data

    def error(self, field: str, expected: str, actual: object, fix: str) -> CatalogError:
        return CatalogError(
            f"{self.file}: {self.label}, field '{field}'", expected=expected, actual=actual, fix=fix
        )

    def text(self, key: str, *, optional: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, "a non-empty string", repr(value), f'add {key} = "..."')
        return value

    def req(self, key: str) -> str:
        return cast(str, self.text(key))

    def strs(
        self, key: str, *, allowed: tuple[str, ...] | None = None, empty: bool = True
    ) -> tuple[str, ...]:
        value = self.data.get(key, [] if empty else None)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, "a list of strings", repr(value), f'write {key} = ["..."]')
        if not empty and not value:
            raise self.error(key, "at least one value", "[]", f"add a value to {key}")
        if allowed is not None:
            bad = [v for v in value if v not in allowed]
            if bad:
                raise self.error(key, f"values from {list(allowed)}", bad, "use a listed value")
        return tuple(value)

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.req(key)
        if value not in allowed:
            raise self.error(key, f"one of {list(allowed)}", repr(value), "use a listed value")
        return value

    def boolean(self, key: str) -> bool:
        value = self.data.get(key)
        if not isinstance(value, bool):
            raise self.error(key, "true or false", repr(value), f"add {key} = true|false")
        return value

    def integer(self, key: str, *, optional: bool = False) -> int | None:
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.error(key, "a positive integer", repr(value), f"add {key} = <n>")
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise self.error(key, "a number >= 0", repr(value), f"write {key} as a number")
        return float(value)

    def refs(self, sources: Mapping[str, Source]) -> tuple[str, ...]:
        refs = self.strs("refs", empty=False) if "refs" in self.data else None
        if not refs:
            raise self.error(
                "refs",
                "at least one literature reference (a key of sources.toml)",
                "none",
                'add refs = ["<key>"] citing where the entry comes from',
            )
        unknown = [r for r in refs if r not in sources]
        if unknown:
            raise self.error(
                "refs",
                f"keys of sources.toml {sorted(sources)}",
                unknown,
                "add the source to sources.toml or fix the key",
            )
        return refs

    def response(self, key: str, kind: Callable[[Any], bool]) -> dict[str, Any]:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(
                key, "a table {CR = .., PR = ..}", repr(value), "write an inline table"
            )
        for k, v in value.items():
            if k not in RESPONSE_CATEGORIES or not kind(v) or v < 0:
                raise self.error(
                    key,
                    f"categories {list(RESPONSE_CATEGORIES)} with values >= 0",
                    f"{k} = {v!r}",
                    "use CR, PR, MR, SD, PD",
                )
        return dict(value)


def _read(directory: Path | Traversable, name: str) -> tuple[dict[str, Any], str]:
    path = directory / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CatalogError(
            f"catalogue file {name}",
            expected="a file in the catalogue directory",
            actual="missing",
            fix=f"restore {name} (see docs/catalog.md)",
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"catalogue file {name}",
            expected="valid TOML",
            actual=str(exc),
            fix="fix the TOML syntax",
        ) from None
    return data, hashlib.sha256(raw).hexdigest()


def _check_versions(files: Mapping[str, dict[str, Any]]) -> str:
    versions = set()
    for name, data in files.items():
        if data.get("schema_version") != SCHEMA_VERSION:
            raise CatalogError(
                f"{name}: schema_version",
                expected=str(SCHEMA_VERSION),
                actual=data.get("schema_version"),
                fix="update the file or sstrkit to the same schema",
            )
        cv = data.get("catalog_version")
        if not isinstance(cv, str) or not cv:
            raise CatalogError(
                f"{name}: catalog_version",
                expected="a version string",
                actual=cv,
                fix='add catalog_version = "YYYY.N"',
            )
        versions.add(cv)
    if len(versions) != 1:
        raise CatalogError(
            "catalog_version",
            expected="the same version in every catalogue file",
            actual=sorted(versions),
            fix="bump catalog_version in all files together",
        )
    return versions.pop()


def _table_list(data: dict[str, Any], key: str, file: str) -> list[dict[str, Any]]:
    items = data.get(key)
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise CatalogError(
            f"{file}: [[{key}]]",
            expected="one or more entries",
            actual=items,
            fix=f"add [[{key}]] tables",
        )
    return items


def _unique(names: list[str], file: str, what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise CatalogError(
                f"{file}: {what} {n!r}",
                expected="unique names",
                actual="duplicate",
                fix="remove or rename the duplicate entry",
            )
        seen.add(n)


# ----------------------------------------------------------------------------- sections
def _sources(data: dict[str, Any]) -> dict[str, Source]:
    table = data.get("source")
    if not isinstance(table, dict) or not table:
        raise CatalogError(
            "sources.toml: [source.*]",
            expected="bibliography entries",
            actual=table,
            fix="add [source.<key>] tables with a citation",
        )
    out = {}
    for key, body in table.items():
        e = _Entry("sources.toml", f"source {key!r}", body if isinstance(body, dict) else {})
        out[key] = Source(
            key, e.req("citation"), e.text("doi", optional=True), e.text("note", optional=True)
        )
    return out


def _nuclides(data: dict[str, Any], sources: Mapping[str, Source]) -> tuple[NuclideEntry, ...]:
    known = set(available_nuclides())
    out = []
    for item in _table_list(data, "nuclide", "nuclides.toml"):
        e = _Entry("nuclides.toml", f"nuclide {item.get('name')!r}", item)
        name = e.req("name")
        if normalise_name(name) != name or name not in known:
            raise e.error(
                "name",
                "an ICRP-107 name written like 'Lu-177'",
                repr(name),
                f"use {normalise_name(name)!r} (must exist in ICRP 107)",
            )
        out.append(
            NuclideEntry(
                name=name,
                roles=e.strs("roles", allowed=ROLES, empty=False),
                use=e.req("use"),
                production=e.strs("production", allowed=PRODUCTION_ROUTES),
                production_note=e.text("production_note", optional=True),
                refs=e.refs(sources),
            )
        )
    _unique([n.name for n in out], "nuclides.toml", "nuclide")
    return tuple(out)


def _ic50(e: _Entry) -> tuple[Ic50, ...]:
    table = e.data.get("ic50_nm")
    if table is None:
        return ()
    if not isinstance(table, dict):
        raise e.error(
            "ic50_nm", 'an inline table {SSTR1 = "..", ...}', repr(table), "fix the table"
        )
    if e.text("ic50_compound", optional=True) is None or e.text("ic50_ref", optional=True) is None:
        raise e.error(
            "ic50_ref",
            "ic50_compound and ic50_ref next to ic50_nm",
            "missing",
            "name the measured compound and the source table of the IC50 values",
        )
    out = []
    for subtype, text in table.items():
        m = re.fullmatch(r"\s*(>)?\s*(\d+(?:\.\d+)?)\s*", text) if isinstance(text, str) else None
        if subtype not in SSTR_SUBTYPES or m is None:
            raise e.error(
                "ic50_nm",
                'SSTR1..SSTR5 = "<nM>" or ">" censored values',
                f"{subtype} = {text!r}",
                "quote the value as in the source table",
            )
        out.append(Ic50(subtype, float(m.group(2)), ">" if m.group(1) else "="))
    return tuple(sorted(out, key=lambda i: i.subtype))


def _tracers(
    data: dict[str, Any], sources: Mapping[str, Source], nuclides: tuple[NuclideEntry, ...]
) -> tuple[Tracer, ...]:
    catalogued = {n.name for n in nuclides}
    out = []
    for item in _table_list(data, "tracer", "tracers.toml"):
        e = _Entry("tracers.toml", f"tracer {item.get('name')!r}", item)
        nuclide = e.req("nuclide")
        if nuclide not in catalogued:
            raise e.error(
                "nuclide",
                f"a nuclide of nuclides.toml {sorted(catalogued)}",
                repr(nuclide),
                "add the nuclide to nuclides.toml first",
            )
        ic50 = _ic50(e)
        if ic50 and e.data.get("ic50_ref") not in sources:
            raise e.error(
                "ic50_ref",
                "a key of sources.toml",
                repr(e.data.get("ic50_ref")),
                "cite the source table of the IC50 values",
            )
        out.append(
            Tracer(
                name=e.req("name"),
                aliases=e.strs("aliases"),
                nuclide=nuclide,
                modality=e.choice("modality", MODALITIES),
                group=e.choice("group", GROUPS),
                table2=e.boolean("table2"),
                sstr_targeting=e.boolean("sstr_targeting"),
                peptide=e.req("peptide"),
                chelator=e.req("chelator"),
                affinity_profile=e.req("affinity_profile"),
                subtypes=e.strs("subtypes", allowed=SSTR_SUBTYPES),
                ic50=ic50,
                ic50_compound=e.text("ic50_compound", optional=True),
                ic50_ref=e.text("ic50_ref", optional=True),
                note=e.text("note", optional=True),
                refs=e.refs(sources),
            )
        )
    _unique([t.name for t in out], "tracers.toml", "tracer")
    return tuple(out)


def _agent_names(agent: str) -> list[str]:
    """``"90Y/177Lu-DOTATATE"`` → ``["90Y-DOTATATE", "177Lu-DOTATATE"]``."""
    m = re.fullmatch(r"(\d+m?[A-Za-z]{1,2})/(\d+m?[A-Za-z]{1,2})-(.+)", agent)
    return [f"{m.group(1)}-{m.group(3)}", f"{m.group(2)}-{m.group(3)}"] if m else [agent]


def _check_agent(e: _Entry, agent: str, tracer_index: Mapping[str, str]) -> None:
    for a in _agent_names(agent):
        if name_key(a) not in tracer_index:
            raise e.error(
                "agent", "a tracer of tracers.toml", repr(a), "add the agent to tracers.toml"
            )


def _therapies(
    data: dict[str, Any], sources: Mapping[str, Source], tracer_index: Mapping[str, str]
) -> tuple[tuple[Therapy, ...], tuple[Outcome, ...]]:
    therapies = []
    for item in _table_list(data, "therapy", "therapies.toml"):
        e = _Entry("therapies.toml", f"therapy {item.get('id')!r}", item)
        agent = e.req("agent")
        _check_agent(e, agent, tracer_index)
        dosage_text = e.req("dosage")
        try:
            lo, hi, per_m2 = parse_dosage(dosage_text)
            cmin, cmax = parse_cycles(e.req("duration"))
        except CatalogError as exc:
            raise e.error(exc.what, exc.expected or "", exc.actual, exc.fix or "") from None
        n = cast(int, e.integer("n_patients"))
        counts = e.response("response_counts", lambda v: isinstance(v, int))
        if sum(counts.values()) > n:
            raise e.error(
                "response_counts",
                f"at most n_patients = {n} patients in total",
                sum(counts.values()),
                "check the counts against the source",
            )
        therapies.append(
            Therapy(
                id=e.req("id"),
                agent=agent,
                subjects=e.req("subjects"),
                n_patients=n,
                dosage=Dosage(dosage_text, lo, hi, per_m2, e.choice("dosage_scope", DOSAGE_SCOPES)),
                duration=e.req("duration"),
                cycles_min=cmin,
                cycles_max=cmax,
                main_finding=e.req("main_finding"),
                pfs_months=e.number("pfs_months"),
                response_counts=MappingProxyType(counts),
                review_ref=e.req("review_ref"),
                primary=e.text("primary", optional=True),
                refs=e.refs(sources),
            )
        )
    outcomes = []
    for item in _table_list(data, "outcome", "therapies.toml"):
        e = _Entry("therapies.toml", f"outcome {item.get('id')!r}", item)
        agent = e.req("agent")
        _check_agent(e, agent, tracer_index)
        n_opt = e.integer("n_patients", optional=True)
        percent = e.response("response_percent", lambda v: isinstance(v, int | float))
        counts = e.response("response_counts", lambda v: isinstance(v, int))
        # Reported percentages are rounded to 0.1 %: allow 0.5 % over 100 % in total.
        if sum(percent.values()) > 100.5:
            raise e.error(
                "response_percent",
                "a total of at most 100 %",
                sum(percent.values()),
                "check the percentages against the source",
            )
        if counts and (n_opt is None or sum(counts.values()) > n_opt):
            raise e.error(
                "response_counts",
                "n_patients and counts that do not exceed it",
                f"n_patients={n_opt}, sum={sum(counts.values())}",
                "check the source",
            )
        qualifier = e.data.get("pfs_qualifier", "=")
        if qualifier not in ("=", ">"):
            raise e.error(
                "pfs_qualifier", "'=' or '>'", repr(qualifier), "use '>' for 'longer than'"
            )
        outcomes.append(
            Outcome(
                id=e.req("id"),
                agent=agent,
                cohort=e.req("cohort"),
                finding=e.req("finding"),
                review_ref=e.req("review_ref"),
                refs=e.refs(sources),
                n_patients=n_opt,
                dosage_text=e.text("dosage", optional=True),
                schedule=e.text("schedule", optional=True),
                response_percent=MappingProxyType({k: float(v) for k, v in percent.items()}),
                response_counts=MappingProxyType(counts),
                response_kind=e.text("response_kind", optional=True),
                reported_objective_response_percent=e.number("objective_response_percent"),
                pfs_months=e.number("pfs_months"),
                pfs_qualifier=cast(Literal["=", ">"], qualifier),
                os_months=e.number("os_months"),
                primary=e.text("primary", optional=True),
                note=e.text("note", optional=True),
            )
        )
    _unique([t.id for t in therapies] + [o.id for o in outcomes], "therapies.toml", "id")
    return tuple(therapies), tuple(outcomes)


def _interval(e: _Entry) -> tuple[float | None, float | None]:
    value = e.data.get("interval")
    try:
        if value is None:
            return None, None
        if isinstance(value, str):
            s = parse_quantity(value, "time")
            return s, s
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            lo, hi = (parse_quantity(v, "time") for v in value)
            if lo <= hi:
                return lo, hi
    except SstrkitError as exc:
        raise e.error("interval", "a time such as '8 weeks'", repr(value), exc.one_line()) from None
    raise e.error(
        "interval",
        "'8 weeks' or ['6 weeks', '10 weeks'] (min <= max)",
        repr(value),
        "write the interval as text quantities",
    )


def _regimens(
    data: dict[str, Any],
    sources: Mapping[str, Source],
    tracers: tuple[Tracer, ...],
    tracer_index: Mapping[str, str],
) -> tuple[Regimen, ...]:
    by_name = {t.name: t for t in tracers}
    out = []
    for item in _table_list(data, "regimen", "regimens.toml"):
        e = _Entry("regimens.toml", f"regimen {item.get('id')!r}", item)
        raw = item.get("components")
        if not isinstance(raw, list) or not raw or not all(isinstance(c, dict) for c in raw):
            raise e.error(
                "components",
                "a list of {agent, nuclide, activity, per_m2}",
                repr(raw),
                "add components = [{ ... }]",
            )
        components = []
        for c in raw:
            ce = _Entry("regimens.toml", f"regimen {item.get('id')!r} component", c)
            agent = ce.req("agent")
            _check_agent(ce, agent, tracer_index)
            tracer = by_name[tracer_index[name_key(agent)]]
            nuclide = ce.req("nuclide")
            if nuclide != tracer.nuclide:
                raise ce.error(
                    "nuclide",
                    f"{tracer.nuclide} (the nuclide of {tracer.name})",
                    repr(nuclide),
                    "make the component nuclide match the tracer",
                )
            text = ce.req("activity")
            try:
                bq = parse_quantity(text, "activity")
            except SstrkitError as exc:
                raise ce.error(
                    "activity", "an activity such as '7.4 GBq'", repr(text), exc.one_line()
                ) from None
            if not bq > 0:
                raise ce.error("activity", "an activity > 0", repr(text), "fix the activity")
            components.append(
                RegimenComponent(tracer.name, nuclide, text, bq, ce.boolean("per_m2"))
            )
        lo, hi = _interval(e)
        out.append(
            Regimen(
                id=e.req("id"),
                name=e.req("name"),
                aliases=e.strs("aliases"),
                schedule=cast(
                    Literal["same", "alternating"], e.choice("schedule", ("same", "alternating"))
                ),
                cycles=cast(int, e.integer("cycles")),
                interval_min_s=lo,
                interval_max_s=hi,
                components=tuple(components),
                note=e.text("note", optional=True),
                refs=e.refs(sources),
            )
        )
    _unique([r.id for r in out], "regimens.toml", "regimen")
    return tuple(out)


def _index(entries: list[tuple[str, tuple[str, ...]]], file: str) -> dict[str, str]:
    index: dict[str, str] = {}
    for canonical, names in entries:
        for n in names:
            key = name_key(n)
            if index.get(key, canonical) != canonical:
                raise CatalogError(
                    f"{file}: name {n!r}",
                    expected="names unique after normalisation",
                    actual=f"also used by {index[key]!r}",
                    fix="remove the clashing alias",
                )
            index[key] = canonical
    return index


def load_catalog(directory: str | Path | None = None) -> Catalog:
    """Read and validate the catalogue (the package's own files by default).

    Parameters
    ----------
    directory
        A folder holding the five TOML files (for testing or site-specific
        catalogues); ``None`` reads ``sstrkit/catalog/data``.

    Raises
    ------
    CatalogError
        If a file is missing or malformed or an entry fails validation.
    """
    base: Path | Traversable = (
        resources.files("sstrkit.catalog") / "data" if directory is None else Path(directory)
    )
    files: dict[str, dict[str, Any]] = {}
    sha: dict[str, str] = {}
    for name in FILES:
        files[name], sha[name] = _read(base, name)
    version = _check_versions(files)
    sources = _sources(files["sources.toml"])
    nuclides = _nuclides(files["nuclides.toml"], sources)
    tracers = _tracers(files["tracers.toml"], sources, nuclides)
    tracer_index = _index([(t.name, (t.name, *t.aliases)) for t in tracers], "tracers.toml")
    therapies, outcomes = _therapies(files["therapies.toml"], sources, tracer_index)
    regimens = _regimens(files["regimens.toml"], sources, tracers, tracer_index)
    regimen_index = _index([(r.id, (r.id, r.name, *r.aliases)) for r in regimens], "regimens.toml")
    return Catalog(
        version=version,
        schema_version=SCHEMA_VERSION,
        sources=MappingProxyType(sources),
        nuclides=nuclides,
        tracers=tracers,
        therapies=therapies,
        outcomes=outcomes,
        regimens=regimens,
        file_sha256=MappingProxyType(sha),
        tracer_index=MappingProxyType(tracer_index),
        regimen_index=MappingProxyType(regimen_index),
    )
