"""Lab values in canonical units (grading.units) as smooth functions of time since infusion.

``t`` is days since the infusion (fractional). Every curve is a closed form over arrays, with a
little multiplicative noise per draw. Lymphodepletion (fludarabine/cyclophosphamide, days -5 to -3)
empties the lymphocytes by day 0 and gives a neutrophil nadir around day 5-9 (criteria.md 5).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading.records import Analyte
from sample_data.draws import People
from sample_data.segments import Segments

A = Analyte
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Grade of each support value (ASTCT 2019: hypotension by treatment, oxygen by device).
SUPPORT_GRADE = {"none": 0, "room_air": 0, "fluid_responsive": 2, "low_flow_nasal_cannula": 2,
                 "blow_by": 2, "one_vasopressor": 3, "one_vasopressor_plus_vasopressin": 3,
                 "high_flow_nasal_cannula": 3, "face_mask": 3, "non_rebreather": 3, "venturi": 3,
                 "multiple_vasopressors": 4, "cpap": 4, "bipap": 4,
                 "mechanical_ventilation": 4}  # fmt: skip


def crs_course(people: People, segments: Segments) -> tuple[FloatArray, FloatArray]:
    """Per patient: CRS onset (hours since infusion, NaN without CRS) and peak grade (0-4)."""
    n = people.size
    onset = np.full(n, np.nan)
    level = np.zeros(n)
    fevers = segments.fevers.groupby("patient")["start_h"].min()
    onset[fevers.index.to_numpy()] = fevers.to_numpy()
    level[fevers.index.to_numpy()] = 1
    s = segments.supports
    if len(s):
        grade = np.maximum(
            s["hypotension"].map(SUPPORT_GRADE).to_numpy(dtype=float),
            s["device"].map(SUPPORT_GRADE).to_numpy(dtype=float),
        )
        peak = pd.Series(grade).groupby(s["patient"].to_numpy()).max()
        where = peak.index.to_numpy()
        level[where] = np.maximum(level[where], peak.to_numpy())
    return onset, level


def _bump(hours: FloatArray, peak_h: float) -> FloatArray:
    """0 before CRS, rising to 1 at ``peak_h`` hours after onset, then decaying."""
    x = np.where(np.isnan(hours), 0.0, np.maximum(hours, 0.0) / peak_h)
    return np.asarray(x * np.exp(1 - x))


def canonical_values(
    people: People, segments: Segments, p: IntArray, t: FloatArray, rng: np.random.Generator
) -> dict[A, FloatArray]:
    f = people.frame

    def col(name: str) -> FloatArray:
        return np.asarray(f[name].to_numpy(dtype=float)[p])

    def noise(sigma: float) -> FloatArray:
        return np.asarray(rng.lognormal(0.0, sigma, len(p)))

    onset, level = crs_course(people, segments)
    since = t * 24 - onset[p]
    grade = level[p]
    after = np.maximum(t, 0.0)
    lymphodepleted = (f["ld_s"].to_numpy() >= 0)[p]
    car_t = f["car_t"].to_numpy(dtype=bool)[p]

    anc = col("anc_base") * (
        1 - col("anc_depth") * np.exp(-(((t - col("anc_center")) / col("anc_width")) ** 2))
    )
    nadir = col("lymph_nadir")
    recovering = nadir + (1 - nadir) * (1 - np.exp(-after / col("lymph_tau")))
    lymph = col("lymph_base") * np.where(t <= -4, 1.0, recovering)
    lymph += col("lymph_base") * 0.4 * car_t * np.exp(-(((t - 9) / 3) ** 2))  # CAR T expansion
    lymph *= noise(0.1)
    platelets = col("plt_base") * (1 - col("plt_depth") * np.exp(-(((t - 8) / 5) ** 2)))
    hemoglobin = col("hb_base") * (1 - 0.1 * lymphodepleted * np.exp(-(((t - 10) / 8) ** 2)))
    crp = col("crp_base") + col("crp_peak") * grade**1.3 * _bump(since, 30)
    ferritin_rise = np.minimum(col("ferritin_rise") * grade, 0.9)
    ferritin = col("ferritin_base") * (1 + ferritin_rise * _bump(since, 60))
    fibrinogen = col("fib_base") * (1 + 0.12 * grade * _bump(since, 48))
    kidney = (f["licats"].to_numpy(dtype=bool) & (f["licats_organ"].to_numpy() == "kidney"))[p]
    start = col("licats_onset_day")
    active = kidney & (t >= start) & (t < start + col("licats_days"))
    creatinine = col("creat_base") * (1 + 0.6 * active)

    recovery = col("b_recovery_day")
    depleted = ~np.isnan(recovery)
    aplastic = depleted & (t >= 0) & (t < recovery)
    regrowth = 0.5 + col("b_rebound_pct") * (1 - np.exp(-np.maximum(t - recovery, 0) / 30))
    percent = np.where(t < 0, col("b_pct_base"), col("b_pct_base") * rng.uniform(0.7, 1.1, len(p)))
    percent = np.where(depleted & (t >= recovery), regrowth, percent)
    percent = np.where(aplastic, rng.uniform(0.0, 0.3, len(p)), percent)

    base, floor = col("igg_base"), col("igg_floor")
    falling = base * (floor + (1 - floor) * np.exp(-after / 45))
    at_recovery = base * (floor + (1 - floor) * np.exp(-np.where(depleted, recovery, 0) / 45))
    rising = at_recovery + (0.9 * base - at_recovery) * (
        1 - np.exp(-np.maximum(t - recovery, 0) / 150)
    )
    igg = np.where(depleted & (t >= recovery), np.maximum(rising, falling), falling)

    return {
        A.ANC: anc * noise(0.08),
        A.LYMPHOCYTES: lymph,
        A.PLATELETS: platelets * noise(0.06),
        A.HEMOGLOBIN: hemoglobin * noise(0.03),
        A.CRP: crp * noise(0.1),
        A.FERRITIN: ferritin * noise(0.06),
        A.FIBRINOGEN: fibrinogen * noise(0.05),
        A.CREATININE: creatinine * noise(0.05),
        A.CD19_ABSOLUTE: percent / 100 * lymph,
        A.CD19_PERCENT: percent,
        A.IGG: igg * noise(0.04),
    }
