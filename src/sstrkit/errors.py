"""Typed exceptions raised by sstrkit.

Every error names the offending input, the expected and the actual value, and
how to fix it, so that the CLI can print it as one line and exit with status 2.

Every error has a fix. A raise site that knows a better one passes ``fix=``;
otherwise the class supplies a default derived from ``what`` (and ``expected``)
through :meth:`SstrkitError.default_fix`, e.g. "correct --sex: use F or M".
File-system and operating-system failures (permission, read-only or full
disk, a file where a folder is needed, ...) are :class:`FileSystemError`, also
an :class:`OSError`; :meth:`FileSystemError.from_os_error` turns any
``OSError`` into one, with a fix chosen by its ``errno``.

Examples
--------
>>> err = InvalidInputError("activity", expected="a value > 0 Bq", actual="-1 Bq",
...                         fix="pass the administered activity")
>>> str(err)
'activity: expected a value > 0 Bq, got -1 Bq. Fix: pass the administered activity'
>>> isinstance(err, SstrkitError) and isinstance(err, ValueError)
True
>>> InvalidInputError("--sex", expected="F or M", actual="X").fix
'correct --sex: use F or M'
>>> str(FileSystemError.from_os_error(PermissionError(13, "Permission denied", "/data/out")))
'/data/out: got permission denied (PermissionError). Fix: check the permissions of /data/out \
(ls -ld /data/out), or use another path'
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Any

__all__ = [
    "CatalogError",
    "DicomMetadataError",
    "FileSystemError",
    "FitError",
    "GeometryMismatchError",
    "InvalidInputError",
    "OutputLockedError",
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
        What the user can do about it; when omitted (or empty), the class's
        :meth:`default_fix`, so that every error carries one.
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
        self.fix: str = fix or self.default_fix()
        super().__init__(self._compose())

    def default_fix(self) -> str:
        """The fix used when the raise site gives none (derived from ``what``)."""
        return f"check {self.what} and run again"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by state (the keyword-only constructor cannot take ``args``).

        >>> import pickle
        >>> err = pickle.loads(pickle.dumps(InvalidInputError("--sex", expected="F or M")))
        >>> str(err)
        '--sex: expected F or M, got None. Fix: correct --sex: use F or M'
        >>> err.fix
        'correct --sex: use F or M'
        """
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))

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

    def to_dict(self) -> dict[str, object]:
        """``what``, ``expected``, ``actual`` (as text), ``fix``, ``type`` and ``message``.

        >>> InvalidInputError("--sex", expected="F or M", actual="X", fix="use M").to_dict()[
        ...     "actual"]
        'X'
        """
        return {
            "what": self.what,
            "expected": self.expected,
            "actual": None if self.actual is None else str(self.actual),
            "fix": self.fix,
            "type": type(self).__name__,
            "message": self.one_line(),
        }


def _rebuild(cls: type[SstrkitError], message: str, state: dict[str, Any]) -> SstrkitError:
    """Unpickle an error from its message and attributes."""
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class InvalidInputError(SstrkitError, ValueError):
    """A value passed by the user is out of range, malformed or inconsistent."""

    def default_fix(self) -> str:
        """``correct WHAT: use EXPECTED`` (``correct WHAT`` without an expectation)."""
        if self.expected:
            return f"correct {self.what}: use {self.expected}"
        return f"correct {self.what}"


class UnitError(InvalidInputError):
    """A quantity string or a unit cannot be converted to the internal unit."""


class UnknownNuclideError(InvalidInputError, KeyError):
    """A radionuclide name is not in ICRP Publication 107."""

    def default_fix(self) -> str:
        """Point to the spelling and to the list of nuclides."""
        return (
            "give an ICRP-107 radionuclide such as Lu-177, Y-90 or Ga-68 "
            "('sstrkit catalog nuclides' lists the catalogue's)"
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self._compose()


class CatalogError(InvalidInputError, KeyError):
    """A tracer, therapy or catalogue entry does not exist or is malformed."""

    def default_fix(self) -> str:
        """Point to the catalogue listings."""
        return f"correct {self.what}; 'sstrkit catalog --help' lists the catalogue commands"

    def __str__(self) -> str:
        return self._compose()


class DicomMetadataError(SstrkitError, ValueError):
    """A DICOM attribute needed for quantification is missing or inconsistent."""

    def default_fix(self) -> str:
        """Give the value on the command line, or fix the export."""
        return (
            f"give {self.what} as a command option (see --help), "
            "or export the series again with complete headers"
        )


class GeometryMismatchError(SstrkitError, ValueError):
    """Two images that must share a voxel grid do not."""

    def default_fix(self) -> str:
        """Resample, or give images of one grid."""
        return (
            f"give images on one voxel grid for {self.what} "
            "(same size, spacing, origin and direction), or resample one onto the other"
        )


class FitError(SstrkitError, RuntimeError):
    """A model fit (kinetics, calibration...) failed or is not identifiable."""

    def default_fix(self) -> str:
        """More or better data, or a simpler model."""
        return (
            f"check the data of {self.what} (times, values, units), add time points, "
            "or choose a simpler model (mono or trapezoid)"
        )


def _errno_fix(code: int | None, path: str) -> tuple[str, str]:
    """(short reason, fix) for an ``errno`` on ``path``."""
    where = path or "the path"
    table: dict[int, tuple[str, str]] = {
        _errno.EACCES: (
            "permission denied",
            f"check the permissions of {where}"
            + (f" (ls -ld {path})" if path else "")
            + ", or use another path",
        ),
        _errno.EPERM: (
            "operation not permitted",
            f"check the permissions and attributes of {where}, or use another path",
        ),
        _errno.EROFS: (
            "read-only file system",
            f"write to a folder on a writable file system instead of {where}",
        ),
        _errno.ENOENT: (
            "no such file or folder",
            f"check the path {where}: it (or a folder above it) does not exist",
        ),
        _errno.EEXIST: ("already exists", f"remove {where} or choose another path"),
        _errno.ENOTDIR: (
            "a part of the path is a file, not a folder",
            f"choose a path whose parents are folders instead of {where}",
        ),
        _errno.EISDIR: ("is a folder", f"give a file name instead of the folder {where}"),
        _errno.ENOSPC: (
            "no space left on the device",
            f"free disk space on the file system of {where}, or write elsewhere",
        ),
        _errno.EDQUOT: (
            "disk quota exceeded",
            f"free space in your quota on the file system of {where}, or write elsewhere",
        ),
        _errno.EMFILE: (
            "too many open files",
            "raise the open-file limit (ulimit -n) or close other programs",
        ),
        _errno.ENAMETOOLONG: ("file name too long", f"choose a shorter path than {where}"),
        _errno.EIO: (
            "input/output error",
            f"check the disk or network share holding {where}",
        ),
        _errno.EBUSY: ("device or resource busy", f"close programs using {where} and run again"),
    }
    if code in table:
        return table[code]
    reason = os.strerror(code).lower() if code is not None else "operating-system error"
    return reason, f"check {where} and run again"


class FileSystemError(SstrkitError, OSError):
    """A file or folder cannot be read, created or written (also an :class:`OSError`).

    ``path`` is the file or folder concerned. Built directly by the checks of
    :mod:`sstrkit.core.atomic`, or from any ``OSError`` by :meth:`from_os_error`.
    """

    def __init__(
        self,
        what: str,
        *,
        expected: str | None = None,
        actual: object = None,
        fix: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = None if path is None else os.fspath(path)
        super().__init__(what, expected=expected, actual=actual, fix=fix)

    def __str__(self) -> str:  # OSError would otherwise format errno/strerror
        return self._compose()

    def default_fix(self) -> str:
        """Check the path and its permissions."""
        where = self.path or self.what
        return f"check that {where} exists and that you may read and write it"

    def to_dict(self) -> dict[str, object]:
        """As :meth:`SstrkitError.to_dict`, with the ``path``."""
        return {**super().to_dict(), "path": self.path}

    @classmethod
    def from_os_error(cls, exc: OSError, what: str | None = None) -> FileSystemError:
        """The typed error for ``exc``: its path, a short reason and a fix by ``errno``.

        ``what`` names the input or output (e.g. ``"--out"``); the path is added
        when it is not already part of it.

        >>> err = FileSystemError.from_os_error(FileExistsError(17, "File exists", "out"),
        ...                                     "--out")
        >>> err.one_line()
        '--out out: got already exists (FileExistsError). Fix: remove out or choose another path'
        >>> err.errno, err.path
        (17, 'out')
        """
        if isinstance(exc, FileSystemError):
            return exc
        path = "" if exc.filename is None else os.fsdecode(exc.filename)
        reason, fix = _errno_fix(exc.errno, path)
        if exc.errno is None and exc.strerror is None and str(exc):
            reason = str(exc)
        if exc.filename2 is not None:
            reason += f" (with {os.fsdecode(exc.filename2)})"
        if what is None:
            label = path or "file system"
        elif path and path not in what.split():
            label = f"{what} {path}"
        else:
            label = what
        err = cls(label, actual=f"{reason} ({type(exc).__name__})", fix=fix, path=path or None)
        err.errno = exc.errno
        err.filename = exc.filename
        return err


class OutputLockedError(FileSystemError):
    """Another sstrkit process is writing into the same output folder.

    ``holder`` has the other process's ``pid``, ``host``, ``started`` and ``command``.
    """

    def __init__(
        self,
        what: str,
        *,
        expected: str | None = None,
        actual: object = None,
        fix: str | None = None,
        path: str | os.PathLike[str] | None = None,
        holder: dict[str, object] | None = None,
    ) -> None:
        self.holder = dict(holder or {})
        super().__init__(what, expected=expected, actual=actual, fix=fix, path=path)

    def default_fix(self) -> str:
        """Wait for the other run, or choose another folder."""
        return "wait for the other run to finish, or choose another output folder"

    def to_dict(self) -> dict[str, object]:
        """As :meth:`FileSystemError.to_dict`, with the ``holder``."""
        return {**super().to_dict(), "holder": self.holder}
