"""Grade ICANS for one assessment with the ASTCT 2019 tables (:mod:`grading.icans_astct_2019`).

The encephalopathy instrument depends on age (criteria.md 2.3): CAPD under 12, ICE over 12, either
at exactly 12 by default (a policy choice), and CAPD allowed at any age with developmental delay.
"""

from __future__ import annotations

import math
from typing import Literal

from grading.assessment import Assessment
from grading.criteria import Criterion, DomainFinding, Record, evaluate_domain, is_blank
from grading.crs import policy_label, record_of
from grading.enums import Status
from grading.icans_astct_2019 import INSTRUMENT
from grading.policy import GradingPolicy
from grading.results import Case, GradeResult, RuleHit

Instrument = Literal["ice", "capd", "either"]

#: The neurological domains every ICANS grade needs besides ICE or CAPD.
OTHER_DOMAINS = (
    ("consciousness", "consciousness"),
    ("seizure", "seizure"),
    ("motor", "motor_weakness"),
    ("edema", "cerebral_edema"),
)


def choose_instrument(
    age_years: float | None, developmental_delay: bool | None, policy: GradingPolicy
) -> Instrument:
    """ICE, CAPD or either, from the age in completed years (ASCO 2021 Table 2 footnote)."""
    if age_years is None or (isinstance(age_years, float) and math.isnan(age_years)):
        return "either"
    completed = math.floor(age_years)
    if completed < policy.capd_below_age_years:
        return "capd"
    if completed == policy.capd_below_age_years:
        return policy.instrument_at_age_12
    # CAPD "may be used in patients age >12 years with baseline developmental delay".
    return "either" if developmental_delay else "ice"


def score_fields(instrument: Instrument) -> tuple[str, ...]:
    return {"ice": ("ice_score",), "capd": ("capd_score",), "either": ("ice_score", "capd_score")}[
        instrument
    ]


def missing_fields(record: Record, instrument: Instrument, score_found: bool) -> tuple[str, ...]:
    """The ICANS fields that were not assessed (the score only when no score row fired)."""
    missing = (
        [] if score_found else [f for f in score_fields(instrument) if is_blank(record.get(f))]
    )
    missing += [field for _, field in OTHER_DOMAINS if is_blank(record.get(field))]
    return tuple(missing)


def grade_icans(assessment: Assessment, policy: GradingPolicy | None = None) -> GradeResult:
    """ASTCT 2019 ICANS grade of one assessment: the most severe domain (R-ICANS-1)."""
    policy = policy or GradingPolicy()
    record = record_of(assessment)
    choices = policy.active_choices()

    def find(domain: str) -> DomainFinding:
        return evaluate_domain(INSTRUMENT, domain, record, choices)

    instrument = choose_instrument(assessment.age_years, assessment.developmental_delay, policy)
    scores = [find(d) for d in ("ice", "capd") if d == instrument or instrument == "either"]
    fired_scores = [f for f in scores if f.grade is not None]
    others = [find(domain) for domain, _ in OTHER_DOMAINS]
    death = find("death")
    missing = missing_fields(record, instrument, bool(fired_scores))
    remarks = _remarks(record, instrument, assessment.age_years)

    score_grade = max((f.grade for f in fired_scores if f.grade is not None), default=None)
    grades = [score_grade, *(f.grade for f in others)]
    findings = [*fired_scores, *others]

    def result(status: Status, grade: int | None, minimum: int, case: Case) -> GradeResult:
        used = [death] if case is Case.DEATH else findings
        hits: list[Criterion] = [hit for f in used for hit in f.hits]
        return GradeResult(
            toxicity="ICANS",
            instrument=INSTRUMENT.name
            + {"ice": " (ICE)", "capd": " (CAPD)", "either": ""}[instrument],
            instrument_version=INSTRUMENT.version,
            grade=grade,
            minimum_grade=minimum,
            status=status,
            case=case,
            hits=tuple(RuleHit.of(c) for c in hits),
            missing=missing,
            remarks=tuple(remarks),
            policy=policy_label(policy),
        )

    if death.grade == 5:
        return result(Status.GRADED, 5, 5, Case.DEATH)
    known = [g for g in grades if g is not None]
    worst = max(known, default=0)
    if len(known) == len(grades):
        status = Status.GRADED if worst > 0 else Status.NO_TOXICITY
        return result(status, worst, worst, Case.BY_DOMAINS)
    if worst == 4:  # nothing missing can raise grade 4
        return result(Status.GRADED, 4, 4, Case.BY_DOMAINS)
    return result(Status.NOT_GRADABLE, None, worst, Case.INCOMPLETE)


def _remarks(record: Record, instrument: Instrument, age: float | None) -> list[str]:
    remarks = []
    if age is None:
        remarks.append("Age not recorded: graded with the instrument recorded (ICE or CAPD).")
    elif instrument == "capd" and not is_blank(record.get("ice_score")):
        remarks.append(
            f"ICE recorded at age {age:g}, but CAPD is recommended under 12 (ASCO 2021): the ICE "
            "score was not used. Record CAPD."
        )
    elif instrument == "ice" and not is_blank(record.get("capd_score")):
        remarks.append(
            f"CAPD recorded at age {age:g} without developmental delay: ICE is the instrument over "
            "12, so the CAPD score was not used. Record ICE."
        )
    elif instrument == "either" and math.floor(age) == 12:
        remarks.append(
            "Age 12 is disputed between ICE and CAPD (NCIt vs ASCO): graded with the instrument "
            "recorded, the more severe if both (policy instrument_at_age_12=either)."
        )
    return remarks
