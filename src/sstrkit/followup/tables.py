"""Response-rate tables in the form of the review's Table 3.

The review's Table 3 lists, per study, the therapeutic agent, subjects,
dosage, duration and main findings, e.g. for 177Lu-DOTATOC in 27 relapsed
NETs: "2 PR, 5 MR, 12 SD, and 8 PD". :class:`ResponseCounts` holds such
counts, derives rates with Wilson/Clopper–Pearson intervals (objective
response CR+PR, disease control CR+PR+MR+SD) and writes the findings text;
:func:`render_table` formats rows as Markdown or CSV.

Examples
--------
>>> c = ResponseCounts(pr=2, mr=5, sd=12, pd=8)
>>> c.findings()
'2 PR, 5 MR, 12 SD, and 8 PD'
>>> c.n, round(100 * c.rate("PR").value, 1)
(27, 7.4)
>>> c = ResponseCounts(pr=43, sd=9, pd=8)      # review 3.4: 43 of 60 (72 %) PR
>>> round(100 * c.rate("PR").value)
72
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sstrkit.errors import InvalidInputError
from sstrkit.followup.concordance import Proportion, proportion

__all__ = ["CATEGORIES", "ResponseCounts", "Table3Row", "render_table"]

CATEGORIES: Final = ("CR", "PR", "MR", "SD", "PD", "NE")
_ALIASES: Final = {"CMR": "CR", "PMR": "PR", "SMD": "SD", "PMD": "PD", "NON-CR/NON-PD": "SD"}


@dataclass(frozen=True)
class ResponseCounts:
    """Numbers of patients per best response."""

    cr: int = 0
    pr: int = 0
    mr: int = 0
    sd: int = 0
    pd: int = 0
    ne: int = 0

    def __post_init__(self) -> None:
        for k in ("cr", "pr", "mr", "sd", "pd", "ne"):
            v = getattr(self, k)
            if isinstance(v, bool) or int(v) != v or v < 0:
                raise InvalidInputError(f"count {k.upper()}", expected="an integer ≥ 0", actual=v)
        if self.n == 0:
            raise InvalidInputError("response counts", expected="at least one patient", actual=0)

    @classmethod
    def from_responses(cls, responses: Iterable[str]) -> ResponseCounts:
        """Count best responses (RECIST, PERCIST and MR labels; non-CR/non-PD counts as SD).

        >>> ResponseCounts.from_responses(["PR", "PMD", "SD", "MR"]).findings()
        '1 PR, 1 MR, 1 SD, and 1 PD'
        """
        counts = dict.fromkeys(CATEGORIES, 0)
        for r in responses:
            key = _ALIASES.get(r.upper(), r.upper())
            if key not in counts:
                raise InvalidInputError("response", expected=f"one of {CATEGORIES}", actual=repr(r))
            counts[key] += 1
        return cls(*(counts[c] for c in CATEGORIES))

    @property
    def n(self) -> int:
        return self.cr + self.pr + self.mr + self.sd + self.pd + self.ne

    def count(self, category: str) -> int:
        c = category.upper()
        if c == "ORR":
            return self.cr + self.pr
        if c == "DCR":
            return self.cr + self.pr + self.mr + self.sd
        if c not in CATEGORIES:
            raise InvalidInputError("category", expected=f"{CATEGORIES}, ORR or DCR", actual=c)
        return int(getattr(self, c.lower()))

    def rate(self, category: str, confidence: float = 0.95) -> Proportion:
        """Rate of a category (or ``"ORR"``, ``"DCR"``) among all patients, with CIs."""
        return proportion(self.count(category), self.n, confidence)

    def findings(self) -> str:
        """Counts in the review's words: ``'2 PR, 5 MR, 12 SD, and 8 PD'`` (zeros omitted)."""
        parts = [f"{self.count(c)} {c}" for c in CATEGORIES if self.count(c)]
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            return f"{parts[0]} and {parts[1]}"
        return ", ".join(parts[:-1]) + ", and " + parts[-1]

    def to_dict(self) -> dict[str, Any]:
        rates = {c: self.rate(c).to_dict() for c in (*CATEGORIES, "ORR", "DCR")}
        return {
            "n": self.n,
            "counts": {c: self.count(c) for c in CATEGORIES},
            "rates": rates,
            "findings": self.findings(),
        }


@dataclass(frozen=True)
class Table3Row:
    """One row of a Table-3-style summary."""

    agent: str
    subjects: str
    dosage: str
    duration: str
    counts: ResponseCounts | None = None
    findings: str | None = None
    reference: str = ""

    def main_findings(self) -> str:
        parts = [p for p in (self.counts.findings() if self.counts else None, self.findings) if p]
        return "; ".join(parts)


_HEADER: Final = (
    "Therapeutic agents",
    "Subjects",
    "Dosage",
    "Duration",
    "Main findings",
    "References",
)


def render_table(rows: Sequence[Table3Row], *, fmt: str = "markdown") -> str:
    """Render rows as a Markdown table or CSV with the review's Table 3 columns.

    >>> row = Table3Row("177Lu-DOTATOC", "27 relapse NETs", "7,400 MBq", "Once",
    ...                 ResponseCounts(pr=2, mr=5, sd=12, pd=8), reference="[62]")
    >>> print(render_table([row]).splitlines()[2])
    | 177Lu-DOTATOC | 27 relapse NETs | 7,400 MBq | Once | 2 PR, 5 MR, 12 SD, and 8 PD | [62] |
    """
    cells = [
        (r.agent, r.subjects, r.dosage, r.duration, r.main_findings(), r.reference) for r in rows
    ]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(_HEADER)
        w.writerows(cells)
        return buf.getvalue()
    if fmt != "markdown":
        raise InvalidInputError("table format", expected="'markdown' or 'csv'", actual=fmt)

    def line(vals: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in vals) + " |"

    return "\n".join([line(_HEADER), line(["---"] * len(_HEADER)), *(line(c) for c in cells)])
