"""Deaths and re-treatments of a cohort: the competing events of the research exports (issue #6).

A death is recorded in one of two ways, and both count:

- an outcome event (:class:`grading.records.OutcomeEvent`, ``event == "death"``), with its cause
  from a closed list (or blank: "not recorded");
- an assessment with ``death_attributed_to`` set (ASTCT 2019 grade 5 when attributed to CRS or
  ICANS, criteria.md R-CRS grade 5 and R-ICANS-6; "other" is a death from another cause). Its
  cause is the attribution: crs, icans or other.

The rule, written once here so that every analysis and export agrees: **the first death per
patient wins**. A patient has at most one death row: the earliest of their recorded deaths; when an
outcome event and an assessment record a death at the same instant, the outcome event wins (its
cause comes from the longer list). Every re-treatment is kept as recorded, also one recorded after
the death (a data error the analysis should see, not one this function hides).
"""

from __future__ import annotations

import pandas as pd

from dashboard.services.cohort_data import EVENT_FIELDS, CohortData, no_events
from grading.enums import DeathAttribution
from grading.records import DeathCause, OutcomeKind

#: ``death_attributed_to`` of an assessment -> the cause of the death it records.
CAUSE_OF_ATTRIBUTION = {
    DeathAttribution.CRS.value: DeathCause.CRS.value,
    DeathAttribution.ICANS.value: DeathCause.ICANS.value,
    DeathAttribution.OTHER.value: DeathCause.OTHER.value,
}


def assessment_deaths(assessments: pd.DataFrame) -> pd.DataFrame:
    """The deaths recorded in assessments (``death_attributed_to`` set), as outcome rows.

    A frame without the ``death_attributed_to`` column records no death (nothing was assessed).
    """
    if "death_attributed_to" not in assessments.columns:
        return no_events()
    dead = assessments[assessments["death_attributed_to"].notna()]
    return pd.DataFrame(
        {
            "patient_id": dead["patient_id"].astype(object),
            "event": OutcomeKind.DEATH.value,
            "occurred_at": pd.to_datetime(dead["observed_at"]),
            "cause": dead["death_attributed_to"].map(CAUSE_OF_ATTRIBUTION).astype(object),
        }
    )[list(EVENT_FIELDS)]


def deaths_and_retreatments(data: CohortData) -> pd.DataFrame:
    """One row per re-treatment and at most one death per patient (module docstring), sorted by
    patient and time; columns ``patient_id, event, occurred_at, cause`` (a blank cause is None)."""
    explicit = data.events[list(EVENT_FIELDS)].assign(_from_assessment=False)
    graded = assessment_deaths(data.assessments).assign(_from_assessment=True)
    both = pd.concat([explicit, graded], ignore_index=True)
    both["occurred_at"] = pd.to_datetime(both["occurred_at"])
    both = both.sort_values(["patient_id", "occurred_at", "_from_assessment"], kind="stable")
    is_death = both["event"] == OutcomeKind.DEATH.value
    first_deaths = both[is_death].drop_duplicates("patient_id", keep="first")
    out = pd.concat([both[~is_death], first_deaths]).drop(columns="_from_assessment")
    out = out.sort_values(["patient_id", "occurred_at", "event"], kind="stable")
    out["cause"] = out["cause"].astype(object).where(out["cause"].notna(), None)
    return out.reset_index(drop=True)
