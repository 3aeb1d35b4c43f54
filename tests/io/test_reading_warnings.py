"""Plausibility warnings of the PET header reach the reading (not dropped on the way)."""

from __future__ import annotations

from sstrkit.reading.inputs import load_suv_pet


def test_unusual_weight_warning_reaches_the_caller(make_pet) -> None:  # type: ignore[no-untyped-def]
    """PatientWeight 230 kg is possible but outside the usual 2.5–200 kg range (the
    plausibility table in docs/dicom.md): the SUV is computed and the warning is handed on."""
    folder = make_pet(attrs={"PatientWeight": "230"})[0].parent
    warnings: list[str] = []
    suv = load_suv_pet(folder, assume_suv=False, role="SSTR PET", warnings=warnings)
    assert suv.unit == "g/mL"
    assert any(w.startswith("SSTR PET: ") and "230" in w for w in warnings), warnings
