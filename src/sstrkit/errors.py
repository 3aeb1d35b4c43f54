"""Typed exceptions raised by sstrkit.

Every error names the offending input, the expected and the actual value, and
how to fix it, so that the CLI can print it as one line and exit with status 2.

Examples
--------
>>> err = InvalidInputError("activity", expected="a value > 0 Bq", actual="-1 Bq",
...                         fix="pass the administered activity")
>>> str(err)
'activity: expected a value > 0 Bq, got -1 Bq. Fix: pass the administered activity'
>>> isinstance(err, SstrkitError) and isinstance(err, ValueError)
True
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "DicomMetadataError",
    "FitError",
    "GeometryMismatchError",
    "InvalidInputError",
    "SstrkitError",
    "UnitError",
    "UnknownNuclideError",
]


class SstrkitError(Exception):
    """Base class of every error sstrkit raises on purpose.

    Parameters
    ----------
    what
        The input that is wrong (argument, file, DICOM attribute, column...).
    expected
        What sstrkit expected.
    actual
        What it got instead.
    fix
        What the user can do about it.
    """

    def __init__(
        self,
        what: str,
        *,
        expected: str | None = None,
        actual: object = None,
        fix: str | None = None,
    ) -> None:
        self.what = what
        self.expected = expected
        self.actual = actual
        self.fix = fix
        super().__init__(self._compose())

    def _compose(self) -> str:
        msg = self.what
        if self.expected is not None:
            msg += f": expected {self.expected}, got {self.actual}"
        elif self.actual is not None:
            msg += f": got {self.actual}"
        if self.fix:
            msg += f". Fix: {self.fix}"
        return msg

    def one_line(self) -> str:
        """The message on a single line (for the CLI)."""
        return " ".join(str(self).split())


class InvalidInputError(SstrkitError, ValueError):
    """A value passed by the user is out of range, malformed or inconsistent."""


class UnitError(InvalidInputError):
    """A quantity string or a unit cannot be converted to the internal unit."""


class UnknownNuclideError(InvalidInputError, KeyError):
    """A radionuclide name is not in ICRP Publication 107."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self._compose()


class CatalogError(InvalidInputError, KeyError):
    """A tracer, therapy or catalogue entry does not exist or is malformed."""

    def __str__(self) -> str:
        return self._compose()


class DicomMetadataError(SstrkitError, ValueError):
    """A DICOM attribute needed for quantification is missing or inconsistent."""


class GeometryMismatchError(SstrkitError, ValueError):
    """Two images that must share a voxel grid do not."""


class FitError(SstrkitError, RuntimeError):
    """A model fit (kinetics, calibration...) failed or is not identifiable."""
