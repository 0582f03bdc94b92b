"""Results that explain themselves: the grade, its status, the rows of the paper that fired, what was
missing, and remarks. The one-line reason is built by :func:`describe`, shared by the scalar and the
vectorised graders so that both say exactly the same thing."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from grading.criteria import Criterion
from grading.enums import Status


class Case(StrEnum):
    """How the grade came about; each case has its own wording in the reason."""

    DEATH = "death"
    NOT_CRS = "not_crs"  # afebrile and no masking therapy: findings are not CRS
    FEVER_ONLY = "fever_only"  # fever, no hypotension, no hypoxia: grade 1
    BY_DOMAINS = "by_domains"  # the most severe domain
    MASKED_NO_FINDINGS = "masked_no_findings"  # R-CRS-2 open question, decided by policy
    INCOMPLETE = "incomplete"  # a required field was not assessed


class RuleHit(BaseModel):
    """A row of a published table that fired, with the paper's wording and where it stands."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    domain: str
    grade: int
    requirement: str
    source_text: str
    citation: str
    evidence: str
    note: str

    @classmethod
    def of(cls, criterion: Criterion) -> RuleHit:
        return cls(
            rule_id=criterion.rule_id,
            domain=criterion.domain,
            grade=criterion.grade,
            requirement=criterion.describe(),
            source_text=criterion.source_text,
            citation=criterion.citation,
            evidence=criterion.evidence,
            note=criterion.note,
        )


class GradeResult(BaseModel):
    """The grade of one toxicity for one assessment."""

    model_config = ConfigDict(frozen=True)

    toxicity: Literal["CRS", "ICANS"]
    instrument: str
    instrument_version: str
    grade: int | None
    minimum_grade: int | None  # a lower bound when not gradable; equals grade when graded
    status: Status
    case: Case
    hits: tuple[RuleHit, ...]
    missing: tuple[str, ...]
    remarks: tuple[str, ...] = ()
    policy: str

    @property
    def reason(self) -> str:
        return describe(
            self.status,
            self.grade,
            self.minimum_grade,
            self.case,
            [hit.rule_id for hit in self.hits],
            self.missing,
        )


_CASE_TEXT = {
    Case.DEATH: "death attributed to this toxicity",
    Case.NOT_CRS: "no fever and no antipyretic or anti-cytokine therapy (without fever, "
    "hypotension or hypoxia is not CRS)",
    Case.FEVER_ONLY: "fever without hypotension or hypoxia",
    Case.BY_DOMAINS: "the most severe domain",
    Case.MASKED_NO_FINDINGS: "CRS episode ongoing with fever masked by therapy, no gradable "
    "hypotension or hypoxia; grade left to the clinician (ASTCT does not say)",
    Case.INCOMPLETE: "required findings not assessed",
}


def describe(
    status: Status,
    grade: int | None,
    minimum: int | None,
    case: Case,
    rule_ids: Sequence[str],
    missing: Sequence[str],
) -> str:
    """One line: status and grade, how it came about, the rows that fired, and what was missing."""
    if status is Status.NOT_GRADABLE:
        head = "not gradable"
        if minimum:
            head += f", at least grade {minimum}"
    elif status is Status.NO_TOXICITY:
        head = "no toxicity (grade 0)"
    else:
        head = f"grade {grade}"
    explanation = _CASE_TEXT[case]
    if case is Case.BY_DOMAINS and status is Status.NO_TOXICITY:
        explanation = "every domain assessed, none abnormal"
    text = f"{head}: {explanation}"
    if rule_ids:
        text += f" [{', '.join(rule_ids)}]"
    if missing:
        text += f"; not assessed: {', '.join(missing)}"
    return text
