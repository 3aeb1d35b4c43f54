"""Fixtures of the voxel-dosimetry tests: an isolated kernel cache per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def kernel_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point SSTRKIT_CACHE at a session temp dir (the MC table is built once per session)."""
    path = tmp_path_factory.mktemp("sstrkit-cache")
    old = os.environ.get("SSTRKIT_CACHE")
    os.environ["SSTRKIT_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("SSTRKIT_CACHE", None)
    else:
        os.environ["SSTRKIT_CACHE"] = old
