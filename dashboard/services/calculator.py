"""The single-assessment grading calculator: form values in, grades with their reasons and flags out.

The page (``dashboard/app_pages/calculator.py``) reads its widgets into a dict keyed by widget key and
calls :func:`evaluate`. This module is the form-submit edge: it validates the raw values
(:class:`CalculatorInput`), converts Fahrenheit to Celsius with a remark, builds a
:class:`grading.Assessment` and the tocilizumab doses already given, and hands them to
:func:`grading.grade_assessment`. It holds no grading logic: every grade, reason, flag and dose
limit comes from the grading library. What it adds is presentation without Streamlit: the labels of
the form (the paper's phrases), field errors keyed by widget, and a card per toxicity.

A blank field is "not assessed" (``None``), never normal: every choice has ``None`` first.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from grading import (
    ASCO_2021,
    DISCLAIMER,
    Assessment,
    AssessmentResult,
    CerebralEdema,
    Consciousness,
    DoseGuard,
    Flag,
    FlagLevel,
    GradeResult,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Policy,
    RuleHit,
    Seizure,
    Status,
    TocilizumabDose,
    grade_assessment,
    units,
)
from grading.assessment import ERROR_FIELD

#: The first option of every choice: the field was not assessed (``None``).
NOT_ASSESSED = "— not assessed —"

#: The patient id of a calculator assessment: it is graded and shown, never stored.
CALCULATOR_PATIENT = "calculator"

MAX_DOSE_ROWS = 6
MAX_HOURS_AGO = 720.0  # 30 days: older doses do not change the dose limits of an episode

# --- Labels: the paper's phrases (criteria.md sections 1.1 and 2.2) ---------------------------------

HYPOTENSION_LABELS: dict[Hypotension, str] = {
    Hypotension.NONE: "None",
    Hypotension.FLUID_RESPONSIVE: "Not requiring vasopressors (fluids)",
    Hypotension.ONE_VASOPRESSOR: "One vasopressor",
    Hypotension.ONE_VASOPRESSOR_PLUS_VASOPRESSIN: "One vasopressor with vasopressin",
    Hypotension.MULTIPLE_VASOPRESSORS: "Multiple vasopressors (excluding vasopressin)",
}
OXYGEN_LABELS: dict[OxygenDevice, str] = {
    OxygenDevice.ROOM_AIR: "Room air (no oxygen)",
    OxygenDevice.LOW_FLOW_NASAL_CANNULA: "Low-flow nasal cannula",
    OxygenDevice.BLOW_BY: "Blow-by",
    OxygenDevice.HIGH_FLOW_NASAL_CANNULA: "High-flow nasal cannula",
    OxygenDevice.FACE_MASK: "Facemask",
    OxygenDevice.NON_REBREATHER: "Non-rebreather mask",
    OxygenDevice.VENTURI: "Venturi mask",
    OxygenDevice.CPAP: "CPAP",
    OxygenDevice.BIPAP: "BiPAP",
    OxygenDevice.MECHANICAL_VENTILATION: "Intubation and mechanical ventilation",
}
CONSCIOUSNESS_LABELS: dict[Consciousness, str] = {
    Consciousness.ALERT: "Alert (not depressed)",
    Consciousness.AWAKENS_SPONTANEOUSLY: "Awakens spontaneously",
    Consciousness.AWAKENS_TO_VOICE: "Awakens to voice",
    Consciousness.AWAKENS_TO_TACTILE: "Awakens only to tactile stimulus",
    Consciousness.UNAROUSABLE: "Unarousable, or vigorous/repetitive tactile stimuli; stupor or coma",
}
SEIZURE_LABELS: dict[Seizure, str] = {
    Seizure.NONE: "None",
    Seizure.SELF_LIMITING: "Clinical seizure (focal or generalized) that resolves rapidly",
    Seizure.RESOLVED_WITH_INTERVENTION: "Non-convulsive seizures on EEG, resolve with intervention",
    Seizure.PROLONGED_OR_REPETITIVE: "Prolonged (>5 min) or repetitive without return to baseline",
}
MOTOR_LABELS: dict[MotorWeakness, str] = {
    MotorWeakness.NONE: "None (tremor or myoclonus alone count as none)",
    MotorWeakness.DEEP_FOCAL: "Deep focal motor weakness (hemiparesis, paraparesis)",
}
EDEMA_LABELS: dict[CerebralEdema, str] = {
    CerebralEdema.NONE: "None",
    CerebralEdema.FOCAL: "Focal/local oedema on neuroimaging",
    CerebralEdema.DIFFUSE: "Diffuse oedema on imaging, posturing, CN VI palsy, papilloedema or "
    "Cushing's triad",
}
YES_NO_LABELS: dict[bool, str] = {True: "Yes", False: "No"}
CAPD_ANSWERS: dict[int, str] = {0: "Never", 1: "Rarely", 2: "Sometimes", 3: "Often", 4: "Always"}

#: ICE tasks as (item, label, maximum points), criteria.md 2.1.
ICE_ITEMS: tuple[tuple[str, str, int], ...] = (
    ("orientation", "Orientation (year, month, city, hospital)", 4),
    ("naming", "Naming (3 objects)", 3),
    ("following_commands", "Follows commands", 1),
    ("writing", "Writes a sentence", 1),
    ("attention", "Counts back from 100 by 10", 1),
)
#: CAPD questions (Traube 2014), answered never..always; items 1-4 are reverse-scored by the model.
CAPD_ITEMS: tuple[tuple[str, str], ...] = (
    ("eye_contact", "1. Makes eye contact with the caregiver?"),
    ("purposeful_actions", "2. Actions are purposeful?"),
    ("aware_of_surroundings", "3. Aware of their surroundings?"),
    ("communicates_needs", "4. Communicates needs and wants?"),
    ("restless", "5. Restless?"),
    ("inconsolable", "6. Inconsolable?"),
    ("underactive", "7. Underactive (very little movement while awake)?"),
    ("slow_response", "8. Takes a long time to respond to interactions?"),
)

#: How the grading library's field names read in "not assessed: ...".
FIELD_LABELS: dict[str, str] = {
    "temperature_c": "temperature",
    "antipyretic_or_anticytokine_given": "antipyretic or anti-cytokine given",
    "hypotension": "hypotension",
    "oxygen_device": "oxygen",
    "oxygen_l_min": "oxygen flow",
    "ice_score": "ICE score",
    "capd_score": "CAPD",
    "consciousness": "level of consciousness",
    "seizure": "seizure",
    "motor_weakness": "motor findings",
    "cerebral_edema": "raised ICP / cerebral oedema",
    "age_years": "age",
}
ACTION_LABELS: dict[str, str] = {
    "tocilizumab": "Tocilizumab",
    "corticosteroids": "Corticosteroids",
    "icu": "ICU",
}
LEVEL_LABELS: dict[FlagLevel, str] = {
    FlagLevel.INDICATED: "indicated",
    FlagLevel.CONSIDER: "consider",
    FlagLevel.LIMIT_REACHED: "limit reached",
}

# --- The form --------------------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _within(code: str, low: float, high: float, unit: str, hint: str) -> AfterValidator:
    """A range check with a stable code and a fix-it message (as grading.assessment does)."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise PydanticCustomError(
                code,
                "{value} {unit} is outside {low}-{high} {unit}. {hint}",
                {
                    "value": f"{value:g}",
                    "unit": unit,
                    "low": f"{low:g}",
                    "high": f"{high:g}",
                    "hint": hint,
                },
            )
        return value

    return AfterValidator(check)


WeightKg = Annotated[
    float, _within("implausible_weight", 0.5, 350, "kg", "Enter the weight in kilograms.")
]
Grade1Hours = Annotated[
    float,
    _within("implausible_duration", 0, 24 * 60, "h", "Enter how long grade 1 CRS has lasted."),
]
HoursAgo = Annotated[
    float,
    _within(
        "implausible_dose_time",
        0,
        MAX_HOURS_AGO,
        "h",
        "Enter how many hours ago the dose was given.",
    ),
]


class PriorDose(_Frozen):
    """A tocilizumab dose already given, as entered: how many hours ago, and how much."""

    hours_ago: HoursAgo | None = Field(None, validate_default=True)
    dose_mg: float | None = Field(None, validate_default=True)

    @field_validator("hours_ago")
    @classmethod
    def _hours_entered(cls, value: float | None) -> float | None:
        if value is None:
            raise PydanticCustomError(
                "tocilizumab_dose_time_missing",
                "Enter how many hours ago this dose was given, or lower the number of doses.",
            )
        return value

    @field_validator("dose_mg")
    @classmethod
    def _dose_entered(cls, value: float | None) -> float | None:
        if value is None:
            raise PydanticCustomError(
                "tocilizumab_dose_missing", "Enter the dose given in mg (for example 640)."
            )
        return value


class CalculatorInput(_Frozen):
    """The raw values of the calculator form, one field per widget key. ``None`` = not assessed."""

    temperature: float | None = None
    temperature_unit: Literal["C", "F"] = "C"
    antipyretic_or_anticytokine_given: bool | None = None
    oxygen_device: OxygenDevice | None = None
    oxygen_l_min: float | None = None
    hypotension: Hypotension | None = None
    age_years: float | None = None
    developmental_delay: bool | None = None
    ice_entry: Literal["total", "items"] = "total"
    ice_score: int | None = None
    ice_orientation: int | None = None
    ice_naming: int | None = None
    ice_following_commands: int | None = None
    ice_writing: int | None = None
    ice_attention: int | None = None
    capd_eye_contact: int | None = None
    capd_purposeful_actions: int | None = None
    capd_aware_of_surroundings: int | None = None
    capd_communicates_needs: int | None = None
    capd_restless: int | None = None
    capd_inconsolable: int | None = None
    capd_underactive: int | None = None
    capd_slow_response: int | None = None
    consciousness: Consciousness | None = None
    seizure: Seizure | None = None
    motor_weakness: MotorWeakness | None = None
    cerebral_edema: CerebralEdema | None = None
    weight_kg: WeightKg | None = None
    tocilizumab_doses: tuple[PriorDose, ...] | None = Field(None, max_length=MAX_DOSE_ROWS)
    crs_grade_1_hours: Grade1Hours | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CalculatorInput:
        """Every cross-field problem at once, each at the widget it belongs to."""
        problems = [
            *_incomplete("capd", self.capd_item_values(), "the eight CAPD answers"),
        ]
        if self.ice_entry == "items":
            problems += _incomplete("ice", self.ice_item_values(), "the five ICE items")
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def ice_item_values(self) -> dict[str, int | None]:
        return {item: getattr(self, f"ice_{item}") for item, _, _ in ICE_ITEMS}

    def capd_item_values(self) -> dict[str, int | None]:
        return {item: getattr(self, f"capd_{item}") for item, _ in CAPD_ITEMS}

    def temperature_c(self) -> tuple[float | None, str | None]:
        """The temperature in °C, and the remark when it was converted from °F."""
        if self.temperature is None or self.temperature_unit == "C":
            return self.temperature, None
        celsius = fahrenheit_to_celsius(self.temperature)
        return celsius, (
            f"Temperature {_show(self.temperature)} °F converted to {_show(celsius)} °C."
        )

    def assessment_fields(self) -> dict[str, Any]:
        """The fields of a :class:`grading.Assessment`, before its validation."""
        ice = self.ice_item_values()
        capd = self.capd_item_values()
        return {
            "age_years": self.age_years,
            "developmental_delay": self.developmental_delay,
            "temperature_c": self.temperature_c()[0],
            "antipyretic_or_anticytokine_given": self.antipyretic_or_anticytokine_given,
            "hypotension": self.hypotension,
            "oxygen_device": self.oxygen_device,
            "oxygen_l_min": self.oxygen_l_min,
            "ice_score": self.ice_score if self.ice_entry == "total" else None,
            "ice_items": ice if self.ice_entry == "items" and None not in ice.values() else None,
            "capd_items": capd if None not in capd.values() else None,
            "consciousness": self.consciousness,
            "seizure": self.seizure,
            "motor_weakness": self.motor_weakness,
            "cerebral_edema": self.cerebral_edema,
        }


def _incomplete(prefix: str, values: Mapping[str, int | None], what: str) -> list[InitErrorDetails]:
    blank = [item.replace("_", " ") for item, value in values.items() if value is None]
    if not blank or len(blank) == len(values):
        return []
    error = PydanticCustomError(
        f"{prefix}_items_incomplete",
        "Enter all of {what} or none (missing: {blank}).",
        {"what": what, "blank": ", ".join(blank)},
    )
    return [InitErrorDetails(type=error, loc=(f"{prefix}_items",), input=dict(values))]


def fahrenheit_to_celsius(fahrenheit: float) -> float:
    """°F to °C, rounded down to 0.01 °C (:func:`grading.units.fahrenheit_to_celsius`)."""
    return units.fahrenheit_to_celsius(fahrenheit).value


def _show(value: float) -> str:
    """38.0 -> '38.0', 38.5 -> '38.5', 37.99 -> '37.99', 101.3 -> '101.3'."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


# --- The result ------------------------------------------------------------------------------------


class FieldError(_Frozen):
    """A problem with one entry: the stable code and a message that says how to fix it."""

    code: str
    message: str


class GradeCard(_Frozen):
    """One toxicity as the page shows it."""

    toxicity: str  # "CRS" or "ICANS"
    instrument: str
    value: str  # the big number: "Grade 3", "Not gradable", "Grade 0"
    title: str  # "CRS grade 3", "CRS not gradable, at least grade 1", "ICANS grade 0 (no toxicity)"
    status: Status
    reason: str  # the library's one-line reason
    deciding: tuple[RuleHit, ...]  # the rows at the grade found (what the grade rests on)
    hits: tuple[RuleHit, ...]
    missing: tuple[str, ...]  # readable labels of the fields not assessed
    remarks: tuple[str, ...]


class CalculatorView(BaseModel):
    """What the page renders: either the field errors, or the result with its cards and remarks."""

    model_config = ConfigDict(frozen=True)

    errors: dict[str, FieldError] = {}
    remarks: tuple[str, ...] = ()  # edge remarks: unit conversions, totals computed from items
    assessment: Assessment | None = None
    result: AssessmentResult | None = None
    crs: GradeCard | None = None
    icans: GradeCard | None = None
    flags: tuple[Flag, ...] = ()
    dose_guard: DoseGuard | None = None
    dose_guard_warning: str = ""  # the doses already given were not entered
    policy: str = ""
    grading_choices: str = ""
    disclaimer: str = DISCLAIMER


def card(result: GradeResult) -> GradeCard:
    """The page's view of one grade result (no grading here: the result already says it all)."""
    name = result.toxicity
    if result.status is Status.NOT_GRADABLE:
        value = "Not gradable"
        title = f"{name} not gradable"
        if result.minimum_grade:
            title += f", at least grade {result.minimum_grade}"
    elif result.status is Status.NO_TOXICITY:
        value, title = "Grade 0", f"{name} grade 0 (no toxicity)"
    else:
        value, title = f"Grade {result.grade}", f"{name} grade {result.grade}"
    top = max((hit.grade for hit in result.hits), default=0)
    deciding = tuple(hit for hit in result.hits if top > 0 and hit.grade == top)
    return GradeCard(
        toxicity=name,
        instrument=result.instrument,
        value=value,
        title=title,
        status=result.status,
        reason=result.reason,
        deciding=deciding,
        hits=result.hits,
        missing=tuple(FIELD_LABELS.get(field, field) for field in result.missing),
        remarks=result.remarks,
    )


def evaluate(
    form: Mapping[str, object] | CalculatorInput,
    *,
    now: datetime | None = None,
    policy: Policy = ASCO_2021,
) -> CalculatorView:
    """Validate the form, grade it with the grading library and return what the page shows.

    ``now`` is the moment of the assessment (default: the current local time); the doses already
    given are placed ``hours_ago`` before it. All field errors are collected at once.
    """
    now = now or datetime.now()
    errors: dict[str, FieldError] = {}
    if isinstance(form, CalculatorInput):
        entry = form
    else:
        entry, errors = _read_form(form)
    fields = entry.assessment_fields()
    _, conversion = entry.temperature_c()
    remarks = [conversion] if conversion else []

    assessment, problems = _build_assessment(fields, now, entry)
    for key, problem in problems.items():
        errors.setdefault(key, problem)
    doses: list[TocilizumabDose] = []
    for index, dose in enumerate(entry.tocilizumab_doses or ()):
        try:
            doses.append(
                TocilizumabDose(
                    given_at=now - timedelta(hours=dose.hours_ago or 0), dose_mg=dose.dose_mg
                )
            )
        except ValidationError as error:
            for key, problem in _field_errors(error, entry, f"tocilizumab_doses_{index}_").items():
                errors.setdefault(key, problem)
    if errors or assessment is None:
        return CalculatorView(errors=errors, remarks=tuple(remarks))

    if entry.ice_entry == "items" and fields["ice_items"] is not None:
        remarks.append(f"ICE score {assessment.ice_score}/10 from its five items.")
    if fields["capd_items"] is not None:
        remarks.append(
            f"CAPD total {assessment.capd_score}/32 from the eight answers (items 1-4 reverse-scored)."
        )
    result = _grade(assessment, policy, doses, entry)
    dose_warning = ""
    if result.dose_guard is not None and entry.tocilizumab_doses is None:
        limits = policy.tocilizumab
        dose_warning = (
            "Doses already given were not entered, so the guard counts none. Enter them (section "
            f"5) to check the limits: {limits.max_doses_per_24h} in 24 h, "
            f"{limits.max_doses_total} in total."
        )
    crs = card(result.crs)
    return CalculatorView(
        remarks=tuple(remarks),
        assessment=assessment,
        result=result,
        crs=crs,
        icans=card(result.icans),
        flags=result.flags,
        dose_guard=result.dose_guard,
        dose_guard_warning=dose_warning,
        policy=result.policy,
        grading_choices=result.crs.policy,
        disclaimer=result.disclaimer,
    )


def _grade(
    assessment: Assessment, policy: Policy, doses: list[TocilizumabDose], entry: CalculatorInput
) -> AssessmentResult:
    return grade_assessment(
        assessment,
        policy,
        tocilizumab_doses=doses,
        weight_kg=entry.weight_kg,
        crs_grade_1_hours=entry.crs_grade_1_hours,
    )


def _build_assessment(
    fields: Mapping[str, Any], now: datetime, entry: CalculatorInput
) -> tuple[Assessment | None, dict[str, FieldError]]:
    """The Assessment, or every error it finds: its cross-field rules only run once the fields are
    valid, so the fields at fault are left blank and the rest validated again."""
    errors: dict[str, FieldError] = {}
    kept = dict(fields)
    for _ in range(2):
        try:
            assessment = Assessment(patient_id=CALCULATOR_PATIENT, observed_at=now, **kept)
        except ValidationError as error:
            for key, problem in _field_errors(error, entry).items():
                errors.setdefault(key, problem)
            for detail in error.errors():
                if detail["loc"]:
                    kept[str(detail["loc"][0])] = None
        else:
            return (None if errors else assessment), errors
    return None, errors


def _read_form(form: Mapping[str, object]) -> tuple[CalculatorInput, dict[str, FieldError]]:
    """Validate the form. On errors, drop the entries at fault and validate the rest (cross-field
    rules only run once the fields are valid), so that every error is reported at once and the
    clinical checks of the Assessment still run on what is left."""
    errors: dict[str, FieldError] = {}
    kept = dict(form)
    for _ in range(3):
        try:
            return CalculatorInput.model_validate(kept), errors
        except ValidationError as error:
            found = _field_errors(error, None)
        errors.update({key: value for key, value in found.items() if key not in errors})
        for key in found:
            for name in _form_keys(key):
                kept.pop(name, None)
    return CalculatorInput(), errors


def _form_keys(error_key: str) -> tuple[str, ...]:
    """The form entries an error key stands for."""
    if error_key == "ice_items":
        return tuple(f"ice_{item}" for item, _, _ in ICE_ITEMS)
    if error_key == "capd_items":
        return tuple(f"capd_{item}" for item, _ in CAPD_ITEMS)
    if error_key.startswith("tocilizumab_doses"):
        return ("tocilizumab_doses",)
    return (error_key,)


#: Where an error of the whole Assessment (no field in its location) is shown, by code.
_MODEL_ERROR_FIELDS = {
    **ERROR_FIELD,
    # On the form the fix is usually in another widget than the CSV column names.
    "oxygen_flow_without_device": "oxygen_device",
    "capd_score_mismatch": "capd_items",
    "ice_score_when_unarousable": "consciousness",
}
#: Assessment fields whose widget key differs.
_ASSESSMENT_KEYS = {"temperature_c": "temperature", "ice_items": "ice", "capd_items": "capd"}


def _field_errors(
    error: ValidationError, entry: CalculatorInput | None, prefix: str = ""
) -> dict[str, FieldError]:
    """Each error under the widget key it belongs to, with its stable code."""
    errors: dict[str, FieldError] = {}
    for detail in error.errors():
        key = prefix + _widget_key(detail)
        message = detail["msg"]
        if detail["type"] == "implausible_temperature" and entry is not None:
            message = _temperature_message(entry, message)
        errors.setdefault(key, FieldError(code=detail["type"], message=message))
    return errors


def _widget_key(detail: ErrorDetails) -> str:
    loc = [str(part) for part in detail["loc"]]
    if not loc:
        return _MODEL_ERROR_FIELDS.get(detail["type"], "form")
    loc[0] = _ASSESSMENT_KEYS.get(loc[0], loc[0])
    if len(loc) == 1 and loc[0] in ("ice", "capd"):
        return f"{loc[0]}_items"
    return "_".join(loc)


def _temperature_message(entry: CalculatorInput, message: str) -> str:
    """The library speaks °C; say what a °F entry became, and suggest the other unit."""
    value = entry.temperature
    if value is None:
        return message
    if entry.temperature_unit == "F":
        celsius = fahrenheit_to_celsius(value)
        message = (
            f"{_show(value)} °F = {_show(celsius)} °C is outside the plausible range 25-45 °C "
            "(77-113 °F)."
        )
        return message + (" If this is °C, switch the unit to °C." if 25 <= value <= 45 else "")
    return message + (" If this is °F, switch the unit to °F." if 77 <= value <= 113 else "")
