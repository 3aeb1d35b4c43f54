"""Time–activity kinetics: exponential fits, model selection and time-integrated activity.

A region's (organ, lesion, whole body, blood) activity ``A(t)`` measured at a few
times after administration is described by a sum of exponentials. The activity
is **not** decay corrected, so every clearance rate includes physical decay.

Models (``t`` in s from administration, amplitudes in Bq, rates in s⁻¹):

===========  =========================================  ==========  =========
name         A(t)                                       parameters  TIA (0–∞)
===========  =========================================  ==========  =========
mono         a1·e^(−λ1 t)                               2           a1/λ1
bi_uptake    a1·(e^(−λ1 t) − e^(−λ2 t)),  λ2 > λ1        3           a1(1/λ1 − 1/λ2)
bi           a1·e^(−λ1 t) + a2·e^(−λ2 t), λ2 ≥ λ1        4           Σ ai/λi
tri          Σ_{i=1..3} ai·e^(−λi t),     λ1 ≤ λ2 ≤ λ3   6           Σ ai/λi
===========  =========================================  ==========  =========

Fitting
    Weighted least squares, minimising χ² = Σ ((A(tᵢ) − yᵢ)/σᵢ)² with a stated
    error model (:class:`ErrorModel`): ``"relative"`` (σᵢ = cv·yᵢ, default cv
    = 10 %, the usual model for quantitative SPECT where the relative error is
    roughly constant) or ``"uniform"`` (σᵢ = cv·max y). A floor of
    ``floor_fraction``·max y keeps zero-valued points finite-weighted. The
    minimiser is a vectorised, bound-projected Levenberg–Marquardt that fits
    many curves at once (:func:`fit_batch`); :func:`fit_curve` uses the same
    engine for one curve.
Constraints
    Times must be finite, ≥ 0 and strictly increasing; activities finite and
    ≥ 0 and not all zero; a model needs at least as many points as parameters.
    Violations raise :class:`~sstrkit.errors.InvalidInputError`. Amplitudes are
    ≥ 0. No rate may be slower than physical decay (λ ≥ λ_phys): a fit that
    wants to go slower is *clamped* to λ_phys, a warning is issued and recorded
    in provenance, and the clamped rate is treated as fixed in the covariance.
Model selection (``model="auto"``)
    AICc = χ² + 2k + 2k(k+1)/(n − k − 1) (Akaike's criterion with the Hurvich–
    Tsai small-sample correction, σ known from the error model; Burnham &
    Anderson 2002, *Model Selection and Multimodel Inference*, §2.4). It is
    defined only when n ≥ k + 2, so ``auto`` considers only those models (with
    4 points: mono only — ask for ``bi_uptake`` explicitly if you need it).
    A fit whose amplitude or rate-ordering bound is active (the model has
    collapsed onto a simpler one) or that did not converge is reported but not
    selectable. Parsimony rule: among the selectable models whose AICc is within
    ``delta_aicc`` (default 2, "substantial support", Burnham & Anderson §2.6)
    of the minimum, the one with fewest parameters wins. Fallbacks, recorded in
    provenance: no selectable model with a defined AICc → the simplest
    converged model; nothing converged → trapezoid with a physical tail.
Trapezoid (``model="trapezoid"``)
    Trapezoidal rule between points; from t = 0 to the first point either a
    straight line from A(0) = 0 (``start="zero"``, default) or a constant
    A(t₁) (``start="constant"``); a tail to infinity from the last point with
    the physical decay constant (``tail="physical"``) or the mono-exponential
    rate through the last two points (``tail="fitted"``, clamped to physical).
TIA and its uncertainty
    TIA is integrated analytically from 0 to ∞ (the exponential is assumed to
    hold back to t = 0). Its standard deviation comes from the delta method,
    var = gᵀCg with g = ∂TIA/∂θ and C = (JᵀWJ)⁻¹·max(1, χ²/(n − k)) (the
    covariance is inflated when the scatter exceeds the error model, never
    deflated). Optionally a parametric bootstrap refits ``bootstrap`` simulated
    data sets (same model, same error model).
Effective half-life
    ``t_eff_s`` is ln 2 / λ of the slowest (terminal) component — for
    ``bi_uptake`` the clearance phase; for the trapezoid, the tail rate.
Modules
    ``models`` (the models, their bounds and analytic integrals), ``engine``
    (the general vectorised Levenberg–Marquardt, no knowledge of TACs),
    ``data`` (validation, :class:`ErrorModel`), ``tia`` (trapezoid, analytic
    integrals, delta-method SD), ``fit`` (:func:`fit_batch`, AICc selection),
    ``curve`` (:func:`fit_curve`, :class:`KineticsFit`, bootstrap).

Examples
--------
>>> import math
>>> import numpy as np
>>> t_h = np.array([4.0, 24.0, 96.0, 168.0])
>>> a = 100e6 * np.exp(-np.log(2) * t_h / 60.0)          # T_eff = 60 h, 100 MBq
>>> fit = fit_curve(t_h * 3600, a, half_life=6.647 * 86400, model="mono")
>>> round(fit.t_eff_s / 3600, 6), round(fit.tia_bq_s / (100e6 * 60 * 3600 / math.log(2)), 6)
(60.0, 1.0)
"""

from sstrkit.therapy.kinetics.curve import KineticsFit, fit_curve
from sstrkit.therapy.kinetics.data import ErrorModel
from sstrkit.therapy.kinetics.data import Weighting as Weighting
from sstrkit.therapy.kinetics.engine import BoolArray as BoolArray
from sstrkit.therapy.kinetics.engine import FloatArray as FloatArray
from sstrkit.therapy.kinetics.fit import BatchFit, fit_batch
from sstrkit.therapy.kinetics.fit import ModelBatch as ModelBatch
from sstrkit.therapy.kinetics.models import MODELS, ModelName
from sstrkit.therapy.kinetics.models import Method as Method
from sstrkit.therapy.kinetics.tia import StartMode as StartMode
from sstrkit.therapy.kinetics.tia import TailMode as TailMode
from sstrkit.therapy.kinetics.tia import multi_exponential_tia, trapezoid_tia

__all__ = [
    "MODELS",
    "BatchFit",
    "ErrorModel",
    "KineticsFit",
    "ModelName",
    "fit_batch",
    "fit_curve",
    "multi_exponential_tia",
    "trapezoid_tia",
]
