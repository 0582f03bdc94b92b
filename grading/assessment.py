"""The input of one bedside assessment: pydantic models validated at the edge.

Field names and coded values are those of the interchange contract (README, "Data dictionary").
Every field but ``patient_id`` and ``observed_at`` may be blank, and a blank means "not assessed".
Impossible values raise; each error has a stable code (``error.type``) and a message that says how to
fix the input. All field errors are collected at once so that a form can show each beside its field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from grading.enums import (
    CerebralEdema,
    Consciousness,
    DeathAttribution,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Seizure,
)


def _plausible(code: str, low: float, high: float, unit: str, hint: str = "") -> AfterValidator:
    """A range check whose error carries a stable code and a fix-it message."""

    def check(value: float | None) -> float | None:
        if value is not None and not low <= value <= high:
            raise PydanticCustomError(
                code,
                "{value} is outside the plausible range {low}-{high} {unit}.{hint}",
                {"value": value, "low": low, "high": high, "unit": unit, "hint": hint},
            )
        return value

    return AfterValidator(check)


#: Plausible ranges (inclusive, in the field's unit), shared with the vectorised checks in frame.py.
PLAUSIBLE: dict[str, tuple[float, float, str]] = {
    "age_years": (0.0, 120.0, "years"),
    "temperature_c": (25.0, 45.0, "°C"),
    "oxygen_l_min": (0.0, 80.0, "L/min"),
    "ice_score": (0, 10, "points"),
    "capd_score": (0, 32, "points"),
    # Supporting vital signs: recorded and shown, never graded (ASTCT grades treatment, not numbers).
    "heart_rate_bpm": (20, 250, "/min"),
    "systolic_bp_mmhg": (40, 260, "mmHg"),
    "diastolic_bp_mmhg": (20, 160, "mmHg"),
    "spo2_pct": (50, 100, "%"),
    "respiratory_rate_min": (4, 70, "/min"),
}


def _bounded(field: str, code: str, hint: str) -> AfterValidator:
    low, high, unit = PLAUSIBLE[field]
    return _plausible(code, low, high, unit, hint)


TemperatureC = Annotated[
    float,
    _bounded(
        "temperature_c",
        "implausible_temperature",
        " Enter the temperature in degrees Celsius (100.4 °F = 38.0 °C).",
    ),
]
OxygenFlow = Annotated[
    float, _bounded("oxygen_l_min", "implausible_oxygen_flow", " Enter the flow in L/min.")
]
AgeYears = Annotated[float, _bounded("age_years", "implausible_age", " Enter the age in years.")]
IceScore = Annotated[
    int, _bounded("ice_score", "ice_score_out_of_range", " The ICE score is 0-10.")
]
HeartRate = Annotated[float, _bounded("heart_rate_bpm", "implausible_heart_rate", "")]
SystolicBp = Annotated[float, _bounded("systolic_bp_mmhg", "implausible_blood_pressure", "")]
DiastolicBp = Annotated[float, _bounded("diastolic_bp_mmhg", "implausible_blood_pressure", "")]
Spo2 = Annotated[float, _bounded("spo2_pct", "implausible_spo2", " Enter SpO2 in percent.")]
RespiratoryRate = Annotated[
    float, _bounded("respiratory_rate_min", "implausible_respiratory_rate", "")
]
CapdScore = Annotated[
    int, _bounded("capd_score", "capd_score_out_of_range", " The CAPD total is 0-32.")
]


#: The field a cross-field error belongs to, by its stable code (pydantic gives such errors no
#: location), so that an import or a form can name the column.
ERROR_FIELD = {
    "ice_score_mismatch": "ice_score",
    "capd_score_mismatch": "capd_score",
    "oxygen_flow_without_device": "oxygen_l_min",
    "oxygen_flow_on_room_air": "oxygen_l_min",
    "oxygen_flow_zero_on_cannula": "oxygen_l_min",
    "ice_score_when_unarousable": "ice_score",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IceItems(_Frozen):
    """The five ICE tasks (criteria.md 2.1); their sum is the ICE score (0-10, 10 = no impairment)."""

    orientation: int = Field(ge=0, le=4, description="year, month, city, hospital: 1 point each")
    naming: int = Field(ge=0, le=3, description="name 3 objects: 1 point each")
    following_commands: int = Field(ge=0, le=1)
    writing: int = Field(ge=0, le=1, description="write a standard sentence")
    attention: int = Field(ge=0, le=1, description="count backwards from 100 by 10")

    @property
    def total(self) -> int:
        return (
            self.orientation + self.naming + self.following_commands + self.writing + self.attention
        )


CapdItem = Annotated[int, Field(ge=0, le=4)]


class CapdItems(_Frozen):
    """The 8 CAPD items, each as the answer ticked on the form (Traube 2014, criteria.md 2.3).

    Answers are frequencies: 0 never, 1 rarely, 2 sometimes, 3 often, 4 always. Items 1-4 describe
    healthy behaviour and are reverse-scored (never = 4 points); items 5-8 describe delirium and are
    scored forward (always = 4 points). The total is 0-32; 9 or more screens positive for delirium.
    """

    eye_contact: CapdItem
    purposeful_actions: CapdItem
    aware_of_surroundings: CapdItem
    communicates_needs: CapdItem
    restless: CapdItem
    inconsolable: CapdItem
    underactive: CapdItem
    slow_response: CapdItem

    @property
    def total(self) -> int:
        reverse = (
            self.eye_contact
            + self.purposeful_actions
            + self.aware_of_surroundings
            + self.communicates_needs
        )
        forward = self.restless + self.inconsolable + self.underactive + self.slow_response
        return (4 * 4 - reverse) + forward


class Assessment(_Frozen):
    """One assessment of one patient at one moment. Blank fields mean "not assessed"."""

    patient_id: str = Field(min_length=1, max_length=64)
    observed_at: datetime
    age_years: AgeYears | None = None
    developmental_delay: bool | None = None
    temperature_c: TemperatureC | None = None
    antipyretic_or_anticytokine_given: bool | None = Field(
        None,
        description="An antipyretic or anti-cytokine drug (tocilizumab, steroids) was given after "
        "CRS began; fever is then no longer required (R-CRS-2).",
    )
    hypotension: Hypotension | None = None
    oxygen_device: OxygenDevice | None = None
    oxygen_l_min: OxygenFlow | None = None
    ice_score: IceScore | None = None
    ice_items: IceItems | None = None
    capd_score: CapdScore | None = None
    capd_items: CapdItems | None = None
    consciousness: Consciousness | None = None
    seizure: Seizure | None = None
    motor_weakness: MotorWeakness | None = None
    cerebral_edema: CerebralEdema | None = None
    death_attributed_to: DeathAttribution | None = None
    heart_rate_bpm: HeartRate | None = None
    systolic_bp_mmhg: SystolicBp | None = None
    diastolic_bp_mmhg: DiastolicBp | None = None
    spo2_pct: Spo2 | None = None
    respiratory_rate_min: RespiratoryRate | None = None

    @model_validator(mode="before")
    @classmethod
    def _scores_from_items(cls, data: object) -> object:
        """Fill ``ice_score``/``capd_score`` from their items when only the items are given."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for items_key, score_key, model in (
            ("ice_items", "ice_score", IceItems),
            ("capd_items", "capd_score", CapdItems),
        ):
            items = data.get(items_key)
            if items is None or data.get(score_key) is not None:
                continue
            if isinstance(items, dict):
                try:
                    items = model.model_validate(items)
                except ValueError:
                    continue  # the field validator reports the item errors
            if isinstance(items, IceItems | CapdItems):
                data[score_key] = items.total
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Assessment:
        if self.ice_items is not None and self.ice_score != self.ice_items.total:
            raise PydanticCustomError(
                "ice_score_mismatch",
                "ICE score {score} does not match the sum of its items ({total}). Correct the items "
                "or leave the score blank so that it is computed.",
                {"score": self.ice_score, "total": self.ice_items.total},
            )
        if self.capd_items is not None and self.capd_score != self.capd_items.total:
            raise PydanticCustomError(
                "capd_score_mismatch",
                "CAPD score {score} does not match the sum of its items ({total}). Correct the items "
                "or leave the score blank so that it is computed.",
                {"score": self.capd_score, "total": self.capd_items.total},
            )
        if self.oxygen_l_min is not None and self.oxygen_device is None:
            raise PydanticCustomError(
                "oxygen_flow_without_device",
                "An oxygen flow of {flow} L/min is recorded without an oxygen device. Record the "
                "device (for example low_flow_nasal_cannula).",
                {"flow": self.oxygen_l_min},
            )
        if self.oxygen_device is OxygenDevice.ROOM_AIR and self.oxygen_l_min:
            raise PydanticCustomError(
                "oxygen_flow_on_room_air",
                "Room air with an oxygen flow of {flow} L/min is contradictory. Record the device "
                "that delivers the oxygen, or a flow of 0.",
                {"flow": self.oxygen_l_min},
            )
        if (
            self.oxygen_device is not None
            and self.oxygen_device.is_nasal_cannula
            and (self.oxygen_l_min == 0)
        ):
            raise PydanticCustomError(
                "oxygen_flow_zero_on_cannula",
                "A nasal cannula at 0 L/min delivers no oxygen. Record room air if the oxygen is "
                "off, or the flow actually delivered.",
                {},
            )
        if (
            self.consciousness is Consciousness.UNAROUSABLE
            and self.ice_score is not None
            and self.ice_score > 0
        ):
            raise PydanticCustomError(
                "ice_score_when_unarousable",
                "An unarousable patient cannot perform ICE, but an ICE score of {score} is recorded. "
                "Record ICE 0 or leave it blank, or correct the level of consciousness.",
                {"score": self.ice_score},
            )
        return self
