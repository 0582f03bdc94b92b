"""Hypothesis properties of ASTCT 2019 grading (house style, "Tests").

- The vectorised grader (grading.frame.grade_frame) agrees with the scalar reference
  (grade_assessment) on every row and every output column, under the default policy and under each
  non-default grading choice.
- More support never lowers the CRS grade; a more severe neurological finding never lowers ICANS.
- On a complete record, the overall grade is the maximum of its domains (criteria.md R-CRS-5,
  R-ICANS-1), with the domain tiers written here from criteria.md sections 1 and 2, not from the code.
- A blank required field gives "not gradable", with the exceptions the CRS grader makes by design.
- The escalation flags are monotone in the grades.

Blank means "not assessed": every strategy below leaves fields blank as well as filling them.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grading import (
    ASCO_2021,
    Assessment,
    CerebralEdema,
    Consciousness,
    DeathAttribution,
    GradingPolicy,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Policy,
    Seizure,
    Status,
    grade_assessment,
    grade_frame,
)
from grading.enums import FlagLevel
from grading.escalation import evaluate_flags
from grading.frame import EXTRA_COLUMNS, INPUT_COLUMNS, OUTPUT_COLUMNS
from grading.results import Case, GradeResult

OBSERVED_AT = datetime(2026, 3, 1, 8, 0)
FRAME_COLUMNS = (*INPUT_COLUMNS, *EXTRA_COLUMNS)
ACTIONS = {
    "tocilizumab_indicated": "tocilizumab",
    "steroids_indicated": "corticosteroids",
    "icu_indicated": "icu",
}

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROPERTY_PER_POLICY = settings(PROPERTY, max_examples=60)


def policy_with(**choices: Any) -> Policy:
    """The ASCO 2021 escalation profile with non-default grading choices."""
    return ASCO_2021.model_copy(update={"grading": GradingPolicy(**choices)})


NON_DEFAULT_POLICIES = [
    pytest.param(policy_with(masked_without_findings="grade_1"), id="masked-grade-1"),
    pytest.param(policy_with(masked_without_findings="grade_0"), id="masked-grade-0"),
    pytest.param(policy_with(instrument_at_age_12="ice"), id="age-12-ice"),
    pytest.param(policy_with(instrument_at_age_12="capd"), id="age-12-capd"),
    pytest.param(policy_with(nasal_cannula_without_flow="not_gradable"), id="cannula-not-gradable"),
    pytest.param(
        policy_with(
            masked_without_findings="grade_0",
            instrument_at_age_12="capd",
            nasal_cannula_without_flow="not_gradable",
        ),
        id="all-non-default",
    ),
]

# --- Domain tiers, transcribed from criteria.md (R-CRS-3, R-CRS-4, section 2.2, 2.3) -----------

HYPOTENSION_TIER = {
    Hypotension.NONE: 0,
    Hypotension.FLUID_RESPONSIVE: 2,
    Hypotension.ONE_VASOPRESSOR: 3,
    Hypotension.ONE_VASOPRESSOR_PLUS_VASOPRESSIN: 3,  # vasopressin never makes "multiple"
    Hypotension.MULTIPLE_VASOPRESSORS: 4,
}
CONSCIOUSNESS_TIER = {
    Consciousness.ALERT: 0,
    Consciousness.AWAKENS_SPONTANEOUSLY: 1,
    Consciousness.AWAKENS_TO_VOICE: 2,
    Consciousness.AWAKENS_TO_TACTILE: 3,
    Consciousness.UNAROUSABLE: 4,
}
SEIZURE_TIER = {
    Seizure.NONE: 0,
    Seizure.SELF_LIMITING: 3,
    Seizure.RESOLVED_WITH_INTERVENTION: 3,
    Seizure.PROLONGED_OR_REPETITIVE: 4,
}
MOTOR_TIER = {MotorWeakness.NONE: 0, MotorWeakness.DEEP_FOCAL: 4}
EDEMA_TIER = {CerebralEdema.NONE: 0, CerebralEdema.FOCAL: 3, CerebralEdema.DIFFUSE: 4}
NASAL_CANNULA = (OxygenDevice.LOW_FLOW_NASAL_CANNULA, OxygenDevice.HIGH_FLOW_NASAL_CANNULA)
MASKS = (OxygenDevice.FACE_MASK, OxygenDevice.NON_REBREATHER, OxygenDevice.VENTURI)
POSITIVE_PRESSURE = (OxygenDevice.CPAP, OxygenDevice.BIPAP, OxygenDevice.MECHANICAL_VENTILATION)


def oxygen_tier(device: OxygenDevice, flow: float | None) -> int:
    """R-CRS-4 with a recorded flow: a nasal cannula is low-flow up to 6 L/min inclusive."""
    if device is OxygenDevice.ROOM_AIR:
        return 0
    if device is OxygenDevice.BLOW_BY:
        return 2
    if device in NASAL_CANNULA:
        assert flow is not None
        return 2 if flow <= 6.0 else 3
    if device in MASKS:
        return 3
    assert device in POSITIVE_PRESSURE
    return 4


def ice_tier(ice: int) -> int:
    """ICE 10 = no impairment; 7-9 grade 1; 3-6 grade 2; 0-2 grade 3 (awake)."""
    return 0 if ice == 10 else 1 if ice >= 7 else 2 if ice >= 3 else 3


def capd_tier(capd: int) -> int:
    """CAPD 0 = grade 0 (default), 1-8 grade 1, 9 or more grade 3."""
    return 0 if capd == 0 else 1 if capd <= 8 else 3


def instrument_for(age: float | None, delay: bool | None) -> str:
    """Default policy: CAPD under 12 completed years, either at 12, ICE above (either with delay)."""
    if age is None:
        return "either"
    years = math.floor(age)
    if years < 12:
        return "capd"
    if years == 12:
        return "either"
    return "either" if delay else "ice"


# --- Strategies -----------------------------------------------------------------------------------

TEMPERATURES = st.one_of(
    st.sampled_from([25.0, 36.6, 37.9, 37.94, 37.95, 37.99, 37.999999, 38.0, 38.000001, 38.05]),
    st.sampled_from([39.4, 41.0, 45.0]),
    st.floats(25.0, 45.0),
)
FLOWS = st.one_of(
    st.sampled_from([0.0, 0.5, 2.0, 5.9, 5.99, 6.0, 6.000001, 6.01, 6.1, 6.5, 10.0, 40.0, 80.0]),
    st.floats(0.0, 80.0),
)
AGES = st.one_of(
    st.sampled_from([0.0, 2.0, 11.0, 11.5, 11.99, 11.999, 12.0, 12.0001, 12.5, 12.99]),
    st.sampled_from([13.0, 13.01, 17.0, 45.0, 120.0]),
    st.floats(0.0, 120.0),
)
# Normal scores (ICE 10, CAPD 0) often, the cut-points (ICE 2/3, 6/7, 9/10, CAPD 8/9) often.
ICE_SCORES = st.one_of(st.just(10), st.sampled_from([0, 2, 3, 6, 7, 9]), st.integers(0, 10))
CAPD_SCORES = st.one_of(st.just(0), st.sampled_from([1, 8, 9, 32]), st.integers(0, 32))


def maybe(strategy: st.SearchStrategy[Any], blank: bool) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy) if blank else strategy


def finding(enum: type[StrEnum]) -> st.SearchStrategy[Any]:
    """A coded finding, the normal one (the first member) about half of the time.

    Uniform draws would make a record with every domain normal rare, and with it grades 0-2.
    """
    normal = next(iter(enum))
    return st.one_of(st.just(normal), st.sampled_from(enum))


@st.composite
def oxygen(draw: st.DrawFn, blank: bool = True) -> tuple[OxygenDevice | None, float | None]:
    """A device and a flow that the input model accepts: a flow only with a device, none on room air.

    With ``blank`` False a nasal cannula always carries its flow (a complete record).
    """
    device = draw(maybe(finding(OxygenDevice), blank))
    if device is None:
        return None, None
    if device is OxygenDevice.ROOM_AIR:
        return device, draw(st.sampled_from([None, 0.0]))
    if device in NASAL_CANNULA:
        # A cannula at 0 L/min delivers no oxygen and is refused at input (record room air).
        flows = FLOWS.filter(lambda flow: flow > 0)
        return device, draw(flows if not blank else st.one_of(st.none(), flows))
    return device, draw(st.one_of(st.none(), FLOWS))


@st.composite
def assessments(draw: st.DrawFn) -> Assessment:
    """Any valid assessment: every field may be blank (complete records are drawn as often)."""
    blank = draw(st.booleans())
    device, flow = draw(oxygen(blank=blank))
    consciousness = draw(maybe(finding(Consciousness), blank))
    if consciousness is Consciousness.UNAROUSABLE:
        ice = draw(st.sampled_from([None, 0]))
    else:
        ice = draw(maybe(ICE_SCORES, True))
    return Assessment(
        patient_id=draw(st.sampled_from(["P001", "P002", "CH-12"])),
        observed_at=OBSERVED_AT,
        age_years=draw(maybe(AGES, blank)),
        developmental_delay=draw(maybe(st.booleans(), True)),
        temperature_c=draw(maybe(TEMPERATURES, blank)),
        antipyretic_or_anticytokine_given=draw(maybe(st.booleans(), blank)),
        hypotension=draw(maybe(finding(Hypotension), blank)),
        oxygen_device=device,
        oxygen_l_min=flow,
        ice_score=ice,
        capd_score=draw(maybe(CAPD_SCORES, True)),
        consciousness=consciousness,
        seizure=draw(maybe(finding(Seizure), blank)),
        motor_weakness=draw(maybe(finding(MotorWeakness), blank)),
        cerebral_edema=draw(maybe(finding(CerebralEdema), blank)),
        death_attributed_to=draw(
            st.one_of(st.none(), st.none(), st.none(), st.sampled_from(DeathAttribution))
        ),
    )


BATCHES = st.lists(assessments(), min_size=1, max_size=25)


@st.composite
def complete_crs(draw: st.DrawFn) -> dict[str, Any]:
    """Every CRS field assessed (a nasal cannula with its flow); nobody died."""
    device, flow = draw(oxygen(blank=False))
    return {
        "patient_id": "P001",
        "observed_at": OBSERVED_AT,
        "temperature_c": draw(TEMPERATURES),
        "antipyretic_or_anticytokine_given": draw(st.booleans()),
        "hypotension": draw(finding(Hypotension)),
        "oxygen_device": device,
        "oxygen_l_min": flow,
    }


@st.composite
def complete_icans(draw: st.DrawFn) -> dict[str, Any]:
    """Every ICANS domain assessed, both scores recorded (ICE 0 when unarousable); nobody died."""
    consciousness = draw(finding(Consciousness))
    unarousable = consciousness is Consciousness.UNAROUSABLE
    return {
        "patient_id": "P001",
        "observed_at": OBSERVED_AT,
        "age_years": draw(st.one_of(st.none(), AGES)),
        "developmental_delay": draw(st.one_of(st.none(), st.booleans())),
        "ice_score": 0 if unarousable else draw(ICE_SCORES),
        "capd_score": draw(CAPD_SCORES),
        "consciousness": consciousness,
        "seizure": draw(finding(Seizure)),
        "motor_weakness": draw(finding(MotorWeakness)),
        "cerebral_edema": draw(finding(CerebralEdema)),
    }


# --- Helpers --------------------------------------------------------------------------------------


def plain(value: object) -> object:
    """A cell as the contract writes it: enum members as their strings."""
    return value.value if isinstance(value, StrEnum) else value


def frame_of(batch: list[Assessment]) -> pd.DataFrame:
    return pd.DataFrame(
        [{column: plain(getattr(a, column)) for column in FRAME_COLUMNS} for a in batch],
        columns=list(FRAME_COLUMNS),
    )


def cell(value: object) -> object:
    """A DataFrame cell as a Python value (pd.NA as None, NumPy scalars unwrapped)."""
    if value is None or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def expected_row(assessment: Assessment, policy: Policy) -> dict[str, object]:
    result = grade_assessment(assessment, policy)
    row: dict[str, object] = {
        "crs_grade": result.crs.grade,
        "icans_grade": result.icans.grade,
        "crs_status": result.crs.status.value,
        "icans_status": result.icans.status.value,
        "crs_reason": result.crs.reason,
        "icans_reason": result.icans.reason,
        "missing": ";".join(result.missing),
    }
    row.update({column: result.indicated(action) for column, action in ACTIONS.items()})
    return row


def assert_frame_matches_scalar(batch: list[Assessment], policy: Policy) -> None:
    out = grade_frame(frame_of(batch), policy)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) == len(batch)
    assert str(out["crs_grade"].dtype) == "Int64"
    assert str(out["icans_grade"].dtype) == "Int64"
    for position, assessment in enumerate(batch):
        actual = {column: cell(out[column].iloc[position]) for column in OUTPUT_COLUMNS}
        expected = expected_row(assessment, policy)
        differing = {
            c: (actual[c], expected[c]) for c in OUTPUT_COLUMNS if actual[c] != expected[c]
        }
        assert not differing, f"row {position} {assessment!r}: (vectorised, scalar) {differing}"


def effective(result: GradeResult) -> int:
    """The grade, or the 'at least' grade of a result that is not gradable."""
    if result.grade is not None:
        return result.grade
    assert result.minimum_grade is not None
    return result.minimum_grade


def build(record: dict[str, Any], **changes: Any) -> Assessment:
    return Assessment.model_validate({**record, **changes})


# --- Scalar equals vectorised ---------------------------------------------------------------------


@PROPERTY
@given(batch=BATCHES)
def test_vectorised_grading_equals_scalar_grading_on_every_row(batch: list[Assessment]) -> None:
    assert_frame_matches_scalar(batch, ASCO_2021)


@pytest.mark.parametrize("policy", NON_DEFAULT_POLICIES)
@PROPERTY_PER_POLICY
@given(batch=BATCHES)
def test_vectorised_grading_equals_scalar_grading_under_each_policy_choice(
    policy: Policy, batch: list[Assessment]
) -> None:
    assert_frame_matches_scalar(batch, policy)


def test_an_empty_frame_grades_to_an_empty_result_with_the_contract_columns() -> None:
    out = grade_frame(frame_of([]))
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) == 0


# --- The overall grade is the maximum of its domains ---------------------------------------------


@PROPERTY
@given(record=complete_crs())
def test_complete_crs_grade_is_the_more_severe_of_hypotension_and_hypoxia(
    record: dict[str, Any],
) -> None:
    result = grade_assessment(build(record)).crs
    fever = record["temperature_c"] >= 38.0  # compared as recorded, 37.95 is not fever
    masked = record["antipyretic_or_anticytokine_given"]
    support = max(
        HYPOTENSION_TIER[record["hypotension"]],
        oxygen_tier(record["oxygen_device"], record["oxygen_l_min"]),
    )
    assert result.missing == ()
    if not fever and not masked:  # R-CRS-2 note: without fever or masking it is not CRS
        assert (result.status, result.grade) == (Status.NO_TOXICITY, 0)
    elif support > 0:  # R-CRS-5
        assert (result.status, result.grade) == (Status.GRADED, support)
    elif fever:  # fever without hypotension or hypoxia
        assert (result.status, result.grade) == (Status.GRADED, 1)
    else:  # masked, nothing gradable: the open question, not gradable by default
        assert (result.status, result.grade, result.case) == (
            Status.NOT_GRADABLE,
            None,
            Case.MASKED_NO_FINDINGS,
        )


@PROPERTY
@given(record=complete_icans())
def test_complete_icans_grade_is_the_most_severe_domain(record: dict[str, Any]) -> None:
    result = grade_assessment(build(record)).icans
    unarousable = record["consciousness"] is Consciousness.UNAROUSABLE
    instrument = instrument_for(record["age_years"], record["developmental_delay"])
    # ICE 0 in an unarousable patient is grade 4 (R-ICANS-2); CAPD: "unable to perform CAPD".
    ice = 4 if unarousable else ice_tier(record["ice_score"])
    capd = 4 if unarousable else capd_tier(record["capd_score"])
    score = {"ice": ice, "capd": capd, "either": max(ice, capd)}[instrument]
    expected = max(
        score,
        CONSCIOUSNESS_TIER[record["consciousness"]],
        SEIZURE_TIER[record["seizure"]],
        MOTOR_TIER[record["motor_weakness"]],
        EDEMA_TIER[record["cerebral_edema"]],
    )
    assert result.grade == expected
    assert result.minimum_grade == expected
    assert result.status is (Status.GRADED if expected > 0 else Status.NO_TOXICITY)
    assert result.missing == ()


# --- More support never lowers a grade ------------------------------------------------------------

MONOTONE_POLICIES = [
    pytest.param(ASCO_2021, id="asco-2021-default"),
    pytest.param(policy_with(masked_without_findings="grade_1"), id="masked-grade-1"),
    pytest.param(policy_with(masked_without_findings="grade_0"), id="masked-grade-0"),
]


@pytest.mark.parametrize("policy", MONOTONE_POLICIES)
@PROPERTY_PER_POLICY
@given(record=complete_crs(), other=complete_crs())
def test_more_hypotension_or_oxygen_support_never_lowers_the_crs_grade(
    policy: Policy, record: dict[str, Any], other: dict[str, Any]
) -> None:
    hypotension = sorted((record["hypotension"], other["hypotension"]), key=HYPOTENSION_TIER.get)
    oxygen_support = sorted(
        [
            (record["oxygen_device"], record["oxygen_l_min"]),
            (other["oxygen_device"], other["oxygen_l_min"]),
        ],
        key=lambda support: oxygen_tier(*support),
    )
    for changed in ("hypotension", "oxygen", "both"):
        lower, higher = dict(record), dict(record)
        if changed in ("hypotension", "both"):
            lower["hypotension"], higher["hypotension"] = hypotension
        if changed in ("oxygen", "both"):
            lower["oxygen_device"], lower["oxygen_l_min"] = oxygen_support[0]
            higher["oxygen_device"], higher["oxygen_l_min"] = oxygen_support[1]
        low = grade_assessment(build(lower), policy).crs
        high = grade_assessment(build(higher), policy).crs
        assert effective(low) <= effective(high), (changed, lower, higher)
        if support_tiers(lower) == support_tiers(higher):
            # Same tiers, same grade: e.g. norepinephrine + vasopressin grades as one vasopressor.
            assert (low.status, low.grade) == (high.status, high.grade)


def support_tiers(record: dict[str, Any]) -> tuple[int, int]:
    return (
        HYPOTENSION_TIER[record["hypotension"]],
        oxygen_tier(record["oxygen_device"], record["oxygen_l_min"]),
    )


def worse_of(a: dict[str, Any], b: dict[str, Any], domain: str) -> dict[str, Any]:
    """``a`` with one neurological domain replaced by the more severe finding of ``a`` and ``b``."""
    worse = dict(a)
    if domain == "ice":
        worse["ice_score"] = min(a["ice_score"], b["ice_score"])  # a lower ICE is more severe
    elif domain == "capd":
        worse["capd_score"] = max(a["capd_score"], b["capd_score"])
    elif domain == "consciousness":
        worse["consciousness"] = max(
            a["consciousness"], b["consciousness"], key=CONSCIOUSNESS_TIER.get
        )
        if worse["consciousness"] is Consciousness.UNAROUSABLE:
            worse["ice_score"] = 0  # an unarousable patient cannot perform ICE (also more severe)
    else:
        field, tier = {
            "seizure": ("seizure", SEIZURE_TIER),
            "motor": ("motor_weakness", MOTOR_TIER),
            "edema": ("cerebral_edema", EDEMA_TIER),
        }[domain]
        worse[field] = max(a[field], b[field], key=tier.get)
    return worse


@PROPERTY
@given(record=complete_icans(), other=complete_icans())
def test_a_more_severe_neurological_finding_never_lowers_icans(
    record: dict[str, Any], other: dict[str, Any]
) -> None:
    base = grade_assessment(build(record)).icans
    assert base.grade is not None
    everything = dict(record)
    for domain in ("ice", "capd", "consciousness", "seizure", "motor", "edema"):
        worse = grade_assessment(build(worse_of(record, other, domain))).icans
        assert worse.grade is not None
        assert worse.grade >= base.grade, (domain, record, other)
        everything = worse_of(everything, other, domain)
    worst = grade_assessment(build(everything)).icans
    assert worst.grade is not None
    assert worst.grade >= base.grade


# --- Missing gives not gradable -------------------------------------------------------------------


def blank_crs_field(record: dict[str, Any], field: str) -> dict[str, Any]:
    changed = {**record, field: None}
    if field == "oxygen_device":
        changed["oxygen_l_min"] = None  # a flow without a device is rejected at the edge
    return changed


@PROPERTY
@given(
    record=complete_crs(),
    field=st.sampled_from(
        [
            "temperature_c",
            "antipyretic_or_anticytokine_given",
            "hypotension",
            "oxygen_device",
            "oxygen_l_min",
        ]
    ),
)
def test_blanking_a_required_crs_field_makes_crs_not_gradable(
    record: dict[str, Any], field: str
) -> None:
    before = grade_assessment(build(record)).crs
    if before.status is Status.NOT_GRADABLE or before.grade == 4:
        return  # already open (masked, no findings), or grade 4: see the next test
    assert before.grade is not None
    policy = policy_with(nasal_cannula_without_flow="not_gradable")
    after_record = blank_crs_field(record, field)
    after = grade_assessment(build(after_record)).crs
    after_strict = grade_assessment(build(after_record), policy).crs
    fever = record["temperature_c"] >= 38.0
    masked = record["antipyretic_or_anticytokine_given"]
    device = record["oxygen_device"]
    support = max(support_tiers(record))

    # Exceptions made by design (crs.py):
    if not fever and not masked and field in ("hypotension", "oxygen_device", "oxygen_l_min"):
        # Afebrile and no masking therapy: whatever the support, it is not CRS (R-CRS-2 note).
        assert (after.status, after.grade, after.case) == (Status.NO_TOXICITY, 0, Case.NOT_CRS)
        return
    if fever and field == "antipyretic_or_anticytokine_given":
        # Masking therapy only matters without a documented fever: not required, not missing.
        assert after == before
        return
    if field == "temperature_c" and masked and support > 0:
        # Fever is no longer required once masked: graded by hypotension and hypoxia (R-CRS-2),
        # and the blank temperature is still reported.
        assert (after.status, after.grade) == (Status.GRADED, support)
        assert "temperature_c" in after.missing
        return
    if field == "oxygen_l_min" and device in NASAL_CANNULA:
        # Default policy: a cannula without its flow is classified by its label, with a remark.
        label = 2 if device is OxygenDevice.LOW_FLOW_NASAL_CANNULA else 3
        expected = max(HYPOTENSION_TIER[record["hypotension"]], label)
        assert (after.status, after.grade) == (Status.GRADED, expected)
        assert "oxygen_l_min" in after.missing
        assert any("Record the flow" in remark for remark in after.remarks)
        assert after_strict.status is Status.NOT_GRADABLE
        assert "oxygen_l_min" in after_strict.missing
        return
    if field == "oxygen_l_min":
        # Room air, blow-by, masks and positive pressure do not need a flow.
        assert (after.status, after.grade) == (before.status, before.grade)
        assert "oxygen_l_min" not in after.missing
        return

    assert after.status is Status.NOT_GRADABLE, (field, record)
    assert after.grade is None
    assert field in after.missing
    assert after.minimum_grade is not None
    assert after.minimum_grade <= before.grade  # the "at least" grade is a true lower bound


@PROPERTY
@given(record=complete_crs(), field=st.sampled_from(["hypotension", "oxygen_device"]))
def test_a_blank_support_field_cannot_hide_grade_4_crs(record: dict[str, Any], field: str) -> None:
    """Nothing missing can raise grade 4, so the other domain at grade 4 still grades."""
    before = grade_assessment(build(record)).crs
    if before.grade != 4:
        return
    other_is_4 = (
        oxygen_tier(record["oxygen_device"], record["oxygen_l_min"]) == 4
        if field == "hypotension"
        else HYPOTENSION_TIER[record["hypotension"]] == 4
    )
    after = grade_assessment(build(blank_crs_field(record, field))).crs
    if other_is_4:
        assert (after.status, after.grade) == (Status.GRADED, 4)
        assert field in after.missing
    else:
        assert after.status is Status.NOT_GRADABLE
        assert after.minimum_grade is not None
        assert after.minimum_grade < 4


def required_icans_fields(record: dict[str, Any]) -> list[tuple[str, ...]]:
    """Groups of fields whose blanking leaves a domain unassessed (both scores when either counts)."""
    instrument = instrument_for(record["age_years"], record["developmental_delay"])
    scores = {"ice": ("ice_score",), "capd": ("capd_score",), "either": ("ice_score", "capd_score")}
    return [
        scores[instrument],
        ("consciousness",),
        ("seizure",),
        ("motor_weakness",),
        ("cerebral_edema",),
    ]


@PROPERTY
@given(record=complete_icans(), data=st.data())
def test_blanking_a_required_icans_field_makes_icans_not_gradable(
    record: dict[str, Any], data: st.DataObject
) -> None:
    before = grade_assessment(build(record)).icans
    assert before.grade is not None
    fields = data.draw(st.sampled_from(required_icans_fields(record)))
    after = grade_assessment(build(record, **dict.fromkeys(fields))).icans
    if (
        fields[0] in ("ice_score", "capd_score")
        and record["consciousness"] is Consciousness.UNAROUSABLE
    ):
        # "Unable to perform ICE/CAPD" because unarousable is itself the grade 4 finding.
        assert (after.status, after.grade) == (Status.GRADED, 4)
        return
    if before.grade == 4:
        return  # grade 4 is kept whatever is missing, unless the grade 4 domain itself is blanked
    assert after.status is Status.NOT_GRADABLE, (fields, record)
    assert after.grade is None
    assert set(fields) <= set(after.missing)
    assert after.minimum_grade is not None
    assert after.minimum_grade <= before.grade


@PROPERTY
@given(
    record=complete_icans(),
    field=st.sampled_from(["consciousness", "seizure", "motor_weakness", "cerebral_edema"]),
)
def test_a_blank_domain_never_hides_another_domain_at_grade_4(
    record: dict[str, Any], field: str
) -> None:
    """Nothing missing can raise grade 4; anything below 4 with a blank domain stays open."""
    after = grade_assessment(build(record, **{field: None})).icans
    others = {
        "consciousness": CONSCIOUSNESS_TIER[record["consciousness"]],
        "seizure": SEIZURE_TIER[record["seizure"]],
        "motor_weakness": MOTOR_TIER[record["motor_weakness"]],
        "cerebral_edema": EDEMA_TIER[record["cerebral_edema"]],
    }
    del others[field]
    assert field in after.missing
    if max(others.values()) == 4:
        assert (after.status, after.grade) == (Status.GRADED, 4)
    else:
        assert (after.status, after.grade) == (Status.NOT_GRADABLE, None)


# --- Flags are monotone in grade ------------------------------------------------------------------

STRENGTH = {None: 0, FlagLevel.CONSIDER: 1, FlagLevel.INDICATED: 2, FlagLevel.LIMIT_REACHED: 2}


def graded(
    toxicity: Literal["CRS", "ICANS"], grade: int, *, lower_bound: bool = False
) -> GradeResult:
    """A result at ``grade``, or "not gradable, at least ``grade``" with ``lower_bound``."""
    return GradeResult(
        toxicity=toxicity,
        instrument="ASTCT 2019",
        instrument_version="2019",
        grade=None if lower_bound else grade,
        minimum_grade=grade,
        status=Status.NOT_GRADABLE
        if lower_bound
        else (Status.GRADED if grade else Status.NO_TOXICITY),
        case=Case.INCOMPLETE if lower_bound else Case.BY_DOMAINS,
        hits=(),
        missing=("seizure",) if lower_bound else (),
        policy="",
    )


def flag_strength(crs: GradeResult, icans: GradeResult, hours: float | None) -> dict[str, int]:
    flags = evaluate_flags(crs, icans, ASCO_2021, crs_grade_1_hours=hours)
    strength = dict.fromkeys(("tocilizumab", "corticosteroids", "icu"), 0)
    for flag in flags:
        strength[flag.action] = max(strength[flag.action], STRENGTH[flag.level])
    return strength


@pytest.mark.parametrize("hours", [None, 100.0])
@pytest.mark.parametrize("lower_bound", [False, True])
def test_escalation_flags_never_weaken_as_grades_rise(
    hours: float | None, lower_bound: bool
) -> None:
    grades = range(0, 5)  # grade 5 is death: it raises no flag by design (test_escalation.py)
    strength = {
        (c, i): flag_strength(graded("CRS", c, lower_bound=lower_bound), graded("ICANS", i), hours)
        for c in grades
        for i in grades
    }
    for (c, i), flags in strength.items():
        for (c2, i2), flags2 in strength.items():
            if c <= c2 and i <= i2:
                for action, level in flags.items():
                    assert level <= flags2[action], (action, (c, i), (c2, i2))


@PROPERTY
@given(batch=BATCHES)
def test_indicated_flags_are_monotone_across_graded_assessments(batch: list[Assessment]) -> None:
    results = [grade_assessment(a) for a in batch]
    rows = [
        (
            effective(r.crs),
            effective(r.icans),
            {action for action in ACTIONS.values() if r.indicated(action)},
        )
        for r in results
    ]
    for crs, icans, actions in rows:
        for crs2, icans2, actions2 in rows:
            if crs <= crs2 and icans <= icans2 and 5 not in (crs2, icans2):  # 5 = death, no flag
                assert actions <= actions2


def test_grade_frame_keeps_the_callers_index() -> None:
    frame = pd.DataFrame(
        [
            {"patient_id": "a", "observed_at": datetime(2026, 1, 1), "temperature_c": 38.0},
            {"patient_id": "b", "observed_at": datetime(2026, 1, 1), "temperature_c": 37.0},
        ],
        index=[10, 11],
    )
    out = grade_frame(frame)
    assert list(out.index) == [10, 11]
    assert out.loc[10, "crs_reason"].startswith("not gradable, at least grade 1")
