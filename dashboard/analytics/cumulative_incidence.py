"""Cumulative incidence with competing events (Aalen-Johansen), and numbers at risk.

Input: one row per patient and endpoint (:mod:`dashboard.analytics.endpoints` builds it) with
``time_days`` (days since the infusion, day 0 = the infusion instant; fractional) and ``status``:
``event`` (the endpoint happened at ``time_days``), ``competing`` (death or re-treatment came
first, at ``time_days``), ``censored`` (neither by the last follow-up, ``time_days``) or
``not_at_risk`` (the patient cannot have the endpoint, e.g. B-cell recovery without documented
aplasia: left out of the estimate and counted). Output per endpoint and group (each product, and
all products together): the curve, a numbers-at-risk table at chosen days, and the counts.

Estimator (Aalen & Johansen 1978; lifelines ``AalenJohansenFitter``): at each distinct time t
with n patients at risk, d events of any kind and d_j events of the endpoint,
``F(t) = F(t-) + S(t-) * d_j / n``, where S is the Kaplan-Meier probability of being free of both
the endpoint and the competing events. A competing event is therefore never treated as censoring
(which would overstate the incidence).

Conventions (the tests hold each one):

- **At risk at t**: ``time_days >= t``. A patient censored at t is still at risk at t (an event
  and a censoring at the same time: the event comes first, the usual convention).
- **Ties**: patients with events of different kinds at the same time are all counted at that
  time, each kind with ``S(t-) * d_j / n``; the result does not depend on an order within the
  tie. lifelines would instead jitter tied times at random (its docstring says the estimator
  "cannot deal with tied times"; lifelines issues #629 and #1521): results would change from run
  to run and an event could be moved past a censoring at the same time. Its formula already
  handles ties exactly as above, so the tie check is switched off here (:class:`_TiesKept`).
- **Day 0**: an event at exactly ``time_days == 0`` counts: ``F(0) = d_j(0) / n``. lifelines
  (0.30) overwrites the first row of its table with 0 and drops an event at its first time
  (lifelines pull request #1699), so the times are shifted by +1 day for the fit and shifted back
  (the estimate does not depend on the origin). The curve starts at (0, 0) otherwise.
- **Right-continuous**: the curve's value at t includes the events at t.
- **Confidence intervals**: pointwise, 1 - ``alpha`` (95 % by default), from lifelines: the
  delta-method (Greenwood-type) variance of Collett, *Modelling Survival Data in Medical
  Research*, 3rd ed., p. 411 (as SAS PROC LIFETEST), on the log(-log F) scale so the bounds stay
  in [0, 1]. lifelines names its two bound columns the wrong way round; the lower bound here is
  the smaller one. No interval where the estimate is 0 (before the first event: the transform is
  undefined, and [0, 0] would claim a certainty the data do not give) or where the variance is
  not finite (every patient still at risk has the event at that time): both are blank (NaN).
- **Beyond the last follow-up**: the table's estimate at a day after the last observed time is
  blank (NaN), not carried forward: nobody was observed there.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import AalenJohansenFitter
from numpy.typing import NDArray

EVENT, COMPETING, CENSORED, NOT_AT_RISK = "event", "competing", "censored", "not_at_risk"
STATUSES = (EVENT, COMPETING, CENSORED, NOT_AT_RISK)
#: lifelines' event codes: 0 censored, 1 the endpoint (``event_of_interest``), 2 competing.
_CODES = {CENSORED: 0, EVENT: 1, COMPETING: 2}
#: Days of the numbers-at-risk table by default.
AT_RISK_DAYS = (0, 7, 14, 28, 60, 90, 180, 365)
CURVE_COLUMNS = ("time_days", "cumulative_incidence", "ci_lower", "ci_upper")
AT_RISK_COLUMNS = (
    "time_days", "at_risk", "events_before", "competing_before", "censored_before",
    "cumulative_incidence", "ci_lower", "ci_upper",
)  # fmt: skip
COUNT_COLUMNS = (
    "endpoint", "group", "patients", "events", "competing", "censored", "not_at_risk",
    "competing_after_follow_up",
)  # fmt: skip
ALL = "all products"  # the same label as dashboard.services.cohort_stats.ALL
_SHIFT_DAYS = 1.0  # module docstring, "Day 0"

FloatArray = NDArray[np.float64]


class _TiesKept(AalenJohansenFitter):  # type: ignore[misc]  # lifelines has no type hints
    """lifelines' Aalen-Johansen estimator without the random jitter of tied times (module
    docstring, "Ties")."""

    @staticmethod
    def _check_for_duplicates(durations: object, events: object) -> bool:
        return False


@dataclass(frozen=True)
class IncidenceCurve:
    """One endpoint in one group: the curve (CURVE_COLUMNS), the table at chosen days
    (AT_RISK_COLUMNS) and the counts of patients by status."""

    endpoint: str
    group: str
    curve: pd.DataFrame
    at_risk: pd.DataFrame
    patients: int  # at risk at day 0 (every status but not_at_risk)
    events: int
    competing: int
    censored: int
    not_at_risk: int
    #: Competing events by kind (death, retreatment) when the input names them.
    competing_by_kind: dict[str, int] = field(default_factory=dict)
    #: Competing events dated after the patient's last record (their date is known from the
    #: outcome record; see :mod:`dashboard.analytics.endpoints`).
    competing_after_follow_up: int = 0


def _empty_curve() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="float64") for column in CURVE_COLUMNS})


def _checked(time_days: Sequence[float] | pd.Series, status: Sequence[str] | pd.Series) -> tuple[
    FloatArray, NDArray[np.int64]
]:  # fmt: skip
    """The times and lifelines codes of the patients at risk; ValueError on a bad row."""
    times = np.asarray(time_days, dtype="float64")
    states = np.asarray(status, dtype=object)
    if times.shape != states.shape:
        raise ValueError("time_days and status differ in length")
    unknown = sorted({str(s) for s in states} - set(STATUSES))
    if unknown:
        raise ValueError(f"unknown status {unknown}: use one of {', '.join(STATUSES)}")
    keep = states != NOT_AT_RISK
    times, states = times[keep], states[keep]
    if np.isnan(times).any():
        raise ValueError("a patient at risk has no time_days (only not_at_risk rows may be blank)")
    if (times < 0).any():
        raise ValueError("time_days before the infusion (< 0): the endpoint rules drop those")
    codes = np.array([_CODES[str(s)] for s in states], dtype=np.int64)
    return times, codes


def _fit(times: FloatArray, codes: NDArray[np.int64], alpha: float) -> pd.DataFrame:
    """The curve at every distinct observed time (events, competing events, censorings)."""
    fitter = _TiesKept(alpha=alpha, calculate_variance=True)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        # log(0) where F = 0 and 0/0 where every patient at risk has the event: blank bounds
        warnings.simplefilter("ignore", RuntimeWarning)
        fitter.fit(times + _SHIFT_DAYS, codes, event_of_interest=1)
    estimate = fitter.cumulative_density_.iloc[:, 0].to_numpy(dtype="float64")
    bounds = fitter.confidence_interval_.to_numpy(dtype="float64")
    shifted = fitter.cumulative_density_.index.to_numpy(dtype="float64")
    unique = np.unique(times)
    # lifelines' first row is its start at shifted time 0 (day -1), which never holds an event
    if shifted[0] != 0.0 or len(shifted) != len(unique) + 1:
        raise RuntimeError("lifelines' event table is not the one this module expects")
    estimate, bounds = estimate[1:], bounds[1:]
    lower = np.minimum(bounds[:, 0], bounds[:, 1])
    upper = np.maximum(bounds[:, 0], bounds[:, 1])
    blank = (estimate <= 0) | ~np.isfinite(lower) | ~np.isfinite(upper)
    curve = pd.DataFrame({
        "time_days": unique,
        "cumulative_incidence": estimate,
        "ci_lower": np.where(blank, np.nan, lower),
        "ci_upper": np.where(blank, np.nan, upper),
    })  # fmt: skip
    if unique[0] > 0:
        start = pd.DataFrame([{"time_days": 0.0, "cumulative_incidence": 0.0}])
        curve = pd.concat([start.reindex(columns=list(CURVE_COLUMNS)), curve], ignore_index=True)
    return curve


def _table(
    times: FloatArray, codes: NDArray[np.int64], curve: pd.DataFrame, at_times: Sequence[float]
) -> pd.DataFrame:
    """Numbers at risk (time >= t) and counts before t (time < t): the four add up to the
    patients at risk at day 0. The estimate at t is the curve's value at t (blank after the last
    observed time)."""
    rows = []
    last = float(times.max()) if len(times) else -np.inf
    for t in at_times:
        before = times < t
        row: dict[str, float] = {
            "time_days": float(t),
            "at_risk": int((times >= t).sum()),
            "events_before": int((before & (codes == 1)).sum()),
            "competing_before": int((before & (codes == 2)).sum()),
            "censored_before": int((before & (codes == 0)).sum()),
            "cumulative_incidence": np.nan, "ci_lower": np.nan, "ci_upper": np.nan,
        }  # fmt: skip
        if len(curve) and t <= last:
            position = int(np.searchsorted(curve["time_days"].to_numpy(), t, side="right")) - 1
            if position >= 0:
                for column in ("cumulative_incidence", "ci_lower", "ci_upper"):
                    row[column] = float(curve[column].iloc[position])
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(AT_RISK_COLUMNS))
    counts = ["at_risk", "events_before", "competing_before", "censored_before"]
    return table.astype(dict.fromkeys(counts, "int64"))


def aalen_johansen(
    time_days: Sequence[float] | pd.Series,
    status: Sequence[str] | pd.Series,
    at_times: Sequence[float] = AT_RISK_DAYS,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The curve (CURVE_COLUMNS) and the numbers-at-risk table (AT_RISK_COLUMNS) of one group.

    ``status`` per patient: event, competing, censored or not_at_risk (module docstring). No
    patient at risk: an empty curve and a table of zeros with blank estimates.
    """
    times, codes = _checked(time_days, status)
    curve = _fit(times, codes, alpha) if len(times) else _empty_curve()
    return curve, _table(times, codes, curve, at_times)


def _group(
    endpoint: str, group: str, part: pd.DataFrame, at_times: Sequence[float], alpha: float
) -> IncidenceCurve:
    curve, table = aalen_johansen(part["time_days"], part["status"], at_times, alpha)
    status = part["status"]
    competing = part[status == COMPETING]
    kinds: dict[str, int] = {}
    if "competing_event" in part:
        kinds = {str(k): int(n) for k, n in competing["competing_event"].value_counts().items()}
    late = 0
    if "follow_up_days" in part:
        late = int((competing["time_days"] > competing["follow_up_days"]).sum())
    return IncidenceCurve(
        endpoint=endpoint,
        group=group,
        curve=curve,
        at_risk=table,
        patients=int((status != NOT_AT_RISK).sum()),
        events=int((status == EVENT).sum()),
        competing=len(competing),
        censored=int((status == CENSORED).sum()),
        not_at_risk=int((status == NOT_AT_RISK).sum()),
        competing_by_kind=dict(sorted(kinds.items())),
        competing_after_follow_up=late,
    )


def cumulative_incidence(
    endpoints: pd.DataFrame,
    at_times: Sequence[float] = AT_RISK_DAYS,
    group_by: str = "product",
    alpha: float = 0.05,
) -> list[IncidenceCurve]:
    """Per endpoint (in order of first appearance): one result per ``group_by`` value (sorted),
    then all groups together (:data:`ALL`). ``endpoints`` has ``endpoint``, ``time_days``,
    ``status`` and ``group_by`` (optional: ``competing_event``, ``follow_up_days``)."""
    missing = [c for c in ("endpoint", "time_days", "status", group_by) if c not in endpoints]
    if missing:
        raise ValueError(f"the endpoints frame lacks {', '.join(missing)}")
    results = []
    for endpoint in pd.unique(endpoints["endpoint"]):
        part = endpoints[endpoints["endpoint"] == endpoint]
        groups = [(str(g), rows) for g, rows in part.groupby(group_by, sort=True)]
        for group, rows in [*groups, (ALL, part)]:
            results.append(_group(str(endpoint), group, rows, at_times, alpha))
    return results


def counts_frame(results: Sequence[IncidenceCurve]) -> pd.DataFrame:
    """One row per endpoint and group: COUNT_COLUMNS, then one ``competing_<kind>`` column per
    kind of competing event (0 where none)."""
    rows = []
    for r in results:
        row: dict[str, object] = {c: getattr(r, c) for c in COUNT_COLUMNS}
        row.update({f"competing_{kind}": n for kind, n in r.competing_by_kind.items()})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COUNT_COLUMNS)) if not rows else pd.DataFrame(rows)
    kinds = [c for c in frame.columns if c not in COUNT_COLUMNS]
    frame[kinds] = frame[kinds].fillna(0).astype("int64")
    return frame[[*COUNT_COLUMNS, *sorted(kinds)]]


def long_frame(results: Sequence[IncidenceCurve], which: str = "curve") -> pd.DataFrame:
    """Every result's curve (``which="curve"``) or table (``"at_risk"``) stacked, with
    ``endpoint`` and ``group`` first: the tidy shape for an export."""
    if which not in ("curve", "at_risk"):
        raise ValueError("which is 'curve' or 'at_risk'")
    columns = CURVE_COLUMNS if which == "curve" else AT_RISK_COLUMNS
    parts = [
        getattr(r, which).assign(endpoint=r.endpoint, group=r.group)
        for r in results
        if len(getattr(r, which))
    ]
    if not parts:
        return pd.DataFrame(columns=["endpoint", "group", *columns])
    stacked: pd.DataFrame = pd.concat(parts, ignore_index=True)
    return stacked[["endpoint", "group", *columns]]
