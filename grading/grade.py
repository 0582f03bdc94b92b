"""Grade one assessment: CRS, ICANS and the escalation flags, in one result."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from grading.assessment import Assessment
from grading.crs import grade_crs
from grading.enums import FlagLevel
from grading.escalation import DoseGuard, Flag, TocilizumabDose, evaluate_flags, guard_tocilizumab
from grading.icans import grade_icans
from grading.policy import Policy
from grading.policy_asco_2021 import ASCO_2021
from grading.results import GradeResult

DISCLAIMER = (
    "Decision support only: grades and flags follow the published criteria and the site policy "
    "shown, and do not replace the judgement of the treating physician or the trial protocol."
)


class AssessmentResult(BaseModel):
    """Everything one assessment means, with the reasons."""

    model_config = ConfigDict(frozen=True)

    crs: GradeResult
    icans: GradeResult
    flags: tuple[Flag, ...]
    dose_guard: DoseGuard | None
    policy: str
    disclaimer: str = DISCLAIMER

    def indicated(self, action: str) -> bool:
        """True when the action is guideline-indicated (even if its dose limit is reached)."""
        return any(
            flag.action == action and flag.level in (FlagLevel.INDICATED, FlagLevel.LIMIT_REACHED)
            for flag in self.flags
        )

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.crs.missing, *self.icans.missing)))


def grade_assessment(
    assessment: Assessment,
    policy: Policy = ASCO_2021,
    *,
    tocilizumab_doses: Sequence[TocilizumabDose] = (),
    weight_kg: float | None = None,
    crs_grade_1_hours: float | None = None,
    at: datetime | None = None,
) -> AssessmentResult:
    """Grade CRS and ICANS and raise the policy's escalation flags.

    ``tocilizumab_doses`` and ``weight_kg`` feed the dose guard; ``crs_grade_1_hours`` is how long
    grade 1 CRS has lasted (from the course), for the "consider tocilizumab" rule.
    """
    crs = grade_crs(assessment, policy.grading)
    icans = grade_icans(assessment, policy.grading)
    guard = guard_tocilizumab(
        tocilizumab_doses, at or assessment.observed_at, weight_kg, policy.tocilizumab
    )
    flags = evaluate_flags(
        crs, icans, policy, crs_grade_1_hours=crs_grade_1_hours, dose_guard=guard
    )
    toci = any(flag.action == "tocilizumab" for flag in flags)
    return AssessmentResult(
        crs=crs, icans=icans, flags=flags, dose_guard=guard if toci else None, policy=policy.name
    )
