"""Provenance records: what produced a result, from what, with which settings.

Every result object and every :class:`~sstrkit.core.volume.Volume` carries a
tuple of :class:`Step` records (like TorchIO's transform history). Steps are
immutable and JSON-serialisable so that reports can print them verbatim.

Examples
--------
>>> s = Step.make("decay_correct", {"to": "2026-01-01T00:00:00+00:00"}, sources=("ICRP 107",))
>>> s.operation, s.sstrkit_version == __version__
('decay_correct', True)
>>> s.to_dict()["parameters"]
{'to': '2026-01-01T00:00:00+00:00'}
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from sstrkit import __version__

__all__ = ["Step", "jsonable"]


def jsonable(value: Any) -> Any:
    """Turn numpy scalars/arrays, datetimes, tuples and mappings into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(value)


@dataclass(frozen=True)
class Step:
    """One operation in a result's history.

    Attributes
    ----------
    operation
        Short machine name of the method (``"resample"``, ``"suv_bw"``...).
    parameters
        The settings used (JSON-serialisable after :func:`jsonable`).
    inputs
        Identifiers of the inputs (series UIDs, file names, volume names).
    sources
        Data sources and references (``"ICRP 107"``, ``"QIBA FDG-PET/CT 2016"``).
    sstrkit_version
        Package version that produced the step.
    """

    operation: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    sstrkit_version: str = __version__

    @classmethod
    def make(
        cls,
        operation: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        inputs: tuple[str, ...] = (),
        sources: tuple[str, ...] = (),
    ) -> Step:
        """Build a step with parameters frozen to JSON-compatible values."""
        params = jsonable(dict(parameters or {}))
        return cls(operation, MappingProxyType(params), tuple(inputs), tuple(sources))

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "parameters": jsonable(dict(self.parameters)),
            "inputs": list(self.inputs),
            "sources": list(self.sources),
            "sstrkit_version": self.sstrkit_version,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
