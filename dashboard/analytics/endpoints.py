"""Time-to-event endpoints of a cohort: one time/status row per patient and endpoint, the input of
:func:`dashboard.analytics.cumulative_incidence.cumulative_incidence`.

Every time is in days since the patient's infusion instant (``infusion_at``, day 0), fractional
(an onset 6 hours after the infusion is 0.25). Endpoints (:data:`ENDPOINTS`):

- ``crs_onset`` / ``icans_onset``: the onset (``onset_at``) of the patient's first CRS / ICANS
  episode of the graded course (:func:`grading.course.grade_course`) at or after the infusion.
  An episode whose onset is before the infusion (day < 0) is ignored: it is not a toxicity of the
  product; a later episode still counts. An onset at exactly the infusion instant is day 0.
- ``bcell_recovery``: confirmed recovery from B-cell aplasia (``recovery_at`` of
  :func:`grading.bcells.b_cell_summary`, status ``recovered``; its definition and thresholds are
  the site's B-cell policy, criteria.md 7.1). Recovery needs a prior aplasia: a patient with no
  documented aplasia after the infusion (never aplastic, or never sampled) is **not at risk**
  (status ``not_at_risk``, no time): left out of the estimate and counted in the results, never
  silently dropped. The time origin stays the infusion, as for the other endpoints.
- ``ivig_start``: the first IVIG dose (drug ``ivig``) given at or after the infusion; doses before
  the infusion (replacement already running) do not start the endpoint.

Competing events: death and re-treatment (:func:`dashboard.services.outcomes.deaths_and_retreatments`:
explicit outcome events and grade-5 deaths from assessments), whichever comes first at or after the
infusion; an outcome dated before the infusion is a data error and is ignored (the row's ``note``
says so). When a death and a re-treatment share the instant, the death is named.

Rules per patient and endpoint:

1. The endpoint before the first competing event: ``event`` at the endpoint's time.
2. **The endpoint at the same instant as the competing event: ``event``** (it was observed; the
   competing event ends the follow-up only after it, e.g. CRS onset recorded at the assessment
   that also records death). A competing event even one second earlier wins.
3. A competing event first: ``competing`` at its time, ``competing_event`` death or retreatment.
   Its date is known from the outcome record even when it falls after the patient's last record;
   such rows say so in ``note`` (the endpoint cannot have been seen between the last record and
   the competing event: the count of them is reported with the results).
4. Neither: ``censored`` at the last follow-up (:func:`dashboard.services.cohort_stats.
   follow_up_days`: the latest assessment, lab result or dose; 0 when the patient has no record).
   An endpoint is itself a record, so an event is never after the last follow-up; an event at the
   very last record (exactly at the censoring time) is an ``event``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from dashboard.analytics.cumulative_incidence import (
    CENSORED,
    COMPETING,
    EVENT,
    NOT_AT_RISK,
)
from dashboard.services.cohort_data import CohortData
from dashboard.services.cohort_stats import doses_after_infusion, follow_up_days
from dashboard.services.outcomes import deaths_and_retreatments
from grading.bcells import BCellPolicy, BCellStatus, b_cell_summary
from grading.course import Course, grade_course
from grading.policy_asco_2021 import ASCO_2021
from grading.records import Drug

#: Endpoint id -> the name figures and tables show.
ENDPOINTS = {
    "crs_onset": "CRS onset",
    "icans_onset": "ICANS onset",
    "bcell_recovery": "B-cell recovery",
    "ivig_start": "IVIG start",
}
ENDPOINT_COLUMNS = (
    "endpoint", "patient_id", "product", "time_days", "status", "competing_event",
    "follow_up_days", "note",
)  # fmt: skip
NO_APLASIA = "no documented B-cell aplasia after the infusion: not at risk of recovery"
OUTCOME_BEFORE_INFUSION = "death or re-treatment dated before the infusion ignored"
COMPETING_AFTER_FOLLOW_UP = "competing event after the last record"
SECONDS_PER_DAY = 86_400


def _days_after_infusion(frame: pd.DataFrame, at: str, infusion: pd.Series) -> pd.Series:
    """Per row of ``frame`` (with ``patient_id``): fractional days from the patient's infusion
    to ``at`` (``infusion`` is indexed by patient id)."""
    delta = pd.to_datetime(frame[at]) - pd.to_datetime(frame["patient_id"].map(infusion))
    return delta.dt.total_seconds() / SECONDS_PER_DAY


def _first_after_infusion(
    frame: pd.DataFrame, at: str, infusion: pd.Series, ids: pd.Index
) -> pd.Series:
    """Per patient (index ``ids``): the days from the infusion to the earliest ``at`` at or after
    it; NaN when there is none."""
    day = _days_after_infusion(frame, at, infusion)
    after = day >= 0
    first = day[after].groupby(frame.loc[after, "patient_id"]).min()
    return first.reindex(ids).astype("float64")


def _episode_onsets(course: Course | None, syndrome: str, infusion: pd.Series) -> pd.Series:
    ids = infusion.index
    if course is None or course.episodes.empty:
        return pd.Series(np.nan, index=ids, dtype="float64")
    episodes = course.episodes[course.episodes["syndrome"] == syndrome]
    return _first_after_infusion(episodes, "onset_at", infusion, ids)


def _bcell_recovery(
    data: CohortData, infusion: pd.Series, policy: BCellPolicy | None
) -> tuple[pd.Series, pd.Series]:
    """Per patient: days to confirmed recovery (NaN if none) and whether aplasia was documented."""
    ids = infusion.index
    columns = ["patient_id", "product", "infusion_at"]
    summary = b_cell_summary(data.patients[columns], data.labs, policy).set_index("patient_id")
    summary = summary.reindex(ids)
    aplastic = pd.to_datetime(summary["aplasia_onset_at"]).notna()
    recovered = summary["status"] == BCellStatus.RECOVERED.value
    recovery_at = pd.to_datetime(summary["recovery_at"]).where(recovered)
    days = (recovery_at - infusion).dt.total_seconds() / SECONDS_PER_DAY
    return days.where(days >= 0).astype("float64"), aplastic


def _competing(
    outcomes: pd.DataFrame, infusion: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Index]:
    """Per patient: days to the first death or re-treatment at or after the infusion (NaN if
    none), its kind, and the patients with an outcome dated before the infusion."""
    ids = infusion.index
    none = pd.Series(np.nan, index=ids, dtype="float64")
    kinds = pd.Series(None, index=ids, dtype=object)
    own = outcomes[outcomes["patient_id"].isin(ids)]
    if own.empty:
        return none, kinds, pd.Index([])
    own = own.assign(day=_days_after_infusion(own, "occurred_at", infusion))
    early = pd.Index(own.loc[own["day"] < 0, "patient_id"].unique())
    first = (
        own[own["day"] >= 0]
        .sort_values(["patient_id", "day", "event"], kind="stable")  # death before retreatment
        .drop_duplicates("patient_id")
        .set_index("patient_id")
    )
    return (
        first["day"].reindex(ids).astype("float64"),
        first["event"].reindex(ids).astype(object),
        early,
    )


def endpoint_frame(
    data: CohortData,
    course: Course | None,
    outcomes: pd.DataFrame,
    bcell_policy: BCellPolicy | None = None,
) -> pd.DataFrame:
    """One row per patient and endpoint (ENDPOINT_COLUMNS, endpoints in :data:`ENDPOINTS` order,
    patients in the order of ``data.patients``). ``outcomes``: patient_id, event (death,
    retreatment), occurred_at, as from :func:`dashboard.services.outcomes.deaths_and_retreatments`.
    """
    patients = data.patients
    ids = pd.Index(patients["patient_id"], name="patient_id")
    infusion = pd.Series(pd.to_datetime(patients["infusion_at"]).to_numpy(), index=ids)
    product = pd.Series(patients["product"].astype(str).to_numpy(), index=ids)
    follow = follow_up_days(data).reindex(ids).astype("float64")
    competing_day, competing_kind, early = _competing(outcomes, infusion)
    recovery, aplastic = _bcell_recovery(data, infusion, bcell_policy)
    ivig = doses_after_infusion(data)
    ivig = ivig[ivig["drug"].astype(str) == Drug.IVIG.value]
    times = {
        "crs_onset": _episode_onsets(course, "CRS", infusion),
        "icans_onset": _episode_onsets(course, "ICANS", infusion),
        "bcell_recovery": recovery,
        "ivig_start": _first_after_infusion(ivig, "given_at", infusion, ids),
    }
    parts = []
    for endpoint in ENDPOINTS:
        event_day = times[endpoint]
        is_event = event_day.notna() & ~(competing_day < event_day)  # rule 2: a tie is an event
        is_competing = ~is_event & competing_day.notna()
        status = pd.Series(CENSORED, index=ids, dtype=object)
        status[is_competing] = COMPETING
        status[is_event] = EVENT
        time = follow.where(~is_competing, competing_day).where(~is_event, event_day)
        note = pd.Series("", index=ids, dtype=object)
        note[ids.isin(early)] = OUTCOME_BEFORE_INFUSION
        late = is_competing & (competing_day > follow)
        note[late] = (note[late] + "; " + COMPETING_AFTER_FOLLOW_UP).str.removeprefix("; ")
        if endpoint == "bcell_recovery":
            status[~aplastic] = NOT_AT_RISK
            time[~aplastic] = np.nan
            note[~aplastic] = NO_APLASIA
        columns = {
            "endpoint": endpoint,
            "patient_id": ids.to_numpy(),
            "product": product.to_numpy(),
            "time_days": time.to_numpy(dtype="float64"),
            "status": status.to_numpy(),
            "competing_event": competing_kind.where(status == COMPETING, None).to_numpy(),
            "follow_up_days": follow.to_numpy(),
            "note": note.to_numpy(),
        }
        parts.append(pd.DataFrame(columns))
    if not parts or patients.empty:
        return pd.DataFrame(columns=list(ENDPOINT_COLUMNS))
    return pd.concat(parts, ignore_index=True)[list(ENDPOINT_COLUMNS)]


def cohort_endpoints(data: CohortData, course: Course | None = None) -> pd.DataFrame:
    """:func:`endpoint_frame` with the cohort's own deaths and re-treatments; the course is graded
    with the ASCO 2021 policy (as the cohort view does) when not given."""
    if course is None and not data.assessments.empty:
        with warnings.catch_warnings():  # pandas FutureWarning inside grading.course's concat
            warnings.simplefilter("ignore", FutureWarning)
            course = grade_course(data.assessments, data.drugs, data.patients, ASCO_2021)
    return endpoint_frame(data, course, deaths_and_retreatments(data))
