"""Grade CRS for one assessment with the ASTCT 2019 table (:mod:`grading.crs_astct_2019`).

This is the readable reference implementation; :mod:`grading.frame` does the same over a DataFrame
and a property test holds the two together.
"""

from __future__ import annotations

from enum import StrEnum

from grading.assessment import Assessment
from grading.criteria import Criterion, DomainFinding, Record, evaluate_domain, is_blank
from grading.crs_astct_2019 import INSTRUMENT, NASAL_CANNULA
from grading.enums import Status
from grading.policy import GradingPolicy
from grading.results import Case, GradeResult, RuleHit

#: The fields CRS grading reads, in the order they are reported as missing.
FIELDS = (
    "temperature_c",
    "antipyretic_or_anticytokine_given",
    "hypotension",
    "oxygen_device",
    "oxygen_l_min",
)


def record_of(assessment: Assessment) -> dict[str, object]:
    """The assessment as plain values (enum members as their contract strings)."""
    record: dict[str, object] = {}
    for name in Assessment.model_fields:
        value = getattr(assessment, name)
        record[name] = value.value if isinstance(value, StrEnum) else value
    return record


def missing_fields(record: Record) -> tuple[str, ...]:
    """The CRS fields that were not assessed and matter for this record."""
    fever = _num(record.get("temperature_c"))
    needed = {
        "temperature_c": True,
        # Masking only matters when there is no documented fever.
        "antipyretic_or_anticytokine_given": fever is None or fever < 38.0,
        "hypotension": True,
        "oxygen_device": True,
        "oxygen_l_min": record.get("oxygen_device") in NASAL_CANNULA,
    }
    return tuple(f for f in FIELDS if needed[f] and is_blank(record.get(f)))


def grade_crs(assessment: Assessment, policy: GradingPolicy | None = None) -> GradeResult:
    """ASTCT 2019 CRS grade of one assessment, with the rows that fired and what was missing."""
    policy = policy or GradingPolicy()
    record = record_of(assessment)
    choices = policy.active_choices()

    def find(domain: str) -> DomainFinding:
        return evaluate_domain(INSTRUMENT, domain, record, choices)

    fever, masking, hypotension, hypoxia, death = (
        find(d) for d in ("fever", "masking", "hypotension", "hypoxia", "death")
    )
    missing = missing_fields(record)
    remarks = list(_remarks(record, fever, masking, hypoxia))

    def result(
        status: Status,
        grade: int | None,
        minimum: int | None,
        case: Case,
        *findings: DomainFinding,
    ) -> GradeResult:
        hits: list[Criterion] = [hit for f in findings for hit in f.hits]
        return GradeResult(
            toxicity="CRS",
            instrument=INSTRUMENT.name,
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

    if death.grade == 5:  # Grade 5 only when death is attributed to CRS.
        return result(Status.GRADED, 5, 5, Case.DEATH, death)

    support = (hypotension, hypoxia)
    known = [f.grade for f in support if f.grade is not None]
    most_severe = max(known, default=0)  # R-CRS-5: the more severe of hypotension and hypoxia
    complete = len(known) == len(support)

    if fever.grade == 1:
        opener = fever
    elif masking.grade == 1:  # R-CRS-2: fever no longer required after masking therapy
        opener = masking
    elif fever.grade == 0 and masking.grade == 0:  # R-CRS-2 note: without fever it is not CRS
        return result(Status.NO_TOXICITY, 0, 0, Case.NOT_CRS, fever, masking)
    else:  # fever not recorded, or afebrile with masking not recorded
        return result(Status.NOT_GRADABLE, None, 0, Case.INCOMPLETE, fever, masking, *support)

    if not complete:
        lower = max(most_severe, fever.grade or 0)
        if lower == 4:  # nothing missing can raise grade 4
            return result(Status.GRADED, 4, 4, Case.BY_DOMAINS, opener, *support)
        return result(Status.NOT_GRADABLE, None, lower, Case.INCOMPLETE, opener, *support)
    if most_severe > 0:
        return result(Status.GRADED, most_severe, most_severe, Case.BY_DOMAINS, opener, *support)
    if fever.grade == 1:
        return result(Status.GRADED, 1, 1, Case.FEVER_ONLY, fever, *support)
    # Masked, no hypotension, no hypoxia: the open question of R-CRS-2, decided by policy.
    if policy.masked_without_findings == "grade_1":
        return result(Status.GRADED, 1, 1, Case.MASKED_NO_FINDINGS, masking, *support)
    if fever.grade is None:  # a fever would make it grade 1 whatever the policy says
        return result(Status.NOT_GRADABLE, None, 0, Case.INCOMPLETE, masking, *support)
    if policy.masked_without_findings == "grade_0":
        return result(Status.NO_TOXICITY, 0, 0, Case.MASKED_NO_FINDINGS, masking, *support)
    return result(Status.NOT_GRADABLE, None, 0, Case.MASKED_NO_FINDINGS, masking, *support)


def policy_label(policy: GradingPolicy) -> str:
    return ", ".join(sorted(policy.active_choices()))


def _num(value: object) -> float | None:
    return None if is_blank(value) or not isinstance(value, int | float) else float(value)


def _remarks(
    record: Record, fever: DomainFinding, masking: DomainFinding, hypoxia: DomainFinding
) -> list[str]:
    remarks = []
    if (
        fever.grade == 0
        and masking.grade == 0
        and (
            record.get("hypotension") not in (None, "none")
            or record.get("oxygen_device") not in (None, "room_air")
        )
    ):
        remarks.append(
            "Hypotension or hypoxia without fever and without antipyretic or anti-cytokine "
            "therapy is not CRS by ASTCT: consider sepsis, bleeding or cardiac causes."
        )
    if fever.grade != 1 and masking.grade == 1:
        remarks.append(
            "Fever not required: antipyretic or anti-cytokine therapy was given after CRS onset "
            "(ASTCT footnote, R-CRS-2)."
        )
    if any(hit.policy for hit in hypoxia.hits):
        remarks.append(
            "Oxygen flow not recorded: the nasal cannula was classified by its label (policy "
            "nasal_cannula_without_flow=device_label). Record the flow: above 6 L/min is high-flow "
            "(grade 3)."
        )
    return remarks
