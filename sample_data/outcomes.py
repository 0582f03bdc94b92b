"""Outcome events of the synthetic cohort: deaths and re-treatments (issue #6), ENTIRELY SYNTHETIC.

Drawn from their own random stream (``[seed, 7]``) after every other table is built, so adding them
changed no value of the other tables. About 3% of the randomly drawn patients die and about 6% are
re-treated (exact counts: ``round(rate * patients)``, fewer when there are not enough candidates):

- re-treatment: only CD19-directed CAR T patients whose B cells came back within their follow-up
  (``b_recovery_day`` before the last record): B-cell recovery is when relapse, and so re-infusion
  or a new B-cell-directed therapy, becomes possible (criteria.md 7.2);
- death: any other drawn patient, cause always set, mostly infection (the main late risk while B
  cells are gone) or other.

The hand-built scenario patients keep their written stories: they never get an outcome. Each event
falls 1 to 30 days after the patient's last record of any table (08:00-20:00), so no record
follows a death or a re-treatment, and a patient has at most one outcome event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from grading.records import DeathCause, OutcomeKind
from sample_data.draws import DAY_S, HOUR_S, People

IntArray = NDArray[np.int64]
OUTCOME_COLUMNS = ("patient_id", "event", "occurred_at", "cause")
DEATH_RATE = 0.03
RETREATMENT_RATE = 0.06
#: cause -> share among the synthetic deaths
DEATH_CAUSES: dict[DeathCause, float] = {
    DeathCause.INFECTION: 0.55,
    DeathCause.OTHER: 0.30,
    DeathCause.DISEASE_PROGRESSION: 0.15,
}


def last_record_s(people: People, tables: list[tuple[pd.DataFrame, str]]) -> IntArray:
    """Per patient (in ``people`` order): the latest instant, in seconds, of any of the
    ``(table, time column)`` pairs; -1 for a patient without records."""
    parts = [
        pd.DataFrame({"patient_id": table["patient_id"], "at": pd.to_datetime(table[column])})
        for table, column in tables
    ]
    every = pd.concat(parts, ignore_index=True).dropna(subset=["at"])
    seconds = every["at"].to_numpy(dtype="datetime64[s]").astype(np.int64)
    latest = pd.Series(seconds).groupby(every["patient_id"].to_numpy()).max()
    return latest.reindex(people.frame["patient_id"], fill_value=-1).to_numpy(dtype=np.int64)


def build_outcomes(people: People, last_s: IntArray, rng: np.random.Generator) -> pd.DataFrame:
    """Deaths and re-treatments (module docstring), sorted by patient and time."""
    f = people.frame
    n = people.size
    drawn = ~f["scenario"].to_numpy(dtype=bool) & (last_s >= 0)
    recovery = f["b_recovery_day"].to_numpy(dtype=float)
    last_day = (last_s - f["day0_s"].to_numpy(dtype=np.int64)) / DAY_S
    recovered = drawn & f["car_t"].to_numpy(dtype=bool) & np.isfinite(recovery)
    recovered &= recovery < last_day
    retreated = _choose(rng, np.flatnonzero(recovered), round(RETREATMENT_RATE * n))
    alive = np.flatnonzero(drawn & ~np.isin(np.arange(n), retreated))
    died = _choose(rng, alive, round(DEATH_RATE * n))
    causes = list(DEATH_CAUSES)
    cause = rng.choice(len(causes), size=len(died), p=list(DEATH_CAUSES.values()))
    who = np.concatenate([retreated, died]).astype(np.int64)
    day = rng.integers(1, 31, len(who))
    hour = rng.integers(8, 21, len(who))
    midnight = last_s[who] - (last_s[who] - f["day0_s"].to_numpy(dtype=np.int64)[who]) % DAY_S
    rows = pd.DataFrame(
        {
            "who": who,
            "patient_id": f["patient_id"].to_numpy(dtype=object)[who],
            "event": [OutcomeKind.RETREATMENT.value] * len(retreated)
            + [OutcomeKind.DEATH.value] * len(died),
            "occurred_at": (midnight + day * DAY_S + hour * HOUR_S).astype("datetime64[s]"),
            "cause": [None] * len(retreated) + [causes[c].value for c in cause],
        }
    )
    rows = rows.sort_values(["who", "occurred_at"], kind="stable").reset_index(drop=True)
    return rows[list(OUTCOME_COLUMNS)]


def _choose(rng: np.random.Generator, candidates: IntArray, count: int) -> IntArray:
    """``count`` of the candidates (all of them when there are fewer), in index order."""
    if len(candidates) == 0 or count <= 0:
        return np.array([], dtype=np.int64)
    picked = rng.choice(candidates, size=min(count, len(candidates)), replace=False)
    return np.sort(picked).astype(np.int64)
