"""Regimen activities in Bq and their expansion into administrations."""

from __future__ import annotations

import pytest

from sstrkit import catalog as cat
from sstrkit.core.units import parse_quantity
from sstrkit.errors import InvalidInputError

WEEK_S = 7 * 86400.0


def test_quantity_parsing_by_definition() -> None:
    # 1 GBq = 1e9 Bq; 1 Ci = 3.7e10 Bq exactly, so 200 mCi = 7.4e9 Bq.
    assert parse_quantity("7.4 GBq", "activity") == pytest.approx(7.4e9, rel=1e-15)
    assert parse_quantity("200 mCi", "activity") == pytest.approx(7.4e9, rel=1e-15)


def test_netter1() -> None:
    # Strosberg et al. 2017 NEJM 376:125: 4 x 7.4 GBq 177Lu-DOTATATE every 8 weeks.
    r = cat.regimen("NETTER-1")
    assert (r.cycles, r.schedule, r.per_m2) == (4, "same", False)
    assert r.interval_min_s == r.interval_max_s == pytest.approx(8 * WEEK_S)
    (c,) = r.components
    assert (c.nuclide, c.activity_bq) == ("Lu-177", pytest.approx(7.4e9))
    # Cumulative 4 x 7.4 = 29.6 GBq.
    assert r.total_activity_bq() == pytest.approx(29.6e9)
    assert [a.cycle for a in r.administrations()] == [1, 2, 3, 4]


def test_rotterdam_equals_netter_activity() -> None:
    # 200 mCi = 7.4 GBq by the definition of the curie; 4 cycles = 800 mCi = 29.6 GBq, the
    # upper end of Table 3's "750 to 800 mCi" (Kwekkeboom et al. 2008).
    r = cat.regimen("Rotterdam")
    assert r.components[0].activity_bq == pytest.approx(
        cat.regimen("NETTER-1").components[0].activity_bq
    )
    assert r.total_activity_bq() == pytest.approx(cat.therapies("177Lu-DOTATATE")[0].dosage.max_bq)
    assert (r.interval_min_s, r.interval_max_s) == pytest.approx((6 * WEEK_S, 10 * WEEK_S))


def test_bsa_regimen_needs_bsa() -> None:
    # Waldherr et al. 2002: 7.4 GBq/m² total in 4 equal injections, 6 weeks apart.
    r = cat.regimen("y90-dotatoc-bsa-7.4")
    assert r.per_m2
    with pytest.raises(InvalidInputError, match="body-surface area"):
        r.administrations()
    with pytest.raises(InvalidInputError):
        r.total_activity_bq(bsa_m2=0.0)
    # Hand calculation: 1.85 GBq/m² x 1.8 m² = 3.33 GBq per cycle; 4 cycles = 13.32 GBq
    # = 7.4 GBq/m² x 1.8 m².
    admins = r.administrations(bsa_m2=1.8)
    assert [a.activity_bq for a in admins] == pytest.approx([3.33e9] * 4)
    assert r.total_activity_bq(bsa_m2=1.8) == pytest.approx(7.4e9 * 1.8)


def test_waldherr_2001_total() -> None:
    # Waldherr et al. 2001: total 6000 MBq/m² in four injections.
    r = cat.regimen("Waldherr 2001")
    assert r.total_activity_bq(bsa_m2=1.0) == pytest.approx(6.0e9)


def test_tandem_alternates() -> None:
    # Seregni et al. 2014: 4 cycles alternating 177Lu-DOTATATE 5.55 GBq and 90Y-DOTATATE 2.6 GBq.
    r = cat.regimen("tandem")
    admins = r.administrations()
    assert [(a.cycle, a.nuclide) for a in admins] == [
        (1, "Lu-177"),
        (2, "Y-90"),
        (3, "Lu-177"),
        (4, "Y-90"),
    ]
    assert r.total_activity_bq("Lu-177") == pytest.approx(2 * 5.55e9)
    assert r.total_activity_bq("Y-90") == pytest.approx(2 * 2.6e9)
    assert r.total_activity_bq() == pytest.approx(2 * 5.55e9 + 2 * 2.6e9)
    assert r.interval_min_s is None  # not stated by the source


def test_every_regimen_agent_matches_catalogue_tracer() -> None:
    for r in cat.regimens():
        for c in r.components:
            t = cat.tracer(c.agent)
            assert t.nuclide == c.nuclide and t.group == "therapy"
            assert c.activity_bq == pytest.approx(parse_quantity(c.activity_text, "activity"))
