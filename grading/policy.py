"""Site policy: the choices the sources leave open, and the escalation flags, as validated data.

Published criteria live in the instrument modules and never change with a site. What a site may choose
lives here, each field with its default, source and rationale, so a site can load its own SOP file
(``Policy.model_validate_json``) and every result says which policy produced it. The default profile
is :data:`grading.policy_asco_2021.ASCO_2021`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Action = Literal["tocilizumab", "corticosteroids", "icu"]
Evidence = Literal["C", "S", "U", "policy"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GradingPolicy(_Frozen):
    """Choices the ASTCT sources leave open (criteria.md DISAGREEMENT and [U] items)."""

    capd_below_age_years: float = Field(
        12,
        description="Children younger than this are graded with CAPD, not ICE. ASCO 2021: 'For "
        "children age <12 years, the CAPD is recommended' [C: eguideline p.9].",
    )
    instrument_at_age_12: Literal["either", "ice", "capd"] = Field(
        "either",
        description="Age exactly 12 is disputed (NCIt: CAPD for 12 and under; ASCO: CAPD under 12). "
        "Default 'either': grade from the instrument recorded, the more severe if both.",
    )
    masked_without_findings: Literal["not_gradable", "grade_1", "grade_0"] = Field(
        "not_gradable",
        description="A CRS patient whose fever is masked by therapy, with neither hypotension nor "
        "hypoxia: ASTCT does not say (criteria.md R-CRS-2 open question). Default: not gradable, "
        "shown as 'CRS episode ongoing, no gradable hypotension or hypoxia', grade left to the "
        "clinician.",
    )
    nasal_cannula_without_flow: Literal["device_label", "not_gradable"] = Field(
        "device_label",
        description="A nasal cannula with no flow recorded: classify by its label (low-flow 2, "
        "high-flow 3; criteria.md 1.2 implementation choice) with a remark that the flow is "
        "missing, or refuse to grade.",
    )

    def active_choices(self) -> frozenset[str]:
        """The choices as 'field=value' strings that rule rows can be tied to."""
        return frozenset(f"{name}={value}" for name, value in self.model_dump().items())


class EscalationRule(_Frozen):
    """One escalation flag: raised when every stated threshold holds."""

    rule_id: str
    action: Action
    level: Literal["indicated", "consider"]
    crs_at_least: int | None = Field(None, ge=1, le=5)
    icans_at_least: int | None = Field(None, ge=1, le=5)
    crs_exactly: int | None = Field(None, ge=1, le=5)
    crs_grade_1_for_more_than_hours: float | None = Field(None, gt=0)
    recommendation: str = Field(min_length=1)
    source_text: str = Field(min_length=1)
    citation: str = Field(min_length=1)
    evidence: Evidence
    note: str = ""

    @model_validator(mode="after")
    def _has_a_threshold(self) -> EscalationRule:
        if self.crs_at_least is None and self.icans_at_least is None and self.crs_exactly is None:
            raise ValueError(f"escalation rule {self.rule_id} needs a CRS or ICANS threshold")
        return self

    def describe(self) -> str:
        parts = []
        if self.crs_at_least is not None:
            parts.append(f"CRS ≥ {self.crs_at_least}")
        if self.crs_exactly is not None:
            parts.append(f"CRS = {self.crs_exactly}")
        if self.icans_at_least is not None:
            parts.append(f"ICANS ≥ {self.icans_at_least}")
        if self.crs_grade_1_for_more_than_hours is not None:
            parts.append(f"grade 1 CRS for more than {self.crs_grade_1_for_more_than_hours:g} h")
        return " and ".join(parts)


class TocilizumabDosing(_Frozen):
    """Dose and limits for the tocilizumab dose guard (criteria.md 6.1)."""

    mg_per_kg: float = Field(8, gt=0, description="8 mg/kg IV over 1 h [C: ASCO Table 2].")
    child_mg_per_kg: float = Field(
        12,
        gt=0,
        description="12 mg/kg under the weight threshold [S: secondary summaries; U: label].",
    )
    child_below_weight_kg: float = Field(30, gt=0)
    max_dose_mg: float = Field(800, gt=0, description="Not to exceed 800 mg/dose [C].")
    min_hours_between_doses: float = Field(8, gt=0, description="Repeat every 8 h as needed [C].")
    max_doses_per_24h: int = Field(3, ge=1, description="Maximum 3 doses in 24 h [C].")
    max_doses_total: int = Field(4, ge=1, description="Maximum 4 doses total [C].")
    source: str = "ASCO 2021 Table 2 (eguideline p.6); ehoonline Table 2"


class Policy(_Frozen):
    """A named profile: grading choices, escalation rules and tocilizumab dosing."""

    name: str = Field(min_length=1)
    description: str
    grading: GradingPolicy = GradingPolicy()
    escalation: tuple[EscalationRule, ...]
    tocilizumab: TocilizumabDosing = TocilizumabDosing()

    @model_validator(mode="after")
    def _unique_rule_ids(self) -> Policy:
        seen: set[str] = set()
        for rule in self.escalation:
            if rule.rule_id in seen:
                raise ValueError(f"escalation rule id {rule.rule_id} appears twice")
            seen.add(rule.rule_id)
        return self
