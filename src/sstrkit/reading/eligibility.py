"""PRRT eligibility: laboratory values, eGFR (CKD-EPI 2021) and a user-editable rule file.

The default rules live in ``sstrkit/reading/data/eligibility_rules.toml``; each
names a quantity, an operator, a threshold, its unit and its source. The
decision lists every rule with its value, threshold and pass/fail, so the
physician sees why a patient is or is not eligible. The decision has three
states (``status``):

* ``"not_eligible"`` (``eligible`` False): a rule fails — whatever else is missing;
* ``"not_assessed"`` (``eligible`` None): no rule fails but a required value is
  missing (e.g. no labs); ``missing`` names the rules that could not be checked —
  never a silent pass, and not a "not eligible" the data do not show;
* ``"eligible"`` (``eligible`` True): every required rule passes.

A rule may carry an exception (``unless``): a rule that fails passes when the
exception's quantity meets its own threshold, and is *missing* (not assessed) when
that quantity is missing — the NETTER-1 albumin rule ("serum albumin ≤ 3.0 g/dL
excludes unless the prothrombin time is within the normal range") is written so.

Liver values are relative to their reference limits where the rule is: total bilirubin
as a multiple of its upper limit of normal (ULN; default 1.0 mg/dL = 17.10 µmol/L,
a typical adult value — Mayo Clinic, "Liver function tests"), INR as a multiple of
its upper reference limit (default 1.1: 0.8–1.1 without anticoagulants, MedlinePlus
"Prothrombin time test"); give the laboratory's own limits in the labs
(``bilirubin_uln_umol_l``, ``inr_uln``).

eGFR uses the race-free CKD-EPI 2021 creatinine equation (Inker LA et al.
N Engl J Med 2021;385:1737–1749)::

    eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age × 1.012 [female]
    κ = 0.7 (female) / 0.9 (male);  α = −0.241 (female) / −0.302 (male);  Scr in mg/dL

Examples
--------
>>> round(ckd_epi_2021(1.0, 50, "male"), 1)
91.7
>>> labs = Labs.from_mapping({"age_years": 50, "sex": "male", "creatinine_umol_l": 88.4,
...                            "haemoglobin_g_dl": 12, "platelets_1e9_per_l": 200,
...                            "wbc_1e9_per_l": 6, "bilirubin_umol_l": 9.0,
...                            "albumin_g_l": 41.0})
>>> d = evaluate(load_rules(), {"n_lesions": 2, "target_min_t_l": 3.0,
...                             "target_min_suv_max": 12.0, **labs.quantities()})
>>> d.eligible, d.status, [r.status for r in d.rules][:3]
(True, 'eligible', ['pass', 'pass', 'not_applicable'])
>>> d = evaluate(load_rules(), {"n_lesions": 2, "target_min_t_l": 3.0})
>>> d.eligible, d.status, d.missing
(None, 'not_assessed', ('egfr', 'haemoglobin', 'platelets', 'white_cells', 'bilirubin', 'albumin'))
>>> d.headline()  # doctest: +NORMALIZE_WHITESPACE
'NOT ASSESSED: labs missing (eGFR (creatinine, age, sex), haemoglobin, platelets, white cells);
 liver tests missing (total bilirubin, albumin)'
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

from sstrkit.core.body import Sex, ckd_epi_2021_formula, parse_sex
from sstrkit.errors import InvalidInputError

__all__ = [
    "CREATININE_UMOL_PER_MG_DL",
    "QUANTITIES",
    "Condition",
    "EligibilityDecision",
    "Labs",
    "Rule",
    "RuleOutcome",
    "ckd_epi_2021",
    "decision_headline",
    "decision_status",
    "evaluate",
    "load_rules",
]

CKD_EPI_2021_SOURCE = (
    "Inker LA et al. New creatinine- and cystatin C-based equations to estimate GFR without "
    "race. N Engl J Med 2021;385:1737-1749"
)
#: µmol/L per mg/dL of creatinine: 10 mg/L ÷ 113.12 g/mol = 88.40 µmol/L.
CREATININE_UMOL_PER_MG_DL = 88.4
#: µmol/L per mg/dL of bilirubin: 10 mg/L ÷ 584.66 g/mol = 17.10 µmol/L.
BILIRUBIN_UMOL_PER_MG_DL = 17.104
#: Default upper limit of normal of total bilirubin, µmol/L (1.0 mg/dL; typical adult value,
#: Mayo Clinic "Liver function tests"); a lab's own ULN in the labs overrides it.
BILIRUBIN_ULN_UMOL_L = 1.0 * BILIRUBIN_UMOL_PER_MG_DL
#: Default upper reference limit of the INR without anticoagulants (0.8-1.1, MedlinePlus
#: "Prothrombin time test"); a lab's own limit in the labs overrides it.
INR_ULN = 1.1

#: Quantities a rule may test, with their units.
QUANTITIES: Mapping[str, str] = {
    "n_lesions": "lesions",
    "target_min_t_l": "ratio",
    "target_min_suv_max": "SUV (g/mL)",
    "target_min_krenning": "grade",
    "egfr_ml_min_1_73m2": "mL/min/1.73 m2",
    "haemoglobin_g_dl": "g/dL",
    "platelets_1e9_per_l": "10^9/L",
    "wbc_1e9_per_l": "10^9/L",
    "fdg_positive_sstr_negative_lesions": "lesions",
    "bilirubin_x_uln": "x ULN",
    "albumin_g_l": "g/L",
    "inr_x_uln": "x upper reference limit",
}
_OPS: Mapping[str, Callable[[float, float], bool]] = {
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    "==": lambda v, t: math.isclose(v, t, rel_tol=0.0, abs_tol=1e-12),
}


_SEX_FIX = "give the sex in the labs as 'female' or 'male' (or F, M)"


def ckd_epi_2021(creatinine_mg_dl: float, age_years: float, sex: Sex | str) -> float:
    """eGFR (mL/min/1.73 m²) by the race-free CKD-EPI 2021 creatinine equation.

    Parameters
    ----------
    creatinine_mg_dl
        Serum creatinine (IDMS-traceable), mg/dL.
    age_years
        Age, ≥ 18 years (the equation is for adults).
    sex
        ``"F"`` or ``"M"``; other spellings (``"female"``, ``"m"``...) are read by
        :func:`~sstrkit.core.body.parse_sex`.
    """
    body_sex = parse_sex(sex, fix=_SEX_FIX)
    if not (creatinine_mg_dl > 0 and math.isfinite(creatinine_mg_dl)):
        raise InvalidInputError(
            "serum creatinine", expected="a positive value in mg/dL", actual=creatinine_mg_dl
        )
    if not 18 <= age_years <= 120:
        raise InvalidInputError(
            "age", expected="18-120 years (CKD-EPI 2021 is for adults)", actual=age_years
        )
    return ckd_epi_2021_formula(creatinine_mg_dl, age_years, body_sex)


def _first(a: float | None, b: float | None) -> float | None:
    return a if a is not None else b


def _one_of(si: float | None, other: float | None, what: str) -> float | None:
    """The value given in one of two units (``other`` already converted); both is an error."""
    if si is not None and other is not None:
        raise InvalidInputError(what, expected="one unit, not both", actual="both given")
    return si if si is not None else other


#: Lab keys of a clinical record that eligibility does not test (the follow-up reads them).
_FOLLOWUP_LAB_KEYS = frozenset(
    {
        "alt_u_l",
        "ast_u_l",
        "alp_u_l",
        "alt_uln_u_l",
        "ast_uln_u_l",
        "alp_uln_u_l",
        "albumin_lln_g_l",
        "chromogranin_a_ug_l",
        "chromogranin_a_uln_ug_l",
        "proton_pump_inhibitor",
        "somatostatin_analogue",
    }
)


@dataclass(frozen=True)
class Labs:
    """Laboratory values for eligibility (units in the names)."""

    age_years: float | None = None
    sex: Sex | None = None
    creatinine_mg_dl: float | None = None
    egfr_ml_min_1_73m2: float | None = None
    haemoglobin_g_dl: float | None = None
    platelets_1e9_per_l: float | None = None
    wbc_1e9_per_l: float | None = None
    bilirubin_umol_l: float | None = None
    bilirubin_uln_umol_l: float | None = None  # None: BILIRUBIN_ULN_UMOL_L
    albumin_g_l: float | None = None
    inr: float | None = None
    inr_uln: float | None = None  # None: INR_ULN

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Labs:
        """Parse a mapping (e.g. LABS.json); units are in the keys.

        Accepted keys: ``age_years``, ``sex``, ``creatinine_mg_dl`` or
        ``creatinine_umol_l``, ``egfr_ml_min_1_73m2`` (measured; overrides the
        equation), ``haemoglobin_g_dl`` / ``hemoglobin_g_dl`` / ``haemoglobin_g_l``,
        ``platelets_1e9_per_l``, ``wbc_1e9_per_l``, ``bilirubin_umol_l`` or
        ``bilirubin_mg_dl`` with ``bilirubin_uln_umol_l`` (the lab's ULN),
        ``albumin_g_l`` or ``albumin_g_dl``, ``inr`` with ``inr_uln``. The other lab
        values of a clinical record (ALT, AST, ALP, chromogranin A, their limits,
        medication flags) are accepted and left to the follow-up.
        """
        known = {
            "age_years",
            "sex",
            "creatinine_mg_dl",
            "creatinine_umol_l",
            "egfr_ml_min_1_73m2",
            "haemoglobin_g_dl",
            "hemoglobin_g_dl",
            "haemoglobin_g_l",
            "hemoglobin_g_l",
            "platelets_1e9_per_l",
            "platelets_1e9_l",
            "wbc_1e9_per_l",
            "wbc_1e9_l",
            "bilirubin_umol_l",
            "bilirubin_mg_dl",
            "bilirubin_uln_umol_l",
            "albumin_g_l",
            "albumin_g_dl",
            "inr",
            "inr_uln",
        }
        unknown = sorted(set(data) - known - _FOLLOWUP_LAB_KEYS)
        if unknown:
            raise InvalidInputError(
                "lab values",
                expected=f"keys among {sorted(known)} (units in the key)",
                actual=unknown,
                fix="rename the keys; e.g. creatinine_umol_l for µmol/L",
            )

        def num(key: str) -> float | None:
            v = data.get(key)
            if v is None:
                return None
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise InvalidInputError(key, expected="a finite number", actual=v)
            if v < 0:
                raise InvalidInputError(key, expected="≥ 0", actual=v)
            return float(v)

        creat = num("creatinine_mg_dl")
        umol = num("creatinine_umol_l")
        if creat is not None and umol is not None:
            raise InvalidInputError(
                "creatinine",
                expected="one of creatinine_mg_dl or creatinine_umol_l",
                actual="both",
            )
        if umol is not None:
            creat = umol / CREATININE_UMOL_PER_MG_DL
        hb = num("haemoglobin_g_dl")
        if hb is None:
            hb = num("hemoglobin_g_dl")
        hb_l = num("haemoglobin_g_l")
        if hb_l is None:
            hb_l = num("hemoglobin_g_l")
        if hb is None and hb_l is not None:
            hb = hb_l / 10.0
        sex = data.get("sex")
        bili_mg, alb_dl = num("bilirubin_mg_dl"), num("albumin_g_dl")
        bili = _one_of(
            num("bilirubin_umol_l"),
            None if bili_mg is None else bili_mg * BILIRUBIN_UMOL_PER_MG_DL,
            "bilirubin (bilirubin_umol_l or bilirubin_mg_dl)",
        )
        alb = _one_of(
            num("albumin_g_l"),
            None if alb_dl is None else alb_dl * 10.0,
            "albumin (albumin_g_l or albumin_g_dl)",
        )
        for key in ("bilirubin_uln_umol_l", "inr_uln"):
            if num(key) == 0.0:
                raise InvalidInputError(key, expected="a reference limit > 0", actual=0.0)
        return cls(
            age_years=num("age_years"),
            sex=None if sex is None else parse_sex(sex, fix=_SEX_FIX),
            creatinine_mg_dl=creat,
            egfr_ml_min_1_73m2=num("egfr_ml_min_1_73m2"),
            haemoglobin_g_dl=hb,
            platelets_1e9_per_l=_first(num("platelets_1e9_per_l"), num("platelets_1e9_l")),
            wbc_1e9_per_l=_first(num("wbc_1e9_per_l"), num("wbc_1e9_l")),
            bilirubin_umol_l=bili,
            bilirubin_uln_umol_l=num("bilirubin_uln_umol_l"),
            albumin_g_l=alb,
            inr=num("inr"),
            inr_uln=num("inr_uln"),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> Labs:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInputError(
                "labs file", expected="a readable JSON object", actual=f"{path}: {exc}"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInputError("labs file", expected="a JSON object", actual=type(data))
        return cls.from_mapping(data)

    def egfr(self) -> tuple[float | None, str]:
        """eGFR and how it was obtained (measured, CKD-EPI 2021, or missing)."""
        if self.egfr_ml_min_1_73m2 is not None:
            return self.egfr_ml_min_1_73m2, "measured (given in the labs)"
        if None in (self.creatinine_mg_dl, self.age_years, self.sex):
            return None, "missing: needs creatinine, age and sex"
        assert self.creatinine_mg_dl is not None and self.age_years is not None
        assert self.sex is not None
        return (
            ckd_epi_2021(self.creatinine_mg_dl, self.age_years, self.sex),
            "CKD-EPI 2021 creatinine equation (Inker et al. 2021)",
        )

    def quantities(self) -> dict[str, float | None]:
        """The values the rules test (liver values relative to their reference limits)."""
        bili_uln = self.bilirubin_uln_umol_l or BILIRUBIN_ULN_UMOL_L
        inr_uln = self.inr_uln or INR_ULN
        return {
            "egfr_ml_min_1_73m2": self.egfr()[0],
            "haemoglobin_g_dl": self.haemoglobin_g_dl,
            "platelets_1e9_per_l": self.platelets_1e9_per_l,
            "wbc_1e9_per_l": self.wbc_1e9_per_l,
            "bilirubin_x_uln": None
            if self.bilirubin_umol_l is None
            else self.bilirubin_umol_l / bili_uln,
            "albumin_g_l": self.albumin_g_l,
            "inr_x_uln": None if self.inr is None else self.inr / inr_uln,
        }


@dataclass(frozen=True)
class Condition:
    """The exception of a rule (``unless`` in the rule file): ``quantity operator threshold``."""

    quantity: str
    operator: Literal[">=", ">", "<=", "<", "=="]
    threshold: float
    unit: str
    description: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Rule:
    """One eligibility rule (``unless``: the exception that lets a failing value pass)."""

    id: str
    description: str
    quantity: str
    operator: Literal[">=", ">", "<=", "<", "=="]
    threshold: float
    unit: str
    source: str
    required: bool = True
    therapies: tuple[str, ...] = ()
    tracers: tuple[str, ...] = ()
    #: Imaging tracers the rule does not apply to (e.g. a PET rule that scintigraphy
    #: replaces by its own); checked after ``tracers``.
    not_tracers: tuple[str, ...] = ()
    unless: Condition | None = None

    def applies(self, therapy: str | None, tracer: str | None) -> bool:
        """True when the rule holds for this therapy and imaging tracer.

        >>> r = Rule("k", "", "n_lesions", ">=", 1.0, "", "", not_tracers=("111In-pentetreotide",))
        >>> r.applies(None, None), r.applies(None, "111In-Pentetreotide")
        (True, False)
        """

        def ok(names: tuple[str, ...], value: str | None) -> bool:
            if not names:
                return True
            return value is not None and value.lower() in {n.lower() for n in names}

        excluded = tracer is not None and tracer.lower() in {n.lower() for n in self.not_tracers}
        return ok(self.therapies, therapy) and ok(self.tracers, tracer) and not excluded


@dataclass(frozen=True)
class RuleOutcome:
    """A rule evaluated: ``status`` is pass, fail, missing or not_applicable."""

    id: str
    description: str
    quantity: str
    value: float | None
    operator: str
    threshold: float
    unit: str
    status: str
    passed: bool | None
    required: bool
    source: str
    #: the rule's exception when it was looked at (the value failed): its condition, the
    #: exception value and ``met`` / ``not_met`` / ``missing``; None otherwise.
    exception: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``exception`` only when the exception was looked at."""
        out = dict(self.__dict__)
        if out["exception"] is None:
            del out["exception"]
        return out


DecisionStatus = Literal["eligible", "not_eligible", "not_assessed"]


@dataclass(frozen=True)
class EligibilityDecision:
    """The decision and every rule behind it.

    ``eligible`` is True (every required rule passes), False (a rule fails) or
    None (no rule fails, but required values are missing: not assessed).
    ``complete`` is False whenever any value is missing, required or not.
    """

    eligible: bool | None
    complete: bool
    rules: tuple[RuleOutcome, ...]
    therapy: str | None
    tracer: str | None
    rules_file: str

    @property
    def status(self) -> DecisionStatus:
        if self.eligible is None:
            return "not_assessed"
        return "eligible" if self.eligible else "not_eligible"

    @property
    def missing(self) -> tuple[str, ...]:
        """Ids of the required rules whose value is missing (they could not be checked)."""
        return tuple(o.id for o in self.rules if o.status == "missing" and o.required)

    def headline(self) -> str:
        """ELIGIBLE, NOT ELIGIBLE (rules failed) or NOT ASSESSED (what is missing).

        The one wording of :func:`decision_headline` (which also reads a stored
        decision's JSON form, e.g. of an older ``reading.json``).
        """
        return decision_headline(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "status": self.status,
            "missing": list(self.missing),
            "complete": self.complete,
            "therapy": self.therapy,
            "tracer": self.tracer,
            "rules_file": self.rules_file,
            "rules": [r.to_dict() for r in self.rules],
        }


DEFAULT_RULES = "eligibility_rules.toml"


def load_rules(path: str | Path | None = None) -> tuple[tuple[Rule, ...], str]:
    """Read a rule file (default: the packaged rules); returns ``(rules, file name)``."""
    if path is None:
        text = resources.files("sstrkit.reading.data").joinpath(DEFAULT_RULES).read_text("utf-8")
        name = f"sstrkit default ({DEFAULT_RULES})"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInputError(
                "rules file", expected="a readable TOML file", actual=exc
            ) from None
        name = str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(
            "rules file", expected="valid TOML", actual=f"{name}: {exc}"
        ) from None
    raw = doc.get("rule")
    if not isinstance(raw, list) or not raw:
        raise InvalidInputError("rules file", expected="one or more [[rule]] tables", actual=name)
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(raw):
        where = f"rule #{i + 1} in {name}"
        missing = [k for k in ("id", "quantity", "operator", "threshold", "source") if k not in r]
        if missing:
            raise InvalidInputError(
                where,
                expected="keys id, quantity, operator, threshold, source",
                actual=f"missing {missing}",
            )
        if r["quantity"] not in QUANTITIES:
            raise InvalidInputError(
                f"{where}: quantity", expected=f"one of {sorted(QUANTITIES)}", actual=r["quantity"]
            )
        if r["operator"] not in _OPS:
            raise InvalidInputError(
                f"{where}: operator", expected=f"one of {sorted(_OPS)}", actual=r["operator"]
            )
        thr = r["threshold"]
        if isinstance(thr, bool) or not isinstance(thr, int | float):
            raise InvalidInputError(f"{where}: threshold", expected="a number", actual=thr)
        if r["id"] in seen:
            raise InvalidInputError(f"{where}: id", expected="unique ids", actual=r["id"])
        seen.add(r["id"])
        unless = _condition(r["unless"], f"{where}: unless") if "unless" in r else None
        rules.append(
            Rule(
                id=str(r["id"]),
                description=str(r.get("description", r["id"])),
                quantity=r["quantity"],
                operator=r["operator"],
                threshold=float(thr),
                unit=str(r.get("unit", QUANTITIES[r["quantity"]])),
                source=str(r["source"]),
                required=bool(r.get("required", True)),
                therapies=tuple(str(t) for t in r.get("therapies", ())),
                tracers=tuple(str(t) for t in r.get("tracers", ())),
                not_tracers=tuple(str(t) for t in r.get("not_tracers", ())),
                unless=unless,
            )
        )
    return tuple(rules), name


def _condition(raw: Any, where: str) -> Condition:
    """A rule's ``unless`` table: quantity, operator, threshold (unit, description)."""
    keys = ("quantity", "operator", "threshold")
    if not isinstance(raw, dict) or any(k not in raw for k in keys):
        raise InvalidInputError(
            where, expected="a table with quantity, operator, threshold", actual=raw
        )
    if raw["quantity"] not in QUANTITIES:
        raise InvalidInputError(
            f"{where}: quantity", expected=f"one of {sorted(QUANTITIES)}", actual=raw["quantity"]
        )
    if raw["operator"] not in _OPS:
        raise InvalidInputError(
            f"{where}: operator", expected=f"one of {sorted(_OPS)}", actual=raw["operator"]
        )
    thr = raw["threshold"]
    if isinstance(thr, bool) or not isinstance(thr, int | float):
        raise InvalidInputError(f"{where}: threshold", expected="a number", actual=thr)
    return Condition(
        quantity=raw["quantity"],
        operator=raw["operator"],
        threshold=float(thr),
        unit=str(raw.get("unit", QUANTITIES[raw["quantity"]])),
        description=str(raw.get("description", raw["quantity"])),
    )


def _outcome(
    r: Rule, values: Mapping[str, float | None], therapy: str | None, tracer: str | None
) -> RuleOutcome:
    """One rule against ``values``: pass, fail, missing or not_applicable.

    A failing value with an exception (``unless``) passes when the exception is met,
    fails when it is not, and is missing (not assessed) when its value is missing.
    """
    v = values.get(r.quantity)
    exception: dict[str, Any] | None = None
    passed: bool | None
    if not r.applies(therapy, tracer):
        status, passed = "not_applicable", None
    elif v is None:
        status, passed = "missing", None
    else:
        passed = bool(_OPS[r.operator](float(v), r.threshold))
        status = "pass" if passed else "fail"
        if not passed and r.unless is not None:
            u = values.get(r.unless.quantity)
            met = None if u is None else bool(_OPS[r.unless.operator](float(u), r.unless.threshold))
            exception = {
                **r.unless.to_dict(),
                "value": None if u is None else float(u),
                "status": "missing" if met is None else ("met" if met else "not_met"),
            }
            if met is None:
                status, passed = "missing", None
            elif met:
                status, passed = "pass", True
    return RuleOutcome(
        r.id,
        r.description,
        r.quantity,
        None if v is None else float(v),
        r.operator,
        r.threshold,
        r.unit,
        status,
        passed,
        r.required,
        r.source,
        exception,
    )


def evaluate(
    rules: tuple[Sequence[Rule], str],
    values: Mapping[str, float | None],
    *,
    therapy: str | None = None,
    tracer: str | None = None,
) -> EligibilityDecision:
    """Evaluate every rule against ``values`` (quantity → value or ``None``)."""
    rule_list, name = rules
    out = [_outcome(r, values, therapy, tracer) for r in rule_list]
    failed = any(o.status == "fail" for o in out)
    missing_required = any(o.status == "missing" and o.required for o in out)
    eligible: bool | None = False if failed else (None if missing_required else True)
    return EligibilityDecision(
        eligible=eligible,
        complete=not any(o.status == "missing" for o in out),
        rules=tuple(out),
        therapy=therapy,
        tracer=tracer,
        rules_file=name,
    )


#: Short names of the quantities, for the headline of a decision not assessed.
_MISSING_NAMES: Mapping[str, str] = {
    "egfr_ml_min_1_73m2": "eGFR (creatinine, age, sex)",
    "haemoglobin_g_dl": "haemoglobin",
    "platelets_1e9_per_l": "platelets",
    "wbc_1e9_per_l": "white cells",
    "n_lesions": "lesion count",
    "target_min_t_l": "target lesion T/L (liver reference)",
    "target_min_suv_max": "target lesion SUVmax",
    "target_min_krenning": "target lesion Krenning score",
    "fdg_positive_sstr_negative_lesions": "paired FDG PET",
    "bilirubin_x_uln": "total bilirubin",
    "albumin_g_l": "albumin",
    "inr_x_uln": "INR (prothrombin time)",
}
#: Quantities that come from the laboratory (the others come from the images).
_LAB_QUANTITIES = frozenset(
    {"egfr_ml_min_1_73m2", "haemoglobin_g_dl", "platelets_1e9_per_l", "wbc_1e9_per_l"}
)
#: Liver tests (listed on their own in a headline).
_LIVER_QUANTITIES = frozenset({"bilirubin_x_uln", "albumin_g_l", "inr_x_uln"})


def decision_status(decision: Mapping[str, Any]) -> DecisionStatus:
    """``status`` of a decision's :meth:`EligibilityDecision.to_dict` (older ones: from
    ``eligible``)."""
    status = decision.get("status")
    if status in ("eligible", "not_eligible", "not_assessed"):
        return cast(DecisionStatus, status)
    eligible = decision.get("eligible")
    if eligible is None:
        return "not_assessed"
    return "eligible" if eligible else "not_eligible"


def decision_headline(decision: Mapping[str, Any]) -> str:
    """One line for a report or a terminal: ELIGIBLE, NOT ELIGIBLE (rules failed) or
    NOT ASSESSED (what is missing), from :meth:`EligibilityDecision.to_dict`.

    >>> decision_headline({"eligible": False, "rules": [{"id": "platelets", "status": "fail"}]})
    'NOT ELIGIBLE: platelets not met'
    """
    status = decision_status(decision)
    rules = list(decision.get("rules", []))
    if status == "eligible":
        return "ELIGIBLE"
    missing = _missing_text(decision, rules)
    if status == "not_eligible":
        failed = [str(r.get("id")) for r in rules if r.get("status") == "fail"]
        return (
            "NOT ELIGIBLE"
            + (f": {', '.join(failed)} not met" if failed else "")
            + (f" (also not checked: {missing})" if missing else "")
        )
    return "NOT ASSESSED: " + (missing or "required values missing")


def _missing_text(decision: Mapping[str, Any], rules: Sequence[Mapping[str, Any]]) -> str:
    """'labs missing (…); image values missing (…)' of the required rules not checked."""
    missing_ids = decision.get("missing")
    if missing_ids is None:
        missing_ids = [
            r.get("id") for r in rules if r.get("status") == "missing" and r.get("required")
        ]
    by_id = {r.get("id"): r for r in rules}
    labs: list[str] = []
    liver: list[str] = []
    images: list[str] = []
    for rid in missing_ids:
        rule = by_id.get(rid, {})
        quantity = str(rule.get("quantity", rid))
        name = _MISSING_NAMES.get(quantity, str(rid))
        exception = rule.get("exception") or {}
        if exception.get("status") == "missing":  # the value failed; its exception is unknown
            value = rule.get("value")
            quantity = str(exception.get("quantity"))
            name = f"{_MISSING_NAMES.get(quantity, quantity)}, needed as {name} is {value:g}"
        if quantity in _LAB_QUANTITIES:
            target = labs
        else:
            target = liver if quantity in _LIVER_QUANTITIES else images
        if name not in target:
            target.append(name)
    parts = []
    if labs:
        parts.append(f"labs missing ({', '.join(labs)})")
    if liver:
        parts.append(f"liver tests missing ({', '.join(liver)})")
    if images:
        parts.append(f"image values missing ({', '.join(images)})")
    return "; ".join(parts)
