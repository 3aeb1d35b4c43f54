"""``sstrkit catalog ...``: the radiopharmaceutical catalogue (review Tables 1–3, regimens).

Commands: ``nuclides``, ``tracers [--group PET|SPECT|gene|therapy|comparator]``,
``therapies``, ``regimens`` (lists) and ``tracer NAME``, ``regimen NAME
[--bsa-m2]`` (single entries). ``--json`` prints one document with the
entries and the ``catalog_version``.
"""

from __future__ import annotations

from typing import Any

import typer

from sstrkit import catalog as cat
from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.core.units import SECONDS_PER_DAY, format_activity

_JSON = typer.Option(False, "--json", help="Print one JSON document.")


def _doc(kind: str, entries: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"catalog": kind, "catalog_version": cat.catalog_version(), "entries": entries, **extra}


def _weeks(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds / (7 * SECONDS_PER_DAY):g}"


def _interval(d: dict[str, Any]) -> str | None:
    lo, hi = _weeks(d["interval_min_s"]), _weeks(d["interval_max_s"])
    if lo is None:
        return None
    return f"{lo} wk" if lo == hi else f"{lo}–{hi} wk"


def _fmt(value: float | None, spec: str) -> str | None:
    return None if value is None else format(value, spec)


def _render_nuclides(doc: dict[str, Any]) -> None:
    rows = []
    for d in doc["entries"]:
        p = d["physics"]
        rows.append(
            (
                d["name"],
                ", ".join(d["roles"]),
                ", ".join(d["production"]) or None,
                f"{p['half_life_s'] / 3600:.4g}",
                _fmt(p["beta_minus_emax_mev"], ".4g"),
                _fmt(p["positron_fraction"] or None, ".3f"),
                _fmt(p["csda_range_water_mm"], ".3g"),
            )
        )
    console.print(
        table(
            f"Radionuclides (catalogue {doc['catalog_version']}; physics: ICRP 107)",
            (
                "nuclide",
                "roles",
                "production",
                "T½ (h)",
                "β⁻ Emax (MeV)",
                "β⁺/decay",
                "β range (mm)",
            ),
            rows,
        )
    )


def _render_tracers(doc: dict[str, Any]) -> None:
    rows = [
        (
            d["name"],
            d["group"],
            d["nuclide"],
            d["peptide"],
            d["chelator"],
            d["affinity_profile"],
            _ic50_text(d["ic50_nm"]),
        )
        for d in doc["entries"]
    ]
    console.print(
        table(
            f"Tracers (catalogue {doc['catalog_version']})",
            ("tracer", "group", "nuclide", "peptide", "chelator", "SSTR profile", "IC50 (nM)"),
            rows,
        )
    )


def _render_therapies(doc: dict[str, Any]) -> None:
    console.print(
        table(
            f"PRRT agents and efficacy (review Table 3; catalogue {doc['catalog_version']})",
            ("agent", "subjects", "dosage", "duration", "main findings", "ref"),
            [
                (
                    d["agent"],
                    d["subjects"],
                    d["dosage"]["text"],
                    d["duration"],
                    d["main_finding"],
                    d["review_ref"],
                )
                for d in doc["entries"]
            ],
        )
    )
    rows = []
    for o in doc["outcomes"]:
        rates = ", ".join(f"{k} {v:.3g} %" for k, v in o["response_rates_percent"].items())
        pfs = (
            None
            if o["pfs_months"] is None
            else (f"{'>' if o['pfs_qualifier'] == '>' else ''}{o['pfs_months']:g}")
        )
        rows.append(
            (
                o["agent"],
                o["n_patients"],
                rates or None,
                _fmt(o["objective_response_percent"], ".3g"),
                pfs,
                _fmt(o["os_months"], "g"),
                o["review_ref"],
            )
        )
    console.print(
        table(
            "Reported outcomes (review section 3.4)",
            ("agent", "n", "response", "ORR (%)", "PFS (mo)", "OS (mo)", "ref"),
            rows,
        )
    )


def _render_regimens(doc: dict[str, Any]) -> None:
    rows = []
    for d in doc["entries"]:
        comps = "; ".join(
            f"{c['agent']} {c['activity']}{'/m²' if c['per_m2'] else ''}" for c in d["components"]
        )
        rows.append(
            (d["id"], comps, d["schedule"], d["cycles"], _interval(d), ", ".join(d["refs"]))
        )
    console.print(
        table(
            f"PRRT regimens (catalogue {doc['catalog_version']})",
            ("regimen", "activity per administration", "schedule", "cycles", "interval", "refs"),
            rows,
        )
    )


def _ic50_text(ic50: list[dict[str, Any]]) -> str | None:
    return (
        ", ".join(
            f"{i['subtype']} {'>' if i['qualifier'] == '>' else ''}{i['value_nm']:g}" for i in ic50
        )
        or None
    )


def _render_tracer(doc: dict[str, Any]) -> None:
    d = doc["entry"]
    rows: list[tuple[str, object]] = []
    for key, value in d.items():
        if key == "ic50_nm":
            rows.append((key, _ic50_text(value)))
        elif isinstance(value, list):
            rows.append((key, ", ".join(value) or None))
        else:
            rows.append((key, value))
    rows.append(("references", " | ".join(doc["references"])))
    console.print(table(d["name"], ("field", "value"), rows))


def _render_regimen(doc: dict[str, Any]) -> None:
    d = doc["entry"]
    console.print(
        table(
            f"{d['name']} — interval {_interval(d) or 'not stated'}",
            ("cycle", "agent", "nuclide", "activity"),
            [
                (
                    a["cycle"],
                    a["agent"],
                    a["nuclide"],
                    None if a["activity_bq"] is None else format_activity(a["activity_bq"]),
                )
                for a in doc["administrations"]
            ],
        )
    )
    console.print(" | ".join(doc["references"]))


def register(app: typer.Typer) -> None:
    """Add the ``sstrkit catalog`` command group."""
    sub = typer.Typer(
        help="Radiopharmaceutical catalogue: nuclides, tracers, PRRT results and regimens.",
        no_args_is_help=True,
    )
    app.add_typer(sub, name="catalog")

    @sub.command("nuclides")
    @guarded
    def nuclides_cmd(as_json: bool = _JSON) -> None:
        """Radionuclides for SSTR imaging and PRRT, joined with their ICRP-107 data."""
        entries = [n.to_dict(with_physics=True) for n in cat.nuclides()]
        emit(_doc("nuclides", entries), as_json, _render_nuclides)

    @sub.command("tracers")
    @guarded
    def tracers_cmd(
        group: str | None = typer.Option(
            None, "--group", help="SPECT, PET or gene (review Table 2), therapy or comparator."
        ),
        as_json: bool = _JSON,
    ) -> None:
        """Tracers of the review's Table 2 plus PRRT ligands and non-SSTR comparators."""
        entries = [t.to_dict() for t in cat.tracers(group)]
        g = None if group is None else cat.normalise_group(group)
        emit(_doc("tracers", entries, group=g), as_json, _render_tracers)

    @sub.command("therapies")
    @guarded
    def therapies_cmd(as_json: bool = _JSON) -> None:
        """PRRT agents of the review's Table 3 and the outcomes of its section 3.4."""
        emit(
            _doc(
                "therapies",
                [t.to_dict() for t in cat.therapies()],
                outcomes=[o.to_dict() for o in cat.outcomes()],
            ),
            as_json,
            _render_therapies,
        )

    @sub.command("regimens")
    @guarded
    def regimens_cmd(as_json: bool = _JSON) -> None:
        """Standard PRRT schedules (activities, cycles, intervals) with their sources."""
        emit(_doc("regimens", [r.to_dict() for r in cat.regimens()]), as_json, _render_regimens)

    @sub.command("tracer")
    @guarded
    def tracer_cmd(
        name: str = typer.Argument(..., help="Tracer name or alias, e.g. 'Ga-68 DOTATATE'."),
        as_json: bool = _JSON,
    ) -> None:
        """One tracer with its full references."""
        t = cat.tracer(name)
        doc = {
            "catalog": "tracer",
            "catalog_version": cat.catalog_version(),
            "entry": t.to_dict(),
            "references": [cat.source(k).citation for k in t.refs],
        }
        emit(doc, as_json, _render_tracer)

    @sub.command("regimen")
    @guarded
    def regimen_cmd(
        name: str = typer.Argument(..., help="Regimen id, name or alias, e.g. NETTER-1."),
        bsa_m2: float | None = typer.Option(
            None, "--bsa-m2", help="Body-surface area (m²) for per-m² regimens."
        ),
        as_json: bool = _JSON,
    ) -> None:
        """One regimen expanded into its administrations (activities per cycle)."""
        r = cat.regimen(name)
        doc = {
            "catalog": "regimen",
            "catalog_version": cat.catalog_version(),
            "entry": r.to_dict(),
            "bsa_m2": bsa_m2,
            "administrations": [a.to_dict() for a in r.administrations(bsa_m2)],
            "total_activity_bq": r.total_activity_bq(bsa_m2=bsa_m2),
            "references": [cat.source(k).citation for k in r.refs],
        }
        emit(doc, as_json, _render_regimen)
