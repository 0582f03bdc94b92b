"""The assessments table: every scheduled row of every patient, filled from the acute windows
(:mod:`sample_data.segments`) with NumPy masks, then thinned by real-world missingness.

Rows between the 8-hourly neuro checks carry vital signs, the CRS fields and the level of
consciousness; ICE (adults and age 12) or CAPD (under 12, and age 12), seizure, motor weakness and
cerebral oedema are recorded at the neuro checks, the daily checks and the visits. Room air has no
flow. Vital signs are supporting data, never graded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sample_data.draws import People
from sample_data.segments import Segments, locate
from sample_data.timeline import NEURO, VITALS, Rows, Template

FloatArray = NDArray[np.float64]
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


def _pick(
    index: NDArray[np.int64], values: NDArray[np.object_], default: object
) -> NDArray[np.object_]:
    out = np.full(len(index), default, dtype=object)
    inside = index >= 0
    out[inside] = values[index[inside]]
    return out


def _lookup(codes: NDArray[np.object_], table: dict[str, float], default: float) -> FloatArray:
    return np.asarray(pd.Series(codes).map(table).fillna(default).to_numpy(dtype=float))


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
    hypotension = _pick(support, s["hypotension"].to_numpy(dtype=object), "none")
    device = _pick(support, s["device"].to_numpy(dtype=object), "room_air")
    flow = np.where(support >= 0, s["flow"].to_numpy()[np.maximum(support, 0)], np.nan)

    neuro = locate(segments.neuros, p, hour)
    g = segments.neuros
    ice = np.where(neuro >= 0, g["ice"].to_numpy()[np.maximum(neuro, 0)], 10).astype(float)
    capd = np.where(neuro >= 0, g["capd"].to_numpy()[np.maximum(neuro, 0)], 0).astype(float)
    ice[~neuro_row | (age < 12)] = np.nan
    capd[~neuro_row | (age > 12)] = np.nan
    consciousness = _pick(neuro, g["consciousness"].to_numpy(dtype=object), "alert")
    seizure = _pick(neuro, g["seizure"].to_numpy(dtype=object), "none")
    motor = _pick(neuro, g["motor"].to_numpy(dtype=object), "none")
    edema = np.full(n, "none", dtype=object)
    for column in (seizure, motor, edema):
        column[~neuro_row] = None

    heart = 72 + 10 * (temperature - 37) + _lookup(hypotension, HYPOTENSION_HR, 0) + 20 * child
    systolic = 122 - _lookup(hypotension, HYPOTENSION_SBP, 0) - 14 * child + rng.normal(0, 10, n)
    vitals = {
        "heart_rate_bpm": np.clip(heart + rng.normal(0, 7, n), 45, 170),
        "systolic_bp_mmhg": np.clip(systolic, 70, 180),
        "diastolic_bp_mmhg": np.clip(0.6 * systolic + 5 + rng.normal(0, 6, n), 35, 110),
        "spo2_pct": np.clip(_lookup(device, DEVICE_SPO2, 95) + rng.normal(0, 1.2, n), 85, 100),
        "respiratory_rate_min": np.clip(
            15 + _lookup(device, DEVICE_RR, 0) + 6 * child + rng.normal(0, 2, n), 10, 40
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
    hypotension[no_hypotension] = None
    device[no_device] = None
    flow[no_device] = np.nan
    edema[no_edema] = None
    for j, name in enumerate(VITAL_SIGNS):
        vitals[name][no_vitals | (routine & single[j])] = np.nan

    frame = pd.DataFrame(
        {
            "patient_id": f["patient_id"].to_numpy()[p],
            "observed_at": rows.at_s.astype("datetime64[s]"),
            "age_years": integers(age),
            "temperature_c": temperature,
            "hypotension": hypotension,
            "oxygen_device": device,
            "oxygen_l_min": flow,
            "ice_score": integers(ice),
            "capd_score": integers(capd),
            "consciousness": consciousness,
            "seizure": seizure,
            "motor_weakness": motor,
            "cerebral_edema": edema,
            **{name: integers(values) for name, values in vitals.items()},
        }
    )
    kept: pd.DataFrame = frame[keep].reset_index(drop=True)
    return kept
