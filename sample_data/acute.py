"""The assessments table: every scheduled row of every patient, filled from the acute windows
(:mod:`sample_data.segments`) with NumPy masks, then thinned by real-world missingness.

Rows between the 8-hourly neuro checks carry vital signs, the CRS fields and the level of
consciousness; ICE (adults and age 12) or CAPD (under 12, and age 12), seizure, motor weakness and
cerebral oedema are recorded at the neuro checks, the daily checks and the visits. Room air has no
flow. Vital signs are supporting data, never graded.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading.enums import (
    CerebralEdema,
    Consciousness,
    Hypotension,
    MotorWeakness,
    OxygenDevice,
    Seizure,
)
from sample_data.draws import People
from sample_data.segments import Segments, locate
from sample_data.timeline import NEURO, VITALS, Rows, Template

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

ASSESSMENT_COLUMNS = (
    "patient_id", "observed_at", "age_years", "temperature_c", "hypotension", "oxygen_device",
    "oxygen_l_min", "ice_score", "capd_score", "consciousness", "seizure", "motor_weakness",
    "cerebral_edema", "heart_rate_bpm", "systolic_bp_mmhg", "diastolic_bp_mmhg", "spo2_pct",
    "respiratory_rate_min",
)  # fmt: skip
VITAL_SIGNS = ASSESSMENT_COLUMNS[-5:]
HYPOTENSION_HR: dict[str, float] = {"fluid_responsive": 14, "one_vasopressor": 20,
                  "one_vasopressor_plus_vasopressin": 24, "multiple_vasopressors": 28}  # fmt: skip
HYPOTENSION_SBP: dict[str, float] = {"fluid_responsive": 30, "one_vasopressor": 22,
                   "one_vasopressor_plus_vasopressin": 26, "multiple_vasopressors": 30}  # fmt: skip
DEVICE_SPO2: dict[str, float] = {"room_air": 97.5, "low_flow_nasal_cannula": 95, "blow_by": 95,
               "high_flow_nasal_cannula": 93, "face_mask": 93, "non_rebreather": 92,
               "venturi": 93, "cpap": 92, "bipap": 91, "mechanical_ventilation": 92}  # fmt: skip
DEVICE_RR: dict[str, float] = {"low_flow_nasal_cannula": 3, "blow_by": 3, "high_flow_nasal_cannula": 8,
             "face_mask": 8, "non_rebreather": 9, "venturi": 8, "cpap": 10, "bipap": 10,
             "mechanical_ventilation": 4}  # fmt: skip


def integers(values: NDArray[np.float64] | NDArray[np.int64]) -> pd.Series:
    """A nullable integer column (NaN becomes blank)."""
    return pd.Series(values, dtype=float).astype("Int64")


def coded(codes: IntArray, enum: type[StrEnum]) -> pd.Categorical[str]:
    """A coded column: integer codes into the enum's values (-1 = blank), stored once each."""
    return pd.Categorical.from_codes(codes, categories=pd.Index(values(enum)))


def values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]


def _codes(index: IntArray, segment: pd.Series, enum: type[StrEnum], default: StrEnum) -> IntArray:
    """Per row, the code of its window's value, or of ``default`` outside any window."""
    fallback = values(enum).index(default.value)
    if len(segment) == 0:
        return np.full(len(index), fallback, dtype=np.int64)
    codes = pd.Categorical(segment, categories=values(enum)).codes.astype(np.int64)
    return np.where(index >= 0, codes[np.maximum(index, 0)], fallback)


def _lookup(
    codes: IntArray, enum: type[StrEnum], table: dict[str, float], default: float
) -> FloatArray:
    return np.array([table.get(value, default) for value in values(enum)])[codes]


def _windows(hour: FloatArray, windows: tuple[tuple[float, float], ...]) -> BoolArray:
    mask = np.zeros(len(hour), dtype=bool)
    for start, end in windows:
        mask |= (hour >= start) & (hour < end)
    return mask


def build_assessments(
    people: People, segments: Segments, rows: Rows, template: Template, rng: np.random.Generator
) -> pd.DataFrame:
    f = people.frame
    p, hour, n = rows.patient, rows.hour, len(rows.patient)
    kind = template.kind[rows.slot]
    age = f["age"].to_numpy()[p]
    child = (age < 12).astype(float)
    neuro_row = kind != VITALS

    fever = locate(segments.fevers, p, hour)
    febrile = fever >= 0
    top = segments.fevers["max_c"].to_numpy()[np.maximum(fever, 0)]
    temperature = np.where(
        febrile,
        38.0 + rng.random(n) * (top - 38.0),
        np.clip(rng.normal(36.9, 0.3, n), 35.9, 37.7),
    )
    temperature = np.floor(temperature * 10 + 1e-9) / 10  # never rounds 37.95 up to fever

    support = locate(segments.supports, p, hour)
    s = segments.supports
    hypotension = _codes(support, s["hypotension"], Hypotension, Hypotension.NONE)
    device = _codes(support, s["device"], OxygenDevice, OxygenDevice.ROOM_AIR)
    flow = np.where(support >= 0, s["flow"].to_numpy()[np.maximum(support, 0)], np.nan)

    neuro = locate(segments.neuros, p, hour)
    g = segments.neuros
    ice = np.where(neuro >= 0, g["ice"].to_numpy()[np.maximum(neuro, 0)], 10).astype(float)
    capd = np.where(neuro >= 0, g["capd"].to_numpy()[np.maximum(neuro, 0)], 0).astype(float)
    ice[~neuro_row | (age < 12)] = np.nan
    capd[~neuro_row | (age > 12)] = np.nan
    consciousness = _codes(neuro, g["consciousness"], Consciousness, Consciousness.ALERT)
    seizure = _codes(neuro, g["seizure"], Seizure, Seizure.NONE)
    motor = _codes(neuro, g["motor"], MotorWeakness, MotorWeakness.NONE)
    edema = np.full(n, values(CerebralEdema).index(CerebralEdema.NONE.value), dtype=np.int64)
    for column in (seizure, motor, edema):
        column[~neuro_row] = -1

    heart = (
        72
        + 10 * (temperature - 37)
        + _lookup(hypotension, Hypotension, HYPOTENSION_HR, 0)
        + 20 * child
    )
    systolic = (
        122
        - _lookup(hypotension, Hypotension, HYPOTENSION_SBP, 0)
        - 14 * child
        + rng.normal(0, 10, n)
    )
    vitals = {
        "heart_rate_bpm": np.clip(heart + rng.normal(0, 7, n), 45, 170),
        "systolic_bp_mmhg": np.clip(systolic, 70, 180),
        "diastolic_bp_mmhg": np.clip(0.6 * systolic + 5 + rng.normal(0, 6, n), 35, 110),
        "spo2_pct": np.clip(
            _lookup(device, OxygenDevice, DEVICE_SPO2, 95) + rng.normal(0, 1.2, n), 85, 100
        ),
        "respiratory_rate_min": np.clip(
            15 + _lookup(device, OxygenDevice, DEVICE_RR, 0) + 6 * child + rng.normal(0, 2, n),
            10,
            40,
        ),
    }
    vitals = {name: np.rint(values) for name, values in vitals.items()}

    # Real-world missingness, routine patients only (scenario patients have theirs written out).
    routine = ~f["scenario"].to_numpy(dtype=bool)[p]
    acute = (kind == VITALS) | (kind == NEURO)
    draw = rng.random((8, n))
    keep = ~(routine & acute & (draw[0] < 0.015))
    missed_ice = routine & (kind == NEURO) & (draw[1] < 0.04)
    no_vitals = routine & (draw[2] < 0.03)
    no_temperature = routine & (draw[3] < 0.008)
    no_hypotension = routine & (draw[4] < 0.005)
    no_device = routine & (draw[5] < 0.005)
    no_edema = routine & neuro_row & (draw[6] < 0.02)
    single = rng.random((5, n)) < 0.015
    for i, spec in enumerate(people.specs):
        mine = p == i
        keep &= ~(mine & _windows(hour, spec.gaps.rows_h))
        missed_ice |= mine & _windows(hour, spec.gaps.ice_h)
        no_vitals |= mine & _windows(hour, spec.gaps.vitals_h)
        no_device |= mine & _windows(hour, spec.gaps.device_h)
    ice[missed_ice] = np.nan
    capd[missed_ice] = np.nan
    temperature[no_temperature] = np.nan
    hypotension[no_hypotension] = -1
    device[no_device] = -1
    flow[no_device] = np.nan
    edema[no_edema] = -1
    for j, name in enumerate(VITAL_SIGNS):
        vitals[name][no_vitals | (routine & single[j])] = np.nan

    frame = pd.DataFrame(
        {
            "patient_id": f["patient_id"].to_numpy()[p],
            "observed_at": rows.at_s.astype("datetime64[s]"),
            "age_years": integers(age),
            "temperature_c": temperature,
            "hypotension": coded(hypotension, Hypotension),
            "oxygen_device": coded(device, OxygenDevice),
            "oxygen_l_min": flow,
            "ice_score": integers(ice),
            "capd_score": integers(capd),
            "consciousness": coded(consciousness, Consciousness),
            "seizure": coded(seizure, Seizure),
            "motor_weakness": coded(motor, MotorWeakness),
            "cerebral_edema": coded(edema, CerebralEdema),
            **{name: integers(values) for name, values in vitals.items()},
        }
    )
    kept: pd.DataFrame = frame[keep].reset_index(drop=True)
    return kept
