"""Records of a patient's course: the patient, lab results, drug administrations, infections,
LICATS events and outcome events (death, re-treatment). Pydantic models validated at the edge
(import, form, database read), like :class:`grading.assessment.Assessment`; CSV columns carry the
field names.

Time: instants end in ``_at``. Study day 0 is the calendar day of the CAR T infusion
(``Patient.infusion_at``); the day before is -1. Lab values keep the unit they were reported in;
:mod:`grading.units` converts them to one canonical unit per analyte, with a remark.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Disease(StrEnum):
    """Autoimmune diseases in scope (criteria.md header)."""

    SLE = "sle"
    MYOSITIS = "myositis"  # idiopathic inflammatory myositis
    SYSTEMIC_SCLEROSIS = "systemic_sclerosis"
    MUSK_MYASTHENIA_GRAVIS = "musk_myasthenia_gravis"
    PEMPHIGUS_VULGARIS = "pemphigus_vulgaris"
    OTHER = "other"


class Product(StrEnum):
    """Cell products in scope. Only CD19-directed products are expected to cause B-cell aplasia."""

    CD19_CAR_T = "cd19_car_t"
    CD19_BCMA_CAR_T = "cd19_bcma_car_t"
    DSG3_CAAR_T = "dsg3_caar_t"
    MUSK_CAAR_T = "musk_caar_t"
    CAR_TREG = "car_treg"

    @property
    def expects_b_cell_aplasia(self) -> bool:
        """CAAR-T target only autoantigen-specific B cells (criteria.md 7.1): aplasia is unexpected.

        CAR-Treg is not designed to deplete B cells either; depletion after it is flagged too.
        """
        return self in (Product.CD19_CAR_T, Product.CD19_BCMA_CAR_T)


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Patient(_Frozen):
    """A trial participant, pseudonymous: no name, no record number."""

    patient_id: str = Field(min_length=1, max_length=64)
    site_id: str = Field(min_length=1, max_length=64)
    disease: Disease
    product: Product
    infusion_at: datetime = Field(description="CAR T infusion: study day 0")
    lymphodepletion_start_at: datetime | None = None
    age_years: float | None = Field(None, ge=0, le=120)
    date_of_birth: date | None = None
    sex: Sex | None = None
    weight_kg: float | None = Field(None, gt=0, le=400)

    @model_validator(mode="after")
    def _dates_in_order(self) -> Patient:
        if self.lymphodepletion_start_at and self.lymphodepletion_start_at > self.infusion_at:
            raise PydanticCustomError(
                "lymphodepletion_after_infusion",
                "Lymphodepletion cannot start after the infusion. Check both dates.",
                {},
            )
        return self

    def study_day(self, at: datetime) -> int:
        """Calendar days since the infusion day (day 0)."""
        return (at.date() - self.infusion_at.date()).days


class Analyte(StrEnum):
    """Laboratory analytes cartwatch reads (criteria.md 8.2, 8.3)."""

    CRP = "crp"
    FERRITIN = "ferritin"
    IL6 = "il6"
    FIBRINOGEN = "fibrinogen"
    IGG = "igg"
    ANC = "anc"  # absolute neutrophil count
    LYMPHOCYTES = "lymphocytes"
    WBC = "wbc"
    PLATELETS = "platelets"
    HEMOGLOBIN = "hemoglobin"
    LDH = "ldh"
    ALT = "alt"
    AST = "ast"
    TRIGLYCERIDES = "triglycerides"
    CREATININE = "creatinine"
    CD19_ABSOLUTE = "cd19_absolute"  # CD19+ B cells per volume
    CD19_PERCENT = "cd19_percent"  # CD19+ B cells, % of lymphocytes


class LabResult(_Frozen):
    """One lab value as reported: value and unit (never unit-less)."""

    patient_id: str = Field(min_length=1, max_length=64)
    collected_at: datetime
    analyte: Analyte
    value: float = Field(ge=0)
    unit: str = Field(min_length=1, max_length=32)
    loinc: str | None = Field(None, pattern=r"^\d{1,7}-\d$")

    @model_validator(mode="after")
    def _known_unit(self) -> LabResult:
        from grading.units import UnknownUnitError, to_canonical  # units imports this module

        try:
            to_canonical(self.analyte, self.value, self.unit)
        except UnknownUnitError as error:
            raise PydanticCustomError(
                "unknown_unit",
                "Unit '{unit}' is not known for {analyte}: use one of {allowed}. A unit is never "
                "guessed.",
                {
                    "unit": self.unit,
                    "analyte": self.analyte.value,
                    "allowed": ", ".join(error.allowed),
                },
            ) from None
        return self


class Drug(StrEnum):
    """Drugs recorded in the course (issue #3). Names are generic; a brand goes in ``note``."""

    TOCILIZUMAB = "tocilizumab"
    SILTUXIMAB = "siltuximab"
    ANAKINRA = "anakinra"
    DEXAMETHASONE = "dexamethasone"
    METHYLPREDNISOLONE = "methylprednisolone"
    PREDNISOLONE = "prednisolone"
    PREDNISONE = "prednisone"
    HYDROCORTISONE = "hydrocortisone"
    PARACETAMOL = "paracetamol"  # acetaminophen
    IBUPROFEN = "ibuprofen"
    METAMIZOLE = "metamizole"
    NOREPINEPHRINE = "norepinephrine"
    EPINEPHRINE = "epinephrine"
    PHENYLEPHRINE = "phenylephrine"
    DOPAMINE = "dopamine"
    VASOPRESSIN = "vasopressin"
    IVIG = "ivig"
    G_CSF = "g_csf"
    LEVETIRACETAM = "levetiracetam"

    @property
    def is_steroid(self) -> bool:
        return self in STEROIDS

    @property
    def masks_fever(self) -> bool:
        """Antipyretic or anti-cytokine therapy (ASTCT footnote, criteria.md R-CRS-2).

        Corticosteroids and IL-6/IL-1 blockade count as anti-cytokine therapy; so do antipyretics
        (the broader ASTCT wording, DISAGREEMENT with SITC noted in criteria.md).
        """
        return self in ANTIPYRETIC_OR_ANTICYTOKINE

    @property
    def is_vasopressor(self) -> bool:
        return self in VASOPRESSORS


STEROIDS = frozenset(
    {
        Drug.DEXAMETHASONE,
        Drug.METHYLPREDNISOLONE,
        Drug.PREDNISOLONE,
        Drug.PREDNISONE,
        Drug.HYDROCORTISONE,
    }
)
ANTICYTOKINE = frozenset({Drug.TOCILIZUMAB, Drug.SILTUXIMAB, Drug.ANAKINRA}) | STEROIDS
ANTIPYRETIC = frozenset({Drug.PARACETAMOL, Drug.IBUPROFEN, Drug.METAMIZOLE})
ANTIPYRETIC_OR_ANTICYTOKINE = ANTICYTOKINE | ANTIPYRETIC
VASOPRESSORS = frozenset(
    {Drug.NOREPINEPHRINE, Drug.EPINEPHRINE, Drug.PHENYLEPHRINE, Drug.DOPAMINE, Drug.VASOPRESSIN}
)


class Route(StrEnum):
    IV = "iv"
    PO = "po"
    SC = "sc"
    IM = "im"
    OTHER = "other"


class DrugAdministration(_Frozen):
    """One dose given (a continuous infusion is recorded at its start with its rate as dose)."""

    patient_id: str = Field(min_length=1, max_length=64)
    given_at: datetime
    drug: Drug
    dose: float | None = Field(None, gt=0)
    dose_unit: str | None = Field(None, max_length=32)
    route: Route | None = None

    @model_validator(mode="after")
    def _dose_has_unit(self) -> DrugAdministration:
        if self.dose is not None and not self.dose_unit:
            raise PydanticCustomError(
                "dose_without_unit",
                "A dose of {dose} needs its unit (for example mg, mg/kg, g, mcg/kg/min).",
                {"dose": self.dose},
            )
        return self


class InfectionEvent(_Frozen):
    """An infection: the main late risk while B cells are gone."""

    patient_id: str = Field(min_length=1, max_length=64)
    onset_at: datetime
    site: str = Field(min_length=1, max_length=64, description="for example respiratory, urinary")
    organism: str | None = Field(None, max_length=128)
    ctcae_grade: int = Field(ge=1, le=5)
    serious: bool


class LicatsEvent(_Frozen):
    """Local immune effector cell-associated toxicity syndrome (Hagen 2025, criteria.md 6.7).

    Recorded on its own, apart from CRS and from disease flare. Grade 1 resolves spontaneously
    ... 4 needs intensive care (as the observational study graded it).
    """

    patient_id: str = Field(min_length=1, max_length=64)
    onset_at: datetime
    organ: str = Field(min_length=1, max_length=64, description="for example skin, kidney, joint")
    grade: int = Field(ge=1, le=4)
    resolved_at: datetime | None = None

    @model_validator(mode="after")
    def _resolved_after_onset(self) -> LicatsEvent:
        if self.resolved_at is not None and self.resolved_at < self.onset_at:
            raise PydanticCustomError(
                "resolved_before_onset", "LICATS cannot resolve before its onset.", {}
            )
        return self


class OutcomeKind(StrEnum):
    """A patient outcome that ends or changes follow-up: the competing events of a cumulative
    incidence analysis (issue #6)."""

    DEATH = "death"
    #: Re-infusion of CAR T cells, or a new line of B-cell-directed therapy (for example
    #: rituximab): from then on, B-cell recovery and late toxicity are no longer those of the
    #: first product.
    RETREATMENT = "retreatment"


class DeathCause(StrEnum):
    """What a death was attributed to, from a closed list (research exports carry no free text).

    ``unknown`` is a recorded answer ("the cause is not known"); a blank cause means "not recorded
    yet", and the two are never merged.
    """

    CRS = "crs"
    ICANS = "icans"
    IEC_HS = "iec_hs"  # immune effector cell-associated HLH-like syndrome
    INFECTION = "infection"
    DISEASE_PROGRESSION = "disease_progression"
    OTHER = "other"
    UNKNOWN = "unknown"


class OutcomeEvent(_Frozen):
    """A death or a re-treatment, at the time it occurred.

    ``cause`` belongs to a death only: a re-treatment with a cause is refused. A death without a
    cause is accepted (the cause is then "not recorded", not "unknown"), but a cause should be
    entered as soon as it is known. There is deliberately no free-text field: research exports
    must not carry free text.
    """

    patient_id: str = Field(min_length=1, max_length=64)
    event: OutcomeKind
    occurred_at: datetime
    cause: DeathCause | None = None

    @field_validator("cause")
    @classmethod
    def _cause_only_for_death(
        cls, cause: DeathCause | None, info: ValidationInfo
    ) -> DeathCause | None:
        """A field validator, not a model one, so that the error names the ``cause`` column (an
        import reports it at its row and column, a form beside the field)."""
        event = info.data.get("event")  # absent when the event itself is invalid
        if cause is not None and event is not None and event is not OutcomeKind.DEATH:
            raise PydanticCustomError(
                "cause_without_death",
                "A cause ({cause}) is recorded for a death only; leave it blank for a "
                "{event}, or record the event as a death.",
                {"cause": cause.value, "event": event.value},
            )
        return cause
