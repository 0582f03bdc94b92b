"""When things are recorded (criteria.md 8.1, 7.4; grading.course_policy.SchedulePolicy).

Assessments: one at lymphodepletion (day -5); every 4 h on days 0-14 with ICE/CAPD and the neuro
exam every 8 h (06:00, 14:00, 22:00); daily on days 15-28; visits on days 35, 60, 90, 120, 180, 270
and 365 (+/- 2 days). Labs: a baseline at day -5, daily on days 0-14 (day 0 before the infusion),
every 3 days to day 28, at every visit; CD19 and IgG at baseline and monthly from day 30.

Each schedule is a small template of slots; :func:`expand` repeats it for every patient with NumPy
(patient-major, time-ordered), adds the per-patient visit shift and a few minutes of jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sample_data.draws import DAY_S, HOUR_S, People

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]

BASELINE, VITALS, NEURO, DAILY, VISIT = range(5)
ACUTE_HOURS = (2, 6, 10, 14, 18, 22)
NEURO_HOURS = (6, 14, 22)
VISIT_DAYS = (35, 60, 90, 120, 180, 270, 365)
CORE_DAYS = (-5, *range(15), 15, 18, 21, 24, 27, *VISIT_DAYS)
IMMUNE_DAYS = (-5, *range(30, 331, 30), 365)


@dataclass(frozen=True)
class Template:
    day: IntArray
    minute: IntArray  # minutes after midnight
    kind: IntArray
    visit: IntArray  # index into VISIT_DAYS, -1 when not a visit
    jitter_min: IntArray  # jitter drawn in [0, jitter_min)


@dataclass(frozen=True)
class Rows:
    patient: IntArray
    slot: IntArray
    at_s: IntArray  # seconds since 1970, whole seconds
    hour: FloatArray  # hours since the infusion


def _visit(days: IntArray) -> IntArray:
    lookup = {day: i for i, day in enumerate(VISIT_DAYS)}
    return np.array([lookup.get(int(d), -1) for d in days], dtype=np.int64)


def assessment_template() -> Template:
    day = [-5] + [d for d in range(15) for _ in ACUTE_HOURS] + [*range(15, 29), *VISIT_DAYS]
    hour = [9] + [h for _ in range(15) for h in ACUTE_HOURS] + [10] * (14 + len(VISIT_DAYS))
    kind = (
        [BASELINE]
        + [NEURO if h in NEURO_HOURS else VITALS for _ in range(15) for h in ACUTE_HOURS]
        + [DAILY] * 14
        + [VISIT] * len(VISIT_DAYS)
    )
    days = np.array(day, dtype=np.int64)
    kinds = np.array(kind, dtype=np.int64)
    return Template(
        days,
        np.array(hour, dtype=np.int64) * 60,
        kinds,
        _visit(days),
        np.where((kinds == VITALS) | (kinds == NEURO), 26, 90).astype(np.int64),
    )


CORE, IMMUNE = 1, 2


def lab_template() -> Template:
    """Lab draws; ``kind`` is a bit set of CORE (blood count, CRP, ferritin, fibrinogen,
    creatinine) and IMMUNE (CD19, IgG with a lymphocyte count)."""
    days = np.array(sorted(set(CORE_DAYS) | set(IMMUNE_DAYS)), dtype=np.int64)
    kind = np.where(np.isin(days, CORE_DAYS), CORE, 0) | np.where(
        np.isin(days, IMMUNE_DAYS), IMMUNE, 0
    )
    minute = np.select([days == -5, days == 0, days <= 14], [450, 420, 360], 540)
    return Template(
        days, minute.astype(np.int64), kind.astype(np.int64), _visit(days), np.full(len(days), 60)
    )


def expand(
    people: People, template: Template, rng: np.random.Generator, *, after_infusion: bool
) -> Rows:
    """Every patient's slots, patient-major and in time order. With ``after_infusion``, day 0
    slots earlier than 30 minutes after the infusion are dropped. Scenario patients get at most
    10 minutes of jitter and no visit shift, so that their windows fall on a known grid."""
    f = people.frame
    n, s = people.size, len(template.day)
    scenario = f["scenario"].to_numpy(dtype=bool)
    shift = rng.integers(-2, 3, size=(n, len(VISIT_DAYS)))
    shift[:, -1] = np.minimum(shift[:, -1], 0)
    shift[scenario] = 0
    patient = np.repeat(np.arange(n, dtype=np.int64), s)
    slot = np.tile(np.arange(s, dtype=np.int64), n)
    visit = template.visit[slot]
    days = template.day[slot] + np.where(visit >= 0, shift[patient, np.maximum(visit, 0)], 0)
    limit = np.where(scenario[patient], 11, template.jitter_min[slot])
    jitter = (rng.random(len(slot)) * limit).astype(np.int64) * 60
    at = f["day0_s"].to_numpy()[patient] + days * DAY_S + template.minute[slot] * 60 + jitter
    hour = (at - f["infusion_s"].to_numpy()[patient]) / HOUR_S
    if after_infusion:
        keep = (template.day[slot] != 0) | (hour >= 0.5)
        patient, slot, at, hour = patient[keep], slot[keep], at[keep], hour[keep]
    return Rows(patient, slot, at, hour)
