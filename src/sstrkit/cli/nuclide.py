"""``sstrkit nuclide NAME``: ICRP-107 data of one radionuclide."""

from __future__ import annotations

from typing import Any

import typer

from sstrkit.cli.output import console, emit, guarded, table
from sstrkit.physics.nuclides import get_nuclide


def _fmt(value: Any, spec: str = ".4g") -> str:
    return "—" if value is None else format(value, spec)


def _render(d: dict[str, Any]) -> None:
    hl = d["half_life_s"]
    rows = [
        ("half-life", f"{hl / 86400:.4g} d ({hl / 3600:.5g} h, {hl:.6g} s)"),
        (
            "β⁻ end point / mean per decay (MeV)",
            f"{_fmt(d['beta_minus_emax_mev'])} / {_fmt(d['beta_minus_mean_mev'])}",
        ),
        (
            "β⁺ end point / mean per decay (MeV)",
            f"{_fmt(d['beta_plus_emax_mev'])} / {_fmt(d['beta_plus_mean_mev'])}",
        ),
        ("positron fraction", _fmt(d["positron_fraction"])),
        ("mean electron energy per decay (MeV)", _fmt(d["delta_electrons_mev"])),
        ("mean photon energy per decay (MeV)", _fmt(d["delta_photons_mev"])),
        ("CSDA range in water of max-energy β (mm)", _fmt(d["csda_range_water_mm"], ".3g")),
        (
            "γ lines ≥ 1 % (keV: yield)",
            ", ".join(f"{g['energy_kev']:.1f}: {g['yield']:.3f}" for g in d["gammas"]) or "—",
        ),
        ("β end-point source", d["emax_source"] or "—"),
        ("data", d["data_source"]),
    ]
    console.print(table(d["name"], ("quantity", "value"), rows))


def register(app: typer.Typer) -> None:
    """Add ``sstrkit nuclide``."""

    @app.command("nuclide")
    @guarded
    def nuclide(
        name: str = typer.Argument(..., help="Radionuclide, e.g. Lu-177, 177Lu, Y90, Ga-68."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    ) -> None:
        """Half-life, emissions, β end points, ranges and γ lines from ICRP 107."""
        emit(get_nuclide(name).to_dict(), as_json, _render)
