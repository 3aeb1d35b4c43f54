"""The one rule for tests that need an external service or tool (imported as ``_services``).

A missing tool or service skips the test locally with a plain reason (``make test`` lists
the skips) and fails it under ``CI=true``, where ``.ci/run`` installs every Debian package
the tests start themselves (dicom3tools, dcmtk, orthanc, postgresql, chromium…).
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

__all__ = ["on_ci", "require_tool", "skip_or_fail"]


def on_ci() -> bool:
    """True under ``CI=true`` (the value CI systems set)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str, install: str = ".ci/run installs it") -> NoReturn:
    """Skip with ``reason`` locally; fail under ``CI=true``."""
    if on_ci():
        pytest.fail(f"{reason} (required under CI=true; {install})")
    pytest.skip(reason)


def require_tool(name: str, package: str) -> str:
    """The path of an external tool; skip without it locally, fail under ``CI=true``."""
    tool = shutil.which(name)
    if tool is None:
        skip_or_fail(f"{name} is not installed: apt-get install {package}")
    return tool
