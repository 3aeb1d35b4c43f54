"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str, package: str) -> str:
    """The path of an external tool; skip without it locally, fail under ``CI=true``."""
    tool = shutil.which(name)
    if tool is None:
        reason = f"{name} is not installed: apt-get install {package}"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{reason} (required under CI=true; .ci/run installs it)")
        pytest.skip(reason)
    return tool


@pytest.fixture(scope="session")
def dciodvfy_tool() -> str:
    """dicom3tools' DICOM conformance checker (``dciodvfy``)."""
    return require_tool("dciodvfy", "dicom3tools")
