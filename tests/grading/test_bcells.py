"""B-cell aplasia (criteria.md 7.1): hand-written timelines for each rule, both sides of each
cut-point in both units, product awareness, and agreement of the cohort summary with the
per-patient assessment.

Timelines are written in study days (day 0 = infusion, 2026-01-10 09:00); samples are drawn at
10:00 so that a day-0 sample is after the infusion.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading.bcells import (
    SUMMARY_COLUMNS,
    BCellCourse,
    BCellPolicy,
    BCellStatus,
    SampleClass,
    assess_b_cells,
    b_cell_summary,
)
from grading.records import Analyte, LabResult, Patient, Product

INFUSION = datetime(2026, 1, 10, 9, 0)


def patient(product: Product = Product.CD19_CAR_T, patient_id: str = "P1") -> Patient:
    return Patient(
        patient_id=patient_id,
        site_id="S1",
        disease="sle",
        product=product,
        infusion_at=INFUSION,
    )


def day(n: int, hour: int = 10) -> datetime:
    return INFUSION.replace(hour=hour) + timedelta(days=n)


def lab(
    n: int, analyte: Analyte, value: float, unit: str, patient_id: str = "P1", hour: int = 10
) -> LabResult:
    return LabResult(
        patient_id=patient_id,
        collected_at=day(n, hour),
        analyte=analyte,
        value=value,
        unit=unit,
    )


def assess(
    person: Patient, labs: list[LabResult], policy: BCellPolicy | None = None
) -> BCellCourse:
    """The course of one hand-written timeline; the cohort summary must say the same."""
    course = assess_b_cells(person, labs, policy)
    assert frame_rows(b_cell_summary(*frames([person], labs), policy)) == [scalar_row(course)]
    return course


def pct(n: int, value: float, unit: str = "%") -> LabResult:
    return lab(n, Analyte.CD19_PERCENT, value, unit)


def count(n: int, value: float, unit: str = "cells/uL") -> LabResult:
    return lab(n, Analyte.CD19_ABSOLUTE, value, unit)


# --- recovery needs two consecutive samples -------------------------------------------------------


def test_aplasia_then_one_sample_above_threshold_is_recovery_not_yet_confirmed() -> None:
    course = assess(patient(), [pct(-3, 6.0), pct(7, 0.2), pct(60, 1.5)])
    assert course.status is BCellStatus.RECOVERY_NOT_YET_CONFIRMED
    assert course.aplasia_onset_at == day(7)
    assert course.aplasia_onset_study_day == 7
    assert course.recovery_at is None
    assert course.days_to_recovery is None
    assert [s.classification for s in course.samples] == [
        SampleClass.PRESENT,
        SampleClass.APLASTIC,
        SampleClass.PRESENT,
    ]
    status = course.findings[0]
    assert status.rule_id == "BCA-RECOVERY-NOT-CONFIRMED"
    assert status.message == (
        "recovery not yet confirmed: 1 of 2 consecutive samples at or above the threshold since "
        "day 60"
    )
    assert status.at == day(60)


def test_a_second_consecutive_sample_confirms_recovery_dated_at_the_first() -> None:
    course = assess(patient(), [pct(-3, 6.0), pct(7, 0.2), pct(60, 1.5), pct(90, 2.0)])
    assert course.status is BCellStatus.RECOVERED
    assert course.recovery_at == day(60)
    assert course.recovery_confirmed_at == day(90)
    assert course.days_to_recovery == 60
    status = course.findings[0]
    assert status.rule_id == "BCA-RECOVERED"
    assert status.evidence == "C"
    assert "confirmed on a subsequent sample" in status.source_text
    assert "Cincinnati" in status.citation
    assert status.requirement.startswith("2 consecutive assessable samples")
    assert status.policy_values == {
        "recovery_consecutive_samples": 2,
        "aplasia_below_percent_of_lymphocytes": 1.0,
        "aplasia_below_cd19_cells_ul": 20.0,
    }
    onset = course.finding("aplasia_onset")
    assert onset is not None
    assert (onset.rule_id, onset.at, onset.evidence) == ("BCA-ONSET", day(7), "U")


def test_a_dip_between_two_samples_above_threshold_breaks_the_run() -> None:
    timeline = [pct(7, 0.2), pct(60, 1.5), pct(75, 0.5), pct(90, 2.0)]
    course = assess(patient(), timeline)
    assert course.status is BCellStatus.RECOVERY_NOT_YET_CONFIRMED
    assert course.recovery_at is None
    assert course.findings[0].at == day(90)

    confirmed = assess(patient(), [*timeline, pct(120, 2.5)])
    assert confirmed.status is BCellStatus.RECOVERED
    assert confirmed.recovery_at == day(90)
    assert confirmed.days_to_recovery == 90


def test_aplasia_ongoing_when_the_latest_sample_is_aplastic() -> None:
    course = assess(patient(), [pct(7, 0.2), pct(60, 1.5), pct(75, 0.5)])
    assert course.status is BCellStatus.APLASIA_ONGOING
    assert course.findings[0].message == "aplasia ongoing since study day 7"


def test_three_consecutive_samples_when_the_policy_asks_for_three() -> None:
    policy = BCellPolicy(recovery_consecutive_samples=3)
    timeline = [pct(7, 0.2), pct(60, 1.5), pct(90, 2.0)]
    assert assess(patient(), timeline, policy).status is (BCellStatus.RECOVERY_NOT_YET_CONFIRMED)
    course = assess(patient(), [*timeline, pct(120, 3.0)], policy)
    assert (course.status, course.recovery_at) == (BCellStatus.RECOVERED, day(60))
    assert course.findings[0].policy_values["recovery_consecutive_samples"] == 3
    assert course.findings[0].requirement.startswith("3 consecutive")


def test_a_sample_not_assessable_neither_confirms_nor_breaks_a_run() -> None:
    policy = BCellPolicy(use_count_when_percent_missing=False)
    course = assess(patient(), [pct(7, 0.2), pct(60, 1.5), count(75, 5.0), pct(90, 2.0)], policy)
    assert [s.classification for s in course.samples] == [
        SampleClass.APLASTIC,
        SampleClass.PRESENT,
        SampleClass.NOT_ASSESSABLE,
        SampleClass.PRESENT,
    ]
    assert (course.status, course.recovery_at) == (BCellStatus.RECOVERED, day(60))


def test_aplastic_again_after_recovery_is_remarked() -> None:
    course = assess(patient(), [pct(7, 0.2), pct(60, 1.5), pct(90, 2.0), pct(150, 0.1)])
    assert course.status is BCellStatus.RECOVERED
    assert course.remarks == ("aplastic again on study day 150 after confirmed recovery",)


# --- cut-points and units -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.99, "%", SampleClass.APLASTIC),
        (1.0, "%", SampleClass.PRESENT),
        (0.99, "% lymphocytes", SampleClass.APLASTIC),
        (1.0, "% lymphocytes", SampleClass.PRESENT),
    ],
)
def test_percent_of_lymphocytes_below_1_is_aplastic(
    value: float, unit: str, expected: SampleClass
) -> None:
    sample = assess(patient(), [pct(14, value, unit)]).samples[0]
    assert sample.classification is expected
    assert sample.cd19_percent == value
    assert sample.finding.rule_id == (
        "BCA-PERCENT-APLASTIC" if expected is SampleClass.APLASTIC else "BCA-PERCENT-PRESENT"
    )
    assert sample.finding.evidence == "C"
    assert sample.finding.policy_values["aplasia_below_percent_of_lymphocytes"] == 1.0


@pytest.mark.parametrize(
    ("value", "unit", "cells_ul", "expected", "remark"),
    [
        (19.0, "cells/uL", 19.0, SampleClass.APLASTIC, None),
        (20.0, "cells/µL", 20.0, SampleClass.PRESENT, None),
        (0.019, "10^9/L", 19.0, SampleClass.APLASTIC, "cd19_absolute 0.019 10^9/L = 19 cells/uL"),
        (0.02, "10*9/L", 20.0, SampleClass.PRESENT, "cd19_absolute 0.02 10*9/L = 20 cells/uL"),
    ],
)
def test_a_count_alone_below_20_cells_ul_is_aplastic_by_the_secondary_rule(
    value: float, unit: str, cells_ul: float, expected: SampleClass, remark: str | None
) -> None:
    sample = assess(patient(), [count(14, value, unit)]).samples[0]
    assert sample.classification is expected
    assert sample.cd19_cells_ul == cells_ul
    assert sample.cd19_percent is None
    assert sample.remarks == ((remark,) if remark else ())
    assert sample.finding.rule_id == (
        "BCA-COUNT-APLASTIC" if expected is SampleClass.APLASTIC else "BCA-COUNT-PRESENT"
    )
    assert sample.finding.evidence == "S"
    assert sample.finding.source_text == "B-cell count <20 cells/µL"
    assert "not authoritative" in sample.finding.citation
    assert sample.finding.note.startswith("Not authoritative: verify against the protocol")


def test_the_percent_takes_precedence_over_the_count_and_the_difference_is_remarked() -> None:
    sample = assess(patient(), [pct(14, 0.5), count(14, 50.0)]).samples[0]
    assert sample.classification is SampleClass.APLASTIC
    assert sample.finding.rule_id == "BCA-PERCENT-APLASTIC"
    assert sample.remarks == (
        "the count alone (50 cells/µL) would classify this sample differently; the % of "
        "lymphocytes takes precedence",
    )


def test_the_percent_is_derived_from_counts_of_the_same_sample() -> None:
    labs = [count(14, 5.0), lab(14, Analyte.LYMPHOCYTES, 0.2, "10^9/L")]  # 5 of 200 = 2.5 %
    sample = assess(patient(), labs).samples[0]
    assert sample.cd19_percent == pytest.approx(2.5)
    assert sample.cd19_percent_derived is True
    assert sample.lymphocytes_cells_ul == 200.0
    assert sample.classification is SampleClass.PRESENT
    assert sample.finding.rule_id == "BCA-PERCENT-PRESENT"

    without = assess(patient(), labs, BCellPolicy(derive_percent_from_lymphocytes=False))
    assert without.samples[0].classification is SampleClass.APLASTIC
    assert without.samples[0].finding.rule_id == "BCA-COUNT-APLASTIC"


def test_a_lymphocyte_count_of_another_instant_is_not_used() -> None:
    labs = [count(14, 5.0), lab(14, Analyte.LYMPHOCYTES, 0.2, "10^9/L", hour=8)]
    course = assess(patient(), labs)
    assert len(course.samples) == 1  # a lymphocyte count alone is not a B-cell sample
    assert course.samples[0].cd19_percent is None
    assert course.samples[0].classification is SampleClass.APLASTIC


def test_without_percent_or_usable_count_a_sample_is_not_assessable_never_present() -> None:
    course = assess(
        patient(), [count(14, 150.0)], BCellPolicy(use_count_when_percent_missing=False)
    )
    sample = course.samples[0]
    assert sample.classification is SampleClass.NOT_ASSESSABLE
    assert sample.finding.rule_id == "BCA-SAMPLE-NOT-ASSESSABLE"
    assert course.status is BCellStatus.NOT_ASSESSED
    assert course.findings[0].message == (
        "not assessed: no assessable CD19 sample after the infusion"
    )


# --- product awareness ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "titre"),
    [(Product.DSG3_CAAR_T, "anti-DSG3"), (Product.MUSK_CAAR_T, "anti-MuSK")],
)
def test_depletion_after_a_caar_t_is_flagged_unexpected_with_titres_to_track(
    product: Product, titre: str
) -> None:
    course = assess(patient(product), [pct(-2, 7.0), pct(14, 0.3)])
    assert course.unexpected_depletion is True
    assert course.aplasia_expected is False
    assert course.status is BCellStatus.APLASIA_ONGOING
    flag = course.finding("unexpected_depletion")
    assert flag is not None
    assert flag.rule_id == "BCA-UNEXPECTED-DEPLETION"
    assert flag.at == day(14)
    assert flag.message.startswith(
        f"B-cell depletion is not expected after {product.value} (criteria.md 7.1)"
    )
    assert f"track {titre} titres" in flag.message
    assert flag.policy_values == {"aplasia_expected_products": ["cd19_car_t", "cd19_bcma_car_t"]}
    titres = course.finding("track_titres")
    assert titres is not None
    assert titre in titres.message


def test_depletion_after_a_car_treg_is_flagged_without_titres() -> None:
    course = assess(patient(Product.CAR_TREG), [pct(14, 0.3)])
    assert course.unexpected_depletion is True
    flag = course.finding("unexpected_depletion")
    assert flag is not None
    assert "titres" not in flag.message
    assert course.finding("track_titres") is None


@pytest.mark.parametrize("product", [Product.CD19_CAR_T, Product.CD19_BCMA_CAR_T])
def test_depletion_after_a_cd19_product_is_expected_and_not_flagged(product: Product) -> None:
    course = assess(patient(product), [pct(-2, 7.0), pct(14, 0.3)])
    assert course.unexpected_depletion is False
    assert course.aplasia_expected is True
    assert course.finding("unexpected_depletion") is None
    assert course.status is BCellStatus.APLASIA_ONGOING


def test_a_caar_t_without_depletion_is_not_flagged() -> None:
    course = assess(patient(Product.DSG3_CAAR_T), [pct(14, 8.0), pct(28, 9.0)])
    assert course.status is BCellStatus.NO_APLASIA_DOCUMENTED
    assert course.unexpected_depletion is False


def test_baseline_depletion_before_the_infusion_is_not_the_onset() -> None:
    course = assess(patient(Product.DSG3_CAAR_T), [pct(-2, 0.1), pct(14, 4.0)])
    assert course.status is BCellStatus.NO_APLASIA_DOCUMENTED
    assert course.aplasia_onset_at is None
    assert course.unexpected_depletion is False
    assert course.remarks[0].startswith("aplastic before the infusion on study day -2")


def test_no_aplasia_after_a_cd19_product_is_remarked() -> None:
    course = assess(patient(), [pct(14, 8.0)])
    assert course.status is BCellStatus.NO_APLASIA_DOCUMENTED
    assert course.remarks == (
        "B-cell aplasia is the expected effect of cd19_car_t; none documented",
    )


# --- nothing to assess ----------------------------------------------------------------------------


def test_no_cd19_sample_is_not_assessed() -> None:
    other = [lab(14, Analyte.CRP, 12.0, "mg/L"), lab(14, Analyte.LYMPHOCYTES, 800, "cells/uL")]
    for labs in ([], other):
        course = assess(patient(), labs)
        assert course.status is BCellStatus.NOT_ASSESSED
        assert course.samples == ()
        assert course.findings[0].rule_id == "BCA-NOT-ASSESSED"
        assert course.findings[0].message == "not assessed: no CD19 sample"
        assert course.unexpected_depletion is False


def test_only_baseline_samples_is_not_assessed() -> None:
    course = assess(patient(), [pct(-5, 0.1)])
    assert course.status is BCellStatus.NOT_ASSESSED


def test_a_lab_of_another_patient_is_refused() -> None:
    with pytest.raises(ValueError, match="patient 'P2'"):
        assess_b_cells(patient(), [lab(14, Analyte.CD19_PERCENT, 1.0, "%", patient_id="P2")])


# --- policy ---------------------------------------------------------------------------------------


def test_policy_defaults_carry_their_evidence() -> None:
    policy = BCellPolicy()
    assert policy.aplasia_below_percent_of_lymphocytes == 1.0
    assert policy.aplasia_below_cd19_cells_ul == 20.0
    assert policy.recovery_consecutive_samples == 2
    assert policy.aplasia_expected_products == (Product.CD19_CAR_T, Product.CD19_BCMA_CAR_T)
    fields = BCellPolicy.model_fields
    assert fields["aplasia_below_cd19_cells_ul"].json_schema_extra == {
        "unit": "cells/uL",
        "evidence": "S",
    }
    assert "droracle, not authoritative" in (
        fields["aplasia_below_cd19_cells_ul"].description or ""
    )
    assert fields["recovery_consecutive_samples"].json_schema_extra == {
        "unit": "samples",
        "evidence": "C",
    }
    with pytest.raises(ValueError, match="frozen"):
        policy.recovery_consecutive_samples = 3  # type: ignore[misc]


def test_a_site_may_expect_aplasia_after_another_product() -> None:
    policy = BCellPolicy(aplasia_expected_products=(Product.CD19_CAR_T, Product.CAR_TREG))
    course = assess(patient(Product.CAR_TREG), [pct(14, 0.3)], policy)
    assert course.unexpected_depletion is False


# --- the cohort summary ---------------------------------------------------------------------------


def frames(patients: list[Patient], labs: list[LabResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    patient_frame = pd.DataFrame([p.model_dump() for p in patients])
    lab_columns = ["patient_id", "collected_at", "analyte", "value", "unit"]
    lab_frame = pd.DataFrame([x.model_dump() for x in labs], columns=lab_columns)
    return patient_frame, lab_frame


def scalar_row(course: BCellCourse) -> dict[str, Any]:
    return {
        "patient_id": course.patient_id,
        "status": course.status.value,
        "aplasia_onset_at": course.aplasia_onset_at,
        "recovery_at": course.recovery_at,
        "days_to_recovery": course.days_to_recovery,
        "unexpected_depletion": course.unexpected_depletion,
    }


def frame_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    def plain(value: Any) -> Any:
        if value is None or value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, pd.Timestamp):
            return value.to_pydatetime()
        return value.item() if hasattr(value, "item") else value

    return [{str(k): plain(v) for k, v in row.items()} for row in summary.to_dict("records")]


def test_the_summary_gives_the_hand_written_values() -> None:
    patients = [
        patient(Product.CD19_CAR_T, "R"),
        patient(Product.DSG3_CAAR_T, "U"),
        patient(Product.CD19_CAR_T, "N"),
    ]
    labs = [
        lab(7, Analyte.CD19_PERCENT, 0.2, "%", "R"),
        lab(60, Analyte.CD19_ABSOLUTE, 0.03, "10^9/L", "R"),
        lab(90, Analyte.CD19_PERCENT, 2.0, "%", "R"),
        lab(14, Analyte.CD19_ABSOLUTE, 3.0, "cells/uL", "U"),
        lab(14, Analyte.CRP, 3.0, "mg/L", "N"),
    ]
    summary = b_cell_summary(*frames(patients, labs))
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert frame_rows(summary) == [
        {
            "patient_id": "R",
            "status": "recovered",
            "aplasia_onset_at": day(7),
            "recovery_at": day(60),
            "days_to_recovery": 60,
            "unexpected_depletion": False,
        },
        {
            "patient_id": "U",
            "status": "aplasia_ongoing",
            "aplasia_onset_at": day(14),
            "recovery_at": None,
            "days_to_recovery": None,
            "unexpected_depletion": True,
        },
        {
            "patient_id": "N",
            "status": "not_assessed",
            "aplasia_onset_at": None,
            "recovery_at": None,
            "days_to_recovery": None,
            "unexpected_depletion": False,
        },
    ]


def test_a_summary_row_without_a_value_is_not_read_as_present() -> None:
    patients, labs = frames([patient()], [pct(14, 5.0)])
    labs.loc[0, "value"] = float("nan")
    assert b_cell_summary(patients, labs)["status"].tolist() == ["not_assessed"]


UNITS = {
    Analyte.CD19_PERCENT: [("%", 1.0), ("% lymphocytes", 1.0)],
    Analyte.CD19_ABSOLUTE: [("cells/uL", 1.0), ("/µL", 1.0), ("10^9/L", 0.001)],
    Analyte.LYMPHOCYTES: [("cells/uL", 1.0), ("10^9/L", 0.001), ("10^3/uL", 0.001)],
}
# Values around the cut-points (1 %, 20 cells/µL) and typical lymphocyte counts.
VALUES = {
    Analyte.CD19_PERCENT: [0.0, 0.5, 0.99, 1.0, 1.01, 3.0, 12.0],
    Analyte.CD19_ABSOLUTE: [0.0, 5.0, 19.0, 20.0, 21.0, 150.0],
    Analyte.LYMPHOCYTES: [0.0, 150.0, 400.0, 1500.0],
}


@st.composite
def cohort(draw: st.DrawFn) -> tuple[list[Patient], list[LabResult]]:
    patients, labs = [], []
    for index in range(draw(st.integers(1, 6))):
        person = patient(draw(st.sampled_from(list(Product))), f"P{index}")
        patients.append(person)
        days = draw(st.lists(st.integers(-10, 200), max_size=12))
        for n in days:
            hour = draw(st.sampled_from([8, 10]))  # 8:00 on day 0 is before the infusion
            for analyte in draw(st.sets(st.sampled_from(list(UNITS)), min_size=1)):
                unit, factor = draw(st.sampled_from(UNITS[analyte]))
                value = draw(st.sampled_from(VALUES[analyte])) * factor
                labs.append(lab(n, analyte, value, unit, person.patient_id, hour))
    return patients, labs


POLICIES = st.builds(
    BCellPolicy,
    recovery_consecutive_samples=st.integers(1, 3),
    use_count_when_percent_missing=st.booleans(),
    derive_percent_from_lymphocytes=st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohort(), POLICIES)
def test_the_summary_agrees_with_the_assessment_on_every_patient(
    data: tuple[list[Patient], list[LabResult]], policy: BCellPolicy
) -> None:
    patients, labs = data
    expected = [
        scalar_row(assess_b_cells(p, [x for x in labs if x.patient_id == p.patient_id], policy))
        for p in patients
    ]
    assert frame_rows(b_cell_summary(*frames(patients, labs), policy)) == expected
