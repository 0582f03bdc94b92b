"""Policy for following a patient's course: episode resolution, steroid equivalence, monitoring
schedule. Each value is a documented choice with its source; none is a published criterion."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grading.records import Drug


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EpisodePolicy(_Frozen):
    """When a CRS or ICANS episode has resolved. ASTCT defines grades, not episodes [U]."""

    resolution_hours: float = Field(
        24,
        gt=0,
        description="An episode resolves when findings have been absent this long: for CRS no "
        "fever (< 38.0 °C), no hypotension and room air; for ICANS grade 0 in every domain. "
        "Policy choice [U]; the episode resolves at the first finding-free assessment.",
    )
    resolution_min_assessments: int = Field(
        2,
        ge=1,
        description="At least this many finding-free assessments must span the resolution "
        "period, so one reading never closes an episode. Assessments with blank fields neither "
        "count nor break the run.",
    )


class SteroidEquivalence(_Frozen):
    """Dexamethasone-equivalent mg per mg of each corticosteroid, for cumulative exposure."""

    dexamethasone_mg_per_mg: dict[Drug, float] = Field(
        default_factory=lambda: {
            Drug.DEXAMETHASONE: 1.0,
            Drug.METHYLPREDNISOLONE: 0.75 / 4,
            Drug.PREDNISOLONE: 0.75 / 5,
            Drug.PREDNISONE: 0.75 / 5,
            Drug.HYDROCORTISONE: 0.75 / 20,
        },
        description="Anti-inflammatory equivalence dexamethasone 0.75 mg = methylprednisolone 4 mg "
        "= prednisolone 5 mg = hydrocortisone 20 mg (standard pharmacology tables, e.g. BNF). Not "
        "in criteria.md [U]: confirm with the trial pharmacist.",
    )

    @model_validator(mode="after")
    def _only_steroids(self) -> SteroidEquivalence:
        for drug in self.dexamethasone_mg_per_mg:
            if not drug.is_steroid:
                raise ValueError(f"{drug.value} is not a corticosteroid")
        return self


class SchedulePhase(_Frozen):
    """How often each item is due between two study days (inclusive)."""

    name: str
    from_day: int
    to_day: int
    vitals_every_hours: float | None = Field(None, gt=0)
    neuro_every_hours: float | None = Field(None, gt=0)
    labs_every_hours: float | None = Field(None, gt=0)


class SchedulePolicy(_Frozen):
    """The monitoring schedule (criteria.md 8.1, 7.4) against which assessments become overdue."""

    phases: tuple[SchedulePhase, ...] = (
        SchedulePhase(
            name="acute (days 0-14)",
            from_day=0,
            to_day=14,
            vitals_every_hours=4,
            neuro_every_hours=8,
            labs_every_hours=24,
        ),
        SchedulePhase(
            name="early follow-up (days 15-28)",
            from_day=15,
            to_day=28,
            vitals_every_hours=24,
            neuro_every_hours=24,
            labs_every_hours=72,
        ),
    )
    visit_days: tuple[int, ...] = Field(
        (35, 60, 90, 120, 180, 270, 365),
        description="Follow-up visits after day 28 (CD19 and IgG monthly to month 3, then every "
        "1-3 months: criteria.md 7.4 [S]/[U]).",
    )
    visit_window_days: int = Field(3, ge=0, description="A visit counts within +/- this many days.")
    grace_hours: float = Field(
        1, ge=0, description="An item is overdue this long after it fell due."
    )
    source: str = (
        "ICE and motor exam at least twice daily (ASCO), neuro checks every 8 h (ASH-SAP) [C]; "
        "vitals every 4 h inpatient is common practice [U] (criteria.md 8.1)"
    )

    def phase_for(self, study_day: int) -> SchedulePhase | None:
        for phase in self.phases:
            if phase.from_day <= study_day <= phase.to_day:
                return phase
        return None


class CoursePolicy(_Frozen):
    episodes: EpisodePolicy = EpisodePolicy()
    steroids: SteroidEquivalence = SteroidEquivalence()
    schedule: SchedulePolicy = SchedulePolicy()
