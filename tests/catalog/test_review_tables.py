"""The catalogue reproduces the review's Tables 2 and 3 and the figures of its section 3.4.

Reference: Wang L et al. Somatostatin receptor-based molecular imaging and therapy for
neuroendocrine tumors. BioMed Res Int 2013:102819, as stored in
../shared/domain/sstr-imaging-and-therapy-review.txt (Table 2: lines 15-43; Table 3: lines
79-93; section 3.4: lines 67-78). The expected values below are copied from that text.
"""

from __future__ import annotations

import pytest

from sstrkit import catalog as cat

# Review Table 2, in the table's order.
TABLE2 = {
    "SPECT": [
        "111In-pentetreotide",
        "111In-DTPAOC",
        "123I-octreotide",
        "111In-DOTA-lanreotide",
        "111In-DOTA-NOC-ATE",
        "111In-DOTA-BOC-ATE",
    ],
    "PET": ["68Ga-DOTATATE", "68Ga-DOTATOC", "68Ga-DOTANOC", "64Cu-DOTATATE", "18F-FP-Gluc-TOCA"],
    "gene": ["94mTc-Demotate 1", "99mTc-P2045", "99mTc-P829"],
}


@pytest.mark.parametrize(("group", "names"), TABLE2.items())
def test_table2_groups_match_review(group: str, names: list[str]) -> None:
    got = cat.tracers(group)
    assert [t.name for t in got] == names
    assert all(t.table2 and t.sstr_targeting for t in got)


def test_table2_counts_6_5_3_and_nothing_else_flagged() -> None:
    counts = {g: len(cat.tracers(g)) for g in ("SPECT", "PET", "gene")}
    assert counts == {"SPECT": 6, "PET": 5, "gene": 3}
    assert sum(t.table2 for t in cat.tracers()) == 14


def test_tracer_nuclide_matches_its_name_prefix() -> None:
    # "68Ga-DOTATATE" is labelled with Ga-68, "94mTc-..." with Tc-94m: an independent check of
    # every tracer's nuclide field against the mass/element written in its name.
    from sstrkit.physics.nuclides import normalise_name

    for t in cat.tracers():
        prefix = t.name.split("-")[0].split("/")[0]
        assert normalise_name(prefix) == t.nuclide, t.name


def test_modalities_follow_the_label() -> None:
    # Positron emitters image with PET, single-photon emitters with SPECT (gene-imaging row
    # 94mTc-Demotate 1 is PET, the two 99mTc reporter probes SPECT). ICRP 107 positron
    # fractions: Cu-64 0.17 (lowest PET label here), In-111/Tc-99m/I-123 0.
    for t in cat.tracers():
        if t.group in ("SPECT", "PET", "gene"):
            beta_plus = cat.nuclide(t.nuclide).physics().positron_fraction
            assert t.modality == ("PET" if beta_plus > 0.1 else "SPECT"), t.name


def test_subtype_profiles_named_in_the_issue() -> None:
    # Issue 2 / review: DOTATATE mainly SSTR2, DOTANOC SSTR2/3/5; review 3.2: pentetreotide
    # visualises SSTR2, SSTR3 and SSTR5 tumours.
    assert cat.tracer("68Ga-DOTATATE").subtypes == ("SSTR2",)
    assert set(cat.tracer("68Ga-DOTANOC").subtypes) == {"SSTR2", "SSTR3", "SSTR5"}
    assert set(cat.tracer("111In-pentetreotide").subtypes) == {"SSTR2", "SSTR3", "SSTR5"}


def test_ic50_values_from_reubi_2000() -> None:
    # Reubi et al. 2000 Eur J Nucl Med 27:273, as reproduced in Günther et al. 2018
    # Pharmacol Rev 70:763, Table 12 (footnote a). Exact table values (nM).
    ga_tate = cat.tracer("68Ga-DOTATATE")
    assert ga_tate.ic50_compound == "Ga-DOTA-TATE"
    assert [(i.subtype, i.value_nm, i.qualifier) for i in ga_tate.ic50] == [
        ("SSTR1", 10000.0, ">"),
        ("SSTR2", 0.2, "="),
        ("SSTR3", 1000.0, ">"),
        ("SSTR4", 300.0, "="),
        ("SSTR5", 377.0, "="),
    ]
    assert cat.tracer("68Ga-DOTATOC").ic50_nm("SSTR2").value_nm == 2.5  # type: ignore[union-attr]
    assert cat.tracer("111In-pentetreotide").ic50_nm("sstr5").value_nm == 237  # type: ignore[union-attr]
    # The review (Discussion): in vitro SSTR2 affinity of 68Ga-DOTATATE is higher than that of
    # 68Ga-DOTATOC -> lower IC50.
    tate, toc = (cat.tracer(n).ic50_nm("SSTR2") for n in ("68Ga-DOTATATE", "68Ga-DOTATOC"))
    assert tate is not None and toc is not None and tate.value_nm < toc.value_nm


def test_ic50_only_with_compound_and_source() -> None:
    for t in cat.tracers():
        if t.ic50:
            assert t.ic50_compound and t.ic50_ref == "reubi2000", t.name
            assert {i.subtype for i in t.ic50} == {"SSTR1", "SSTR2", "SSTR3", "SSTR4", "SSTR5"}


def test_non_sstr_comparators_flagged() -> None:
    comps = cat.tracers("comparator")
    assert {t.name for t in comps} == {"18F-FDG", "11C-5-HTP"}
    assert not any(t.sstr_targeting for t in comps) and not any(t.subtypes for t in comps)


# Review Table 3, verbatim: agent, subjects, dosage, duration, main findings, reference.
TABLE3 = [
    ("90Y-DOTATATE", "46 NETs", "7.4 GBq/m2", "3–5 cycles", "PFS 37.4 months", "[59]"),
    (
        "90Y-DOTATOC",
        "116 Metastatic NETs",
        "162–200 mCi/m2",
        "2–4 cycles",
        "Significant reduction of symptoms was found in 83% of patients",
        "[58]",
    ),
    (
        "177Lu-DOTATATE",
        "310GEP-NETs",
        "750 to 800 mCi",
        "4 cycles",
        "Survival benefit of 40 to 72 months from diagnosis",
        "[60]",
    ),
    (
        "177Lu-DOTATOC",
        "27 relapse NETs",
        "7,400 MBq",
        "Once",
        "2 PR, 5 MR, 12 SD, and 8 PD",
        "[62]",
    ),
]


def test_table3_rows_verbatim() -> None:
    rows = [
        (t.agent, t.subjects, t.dosage.text, t.duration, t.main_finding, t.review_ref)
        for t in cat.therapies()
    ]
    assert rows == TABLE3


def test_table3_parsed_numbers() -> None:
    y_tate, y_toc, lu_tate, lu_toc = cat.therapies()
    # 90Y-DOTATATE: 46 NETs, 7.4 GBq/m² (= 7.4e9 Bq per m²), 3-5 cycles, PFS 37.4 months.
    assert (y_tate.n_patients, y_tate.cycles_min, y_tate.cycles_max) == (46, 3, 5)
    assert y_tate.dosage.min_bq == y_tate.dosage.max_bq == pytest.approx(7.4e9, rel=1e-12)
    assert y_tate.dosage.per_m2 and y_tate.pfs_months == 37.4
    # 90Y-DOTATOC: 162-200 mCi/m²; 1 mCi = 3.7e7 Bq by definition -> 5.994e9 to 7.4e9 Bq/m².
    assert y_toc.dosage.min_bq == pytest.approx(162 * 3.7e7, rel=1e-12)
    assert y_toc.dosage.max_bq == pytest.approx(200 * 3.7e7, rel=1e-12)
    assert (y_toc.n_patients, y_toc.cycles_min, y_toc.cycles_max) == (116, 2, 4)
    # 177Lu-DOTATATE: 750-800 mCi total = 27.75-29.6 GBq in 4 cycles.
    assert (lu_tate.dosage.min_bq, lu_tate.dosage.max_bq) == pytest.approx((27.75e9, 29.6e9))
    assert not lu_tate.dosage.per_m2 and lu_tate.dosage.scope == "total"
    assert (lu_tate.n_patients, lu_tate.cycles_min, lu_tate.cycles_max) == (310, 4, 4)
    # 177Lu-DOTATOC: 7,400 MBq once; 2 PR + 5 MR + 12 SD + 8 PD = 27 patients.
    assert lu_toc.dosage.min_bq == pytest.approx(7.4e9) and (
        lu_toc.cycles_min,
        lu_toc.cycles_max,
    ) == (1, 1)
    assert sum(lu_toc.response_counts.values()) == lu_toc.n_patients == 27


def _outcome(outcome_id: str) -> cat.Outcome:
    return next(o for o in cat.outcomes() if o.id == outcome_id)


def test_section_3_4_90y_dotatoc_phase2() -> None:
    # "38 patients ... fixed 90Y-DOTATOC dose of 2.56 GBq bimonthly ... 43.6% PR, 25.6% SD,
    # 28.2% PD ... median PFS 22.3 months."
    o = _outcome("y90-dotatoc-phase2-fixed")
    assert o.n_patients == 38 and o.dosage_text == "2.56 GBq" and o.pfs_months == 22.3
    assert o.response_rates_percent() == {"PR": 43.6, "SD": 25.6, "PD": 28.2}


def test_section_3_4_177lu_dotatate() -> None:
    # "CR and PR occurred in 2% and 28% of patients, respectively, and minor tumor response
    # occurred in 16%": ORR = 2 + 28 = 30 %.
    o = _outcome("lu177-dotatate-310")
    assert o.response_rates_percent() == {"CR": 2.0, "PR": 28.0, "MR": 16.0}
    assert o.objective_response_percent == pytest.approx(30.0)
    assert cat.outcomes("Lu-177 DOTATATE")[0].id == "lu177-dotatate-310"


def test_section_3_4_counts_convert_to_rates() -> None:
    # Phase I 90Y-DOTATOC: 5 PR, 7 MR, 29 SD, 17 PD in 58 patients (sums to 58) -> PR 5/58.
    o = _outcome("y90-dotatoc-phase1-58")
    assert sum(o.response_counts.values()) == o.n_patients == 58
    assert o.response_rates_percent()["PR"] == pytest.approx(100 * 5 / 58)
    # 116 patients: CR 4 %, PR 23 %, SD 62 %, PD 11 % -> sums to 100 %, ORR 27 %.
    o = _outcome("y90-dotatoc-116")
    assert sum(o.response_rates_percent().values()) == pytest.approx(100.0)
    assert o.objective_response_percent == pytest.approx(27.0)
    # 90Y-DOTATATE (Sowa-Staszczak): 47 % SD, 31 % PR, 9 % PD, PFS 37.4 months.
    o = _outcome("y90-dotatate-sowa")
    assert o.response_rates_percent() == {"PR": 31.0, "SD": 47.0, "PD": 9.0}
    assert o.pfs_months == 37.4


def test_clinical_response_is_not_an_objective_response() -> None:
    # 43 of 60 (72 %) clinical PR at six months: a clinical, not a tumour, response.
    o = _outcome("y90-dotatate-60")
    assert o.response_rates_percent()["PR"] == pytest.approx(100 * 43 / 60)
    assert round(o.response_rates_percent()["PR"]) == 72
    assert o.objective_response_percent is None
    assert (o.pfs_months, o.os_months) == (17.0, 22.0)


def test_lower_bound_pfs_is_kept_as_such() -> None:
    o = _outcome("lu177-dotatate-pfs")
    assert (o.pfs_months, o.pfs_qualifier) == (40.0, ">")


def test_tandem_outcome_agents_are_catalogued() -> None:
    o = _outcome("tandem-90y-177lu-dotatate")
    assert o.agent == "90Y/177Lu-DOTATATE" and o.n_patients == 50
    assert cat.tracer("90Y-DOTATATE") and cat.tracer("177Lu-DOTATATE")
