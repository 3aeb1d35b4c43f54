"""Registry ingest: liver tests and chromogranin A become long-format lab values (issue 23)."""

from __future__ import annotations

from sstrkit.registry import ingest


def test_liver_and_cga_values_are_ingested_with_their_units() -> None:
    rows = ingest._labs(
        {
            "labs": [
                {
                    "time": "2026-01-04T08:00:00+00:00",
                    "before_cycle": 1,
                    "creatinine_umol_l": 80.0,
                    "bilirubin_umol_l": 9.5,
                    "albumin_g_l": 41.0,
                    "inr": 1.0,
                    "chromogranin_a_ug_l": 350.0,
                    "alt_uln_u_l": 40.0,  # a reference limit, not a value
                    "proton_pump_inhibitor": False,
                }
            ]
        }
    )
    got = {(r["name"], r["value"], r["unit"]) for r in rows}
    assert got == {
        ("creatinine", 80.0, "umol/L"),
        ("bilirubin", 9.5, "umol/L"),
        ("albumin", 41.0, "g/L"),
        ("inr", 1.0, "1"),
        ("chromogranin_a", 350.0, "ug/L"),
    }
