"""Lesion-detection concordance between two scans or modalities.

A *reference* modality (e.g. pre-therapy 68Ga-DOTATATE PET) and a *test*
modality (e.g. post-therapy 177Lu-DOTATATE SPECT) are compared lesion by
lesion. With ``both`` lesions seen on both, ``ref_only`` only on the reference
and ``test_only`` only on the test scan:

* sensitivity = both / (both + ref_only)   (reference lesions = both + ref_only)
* PPV         = both / (both + test_only)
* accuracy    = (both + neither) / (both + ref_only + test_only + neither)
* specificity = neither / (neither + test_only), only when true negatives
  (``neither``, e.g. regions negative on both) are counted; without them
  specificity and NPV are undefined and reported as ``None``.

Each proportion carries a Wilson score interval (Wilson 1927, JASA 22:209)
and an exact Clopper–Pearson interval (Biometrika 1934;26:404). The paired
comparison of detection uses McNemar's test on the discordant counts (exact
binomial and continuity-corrected χ²). Lesions of one patient are not
independent, so the intervals are per-lesion and optimistic.

The review (section 3.4) reports for 177Lu-DOTATATE against 68Ga-DOTATATE:
318 lesions in 44 patients, 280 concordant, 29 only on 68Ga, 9 only on 177Lu,
giving sensitivity 91 %, accuracy 88 % and PPV 97 %:

>>> c = concordance(280, 29, 9)
>>> round(100 * c.sensitivity.value), round(100 * c.accuracy.value), round(100 * c.ppv.value)
(91, 88, 97)
>>> c.specificity is None
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from scipy import stats

from sstrkit.core.provenance import Step
from sstrkit.errors import InvalidInputError

__all__ = [
    "Concordance",
    "McNemar",
    "Proportion",
    "clopper_pearson_interval",
    "concordance",
    "concordance_from_sets",
    "mcnemar",
    "proportion",
    "wilson_interval",
]

SOURCES: Final = (
    "Wilson EB. J Am Stat Assoc 1927;22:209-212 (score interval)",
    "Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (exact interval)",
    "McNemar Q. Psychometrika 1947;12:153-157",
)


def _check_counts(k: int, n: int) -> None:
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n:
        raise InvalidInputError("counts", expected="integers", actual=(k, n))
    if n <= 0 or k < 0 or k > n:
        raise InvalidInputError("counts", expected="0 ≤ k ≤ n and n > 0", actual=(k, n))


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidInputError("confidence", expected="a level in (0, 1)", actual=confidence)
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials.

    >>> lo, hi = wilson_interval(0, 10)
    >>> round(lo, 12), round(hi, 4)
    (0.0, 0.2775)
    """
    _check_counts(k, n)
    z = _z(confidence)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval from beta quantiles.

    >>> lo, hi = clopper_pearson_interval(0, 10)
    >>> lo, round(hi, 4)                 # 1 − 0.025**(1/10)
    (0.0, 0.3085)
    """
    _check_counts(k, n)
    alpha = 1.0 - confidence
    _z(confidence)
    lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


@dataclass(frozen=True)
class Proportion:
    """k / n with Wilson and Clopper–Pearson intervals."""

    k: int
    n: int
    value: float
    wilson: tuple[float, float]
    exact: tuple[float, float]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "value": self.value,
            "wilson": list(self.wilson),
            "clopper_pearson": list(self.exact),
            "confidence": self.confidence,
        }


def proportion(k: int, n: int, confidence: float = 0.95) -> Proportion:
    """A :class:`Proportion` with both intervals."""
    _check_counts(k, n)
    return Proportion(
        int(k),
        int(n),
        k / n,
        wilson_interval(k, n, confidence),
        clopper_pearson_interval(k, n, confidence),
        confidence,
    )


@dataclass(frozen=True)
class McNemar:
    """McNemar test on discordant pairs b (reference only) and c (test only)."""

    b: int
    c: int
    statistic: float | None
    p_value_chi2: float | None
    p_value_exact: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref_only": self.b,
            "test_only": self.c,
            "chi2_continuity": self.statistic,
            "p_value_chi2": self.p_value_chi2,
            "p_value_exact": self.p_value_exact,
        }


def mcnemar(b: int, c: int) -> McNemar:
    """McNemar's test: χ² = (|b − c| − 1)² / (b + c) and the exact binomial p.

    >>> m = mcnemar(29, 9)
    >>> round(m.statistic, 4)            # (|29 − 9| − 1)² / 38 = 361 / 38
    9.5
    """
    if b < 0 or c < 0 or int(b) != b or int(c) != c:
        raise InvalidInputError("discordant counts", expected="integers ≥ 0", actual=(b, c))
    n = int(b + c)
    if n == 0:
        return McNemar(int(b), int(c), None, None, 1.0)
    stat = (abs(b - c) - 1.0) ** 2 / n if abs(b - c) >= 1 else 0.0
    p_chi = float(stats.chi2.sf(stat, 1))
    p_exact = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), n, 0.5)))
    return McNemar(int(b), int(c), stat, p_chi, p_exact)


@dataclass(frozen=True)
class Concordance:
    """Detection agreement of a test modality against a reference modality."""

    both: int
    ref_only: int
    test_only: int
    neither: int | None
    sensitivity: Proportion
    ppv: Proportion
    accuracy: Proportion
    specificity: Proportion | None
    npv: Proportion | None
    mcnemar: McNemar
    labels: tuple[str, str]
    history: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        props = {
            "sensitivity": self.sensitivity,
            "ppv": self.ppv,
            "accuracy": self.accuracy,
            "specificity": self.specificity,
            "npv": self.npv,
        }
        return {
            "reference": self.labels[0],
            "test": self.labels[1],
            "counts": {
                "both": self.both,
                "ref_only": self.ref_only,
                "test_only": self.test_only,
                "neither": self.neither,
                "reference_lesions": self.both + self.ref_only,
                "test_lesions": self.both + self.test_only,
                "total": self.both + self.ref_only + self.test_only + (self.neither or 0),
            },
            **{k: None if v is None else v.value for k, v in props.items()},
            "ci95": {
                k: None
                if v is None
                else {"wilson": list(v.wilson), "clopper_pearson": list(v.exact)}
                for k, v in props.items()
            },
            "confidence": self.sensitivity.confidence,
            "mcnemar": self.mcnemar.to_dict(),
            "history": [s.to_dict() for s in self.history],
        }


def concordance(
    both: int,
    ref_only: int,
    test_only: int,
    neither: int | None = None,
    *,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("reference", "test"),
) -> Concordance:
    """Sensitivity, PPV, accuracy (and specificity/NPV with ``neither``) with CIs.

    Raises
    ------
    InvalidInputError
        Negative or non-integer counts, or no reference/test lesion at all.
    """
    counts = {"both": both, "ref_only": ref_only, "test_only": test_only}
    if neither is not None:
        counts["neither"] = neither
    for name, v in counts.items():
        if isinstance(v, bool) or int(v) != v or v < 0:
            raise InvalidInputError(f"count {name}", expected="an integer ≥ 0", actual=v)
    if both + ref_only == 0 or both + test_only == 0:
        raise InvalidInputError(
            "lesion counts",
            expected="at least one lesion on each modality",
            actual=counts,
            fix="check the counts",
        )
    tn = 0 if neither is None else neither
    spec = npv = None
    if neither is not None:
        if tn + test_only > 0:
            spec = proportion(tn, tn + test_only, confidence)
        if tn + ref_only > 0:
            npv = proportion(tn, tn + ref_only, confidence)
    step = Step.make(
        "lesion_concordance",
        {**counts, "confidence": confidence, "reference": labels[0], "test": labels[1]},
        sources=SOURCES,
    )
    return Concordance(
        both=int(both),
        ref_only=int(ref_only),
        test_only=int(test_only),
        neither=None if neither is None else int(neither),
        sensitivity=proportion(both, both + ref_only, confidence),
        ppv=proportion(both, both + test_only, confidence),
        accuracy=proportion(both + tn, both + ref_only + test_only + tn, confidence),
        specificity=spec,
        npv=npv,
        mcnemar=mcnemar(ref_only, test_only),
        labels=labels,
        history=(step,),
    )


def concordance_from_sets(
    reference: Iterable[str],
    test: Iterable[str],
    *,
    universe: Iterable[str] | None = None,
    confidence: float = 0.95,
) -> Concordance:
    """Concordance from two sets of lesion (or region) identifiers.

    ``universe`` lists every assessed region; regions in it but on neither
    list become true negatives.

    >>> c = concordance_from_sets({"a", "b", "c"}, {"b", "c", "d"})
    >>> (c.both, c.ref_only, c.test_only)
    (2, 1, 1)
    """
    r, t = set(reference), set(test)
    neither = None
    if universe is not None:
        u = set(universe)
        extra = (r | t) - u
        if extra:
            raise InvalidInputError(
                "universe", expected="all listed lesions", actual=f"missing {sorted(extra)}"
            )
        neither = len(u - r - t)
    return concordance(len(r & t), len(r - t), len(t - r), neither, confidence=confidence)
