"""ICAHT (Rejeski 2023 as in criteria.md section 5, provisional) on hand-written ANC timelines.

Early ICAHT (day 0-30), cumulative days: <=500 for <7 days G1, 7-13 G2, >=14 G3; <=100 for >=7 days
G3, >=14 G4; never >500 during day 0-30 G4. Late ICAHT (after day 30), non-transient nadir (>=2
days): <=1500 G1, <=1000 G2, <=500 G3, <=100 G4. Cut-points on both sides: 6/7 and 13/14 days, 500/501
cells/uL, 100/101, a low sample on day 30 (early) versus day 31 (late), two low days versus one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from grading import icaht_2023 as icaht
from grading.cytopenia import (
    G_CSF_CAVEAT,
    HLH_DIFFERENTIAL,
    CytopeniaPolicy,
    assess_icaht,
)
from grading.enums import Status
from grading.records import Analyte, Disease, LabResult, Patient, Product

INFUSION = datetime(2026, 3, 1, 10, 0)
PATIENT = Patient(
    patient_id="P1",
    site_id="S1",
    disease=Disease.SYSTEMIC_SCLEROSIS,
    product=Product.CD19_CAR_T,
    infusion_at=INFUSION,
)
NORMAL = 3000.0
BRIDGED = CytopeniaPolicy(icaht_unsampled_days="bridged")


def anc(day: int, value: float, unit: str = "cells/uL", hour: int = 7) -> LabResult:
    """An ANC collected on study day ``day`` (day 0 is the infusion day) at ``hour`` o'clock."""
    return LabResult(
        patient_id="P1",
        collected_at=datetime(2026, 3, 1, hour) + timedelta(days=day),
        analyte=Analyte.ANC,
        value=value,
        unit=unit,
    )


def daily(low: Mapping[int, float], days: range = range(0, 31)) -> list[LabResult]:
    """One ANC every day of ``days``: the value given for a day, otherwise normal."""
    return [anc(day, low.get(day, NORMAL)) for day in days]


def low_days(n: int, value: float, first: int = 5) -> dict[int, float]:
    return dict.fromkeys(range(first, first + n), value)


# --- Early ICAHT ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_low", "grade", "rule"),
    [
        (0, 0, "ICAHT-EARLY-0"),
        (1, 1, "ICAHT-EARLY-1"),
        (6, 1, "ICAHT-EARLY-1"),
        (7, 2, "ICAHT-EARLY-2"),
        (13, 2, "ICAHT-EARLY-2"),
        (14, 3, "ICAHT-EARLY-3-500"),
        (30, 3, "ICAHT-EARLY-3-500"),
    ],
)
def test_days_at_or_below_500_set_the_early_grade(days_low: int, grade: int, rule: str) -> None:
    early = assess_icaht(PATIENT, daily(low_days(days_low, 400, first=1))).early
    assert (early.grade, early.maximum_grade) == (grade, grade)
    assert (early.days_anc_le_500, early.days_anc_le_100) == (days_low, 0)
    assert [hit.rule_id for hit in early.hits] == [rule]
    assert early.status is (Status.GRADED if grade else Status.NO_TOXICITY)
    assert early.days_without_sample == ()
    assert not early.is_lower_bound


def test_an_anc_of_exactly_500_counts_and_501_does_not() -> None:
    at_500 = assess_icaht(PATIENT, daily(low_days(7, 500))).early
    at_501 = assess_icaht(PATIENT, daily(low_days(7, 501))).early
    assert (at_500.grade, at_500.days_anc_le_500) == (2, 7)
    assert (at_501.grade, at_501.days_anc_le_500, at_501.status) == (0, 0, Status.NO_TOXICITY)


def test_anc_in_10e9_per_litre_counts_at_500_cells_per_microlitre() -> None:
    labs = [
        anc(day, 0.5, "10^9/L") if 5 <= day < 12 else anc(day, 3.0, "10^9/L") for day in range(31)
    ]
    early = assess_icaht(PATIENT, labs).early
    assert (early.grade, early.days_anc_le_500) == (2, 7)
    assert "anc 0.5 10^9/L = 500 cells/uL" in early.remarks


@pytest.mark.parametrize(
    ("days_at_100", "value", "grade", "rule"),
    [
        (6, 100, 1, "ICAHT-EARLY-1"),
        (7, 100, 3, "ICAHT-EARLY-3-100"),  # 7 days <=500 alone would be grade 2
        (7, 101, 2, "ICAHT-EARLY-2"),
        (13, 100, 3, "ICAHT-EARLY-3-100"),
        (14, 100, 4, "ICAHT-EARLY-4-100"),
        (14, 101, 3, "ICAHT-EARLY-3-500"),
    ],
)
def test_days_at_or_below_100_raise_the_early_grade(
    days_at_100: int, value: float, grade: int, rule: str
) -> None:
    early = assess_icaht(PATIENT, daily(low_days(days_at_100, value))).early
    assert early.grade == grade
    assert early.hits[0].rule_id == rule


def test_never_above_500_during_day_0_to_30_is_grade_4() -> None:
    early = assess_icaht(PATIENT, daily(dict.fromkeys(range(31), 400))).early
    assert (early.grade, early.anc_never_above_500, early.days_anc_le_500) == (4, True, 31)
    assert early.hits[0].rule_id == "ICAHT-EARLY-4-NEVER"
    assert early.hits[0].evidence == "U"  # the reading of "never" is unconfirmed


def test_one_day_above_500_is_not_never_above_500() -> None:
    early = assess_icaht(PATIENT, daily(dict.fromkeys(range(1, 31), 400))).early
    assert (early.grade, early.anc_never_above_500, early.days_anc_le_500) == (3, False, 30)


def test_a_low_sample_on_day_30_counts_early_and_on_day_31_it_does_not() -> None:
    on_30 = assess_icaht(PATIENT, daily({30: 400}, range(0, 32))).early
    on_31 = assess_icaht(PATIENT, daily({31: 400}, range(0, 32))).early
    assert (on_30.grade, on_30.days_anc_le_500) == (1, 1)
    assert (on_31.grade, on_31.days_anc_le_500, on_31.status) == (0, 0, Status.NO_TOXICITY)


def test_a_day_counts_when_one_of_its_samples_is_at_or_below_the_threshold() -> None:
    labs = [*daily({}), *(anc(day, 450, hour=18) for day in range(3, 10))]
    early = assess_icaht(PATIENT, labs).early
    assert (early.grade, early.days_anc_le_500, early.days_sampled) == (2, 7, 31)


def test_pre_infusion_samples_do_not_count() -> None:
    labs = [*(anc(day, 200) for day in range(-5, 0)), *daily({})]
    early = assess_icaht(PATIENT, labs).early
    assert (early.grade, early.days_anc_le_500) == (0, 0)


# --- Days without a sample (policy) -----------------------------------------------------------


def test_days_without_a_sample_are_not_counted_and_the_grade_is_a_lower_bound() -> None:
    labs = [anc(day, 400) for day in range(0, 31, 2)]  # every other day: 16 days sampled
    early = assess_icaht(PATIENT, labs).early
    assert (early.grade, early.maximum_grade, early.days_anc_le_500) == (3, 4, 16)
    assert early.days_without_sample == tuple(range(1, 31, 2))
    assert early.is_lower_bound
    assert early.status is Status.GRADED
    assert early.remarks[0].startswith(
        "15 day(s) of day 0-30 without an ANC sample (day 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, "
        "23, 25, 27, 29): not counted, so grade 3 is a lower bound; with every such day at or "
        "below 100 cells/uL it would be grade 4"
    )
    assert early.reason.startswith("early ICAHT grade 3 (lower bound: could be up to grade 4)")
    assert icaht.PROVISIONAL in early.reason


def test_six_sampled_low_days_with_gaps_stay_grade_1_not_2() -> None:
    labs = [anc(day, 400) for day in (3, 4, 5, 7, 8, 9)] + [
        anc(day, NORMAL) for day in range(31) if day not in range(3, 10)
    ]
    early = assess_icaht(PATIENT, labs).early
    assert (early.grade, early.maximum_grade, early.days_without_sample) == (1, 2, (6,))


def test_grade_0_with_days_without_a_sample_is_not_a_green_zero() -> None:
    labs = [anc(day, NORMAL) for day in range(0, 31) if day != 12]
    early = assess_icaht(PATIENT, labs).early
    assert (early.grade, early.maximum_grade, early.status) == (0, 1, Status.NOT_GRADABLE)
    assert early.missing == ("ANC on day 12",)


def test_no_anc_in_day_0_to_30_is_not_gradable() -> None:
    result = assess_icaht(PATIENT, [anc(-3, 2000), anc(40, 2000)])
    assert (result.early.grade, result.early.status) == (None, Status.NOT_GRADABLE)
    assert result.early.missing == ("no ANC in day 0-30",)
    assert result.early.reason == "early ICAHT not gradable: no ANC in day 0-30"


def test_bridged_policy_counts_a_gap_between_two_low_samples() -> None:
    labs = [anc(day, 400) for day in range(0, 31, 2)]
    default = assess_icaht(PATIENT, labs).early
    bridged = assess_icaht(PATIENT, labs, BRIDGED).early
    assert (default.grade, default.days_anc_le_500) == (3, 16)
    assert (bridged.grade, bridged.days_anc_le_500) == (4, 31)
    assert bridged.days_bridged == tuple(range(1, 31, 2))
    assert "policy icaht_unsampled_days=bridged" in bridged.remarks[0]


def test_bridged_policy_does_not_bridge_a_gap_next_to_a_normal_sample() -> None:
    labs = [anc(5, 400), anc(7, 400), anc(9, 3000), anc(11, 400)]  # gaps: 6 (low-low), 8, 10
    early = assess_icaht(PATIENT, labs, BRIDGED).early
    assert early.days_bridged == (6,)
    assert early.days_anc_le_500 == 4  # days 5, 6, 7 and 11


def test_as_of_reports_days_not_yet_reached_and_ignores_later_samples() -> None:
    labs = daily(low_days(10, 400, first=3))
    result = assess_icaht(PATIENT, labs, as_of=datetime(2026, 3, 9, 12))  # day 8
    early = result.early
    assert (early.grade, early.days_anc_le_500, early.maximum_grade) == (1, 6, 4)
    assert early.days_not_yet_reached == tuple(range(9, 31))
    assert early.days_without_sample == ()
    assert "early window ongoing: day 9-30 not yet reached; the grade can still rise" in (
        early.remarks
    )
    assert result.as_of == datetime(2026, 3, 9, 12)


# --- Late ICAHT -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "grade", "nadir"),
    [
        ((1600, 1501), 0, 1600),
        ((1500, 1500), 1, 1500),
        ((1001, 1200), 1, 1200),
        ((1000, 1000), 2, 1000),
        ((501, 900), 2, 900),
        ((500, 500), 3, 500),
        ((101, 300), 3, 300),
        ((100, 100), 4, 100),
        ((20, 90), 4, 90),
    ],
)
def test_late_grade_needs_two_days_at_or_below_the_threshold(
    values: tuple[float, float], grade: int, nadir: float
) -> None:
    labs = [anc(40, values[0]), anc(47, values[1])]
    late = assess_icaht(PATIENT, labs).late
    assert (late.grade, late.nontransient_nadir_cells_ul) == (grade, nadir)
    assert late.status is (Status.GRADED if grade else Status.NO_TOXICITY)
    assert late.hits[0].evidence == "S"


def test_one_transient_low_value_is_not_graded_and_is_reported() -> None:
    late = assess_icaht(PATIENT, [anc(40, 90), anc(45, 2500), anc(50, 2400)]).late
    assert (late.grade, late.nontransient_nadir_cells_ul) == (0, 2400)
    assert late.remarks == (
        "lowest ANC 90 cells/uL on day 40 alone would be grade 4: seen on fewer than 2 days "
        "(transient), not graded; repeat the count",
    )
    assert [d.anc_cells_ul for d in late.low_days] == [90, 2400]


def test_one_day_after_day_30_is_not_gradable() -> None:
    late = assess_icaht(PATIENT, [anc(31, 90)]).late
    assert (late.grade, late.status) == (None, Status.NOT_GRADABLE)
    assert late.missing == ("ANC on at least 2 days after day 30",)


def test_two_samples_on_the_same_day_count_once() -> None:
    late = assess_icaht(PATIENT, [anc(35, 90, hour=7), anc(35, 80, hour=19)]).late
    assert (late.grade, late.days_measured) == (None, 1)


def test_day_30_is_not_late() -> None:
    late = assess_icaht(PATIENT, [anc(30, 90), anc(31, 90)]).late
    assert (late.grade, late.days_measured) == (None, 1)
    late = assess_icaht(PATIENT, [anc(31, 90), anc(32, 90)]).late
    assert late.grade == 4


def test_a_stricter_policy_needs_three_days() -> None:
    labs = [anc(40, 90), anc(41, 95), anc(42, 800)]
    assert assess_icaht(PATIENT, labs).late.grade == 4
    strict = assess_icaht(PATIENT, labs, CytopeniaPolicy(icaht_late_min_days=3)).late
    assert (strict.grade, strict.nontransient_nadir_cells_ul) == (2, 800)


# --- The assessment as a whole ----------------------------------------------------------------


def test_results_are_provisional_and_carry_the_rows_that_fired() -> None:
    result = assess_icaht(PATIENT, daily(low_days(8, 300)))
    assert result.provisional == "provisional: primary table not available (criteria.md section 5)"
    assert "provisional" in result.instrument
    (hit,) = result.early.hits
    assert hit.rule_id == "ICAHT-EARLY-2"
    assert hit.source_text == "ANC <=500/uL: 7-13 days (cumulative)"
    assert "Rejeski 2023" in hit.citation
    assert hit.evidence == "S"
    assert result.policy == "cartwatch default"


def test_every_icaht_row_is_tagged_s_or_u_and_cites_rejeski() -> None:
    for row in icaht.CRITERIA:
        assert row.evidence in {"S", "U"}
        assert "Rejeski 2023" in row.citation
        assert "Verify against Rejeski 2023 Table 1" in row.note


def test_g_csf_caveat_always_and_hlh_differential_when_cytopenia_is_prolonged() -> None:
    short = assess_icaht(PATIENT, daily(low_days(3, 300)))
    assert short.caveats == (G_CSF_CAVEAT,)
    prolonged = assess_icaht(PATIENT, [*daily({}), anc(40, 400), anc(50, 450)])
    assert prolonged.late.grade == 3
    assert prolonged.caveats == (G_CSF_CAVEAT, HLH_DIFFERENTIAL)
    assert "Prophylactic use of G-CSF is not recommended" in prolonged.caveats[0].source_text
