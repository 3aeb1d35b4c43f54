"""``sstrkit dose kernel`` through the real app."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from sstrkit.cli.main import app

runner = CliRunner()


def test_dose_kernel_contract(tmp_path: Path) -> None:
    out = tmp_path / "k.npy"
    res = runner.invoke(
        app,
        [
            "dose",
            "kernel",
            "Lu-177",
            "--voxel-mm",
            "4.8",
            "--half-size",
            "5",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {"nuclide", "voxel_mm", "center_mgy_per_mbq_s", "shape", "method"} <= set(doc)
    assert doc["nuclide"] == "Lu-177" and doc["voxel_mm"] == 4.8
    assert doc["shape"] == [11, 11, 11]
    k = np.load(out)
    assert k.shape == (11, 11, 11)
    assert np.unravel_index(np.argmax(k), k.shape) == (5, 5, 5)
    assert k[5, 5, 5] == doc["center_mgy_per_mbq_s"]
    # All-electron ¹⁷⁷Lu kernel: Lanconelli's β-only 0.178 plus IC/Auger (+8 %); see
    # test_kernels.py for the 5 % validation of the β-only kernel.
    assert 0.17 < doc["center_mgy_per_mbq_s"] < 0.21


def test_dose_kernel_errors() -> None:
    res = runner.invoke(app, ["dose", "kernel", "Xx-999", "--voxel-mm", "4", "--json"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["dose", "kernel", "Lu-177", "--voxel-mm", "4", "--tissue", "lung"])
    assert res.exit_code == 2
