"""cartwatch grading: ASTCT 2019 CRS and ICANS grading and escalation flags.

A pure library: no Streamlit, no database, no file or network I/O. Decision support only.
"""

from grading.assessment import Assessment, CapdItems, IceItems
from grading.crs import grade_crs
from grading.enums import (
    CerebralEdema,
    Consciousness,
    DeathAttribution,
    FlagLevel,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Seizure,
    Status,
)
from grading.escalation import DoseGuard, Flag, TocilizumabDose, guard_tocilizumab
from grading.frame import OUTPUT_COLUMNS, grade_frame
from grading.grade import DISCLAIMER, AssessmentResult, grade_assessment
from grading.icans import grade_icans
from grading.policy import EscalationRule, GradingPolicy, Policy, TocilizumabDosing
from grading.policy_asco_2021 import ASCO_2021
from grading.results import GradeResult, RuleHit

__all__ = [
    "ASCO_2021",
    "DISCLAIMER",
    "OUTPUT_COLUMNS",
    "Assessment",
    "AssessmentResult",
    "CapdItems",
    "CerebralEdema",
    "Consciousness",
    "DeathAttribution",
    "DoseGuard",
    "EscalationRule",
    "Flag",
    "FlagLevel",
    "GradeResult",
    "GradingPolicy",
    "Hypotension",
    "IceItems",
    "MotorWeakness",
    "OxygenDevice",
    "Policy",
    "RuleHit",
    "Seizure",
    "Status",
    "TocilizumabDose",
    "TocilizumabDosing",
    "grade_assessment",
    "grade_crs",
    "grade_frame",
    "grade_icans",
    "guard_tocilizumab",
]
