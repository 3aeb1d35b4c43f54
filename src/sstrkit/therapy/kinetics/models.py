"""Kinetic models: sums of exponentials, their parameters, bounds and analytic integrals.

Each model (``t`` in s, amplitudes in Bq, rates in s⁻¹) is a sum of terms
``sign·a·e^(−λ t)``; :data:`MODELS` holds ``mono``, ``bi_uptake``, ``bi`` and
``tri`` (see the table in :mod:`sstrkit.therapy.kinetics`). A model evaluates
itself and its Jacobian for many curves at once, integrates itself from 0 to ∞
analytically (with the gradient of the integral), and knows its bounds:
amplitudes ≥ 0, slowest rate ≥ physical decay, rates ordered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

import numpy as np

from sstrkit.therapy.kinetics.engine import BOUND_TOL, BoolArray, FloatArray

__all__ = ["MODELS", "BoolArray", "FloatArray", "Method", "ModelName"]

ModelName = Literal["mono", "bi_uptake", "bi", "tri"]
Method = Literal["auto", "mono", "bi_uptake", "bi", "tri", "trapezoid"]

_LN2: Final = math.log(2.0)


@dataclass(frozen=True)
class _Model:
    """A sum of exponential terms ``sign·θ[amp]·exp(−θ[rate]·t)``."""

    name: str
    param_names: tuple[str, ...]
    amp_idx: tuple[int, ...]  # index of the amplitude parameters
    rate_idx: tuple[int, ...]  # index of the rate parameters, slowest first
    terms: tuple[tuple[int, float, int], ...]  # (amplitude index, sign, rate index)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def evaluate(self, theta: FloatArray, t: FloatArray) -> FloatArray:
        """A(t) for theta (m, p) and t (m, n) → (m, n)."""
        out = np.zeros(np.broadcast_shapes(t.shape, (*theta.shape[:-1], 1)))
        for a, s, r in self.terms:
            out += s * theta[:, a, None] * np.exp(-theta[:, r, None] * t)
        return out

    def jacobian(self, theta: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(A(t), ∂A/∂θ) with shapes (m, n) and (p, m, n)."""
        m, n = t.shape
        f = np.zeros((m, n))
        jac = np.zeros((self.n_params, m, n))
        for a, s, r in self.terms:
            e = np.exp(-theta[:, r, None] * t)
            amp = theta[:, a, None]
            term = amp * e
            f += s * term if s != 1.0 else term
            jac[a] += s * e
            jac[r] -= s * t * term
        return f, jac

    def tia(self, theta: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(∫₀^∞ A dt, its gradient) with shapes (m,) and (m, p)."""
        total = np.zeros(theta.shape[0])
        grad = np.zeros_like(theta)
        for a, s, r in self.terms:
            total += s * theta[:, a] / theta[:, r]
            grad[:, a] += s / theta[:, r]
            grad[:, r] -= s * theta[:, a] / theta[:, r] ** 2
        return total, grad

    def project(self, theta: FloatArray, k_phys: FloatArray) -> FloatArray:
        """Enforce amplitudes ≥ 0, slowest rate ≥ physical, rates ordered."""
        out = theta.copy()
        out[:, list(self.amp_idx)] = np.maximum(out[:, list(self.amp_idx)], 0.0)
        floor = k_phys
        for j, r in enumerate(self.rate_idx):
            out[:, r] = np.maximum(out[:, r], floor)
            if j == 0:
                out[:, r] = np.where(np.isfinite(out[:, r]), out[:, r], floor)
            floor = out[:, r] * (1.0 + _ORDER_GAP)
        return out

    def lower_bound(self, theta: FloatArray, k_phys: FloatArray) -> FloatArray:
        """Current lower bound of every parameter (ordering bounds depend on theta)."""
        lb = np.zeros_like(theta)
        floor = k_phys
        for r in self.rate_idx:
            lb[:, r] = floor
            floor = theta[:, r] * (1.0 + _ORDER_GAP)
        return lb

    def bounds_active(
        self, theta: FloatArray, k_phys: FloatArray
    ) -> tuple[BoolArray, BoolArray, BoolArray]:
        """(physical clamp active, degenerate (other bound active), per-parameter fixed mask)."""
        fixed = np.zeros(theta.shape, dtype=bool)
        r0 = self.rate_idx[0]
        clamp = theta[:, r0] <= k_phys * (1.0 + BOUND_TOL)
        fixed[:, r0] = clamp
        degenerate = np.zeros(theta.shape[0], dtype=bool)
        for a in self.amp_idx:
            at0 = theta[:, a] <= _AMP_TOL
            degenerate |= at0
            fixed[:, a] |= at0
        for j in range(1, len(self.rate_idx)):
            prev, cur = theta[:, self.rate_idx[j - 1]], theta[:, self.rate_idx[j]]
            at = cur <= prev * (1.0 + _ORDER_GAP) * (1.0 + BOUND_TOL)
            degenerate |= at
        return clamp, degenerate, fixed


_ORDER_GAP: Final = 1e-3  # rates must differ by ≥ 0.1 % (identifiability)
_AMP_TOL: Final = 1e-9  # scaled amplitude (fraction of max y) counted as zero

MODELS: Final[Mapping[str, _Model]] = MappingProxyType(
    {
        "mono": _Model("mono", ("a1", "lambda1"), (0,), (1,), ((0, 1.0, 1),)),
        "bi_uptake": _Model(
            "bi_uptake",
            ("a1", "lambda1", "lambda2"),
            (0,),
            (1, 2),
            ((0, 1.0, 1), (0, -1.0, 2)),
        ),
        "bi": _Model(
            "bi", ("a1", "lambda1", "a2", "lambda2"), (0, 2), (1, 3), ((0, 1.0, 1), (2, 1.0, 3))
        ),
        "tri": _Model(
            "tri",
            ("a1", "lambda1", "a2", "lambda2", "a3", "lambda3"),
            (0, 2, 4),
            (1, 3, 5),
            ((0, 1.0, 1), (2, 1.0, 3), (4, 1.0, 5)),
        ),
    }
)
_ORDER: Final = ("mono", "bi_uptake", "bi", "tri")
