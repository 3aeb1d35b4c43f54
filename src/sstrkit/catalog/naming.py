"""Forgiving names for catalogue look-ups.

``name_key`` maps the many ways a radiopharmaceutical is written to one key:
case, spaces, hyphens and brackets are ignored, the nuclide may come first or
last ("Ga-68 DOTATATE", "68Ga-DOTATATE", "[68Ga]Ga-DOTA-TATE", "⁶⁸Ga-DOTATATE").

Examples
--------
>>> name_key("Ga-68 DOTATATE") == name_key("68Ga-DOTA-TATE") == name_key("[68Ga]Ga-DOTATATE")
True
>>> name_key("⁶⁸Ga-DOTATATE")
'68gadotatate'
>>> name_key("Lu177-DOTATATE") == name_key("177Lu-DOTATATE")
True
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from sstrkit.errors import CatalogError

__all__ = ["closest", "name_key", "resolve"]

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹ᵐ", "0123456789m")
# "[68Ga]Ga-DOTATATE" (consensus nomenclature) -> "68Ga-DOTATATE"
_BRACKETED = re.compile(r"^\[(\d{1,3}m?)([a-z]{1,2})\]\2(?=[\s\-_]|[a-z])", re.IGNORECASE)
# "Ga-68 DOTATATE" / "Lu177-DOTATATE" -> mass first
_ELEMENT_FIRST = re.compile(r"^([a-z]{1,2})[\s\-_]*(\d{1,3}m?)(?![\d])[\s\-_]+(.+)$", re.IGNORECASE)
_ELEMENT_FIRST_GLUED = re.compile(r"^([a-z]{1,2})(\d{1,3}m?)-(.+)$", re.IGNORECASE)
_DROP = re.compile(r"[\s\-_\[\]().,/'’]+")


def name_key(name: str) -> str:
    """Canonical comparison key of a radiopharmaceutical or regimen name."""
    text = name.translate(_SUPERSCRIPTS).strip()
    text = _BRACKETED.sub(lambda m: f"{m.group(1)}{m.group(2)}-", text)
    m = _ELEMENT_FIRST.match(text) or _ELEMENT_FIRST_GLUED.match(text)
    if m:
        text = f"{m.group(2)}{m.group(1)}-{m.group(3)}"
    return _DROP.sub("", text.lower())


def closest(query: str, index: Mapping[str, str], n: int = 4) -> list[str]:
    """Up to ``n`` canonical names whose keys are closest to ``query`` (difflib)."""
    keys = difflib.get_close_matches(name_key(query), list(index), n=3 * n, cutoff=0.4)
    out: list[str] = []
    for k in keys:
        if index[k] not in out:
            out.append(index[k])
    return out[:n]


def resolve(query: str, index: Mapping[str, str], what: str, valid: Iterable[str]) -> str:
    """The canonical name matching ``query`` or a :class:`CatalogError` with suggestions.

    ``index`` maps :func:`name_key` keys to canonical names; ``valid`` lists the
    canonical names (for the message when nothing is close).
    """
    hit = index.get(name_key(query))
    if hit is not None:
        return hit
    suggestions = closest(query, index)
    fix = (
        "did you mean " + ", ".join(suggestions) + "?"
        if suggestions
        else "use one of " + ", ".join(sorted(set(valid)))
    )
    raise CatalogError(
        what, expected=f"a {what} in the sstrkit catalogue", actual=repr(query), fix=fix
    )
