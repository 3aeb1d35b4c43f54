"""``sstrkit sirt``: SIRT (90Y microspheres) for liver metastases.

``sirt plan STUDY`` plans the activity from the 99mTc-MAA work-up
(:mod:`sstrkit.cli.sirt_plan`); ``sirt dose STUDY`` measures the absorbed doses from the
post-implant 90Y PET or bremsstrahlung SPECT and sums the normal-liver BED with PRRT
(:mod:`sstrkit.cli.sirt_dose`).
"""

from __future__ import annotations

import typer

from sstrkit.cli import sirt_dose, sirt_plan

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``sirt`` group to the root application."""
    group = typer.Typer(
        name="sirt",
        help="SIRT (90Y microspheres): MAA planning, post-implant dosimetry, liver BED.",
        no_args_is_help=True,
    )
    sirt_plan.register(group)
    sirt_dose.register(group)
    app.add_typer(group, name="sirt")
