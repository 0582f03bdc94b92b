"""Escalation flags (tocilizumab, corticosteroids, ICU) and the tocilizumab dose guard.

Rules are data in a :class:`grading.policy.Policy` (default :data:`grading.policy_asco_2021.ASCO_2021`,
criteria.md 6.6). A flag means "guideline-indicated at this grade"; whether another tocilizumab dose
may be given now is the dose guard's answer (criteria.md 6.1). Flags are decision support: the
treating physician decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from grading.enums import FlagLevel, Status
from grading.policy import EscalationRule, Policy, TocilizumabDosing
from grading.results import GradeResult


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Flag(_Frozen):
    """One raised flag with the rule and source that raised it."""

    rule_id: str
    action: str
    level: FlagLevel
    basis: str  # the grades it was raised on, for example "CRS grade 3"
    recommendation: str
    source_text: str
    citation: str
    evidence: str
    note: str = ""
    on_lower_bound: bool = False  # raised on an "at least" grade of an incomplete assessment


class TocilizumabDose(_Frozen):
    """A tocilizumab dose already given."""

    given_at: datetime
    dose_mg: float = Field(gt=0, le=2000)


class DoseGuard(_Frozen):
    """What the dose limits allow now."""

    dose_mg: float | None  # the weight-based dose, capped; None without a weight
    doses_in_24h: int
    doses_total: int
    limit_reached: bool
    next_dose_not_before: datetime | None
    message: str
    source: str


#: Grade 5 is death attributed to the toxicity (criteria.md R-CRS, R-ICANS-6); it raises no flag.
DEATH_GRADE = 5


def effective_grade(result: GradeResult) -> int:
    """The grade, or the 'at least' grade of an incomplete result (flags fire on lower bounds)."""
    if result.grade is not None:
        return result.grade
    return result.minimum_grade or 0


def rule_fires(
    rule: EscalationRule, crs: int, icans: int, crs_grade_1_hours: float | None = None
) -> bool:
    """True when every threshold the rule states holds (grades are lower bounds)."""
    if rule.crs_at_least is not None and crs < rule.crs_at_least:
        return False
    if rule.crs_exactly is not None and crs != rule.crs_exactly:
        return False
    if rule.icans_at_least is not None and icans < rule.icans_at_least:
        return False
    hours = rule.crs_grade_1_for_more_than_hours
    return hours is None or (crs_grade_1_hours is not None and crs_grade_1_hours > hours)


def evaluate_flags(
    crs: GradeResult,
    icans: GradeResult,
    policy: Policy,
    *,
    crs_grade_1_hours: float | None = None,
    dose_guard: DoseGuard | None = None,
) -> tuple[Flag, ...]:
    """The flags the policy raises for these grades; 'consider' is dropped where 'indicated' fired."""
    crs_grade, icans_grade = effective_grade(crs), effective_grade(icans)
    if DEATH_GRADE in (crs_grade, icans_grade):
        return ()  # grade 5 is death: there is nothing left to escalate
    fired = [
        rule
        for rule in policy.escalation
        if rule_fires(rule, crs_grade, icans_grade, crs_grade_1_hours)
    ]
    indicated = {rule.action for rule in fired if rule.level == "indicated"}
    flags = []
    for rule in fired:
        if rule.level == "consider" and rule.action in indicated:
            continue
        level = FlagLevel(rule.level)
        if rule.action == "tocilizumab" and dose_guard is not None and dose_guard.limit_reached:
            level = FlagLevel.LIMIT_REACHED
        uses_crs = rule.crs_at_least is not None or rule.crs_exactly is not None
        uses_icans = rule.icans_at_least is not None
        lower = (uses_crs and crs.status is Status.NOT_GRADABLE) or (
            uses_icans and icans.status is Status.NOT_GRADABLE
        )
        basis = " and ".join(
            text
            for use, text in (
                (uses_crs, _basis("CRS", crs)),
                (uses_icans, _basis("ICANS", icans)),
            )
            if use
        )
        if rule.crs_grade_1_for_more_than_hours is not None and crs_grade_1_hours is not None:
            basis += f" for {crs_grade_1_hours:g} h"
        flags.append(
            Flag(
                rule_id=rule.rule_id,
                action=rule.action,
                level=level,
                basis=basis,
                recommendation=(
                    dose_guard.message
                    if level is FlagLevel.LIMIT_REACHED and dose_guard
                    else rule.recommendation
                ),
                source_text=rule.source_text,
                citation=rule.citation,
                evidence=rule.evidence,
                note=rule.note,
                on_lower_bound=lower,
            )
        )
    return tuple(flags)


def _basis(name: str, result: GradeResult) -> str:
    if result.status is Status.NOT_GRADABLE:
        return f"{name} at least grade {effective_grade(result)}"
    return f"{name} grade {result.grade}"


def guard_tocilizumab(
    doses: Sequence[TocilizumabDose],
    at: datetime,
    weight_kg: float | None,
    dosing: TocilizumabDosing,
) -> DoseGuard:
    """Apply the dose limits to the doses already given (criteria.md 6.1)."""
    given = sorted((d for d in doses if d.given_at <= at), key=lambda d: d.given_at)
    window = [d for d in given if d.given_at > at - timedelta(hours=24)]
    dose_mg = None
    if weight_kg is not None:
        per_kg = (
            dosing.child_mg_per_kg if weight_kg < dosing.child_below_weight_kg else dosing.mg_per_kg
        )
        dose_mg = round(min(per_kg * weight_kg, dosing.max_dose_mg), 1)
    next_at: datetime | None = None
    if len(given) >= dosing.max_doses_total:
        limit = True
        message = (
            f"Tocilizumab limit reached: {len(given)} doses given, at most "
            f"{dosing.max_doses_total} in total. Do not give another dose; consider corticosteroids "
            "or alternative therapy."
        )
    elif len(window) >= dosing.max_doses_per_24h:
        limit = True
        # The later of: the oldest counted dose leaving the 24 h window, and the minimum interval.
        next_at = max(
            window[len(window) - dosing.max_doses_per_24h].given_at + timedelta(hours=24),
            given[-1].given_at + timedelta(hours=dosing.min_hours_between_doses),
        )
        message = (
            f"Tocilizumab limit reached: {len(window)} doses in the last 24 h, at most "
            f"{dosing.max_doses_per_24h}. No further dose before {next_at:%Y-%m-%d %H:%M}."
        )
    else:
        limit = False
        if given and given[-1].given_at > at - timedelta(hours=dosing.min_hours_between_doses):
            next_at = given[-1].given_at + timedelta(hours=dosing.min_hours_between_doses)
        dose_text = f"{dose_mg:g} mg" if dose_mg is not None else "dose needs the weight"
        message = (
            f"Tocilizumab {dose_text} ({dosing.mg_per_kg:g} mg/kg, {dosing.child_mg_per_kg:g} mg/kg "
            f"under {dosing.child_below_weight_kg:g} kg, max {dosing.max_dose_mg:g} mg/dose); "
            f"{len(window)} of {dosing.max_doses_per_24h} doses in 24 h, {len(given)} of "
            f"{dosing.max_doses_total} in total"
        )
        if next_at is not None:
            every = dosing.min_hours_between_doses
            message += f"; next dose not before {next_at:%Y-%m-%d %H:%M} (every {every:g} h)"
        message += "."
    return DoseGuard(
        dose_mg=dose_mg,
        doses_in_24h=len(window),
        doses_total=len(given),
        limit_reached=limit,
        next_dose_not_before=next_at,
        message=message,
        source=dosing.source,
    )
