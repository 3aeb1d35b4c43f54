"""Fixtures shared by every test folder (the skip/fail rule itself is in ``_services``)."""

from __future__ import annotations

import pytest

from _services import require_tool

__all__ = ["require_tool"]


@pytest.fixture(scope="session")
def dciodvfy_tool() -> str:
    """dicom3tools' DICOM conformance checker (``dciodvfy``)."""
    return require_tool("dciodvfy", "dicom3tools")
