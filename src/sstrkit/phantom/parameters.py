"""The cited parameter file of the digital patient (``phantom/data/parameters.toml``).

Every value in the file is either a published value, with its source in the
file's ``[sources]`` table, or a model choice marked ``source = "model"`` and
explained in ``docs/phantom.md``. :func:`parameters` loads the file once.

Examples
--------
>>> p = parameters()
>>> p["reference_masses_g"]["liver"]["male"]
1800.0
>>> "icrp89" in p["sources"]
True
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "PARAMETER_FILE",
    "SCINTIGRAPHY_FILE",
    "parameters",
    "scintigraphy_parameters",
    "sources_of",
]

PARAMETER_FILE = "data/parameters.toml"
#: The SSTR scintigraphy parameters (``--sstr-imaging``), apart so that studies without
#: scintigraphy keep their ``truth.json`` source list.
SCINTIGRAPHY_FILE = "data/scintigraphy.toml"


@cache
def parameters() -> dict[str, Any]:
    """The parsed parameter file (cached; treat as read-only)."""
    text = resources.files("sstrkit.phantom").joinpath(PARAMETER_FILE).read_text("utf-8")
    return tomllib.loads(text)


@cache
def scintigraphy_parameters() -> dict[str, Any]:
    """The parsed SSTR scintigraphy parameter file (cached; treat as read-only).

    >>> scintigraphy_parameters()["tracers"]["111In-pentetreotide"]["nuclide"]
    'In-111'
    """
    text = resources.files("sstrkit.phantom").joinpath(SCINTIGRAPHY_FILE).read_text("utf-8")
    return tomllib.loads(text)


def sources_of(*sections: str) -> tuple[str, ...]:
    """Full citations of the sources named by the given sections' ``source`` keys.

    >>> sources_of("reference_masses_g")[0].startswith("ICRP Publication 89")
    True
    """
    p = parameters()
    out: list[str] = []
    for section in sections:
        text = str(p[section].get("source", ""))
        for key, citation in p["sources"].items():
            if key in text and citation not in out:
                out.append(citation)
    return tuple(out)
