"""``sstrkit`` command line: a thin typer layer over the library.

Each command group lives in its own module in this package and is registered
below. Every command accepts ``--json`` and then prints one JSON document.
"""

from __future__ import annotations

import typer

from sstrkit import __version__
from sstrkit.cli import (
    catalog,
    demo,
    dicom,
    dose,
    followup,
    kinetics,
    nuclide,
    phantom,
    preclinical,
    reading,
    study,
    voxel,
)

app = typer.Typer(
    name="sstrkit",
    help="SSTR theranostics: quantify SSTR PET/SPECT, plan and dose PRRT, follow up, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sstrkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """sstrkit: somatostatin-receptor theranostics toolkit."""


# One module per command group, in workflow order.
# ``voxel`` adds commands to the ``dose`` group, so it comes after ``dose``.
for _group in (
    nuclide,
    catalog,
    dicom,
    study,
    phantom,
    reading,
    kinetics,
    dose,
    voxel,
    followup,
    preclinical,
    demo,
):
    _group.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
