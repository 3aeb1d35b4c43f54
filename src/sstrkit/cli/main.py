"""``sstrkit`` command line: a thin typer layer over the library.

Each command group lives in its own module in this package and is registered
below. Every command accepts ``--json`` and then prints one JSON document.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from sstrkit import __version__
from sstrkit.cli import (
    catalog,
    cohort,
    demo,
    dicom,
    dose,
    followup,
    kinetics,
    nuclide,
    pacs,
    phantom,
    preclinical,
    reading,
    registry,
    segment,
    sirt,
    study,
    voxel,
    web,
)

#: click's exception base (typer vendors click in recent versions): found through the MRO of
#: the public ``typer.BadParameter`` so that no private module is imported.
_CLICK_EXCEPTION: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


class _Group(TyperGroup):
    """The root group: command-line usage errors answered like every other bad input.

    One line on stderr (``error: …``), exit status 2 and, with ``--json`` among the
    arguments, the JSON error document on stdout — instead of click's multi-line box.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        argv = list(kwargs.pop("args", None) or (args[0] if args else None) or sys.argv[1:])
        args = args[1:]
        try:
            rv = super().main(argv, *args, **{**kwargs, "standalone_mode": False})
        except _CLICK_EXCEPTION as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # type: ignore[attr-defined]
                sys.exit(0)
            message = " ".join(str(exc.format_message()).split()).rstrip(".")  # type: ignore[attr-defined]
            ctx = getattr(exc, "ctx", None)
            path = getattr(ctx, "command_path", None) or "sstrkit"
            fix = f"see '{path} --help'"
            sys.stderr.write(f"error: command line: {message}. Fix: {fix}\n")
            if "--json" in argv:
                doc = {
                    "error": {
                        "what": "command line",
                        "expected": "valid options and arguments",
                        "actual": message,
                        "fix": fix,
                        "type": type(exc).__name__,
                        "message": f"command line: {message}. Fix: {fix}",
                        "exit_code": 2,
                    }
                }
                sys.stdout.write(json.dumps(doc, indent=2) + "\n")
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_Group,
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
    segment,
    reading,
    kinetics,
    dose,
    voxel,
    sirt,
    followup,
    preclinical,
    demo,
    registry,
    cohort,
    pacs,
    web,
):
    _group.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
