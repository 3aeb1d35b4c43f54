"""Ex-vivo biodistribution: gamma-counter tubes → %ID/g per animal and per group.

Every gamma-counter tube is a :class:`Tube` of kind ``"tissue"``, ``"standard"``
or ``"background"``. Count rates are ``counts / count_time_s`` (counts per
second); the mean background rate is subtracted from every other tube; each
tube's net rate is decay corrected from the moment it was counted.

Two ways to relate count rates to injected activity (the *standards*):

``dilution`` — standards are a known fraction ``id_fraction`` of one injected
    dose (an aliquot of the injectate diluted like the doses, e.g. 1 %ID).
    With all net rates decay corrected to a common time t_c (the first
    standard's counting time)::

        R_ID = mean over standards of  r_std · e^(λ(t_std − t_c)) / f
        %ID  = 100 · r_tissue · e^(λ(t_tissue − t_c)) / R_ID

    Standards and tissues decay alike, so this equals the %ID decay corrected to
    the injection, and the injection time cancels. Every animal is assumed to
    have received the dose the standards were drawn from.

``calibrated`` — each standard's activity ``activity_bq`` was measured (dose
    calibrator) at ``activity_time``. The counter efficiency (cps per Bq) is::

        ε = mean over standards of  r_std · e^(λ(t_std − t_activity)) / A_std

    and each tissue's activity at the animal's injection time is
    A = r_tissue · e^(λ(t_tissue − t_inj)) / ε, so %ID = 100·A / A_inj with the
    animal's own net injected activity A_inj. The injection time and activity
    are required.

Then %ID/g = %ID / tissue wet weight (g). Summaries per (group, time point,
tissue) give n, mean, SD, SEM, median, range and a t-based 95 % confidence
interval of the mean. Not modelled: counter dead time (keep standards in the
linear range of the counter), spill-over between energy windows, tissue
self-absorption differences between tubes of very different volume.

Examples
--------
>>> import datetime as dt
>>> t = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)
>>> tubes = [Tube("bg", "background", 120, 60, t),
...          Tube("s1", "standard", 60120, 60, t, id_fraction=0.01),
...          Tube("k1", "tissue", 12120, 60, t, animal="m1", tissue="kidney", weight_g=0.2)]
>>> bd = biodistribution(tubes, [Animal("m1", "A", 1.0)], half_life=242326.08)
>>> round(bd.samples[0].pct_id, 6), round(bd.samples[0].pct_id_per_g, 6)   # 200/1000 % → /0.2 g
(0.2, 1.0)
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import stats

from sstrkit.core.provenance import Step
from sstrkit.core.units import BQ_PER_MBQ
from sstrkit.errors import InvalidInputError
from sstrkit.physics.decay import HalfLife, decay_constant, elapsed_s, half_life_of
from sstrkit.preclinical.times import parse_time, require_aware

__all__ = [
    "Animal",
    "Biodistribution",
    "GroupSummary",
    "TissueSample",
    "Tube",
    "biodistribution",
    "read_animals_csv",
    "read_counts_csv",
    "summarise",
]

TubeKind = Literal["tissue", "standard", "background"]
StandardMode = Literal["dilution", "calibrated"]

#: Relative spread (CV) of the standards above which a warning is recorded.
STANDARD_CV_WARNING = 0.05


def _finite(what: str, value: float | None, unit: str, *, positive: bool = True) -> float:
    if value is None:
        raise InvalidInputError(what, expected=f"a value in {unit}", actual="missing")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (not positive and v < 0):
        bound = "> 0" if positive else "≥ 0"
        raise InvalidInputError(what, expected=f"a finite value {bound} {unit}", actual=value)
    return v


def _aware(what: str, t: _dt.datetime | None, fix: str) -> _dt.datetime:
    return require_aware(
        what,
        t,
        missing_fix=fix,
        naive_fix="write times with their UTC offset (2026-03-02T09:00+01:00) or pass a "
        "default time zone (CLI --timezone)",
    )


@dataclass(frozen=True)
class Tube:
    """One gamma-counter measurement (internal units: counts, s, g, Bq)."""

    tube_id: str
    kind: TubeKind
    counts: float
    count_time_s: float
    measured_at: _dt.datetime
    animal: str | None = None
    tissue: str | None = None
    weight_g: float | None = None
    id_fraction: float | None = None
    activity_bq: float | None = None
    activity_time: _dt.datetime | None = None

    def __post_init__(self) -> None:
        label = f"tube {self.tube_id!r}"
        if self.kind not in ("tissue", "standard", "background"):
            raise InvalidInputError(
                f"kind of {label}", expected="tissue, standard or background", actual=self.kind
            )
        _finite(f"counts of {label}", self.counts, "counts", positive=False)
        _finite(f"count time of {label}", self.count_time_s, "s")
        _aware(f"counting time of {label}", self.measured_at, "give measured_at")
        if self.kind == "tissue":
            if not self.animal or not self.tissue:
                raise InvalidInputError(
                    label, expected="an animal and a tissue name", actual=(self.animal, self.tissue)
                )
            if self.weight_g is None or not (math.isfinite(self.weight_g) and self.weight_g > 0):
                raise InvalidInputError(
                    f"tissue weight of {label} ({self.animal}, {self.tissue})",
                    expected="a wet weight > 0 g",
                    actual="missing" if self.weight_g is None else f"{self.weight_g} g",
                    fix="weigh the sample (net of the tube tare) or remove the row",
                )

    @property
    def rate_cps(self) -> float:
        return self.counts / self.count_time_s


@dataclass(frozen=True)
class Animal:
    """One animal: group, nominal time point and (for calibrated standards) its injection."""

    animal_id: str
    group: str
    time_point_h: float
    injection_time: _dt.datetime | None = None
    injected_activity_bq: float | None = None
    body_mass_g: float | None = None

    def __post_init__(self) -> None:
        _finite(f"time point of animal {self.animal_id!r}", self.time_point_h, "h", positive=False)
        if self.injection_time is not None:
            _aware(f"injection time of animal {self.animal_id!r}", self.injection_time, "")
        if self.injected_activity_bq is not None:
            _finite(
                f"injected activity of animal {self.animal_id!r}", self.injected_activity_bq, "Bq"
            )
        if self.body_mass_g is not None:
            _finite(f"body mass of animal {self.animal_id!r}", self.body_mass_g, "g")


@dataclass(frozen=True)
class TissueSample:
    """%ID and %ID/g of one tissue tube."""

    tube_id: str
    animal: str
    group: str
    time_point_h: float
    tissue: str
    weight_g: float
    net_cps: float
    pct_id: float
    below_background: bool

    @property
    def pct_id_per_g(self) -> float:
        return self.pct_id / self.weight_g

    def to_dict(self) -> dict[str, Any]:
        return {
            "tube": self.tube_id,
            "animal": self.animal,
            "group": self.group,
            "time_point_h": self.time_point_h,
            "tissue": self.tissue,
            "weight_g": self.weight_g,
            "net_cps": self.net_cps,
            "pct_id": self.pct_id,
            "pct_id_per_g": self.pct_id_per_g,
            "below_background": self.below_background,
        }


@dataclass(frozen=True)
class GroupSummary:
    """Summary statistics of one quantity for one (group, time point, tissue)."""

    group: str
    time_point_h: float
    tissue: str
    n: int
    mean: float
    sd: float | None
    sem: float | None
    median: float
    minimum: float
    maximum: float
    ci95_low: float | None
    ci95_high: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "time_point_h": self.time_point_h,
            "tissue": self.tissue,
            "n": self.n,
            "mean": self.mean,
            "sd": self.sd,
            "sem": self.sem,
            "median": self.median,
            "min": self.minimum,
            "max": self.maximum,
            "ci95_low": self.ci95_low,
            "ci95_high": self.ci95_high,
        }


def summarise(
    values: Sequence[float], group: str, time_point_h: float, tissue: str
) -> GroupSummary:
    """n, mean, SD (n−1), SEM, median, range and the t-based 95 % CI of the mean.

    >>> s = summarise([1.0, 2.0, 3.0], "A", 1.0, "liver")
    >>> s.mean, s.sd, round(s.ci95_high - s.mean, 4)   # t(0.975, 2) = 4.3027; SEM = 1/√3
    (2.0, 1.0, 2.4841)
    """
    v = np.asarray(values, dtype=float)
    n = int(v.size)
    if n == 0:
        raise InvalidInputError("values", expected="at least one value", actual="none")
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else None
    sem = sd / math.sqrt(n) if sd is not None else None
    half = float(stats.t.ppf(0.975, n - 1)) * sem if sem is not None else None
    return GroupSummary(
        group,
        float(time_point_h),
        tissue,
        n,
        mean,
        sd,
        sem,
        float(np.median(v)),
        float(v.min()),
        float(v.max()),
        None if half is None else mean - half,
        None if half is None else mean + half,
    )


@dataclass(frozen=True)
class Biodistribution:
    """Result of :func:`biodistribution`."""

    mode: StandardMode
    nuclide: str
    half_life_s: float
    background_cps: float
    standard_cps_per_id: float | None
    efficiency_cps_per_bq: float | None
    standard_cv: float | None
    samples: tuple[TissueSample, ...]
    animals: tuple[Animal, ...]
    warnings: tuple[str, ...] = ()
    provenance: tuple[Step, ...] = field(default=(), repr=False)

    @property
    def tissues(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.tissue for s in self.samples))

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.group for s in self.samples))

    def per_animal(
        self, quantity: Literal["pct_id_per_g", "pct_id"] = "pct_id_per_g"
    ) -> dict[tuple[str, str], float]:
        """(animal, tissue) → value; several tubes of one tissue are pooled by weight
        (%ID/g = Σ%ID / Σg) or summed (%ID)."""
        pct: dict[tuple[str, str], float] = {}
        grams: dict[tuple[str, str], float] = {}
        for s in self.samples:
            key = (s.animal, s.tissue)
            pct[key] = pct.get(key, 0.0) + s.pct_id
            grams[key] = grams.get(key, 0.0) + s.weight_g
        if quantity == "pct_id":
            return pct
        return {k: pct[k] / grams[k] for k in pct}

    def summary(
        self, quantity: Literal["pct_id_per_g", "pct_id"] = "pct_id_per_g"
    ) -> tuple[GroupSummary, ...]:
        """Statistics per (group, time point, tissue) over animals."""
        animals = {a.animal_id: a for a in self.animals}
        values: dict[tuple[str, float, str], list[float]] = {}
        for (animal, tissue), v in self.per_animal(quantity).items():
            a = animals[animal]
            values.setdefault((a.group, a.time_point_h, tissue), []).append(v)
        return tuple(summarise(v, g, t, tis) for (g, t, tis), v in sorted(values.items()))

    def ratio(self, target: str, reference: str) -> tuple[GroupSummary, ...]:
        """Per-animal %ID/g ratio ``target``/``reference`` (e.g. tumour/muscle), summarised."""
        per = self.per_animal()
        animals = {a.animal_id: a for a in self.animals}
        values: dict[tuple[str, float], list[float]] = {}
        for a in animals.values():
            t, r = per.get((a.animal_id, target)), per.get((a.animal_id, reference))
            if t is None or r is None:
                continue
            if r <= 0:
                raise InvalidInputError(
                    f"{reference} uptake of animal {a.animal_id!r}",
                    expected="> 0 %ID/g to form a ratio",
                    actual=r,
                )
            values.setdefault((a.group, a.time_point_h), []).append(t / r)
        if not values:
            raise InvalidInputError(
                "ratio tissues",
                expected=f"animals with both {target!r} and {reference!r}",
                actual=f"tissues {list(self.tissues)}",
            )
        name = f"{target}/{reference}"
        return tuple(summarise(v, g, t, name) for (g, t), v in sorted(values.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "nuclide": self.nuclide,
            "half_life_s": self.half_life_s,
            "background_cps": self.background_cps,
            "standard_cps_per_id": self.standard_cps_per_id,
            "efficiency_cps_per_bq": self.efficiency_cps_per_bq,
            "standard_cv": self.standard_cv,
            "samples": [s.to_dict() for s in self.samples],
            "summary_pct_id_per_g": [s.to_dict() for s in self.summary()],
            "summary_pct_id": [s.to_dict() for s in self.summary("pct_id")],
            "warnings": list(self.warnings),
            "provenance": [s.to_dict() for s in self.provenance],
        }


def _standard_mode(standards: Sequence[Tube]) -> StandardMode:
    if not standards:
        raise InvalidInputError(
            "standards",
            expected="at least one standard tube (kind 'standard')",
            actual="none",
            fix="count standards of the injectate (known fraction of a dose, id_fraction, or "
            "known activity, activity_bq + activity_time) with the samples",
        )
    dil = [s.id_fraction is not None for s in standards]
    cal = [s.activity_bq is not None for s in standards]
    for s, d, c in zip(standards, dil, cal, strict=True):
        if d == c:
            raise InvalidInputError(
                f"standard {s.tube_id!r}",
                expected="exactly one of id_fraction (dilution of a dose) or activity_bq "
                "(calibrated activity)",
                actual={"id_fraction": s.id_fraction, "activity_bq": s.activity_bq},
            )
    if all(dil):
        return "dilution"
    if all(cal):
        return "calibrated"
    raise InvalidInputError(
        "standards",
        expected="all standards of one kind (all id_fraction or all activity_bq)",
        actual="a mixture",
        fix="use one kind of standard per counting session",
    )


def biodistribution(
    tubes: Iterable[Tube],
    animals: Iterable[Animal],
    *,
    half_life: HalfLife,
    nuclide: str = "",
    inputs: tuple[str, ...] = (),
) -> Biodistribution:
    """%ID and %ID/g of every tissue tube (see the module text for the method).

    Raises
    ------
    InvalidInputError
        No standards or no background tubes; mixed standard kinds; a tissue
        weight ≤ 0 or missing; a tissue of an unknown animal; in calibrated mode
        a missing injection time or injected activity; counting before injection.
    """
    tubes = list(tubes)
    animals = list(animals)
    hl = half_life_of(half_life)
    lam = decay_constant(hl)
    by_id, background, standards, tissues = _sort_tubes(tubes, animals)
    mode = _standard_mode(standards)
    bg = float(np.mean([t.rate_cps for t in background]))
    t_common, ref_value, cv, warnings = _standard_reference(standards, mode, bg, lam)
    samples = [_tissue_sample(t, by_id, mode, bg, lam, t_common, ref_value) for t in tissues]
    n_below = sum(s.below_background for s in samples)
    if n_below:
        warnings.append(f"{n_below} tissue tube(s) at or below background (kept, net ≤ 0)")
    step = Step.make(
        "biodistribution",
        {
            "mode": mode,
            "half_life_s": hl,
            "background_cps": bg,
            "n_background": len(background),
            "n_standards": len(standards),
            "standard_reference_time": t_common if mode == "dilution" else None,
            "standard_cv": cv,
            "decay_correction": "each tube from its counting time"
            + (" to the first standard" if mode == "dilution" else " to the injection"),
        },
        inputs=inputs,
        sources=(nuclide or "half-life given",),
    )
    return Biodistribution(
        mode=mode,
        nuclide=nuclide,
        half_life_s=hl,
        background_cps=bg,
        standard_cps_per_id=ref_value if mode == "dilution" else None,
        efficiency_cps_per_bq=ref_value if mode == "calibrated" else None,
        standard_cv=cv,
        samples=tuple(samples),
        animals=tuple(animals),
        warnings=tuple(warnings),
        provenance=(step,),
    )


def _sort_tubes(
    tubes: Sequence[Tube], animals: Sequence[Animal]
) -> tuple[dict[str, Animal], list[Tube], list[Tube], list[Tube]]:
    """Animals by id, and the background, standard and tissue tubes.

    Refuses duplicate animal or tube ids, and a session without tissue or background tubes.
    """
    by_id = {a.animal_id: a for a in animals}
    if len(by_id) != len(animals):
        raise InvalidInputError(
            "animal ids", expected="unique ids", actual=[a.animal_id for a in animals]
        )
    ids = [t.tube_id for t in tubes]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise InvalidInputError("tube ids", expected="unique ids", actual=dup)
    background = [t for t in tubes if t.kind == "background"]
    standards = [t for t in tubes if t.kind == "standard"]
    tissues = [t for t in tubes if t.kind == "tissue"]
    if not tissues:
        raise InvalidInputError("tissue tubes", expected="at least one", actual="none")
    if not background:
        raise InvalidInputError(
            "background tubes",
            expected="at least one empty tube counted with the samples (kind 'background')",
            actual="none",
            fix="count empty tubes; a background of 0 must be stated as a tube with 0 counts",
        )
    return by_id, background, standards, tissues


def _standard_reference(
    standards: Sequence[Tube], mode: StandardMode, bg: float, lam: float
) -> tuple[_dt.datetime, float, float | None, list[str]]:
    """The standards' reference value, their common time, CV and warnings.

    Dilution: net cps per injected dose, decay corrected to the first standard's counting
    time t_c; calibrated: counter efficiency (cps per Bq) at each standard's activity time.
    The CV of the standards (``None`` for one standard) is checked against
    :data:`STANDARD_CV_WARNING`.
    """
    for s in standards:
        if s.rate_cps - bg <= 0:
            raise InvalidInputError(
                f"standard {s.tube_id!r}",
                expected="a count rate above background",
                actual=f"{s.rate_cps:.4g} cps vs background {bg:.4g} cps",
            )
    t_common = min(s.measured_at for s in standards)
    per_std: list[float] = []
    if mode == "dilution":
        for s in standards:
            f = _finite(f"id_fraction of standard {s.tube_id!r}", s.id_fraction, "(fraction)")
            if f > 1:
                raise InvalidInputError(
                    f"id_fraction of standard {s.tube_id!r}", expected="≤ 1", actual=f
                )
            per_std.append(
                (s.rate_cps - bg) * math.exp(lam * elapsed_s(t_common, s.measured_at)) / f
            )
    else:
        for s in standards:
            a = _finite(f"activity of standard {s.tube_id!r}", s.activity_bq, "Bq")
            ta = _aware(
                f"activity time of standard {s.tube_id!r}",
                s.activity_time,
                "give the time the standard's activity was measured (activity_time)",
            )
            per_std.append((s.rate_cps - bg) * math.exp(lam * elapsed_s(ta, s.measured_at)) / a)
    ref_value = float(np.mean(per_std))
    cv = float(np.std(per_std, ddof=1) / ref_value) if len(per_std) > 1 else None
    warnings: list[str] = []
    if len(per_std) < 2:
        warnings.append("only one standard: its counting error is not averaged out (use ≥ 2)")
    elif cv is not None and cv > STANDARD_CV_WARNING:
        warnings.append(
            f"standards disagree by CV {100 * cv:.1f} % (> {100 * STANDARD_CV_WARNING:.0f} %): "
            "check pipetting and counter linearity"
        )
    return t_common, ref_value, cv, warnings


def _tissue_sample(
    t: Tube,
    by_id: Mapping[str, Animal],
    mode: StandardMode,
    bg: float,
    lam: float,
    t_common: _dt.datetime,
    ref_value: float,
) -> TissueSample:
    """%ID of one tissue tube: its net rate decay corrected to t_c (dilution) or to the
    animal's injection (calibrated), over the standards' reference value."""
    assert t.animal is not None and t.tissue is not None and t.weight_g is not None
    animal = by_id.get(t.animal)
    if animal is None:
        raise InvalidInputError(
            f"animal of tube {t.tube_id!r}",
            expected=f"one of the animals table {sorted(by_id)}",
            actual=t.animal,
            fix="add the animal to the animals table",
        )
    r = t.rate_cps - bg
    if mode == "dilution":
        pct = 100.0 * r * math.exp(lam * elapsed_s(t_common, t.measured_at)) / ref_value
    else:
        t_inj = _aware(
            f"injection time of animal {animal.animal_id!r}",
            animal.injection_time,
            "add injection_time to the animals table (needed with calibrated standards)",
        )
        a_inj = _finite(
            f"injected activity of animal {animal.animal_id!r}",
            animal.injected_activity_bq,
            "Bq (injected_mbq in the animals table)",
        )
        dt = elapsed_s(t_inj, t.measured_at)
        if dt < 0:
            raise InvalidInputError(
                f"counting time of tube {t.tube_id!r}",
                expected=f"after the injection of {animal.animal_id} ({t_inj.isoformat()})",
                actual=t.measured_at.isoformat(),
            )
        pct = 100.0 * r * math.exp(lam * dt) / ref_value / a_inj
    return TissueSample(
        t.tube_id,
        animal.animal_id,
        animal.group,
        animal.time_point_h,
        t.tissue,
        t.weight_g,
        r,
        pct,
        r <= 0,
    )


# --------------------------------------------------------------------------- CSV


def _parse_time(text: str, what: str, tz: _dt.tzinfo | None) -> _dt.datetime:
    return parse_time(
        text.strip(),
        what,
        tz,
        expected="an ISO 8601 date and time (2026-03-02T09:00+01:00)",
        naive_fix="write the offset (2026-03-02T09:00+01:00) or pass a default time zone "
        "(CLI --timezone +01:00)",
    )


def _rows(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InvalidInputError("CSV file", expected="an existing file", actual=str(path))
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None:
            raise InvalidInputError(f"CSV {path.name}", expected="a header row", actual="empty")
        cols = [c.strip().lower() for c in reader.fieldnames]
        missing = [c for c in required if c not in cols]
        if missing:
            raise InvalidInputError(
                f"columns of {path.name}",
                expected=f"{list(required)} present",
                actual=f"missing {missing}",
            )
        return [
            {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
            for row in reader
        ]


def _num(row: Mapping[str, str], key: str, where: str) -> float | None:
    text = row.get(key, "")
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInputError(f"{key} in {where}", expected="a number", actual=text) from None


def read_counts_csv(path: str | Path, *, default_tz: _dt.tzinfo | None = None) -> list[Tube]:
    """Read gamma-counter tubes from CSV.

    Columns (case-insensitive): ``tube``, ``kind`` (tissue/standard/background),
    ``measured_at`` (ISO 8601), and either ``counts`` + ``count_time_s`` or
    ``cpm``; for tissues ``animal``, ``tissue``, ``weight_g``; for standards
    ``id_fraction`` or ``activity_mbq`` + ``activity_time``.
    """
    p = Path(path)
    rows = _rows(p, ["tube", "kind", "measured_at"])
    out: list[Tube] = []
    for i, row in enumerate(rows, start=2):
        where = f"{p.name} line {i}"
        counts, ct, cpm = (_num(row, k, where) for k in ("counts", "count_time_s", "cpm"))
        if counts is None and cpm is not None:
            counts, ct = cpm, 60.0
        if counts is None or ct is None:
            raise InvalidInputError(
                f"counts in {where}", expected="counts and count_time_s, or cpm", actual="missing"
            )
        act = _num(row, "activity_mbq", where)
        act_time = row.get("activity_time", "")
        out.append(
            Tube(
                tube_id=row["tube"] or f"line {i}",
                kind=row["kind"].lower(),  # type: ignore[arg-type]
                counts=counts,
                count_time_s=ct,
                measured_at=_parse_time(row["measured_at"], f"measured_at in {where}", default_tz),
                animal=row.get("animal") or None,
                tissue=row.get("tissue") or None,
                weight_g=_num(row, "weight_g", where),
                id_fraction=_num(row, "id_fraction", where),
                activity_bq=None if act is None else act * BQ_PER_MBQ,
                activity_time=_parse_time(act_time, f"activity_time in {where}", default_tz)
                if act_time
                else None,
            )
        )
    return out


def read_animals_csv(path: str | Path, *, default_tz: _dt.tzinfo | None = None) -> list[Animal]:
    """Read the animals table: ``animal``, ``group``, ``time_point_h`` and optionally
    ``injection_time``, ``injected_mbq``, ``body_mass_g``."""
    p = Path(path)
    rows = _rows(p, ["animal", "group", "time_point_h"])
    out: list[Animal] = []
    for i, row in enumerate(rows, start=2):
        where = f"{p.name} line {i}"
        tp = _num(row, "time_point_h", where)
        inj = _num(row, "injected_mbq", where)
        t_text = row.get("injection_time", "")
        out.append(
            Animal(
                animal_id=row["animal"],
                group=row["group"],
                time_point_h=_finite(f"time_point_h in {where}", tp, "h", positive=False),
                injection_time=_parse_time(t_text, f"injection_time in {where}", default_tz)
                if t_text
                else None,
                injected_activity_bq=None if inj is None else inj * BQ_PER_MBQ,
                body_mass_g=_num(row, "body_mass_g", where),
            )
        )
    return out
