"""IgG and IVIG (criteria.md 7.3): the 400 mg/dL cut-point on both sides in both units, the
infection variant inside and outside its window, the IVIG schedule, trough trends, missing IgG, and
agreement of the cohort summary with the per-patient assessment.

Study days count from the infusion on 2026-01-10 09:00 (day 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading.immunoglobulin import (
    SUMMARY_COLUMNS,
    IgPolicy,
    IvigAssessment,
    IvigStatus,
    assess_ivig,
    ivig_summary,
)
from grading.records import (
    Analyte,
    Drug,
    DrugAdministration,
    InfectionEvent,
    LabResult,
    Patient,
    Product,
)

INFUSION = datetime(2026, 1, 10, 9, 0)
WITH_INFECTIONS = IgPolicy(rule="igg_with_infections")


def patient(product: Product = Product.CD19_CAR_T, patient_id: str = "P1") -> Patient:
    return Patient(
        patient_id=patient_id, site_id="S1", disease="sle", product=product, infusion_at=INFUSION
    )


def day(n: float) -> datetime:
    return INFUSION + timedelta(days=n)


def igg(n: float, value: float, unit: str = "mg/dL", patient_id: str = "P1") -> LabResult:
    return LabResult(
        patient_id=patient_id, collected_at=day(n), analyte=Analyte.IGG, value=value, unit=unit
    )


def ivig(n: float, patient_id: str = "P1", drug: Drug = Drug.IVIG) -> DrugAdministration:
    return DrugAdministration(patient_id=patient_id, given_at=day(n), drug=drug)


def infection(n: float, serious: bool = True, patient_id: str = "P1") -> InfectionEvent:
    return InfectionEvent(
        patient_id=patient_id,
        onset_at=day(n),
        site="respiratory",
        ctcae_grade=3 if serious else 2,
        serious=serious,
    )


def assess(
    labs: list[LabResult],
    doses: Sequence[DrugAdministration] = (),
    infections: Sequence[InfectionEvent] = (),
    at: float = 200,
    policy: IgPolicy | None = None,
    product: Product = Product.CD19_CAR_T,
) -> IvigAssessment:
    """The assessment of one hand-written timeline; the cohort summary must say the same."""
    person = patient(product)
    result = assess_ivig(person, labs, doses, infections, day(at), policy)
    summary = ivig_summary(*frames([person], labs, list(doses), list(infections)), day(at), policy)
    assert frame_rows(summary) == [scalar_row(result)]
    return result


# --- the 400 mg/dL cut-point ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "mg_dl", "indicated", "remark"),
    [
        (400, "mg/dL", 400.0, True, None),
        (401, "mg/dL", 401.0, False, None),
        (4.0, "g/L", 400.0, True, "igg 4 g/L = 400 mg/dL"),
        (4.01, "g/L", 401.0, False, "igg 4.01 g/L = 401 mg/dL"),
    ],
)
def test_ivig_is_indicated_at_igg_400_mg_dl_or_below(
    value: float, unit: str, mg_dl: float, indicated: bool, remark: str | None
) -> None:
    result = assess([igg(90, value, unit)])
    assert result.indicated is indicated
    assert result.status is (IvigStatus.INDICATED if indicated else IvigStatus.NOT_INDICATED)
    assert result.last_igg is not None
    assert (result.last_igg.value, result.last_igg.unit) == (value, unit)
    assert result.last_igg.igg_mg_dl == mg_dl
    assert result.last_igg.remark == remark
    assert result.last_igg.collected_at == day(90)
    assert result.last_igg.study_day == 90
    decision = result.decision
    if indicated:
        assert decision.rule_id == "IVIG-IGG-AT-OR-BELOW-THRESHOLD"
        assert decision.source_text == "consider IgRT if IgG ≤400 mg/dL"
    else:
        assert decision.rule_id == "IVIG-IGG-ABOVE-THRESHOLD"
    assert decision.evidence == "C"
    assert "Blood Rev 2019;38:100596" in decision.citation
    assert decision.policy_values == {"rule": "igg_only", "igg_threshold_mg_dl": 400.0}
    verdict = "IVIG indicated" if indicated else "IVIG not indicated"
    assert decision.message == f"{verdict}: IgG {mg_dl:g} mg/dL [{decision.rule_id}]"


def test_the_latest_igg_decides() -> None:
    result = assess([igg(120, 350), igg(30, 700), igg(60, 5.5, "g/L")])
    assert result.last_igg is not None
    assert (result.last_igg.collected_at, result.last_igg.igg_mg_dl) == (day(120), 350.0)
    assert result.indicated is True


# --- the infection variant ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("onsets", "counted", "indicated", "rule_id"),
    [
        ([100], [100], False, "IVIG-INFECTION-CRITERIA-NOT-MET"),
        ([100, 150], [100, 150], True, "IVIG-IGG-BAND-WITH-RECURRENT-SERIOUS-INFECTIONS"),
        ([20, 150], [20, 150], True, "IVIG-IGG-BAND-WITH-RECURRENT-SERIOUS-INFECTIONS"),  # 180 d
        ([19, 150], [150], False, "IVIG-INFECTION-CRITERIA-NOT-MET"),  # day 19: 181 days before
        ([150, 201], [150], False, "IVIG-INFECTION-CRITERIA-NOT-MET"),  # day 201: after `at`
    ],
)
def test_igg_500_needs_two_serious_infections_within_180_days(
    onsets: list[int], counted: list[int], indicated: bool, rule_id: str
) -> None:
    result = assess(
        [igg(190, 500)], infections=[infection(n) for n in onsets], at=200, policy=WITH_INFECTIONS
    )
    assert result.serious_infections_in_window == len(counted)
    assert result.serious_infection_onsets == tuple(day(n) for n in counted)
    assert result.indicated is indicated
    assert result.decision.rule_id == rule_id
    assert result.decision.policy_values == {
        "rule": "igg_with_infections",
        "igg_threshold_mg_dl": 400.0,
        "igg_upper_with_recurrent_infections_mg_dl": 600.0,
        "recurrent_infections_count": 2,
        "recurrent_infections_window_days": 180,
    }


def test_infections_that_are_not_serious_do_not_count() -> None:
    result = assess(
        [igg(190, 500)],
        infections=[infection(100, serious=False), infection(150, serious=False)],
        policy=WITH_INFECTIONS,
    )
    assert result.serious_infections_in_window == 0
    assert result.indicated is False


def test_the_band_row_cites_hill_2019_and_says_recurrent_is_a_policy_choice() -> None:
    result = assess(
        [igg(190, 600)], infections=[infection(100), infection(150)], policy=WITH_INFECTIONS
    )
    assert result.indicated is True
    assert result.decision.source_text == "IgG 400–600 with serious recurrent infections"
    assert result.decision.evidence == "C"
    assert "Hill JA, Giralt S" in result.decision.citation
    assert "policy choice [U]" in result.decision.note
    assert result.decision.message == (
        "IVIG indicated: IgG 600 mg/dL with 2 serious infection(s) in 180 days "
        "[IVIG-IGG-BAND-WITH-RECURRENT-SERIOUS-INFECTIONS]"
    )
    above = assess(
        [igg(190, 601)], infections=[infection(100), infection(150)], policy=WITH_INFECTIONS
    )
    assert above.indicated is False


@pytest.mark.parametrize(("onsets", "indicated"), [([], False), ([150], True)])
def test_igg_400_with_the_infection_variant_needs_one_serious_infection(
    onsets: list[int], indicated: bool
) -> None:
    result = assess(
        [igg(190, 400)], infections=[infection(n) for n in onsets], policy=WITH_INFECTIONS
    )
    assert result.indicated is indicated
    if indicated:
        assert result.decision.rule_id == "IVIG-IGG-AT-OR-BELOW-THRESHOLD-WITH-SERIOUS-INFECTION"
        assert result.decision.evidence == "S"
        assert "Hill JA, Seo SK" in result.decision.citation
    else:
        assert result.decision.rule_id == "IVIG-INFECTION-CRITERIA-NOT-MET"
        assert "ASBMT" in result.decision.citation


def test_the_policy_refuses_a_band_below_the_threshold() -> None:
    with pytest.raises(ValueError, match="must be above"):
        IgPolicy(igg_threshold_mg_dl=600, igg_upper_with_recurrent_infections_mg_dl=500)


# --- missing IgG ----------------------------------------------------------------------------------


def test_no_igg_is_not_assessable_never_not_indicated() -> None:
    for policy in (IgPolicy(), WITH_INFECTIONS):
        result = assess([], infections=[infection(100), infection(150)], policy=policy)
        assert result.status is IvigStatus.NOT_ASSESSABLE
        assert result.indicated is None
        assert result.last_igg is None
        assert result.decision.rule_id == "IVIG-NOT-ASSESSABLE"
        assert result.decision.message == "not assessable: no IgG result"
        assert result.serious_infections_in_window == 2


def test_an_igg_after_the_assessment_time_is_not_seen() -> None:
    result = assess([igg(150, 300)], at=100)
    assert result.status is IvigStatus.NOT_ASSESSABLE


def test_other_analytes_are_not_igg() -> None:
    crp = LabResult(
        patient_id="P1", collected_at=day(90), analyte=Analyte.CRP, value=300, unit="mg/L"
    )
    assert assess([crp]).status is IvigStatus.NOT_ASSESSABLE


def test_a_record_of_another_patient_is_refused() -> None:
    with pytest.raises(ValueError, match="patient 'P2'"):
        assess([igg(90, 300)], infections=[infection(80, patient_id="P2")])


# --- the IVIG schedule ----------------------------------------------------------------------------


def test_next_ivig_is_due_28_days_after_the_last_dose_and_overdue_the_day_after() -> None:
    doses = [ivig(2), ivig(30)]
    on_time = assess([igg(29, 350)], doses, at=58.6)  # day 58, 23:24: still the due day
    assert on_time.last_ivig is not None
    assert on_time.last_ivig.given_at == day(30)
    assert on_time.next_ivig_due_at == day(58)
    assert on_time.ivig_overdue is False
    assert on_time.days_overdue == 0
    schedule = next(f for f in on_time.findings if f.concludes == "next_dose_due")
    assert schedule.rule_id == "IVIG-INTERVAL"
    assert schedule.evidence == "U"
    assert schedule.policy_values == {"ivig_interval_days": 28}
    assert schedule.message == "next IVIG due 2026-03-09: not overdue"

    late = assess([igg(29, 350)], doses, at=59)
    assert late.ivig_overdue is True
    assert late.days_overdue == 1
    assert next(f for f in late.findings if f.concludes == "next_dose_due").message == (
        "next IVIG due 2026-03-09: overdue by 1 day(s)"
    )


def test_without_ivig_there_is_no_due_date() -> None:
    result = assess([igg(29, 350)], [ivig(10, drug=Drug.TOCILIZUMAB)])
    assert result.last_ivig is None
    assert (result.next_ivig_due_at, result.ivig_overdue, result.days_overdue) == (None, None, None)


def test_a_dose_after_the_assessment_time_is_not_seen() -> None:
    result = assess([igg(29, 350)], [ivig(30), ivig(80)], at=60)
    assert result.next_ivig_due_at == day(58)
    assert result.ivig_overdue is True


# --- troughs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "direction"),
    [((300, 450, 380), "falling"), ((300, 380, 450), "rising"), ((300, 450, 480), "stable")],
)
def test_trough_trend_compares_the_last_two_troughs(
    levels: tuple[float, float, float], direction: str
) -> None:
    labs = [
        igg(28, levels[0]),
        igg(40, 900),  # after a dose: not a trough
        igg(57, levels[1]),
        igg(85, levels[2] / 100, "g/L"),
    ]
    result = assess(labs, [ivig(30), ivig(58), ivig(86)], at=100)
    assert [(t.dose_given_at, t.collected_at, t.igg_mg_dl) for t in result.troughs] == [
        (day(30), day(28), levels[0]),
        (day(58), day(57), levels[1]),
        (day(86), day(85), levels[2]),
    ]
    assert result.trough_direction == direction
    trend = next(f for f in result.findings if f.concludes == "trough_trend")
    assert trend.message == f"trough IgG {direction} ({', '.join(f'{v:g}' for v in levels)} mg/dL)"
    assert trend.policy_values == {"trough_window_days": 7, "trough_stable_within_mg_dl": 50.0}


@pytest.mark.parametrize(
    ("last", "direction"), [(350, "stable"), (351, "rising"), (249, "falling")]
)
def test_a_change_of_50_mg_dl_is_stable(last: float, direction: str) -> None:
    result = assess([igg(28, 300), igg(57, last)], [ivig(30), ivig(58)], at=60)
    assert result.trough_direction == direction


def test_an_igg_drawn_at_the_dose_time_is_its_trough() -> None:
    labs = [igg(28, 300), igg(56, 200), igg(58, 420)]
    result = assess(labs, [ivig(30), ivig(58)], at=60)
    assert [t.collected_at for t in result.troughs] == [day(28), day(58)]
    assert result.trough_direction == "rising"


def test_an_igg_more_than_7_days_before_a_dose_is_not_a_trough() -> None:
    result = assess([igg(22.9, 300), igg(51, 320)], [ivig(30), ivig(58)], at=70)
    assert [t.dose_given_at for t in result.troughs] == [day(58)]
    assert result.trough_direction is None
    exactly_7 = assess([igg(23, 300), igg(51, 320)], [ivig(30), ivig(58)], at=70)
    assert [t.collected_at for t in exactly_7.troughs] == [day(23), day(51)]
    assert exactly_7.trough_direction == "stable"


def test_an_igg_after_ivig_is_remarked() -> None:
    result = assess([igg(45, 650)], [ivig(30)], at=50)
    assert result.indicated is False
    assert result.remarks == (
        "IVIG was given before: check whether replacement should continue",
        "IVIG was given before the last IgG: the level includes infused IgG (the thresholds are "
        "for starting replacement; on replacement, follow the troughs)",
    )


def test_an_old_igg_is_remarked() -> None:
    result = assess([igg(60, 500)], at=100)
    assert result.remarks == (
        "the last IgG is 40 days old (IgG monthly for at least 3 months after CAR T, "
        "Hill & Seo [S])",
    )
    assert assess([igg(65, 500)], at=100).remarks == ()


# --- product --------------------------------------------------------------------------------------


def test_a_cd19_bcma_product_notes_deeper_hypogammaglobulinaemia() -> None:
    result = assess([igg(90, 500)], product=Product.CD19_BCMA_CAR_T)
    note = next(f for f in result.findings if f.concludes == "product_note")
    assert note.rule_id == "IVIG-CD19-BCMA"
    assert note.evidence == "U"
    assert "deeper and longer hypogammaglobulinaemia" in note.message
    assert "criteria.md 7.1" in note.citation
    plain = assess([igg(90, 500)], product=Product.CD19_CAR_T)
    assert [f.concludes for f in plain.findings] == ["not_indicated"]


def test_policy_defaults_carry_their_evidence() -> None:
    policy = IgPolicy()
    assert policy.rule == "igg_only"
    assert policy.igg_threshold_mg_dl == 400
    assert policy.igg_upper_with_recurrent_infections_mg_dl == 600
    assert (policy.recurrent_infections_count, policy.recurrent_infections_window_days) == (2, 180)
    assert policy.ivig_interval_days == 28
    fields = IgPolicy.model_fields
    evidence = {
        name: (field.json_schema_extra or {}).get("evidence")  # type: ignore[union-attr]
        for name, field in fields.items()
    }
    assert evidence["igg_threshold_mg_dl"] == "C"
    assert evidence["recurrent_infections_count"] == "U"
    assert evidence["recurrent_infections_window_days"] == "U"
    assert evidence["ivig_interval_days"] == "U"
    assert "Policy choice [U]" in (fields["recurrent_infections_count"].description or "")


# --- the cohort summary ---------------------------------------------------------------------------


def frames(
    patients: list[Patient],
    labs: list[LabResult],
    doses: list[DrugAdministration],
    infections: list[InfectionEvent],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    def frame(items: list[Any], columns: list[str]) -> pd.DataFrame:
        return pd.DataFrame([x.model_dump() for x in items], columns=columns)

    return (
        frame(patients, ["patient_id", "product", "infusion_at"]),
        frame(labs, ["patient_id", "collected_at", "analyte", "value", "unit"]),
        frame(doses, ["patient_id", "given_at", "drug"]),
        frame(infections, ["patient_id", "onset_at", "serious"]),
    )


def scalar_row(result: IvigAssessment) -> dict[str, Any]:
    return {
        "patient_id": result.patient_id,
        "status": result.status.value,
        "indicated": result.indicated,
        "rule_id": result.decision.rule_id,
        "last_igg_mg_dl": result.last_igg.igg_mg_dl if result.last_igg else None,
        "last_igg_at": result.last_igg.collected_at if result.last_igg else None,
        "serious_infections_in_window": result.serious_infections_in_window,
        "last_ivig_at": result.last_ivig.given_at if result.last_ivig else None,
        "next_ivig_due_at": result.next_ivig_due_at,
        "ivig_overdue": result.ivig_overdue,
        "trough_direction": result.trough_direction,
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
    patients = [patient(patient_id="A"), patient(patient_id="B")]
    labs = [igg(28, 3.0, "g/L", "A"), igg(57, 380, patient_id="A")]
    doses = [ivig(30, "A"), ivig(58, "A")]
    infections = [infection(40, patient_id="A"), infection(50, serious=False, patient_id="A")]
    summary = ivig_summary(*frames(patients, labs, doses, infections), day(87))
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert frame_rows(summary) == [
        {
            "patient_id": "A",
            "status": "indicated",
            "indicated": True,
            "rule_id": "IVIG-IGG-AT-OR-BELOW-THRESHOLD",
            "last_igg_mg_dl": 380.0,
            "last_igg_at": day(57),
            "serious_infections_in_window": 1,
            "last_ivig_at": day(58),
            "next_ivig_due_at": day(86),
            "ivig_overdue": True,
            "trough_direction": "rising",
        },
        {
            "patient_id": "B",
            "status": "not_assessable",
            "indicated": None,
            "rule_id": "IVIG-NOT-ASSESSABLE",
            "last_igg_mg_dl": None,
            "last_igg_at": None,
            "serious_infections_in_window": 0,
            "last_ivig_at": None,
            "next_ivig_due_at": None,
            "ivig_overdue": None,
            "trough_direction": None,
        },
    ]


IGG_VALUES = [150.0, 399.0, 400.0, 401.0, 450.0, 500.0, 600.0, 601.0, 900.0]


@st.composite
def cohort(
    draw: st.DrawFn,
) -> tuple[list[Patient], list[LabResult], list[DrugAdministration], list[InfectionEvent]]:
    patients, labs, doses, infections = [], [], [], []
    for index in range(draw(st.integers(1, 5))):
        pid = f"P{index}"
        patients.append(patient(draw(st.sampled_from(list(Product))), pid))
        for n in draw(st.lists(st.integers(-10, 90), max_size=8)):
            value = draw(st.sampled_from(IGG_VALUES))
            in_g_l = draw(st.booleans())
            labs.append(igg(n, value / 100 if in_g_l else value, "g/L" if in_g_l else "mg/dL", pid))
        for n in draw(st.lists(st.integers(0, 90), max_size=6)):
            doses.append(ivig(n + draw(st.sampled_from([0.0, 0.5])), pid))
        for n in draw(st.lists(st.integers(-10, 100), max_size=5)):
            infections.append(infection(n, draw(st.booleans()), pid))
    return patients, labs, doses, infections


POLICIES = st.builds(
    IgPolicy,
    rule=st.sampled_from(["igg_only", "igg_with_infections"]),
    recurrent_infections_count=st.integers(1, 3),
    recurrent_infections_window_days=st.sampled_from([10, 30, 180]),
    ivig_interval_days=st.sampled_from([21, 28]),
    trough_window_days=st.sampled_from([0, 7]),
    trough_stable_within_mg_dl=st.sampled_from([0.0, 50.0]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohort(), POLICIES, st.integers(0, 130), st.sampled_from([0.0, 0.25, 0.6]))
def test_the_summary_agrees_with_the_assessment_on_every_patient(
    data: tuple[list[Patient], list[LabResult], list[DrugAdministration], list[InfectionEvent]],
    policy: IgPolicy,
    at_day: int,
    at_fraction: float,
) -> None:
    patients, labs, doses, infections = data
    at = day(at_day + at_fraction)
    expected = [
        scalar_row(
            assess_ivig(
                p,
                [x for x in labs if x.patient_id == p.patient_id],
                [x for x in doses if x.patient_id == p.patient_id],
                [x for x in infections if x.patient_id == p.patient_id],
                at,
                policy,
            )
        )
        for p in patients
    ]
    summary = ivig_summary(*frames(patients, labs, doses, infections), at, policy)
    assert frame_rows(summary) == expected
