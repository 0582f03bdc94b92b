"""Aalen-Johansen cumulative incidence against a case worked by hand.

Eight patients (days since infusion, status):

    P1 0 event   P2 2 event   P3 2 competing   P4 3 censored
    P5 5 event   P6 5 censored   P7 7 competing   P8 9 censored

By hand, F(t) = F(t-) + S(t-) * d_event / n, S(t) = S(t-) * (1 - d_all / n):

    t=0: n=8, 1 event            F = 1 * 1/8              = 0.125    S = 7/8
    t=2: n=7, 1 event, 1 comp.   F = 0.125 + 7/8 * 1/7    = 0.25     S = 7/8 * 5/7 = 5/8
    t=3: P4 censored (n 5 -> 4)  F = 0.25
    t=5: n=4 (P6, censored at 5, is still at risk), 1 event
                                 F = 0.25 + 5/8 * 1/4     = 0.40625  S = 5/8 * 3/4 = 15/32
    t=7: n=2, 1 competing        F = 0.40625              S = 15/64
    t=9: P8 censored             F = 0.40625

Jittering the tie at 2 (lifelines' default) would not change F, but jittering the event at 5 past
the censoring at 5 would (n = 3: F(5) = 0.25 + 5/8 * 1/3 = 0.4583); a dropped day-0 event
(lifelines' first-row bug) would leave F(2) = 7/8 * 1/7 = 0.125. Both are held below.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.analytics.cumulative_incidence import (
    ALL,
    AT_RISK_COLUMNS,
    COUNT_COLUMNS,
    CURVE_COLUMNS,
    aalen_johansen,
    counts_frame,
    cumulative_incidence,
    long_frame,
)

TIMES = [0.0, 2.0, 2.0, 3.0, 5.0, 5.0, 7.0, 9.0]
STATUS = ["event", "event", "competing", "censored", "event", "censored", "competing", "censored"]


def test_curve_equals_the_hand_computation() -> None:
    curve, _ = aalen_johansen(TIMES, STATUS)
    assert list(curve.columns) == list(CURVE_COLUMNS)
    assert curve["time_days"].tolist() == [0.0, 2.0, 3.0, 5.0, 7.0, 9.0]
    assert curve["cumulative_incidence"].tolist() == pytest.approx(
        [0.125, 0.25, 0.25, 0.40625, 0.40625, 0.40625], abs=1e-12
    )


def test_confidence_intervals_by_hand() -> None:
    # Var F(t) = sum over t_i <= t of (F(t)-F(t_i))^2 d_i/(n_i (n_i-d_i))
    #            + S(t_i-)^2 dj_i (n_i-dj_i)/n_i^3 - 2 (F(t)-F(t_i)) S(t_i-) dj_i/n_i^2   (Collett)
    # t=0: 0 + 1 * 1*7/512 - 0 = 0.013671875
    # t=2: i=0: 0.125^2 * 1/56 + 7/512 - 2*0.125/64 = 0.010044643;
    #      i=2: 0 + (7/8)^2 * 1*6/343 - 0 = 0.013392857; sum 0.0234375
    # bounds exp(-exp(log(-log F) +- 1.959964 * sqrt(Var) / (F |log F|))):
    # t=0: log(-log .125) = 0.732099, se = 0.116927/(0.125*2.079442) = 0.449839
    #      -> exp(-exp(1.613779)) = 0.006593, exp(-exp(-0.149581)) = 0.422706
    # t=2: log(-log .25) = 0.326634, se = 0.153093/(0.25*1.386294) = 0.441734
    #      -> exp(-exp(1.192413)) = 0.037067, exp(-exp(-0.539145)) = 0.558084
    curve, _ = aalen_johansen(TIMES, STATUS)
    assert curve["ci_lower"].iloc[:2].tolist() == pytest.approx([0.006593, 0.037067], abs=1e-6)
    assert curve["ci_upper"].iloc[:2].tolist() == pytest.approx([0.422706, 0.558084], abs=1e-6)
    assert (curve["ci_lower"] <= curve["cumulative_incidence"]).all()
    assert (curve["cumulative_incidence"] <= curve["ci_upper"]).all()


def test_numbers_at_risk_by_hand() -> None:
    # at risk at t: time >= t; counts before t: time < t (the four add up to the 8 patients)
    _, table = aalen_johansen(TIMES, STATUS, at_times=[0, 2, 4, 5, 6, 9, 10])
    assert list(table.columns) == list(AT_RISK_COLUMNS)
    assert table["at_risk"].tolist() == [8, 7, 4, 4, 2, 1, 0]
    assert table["events_before"].tolist() == [0, 1, 2, 2, 3, 3, 3]
    assert table["competing_before"].tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert table["censored_before"].tolist() == [0, 0, 1, 1, 2, 2, 3]
    counts = table[["at_risk", "events_before", "competing_before", "censored_before"]]
    assert (counts.sum(axis=1) == 8).all()
    # the estimate at t includes events at t (right-continuous); blank after the last time (9)
    estimate = table["cumulative_incidence"].tolist()
    assert estimate[:6] == pytest.approx([0.125, 0.25, 0.25, 0.40625, 0.40625, 0.40625])
    assert np.isnan(estimate[6])


def test_no_random_jitter_and_row_order_does_not_matter() -> None:
    first, _ = aalen_johansen(TIMES, STATUS)
    order = [7, 3, 5, 0, 6, 2, 4, 1]
    again, _ = aalen_johansen([TIMES[i] for i in order], [STATUS[i] for i in order])
    pd.testing.assert_frame_equal(first, again)


def test_an_event_tied_with_a_censoring_counts_the_censored_patient_at_risk() -> None:
    # both sides: censored at 5 (at risk, n=4 -> +5/8*1/4) vs censored at 4.9 (n=3 -> +5/8*1/3)
    at_five, _ = aalen_johansen(TIMES, STATUS)
    before = TIMES.copy()
    before[5] = 4.9
    at_four_nine, _ = aalen_johansen(before, STATUS)
    value = at_five.set_index("time_days")["cumulative_incidence"]
    other = at_four_nine.set_index("time_days")["cumulative_incidence"]
    assert value[5.0] == pytest.approx(0.40625)
    assert other[5.0] == pytest.approx(0.25 + 5 / 8 / 3)


def test_curve_starts_at_zero_without_a_day_0_event() -> None:
    # the same patients, P1's event moved to day 1: (0, 0) is added, no interval there
    times = [1.0, *TIMES[1:]]
    curve, _ = aalen_johansen(times, STATUS)
    assert curve["time_days"].tolist()[:2] == [0.0, 1.0]
    assert curve["cumulative_incidence"].tolist()[:2] == [0.0, 0.125]
    assert curve[["ci_lower", "ci_upper"]].iloc[0].isna().all()


def test_competing_events_are_not_censoring() -> None:
    # 2 patients: competing at 1, event at 2. AJ: F(2) = S(1) * 1/1 = 1/2. Treating the
    # competing event as censoring (1 - Kaplan-Meier) would give 1.
    curve, _ = aalen_johansen([1.0, 2.0], ["competing", "event"])
    assert curve["cumulative_incidence"].tolist() == [0.0, 0.0, 0.5]
    # the last patient at risk has the event: d = n, the variance is not finite -> no interval
    assert curve[["ci_lower", "ci_upper"]].iloc[2].isna().all()


def test_no_event_gives_a_flat_zero_curve_without_interval() -> None:
    curve, table = aalen_johansen([3.0, 4.0], ["censored", "competing"], at_times=[0, 4])
    assert curve["cumulative_incidence"].tolist() == [0.0, 0.0, 0.0]
    assert curve[["ci_lower", "ci_upper"]].isna().all().all()
    assert table["at_risk"].tolist() == [2, 1]


def test_not_at_risk_rows_are_left_out() -> None:
    with_extra, _ = aalen_johansen([*TIMES, np.nan], [*STATUS, "not_at_risk"])
    curve, _ = aalen_johansen(TIMES, STATUS)
    pd.testing.assert_frame_equal(with_extra, curve)


def test_no_patient_at_risk_gives_an_empty_curve_and_zero_table() -> None:
    curve, table = aalen_johansen([np.nan], ["not_at_risk"], at_times=[0, 7])
    assert curve.empty
    assert list(curve.columns) == list(CURVE_COLUMNS)
    assert table["at_risk"].tolist() == [0, 0]
    assert table["cumulative_incidence"].isna().all()


@pytest.mark.parametrize(
    ("times", "status", "message"),
    [
        ([1.0], ["dead"], "unknown status"),
        ([np.nan], ["censored"], "no time_days"),
        ([-0.5], ["event"], "before the infusion"),
        ([1.0, 2.0], ["event"], "differ in length"),
    ],
)
def test_bad_rows_are_refused(times: list[float], status: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aalen_johansen(times, status)


def _two_products() -> pd.DataFrame:
    # product a: the 8 hand patients; product b: 3 patients (event 1, competing (death) 2,
    # not at risk). b by hand: t=1 n=2 -> F = 1/2; t=2 competing -> F stays 1/2.
    a = pd.DataFrame({"time_days": TIMES, "status": STATUS, "product": "a"})
    a["competing_event"] = None
    a.loc[a["status"] == "competing", "competing_event"] = "retreatment"
    a.loc[6, "competing_event"] = "death"
    a["follow_up_days"] = a["time_days"]
    a.loc[6, "follow_up_days"] = 6.0  # P7's competing event (day 7) is after its last record
    b = pd.DataFrame({
        "time_days": [1.0, 2.0, np.nan], "status": ["event", "competing", "not_at_risk"],
        "product": "b", "competing_event": [None, "death", None],
        "follow_up_days": [1.0, 2.0, 3.0],
    })  # fmt: skip
    both = pd.concat([a, b], ignore_index=True)
    return both.assign(endpoint="crs_onset")


def test_groups_each_product_then_all() -> None:
    results = cumulative_incidence(_two_products(), at_times=[0, 2])
    assert [(r.endpoint, r.group) for r in results] == [
        ("crs_onset", "a"), ("crs_onset", "b"), ("crs_onset", ALL)
    ]  # fmt: skip
    a, b, everyone = results
    assert a.curve["cumulative_incidence"].iloc[-1] == pytest.approx(0.40625)
    assert b.curve["cumulative_incidence"].tolist() == [0.0, 0.5, 0.5]
    assert (b.patients, b.events, b.competing, b.censored, b.not_at_risk) == (2, 1, 1, 0, 1)
    assert (everyone.patients, everyone.events, everyone.competing) == (10, 4, 3)
    assert (everyone.censored, everyone.not_at_risk) == (3, 1)
    assert a.competing_by_kind == {"death": 1, "retreatment": 1}
    assert a.competing_after_follow_up == 1
    # all 10 at risk at day 0; at day 2: a has 7, b has 1 (the death at 2)
    assert everyone.at_risk["at_risk"].tolist() == [10, 8]


def test_counts_and_long_frames() -> None:
    results = cumulative_incidence(_two_products(), at_times=[0, 2])
    counts = counts_frame(results)
    assert list(counts.columns) == [*COUNT_COLUMNS, "competing_death", "competing_retreatment"]
    assert counts["competing_death"].tolist() == [1, 1, 2]
    assert counts["competing_retreatment"].tolist() == [1, 0, 1]
    curves = long_frame(results)
    assert list(curves.columns) == ["endpoint", "group", *CURVE_COLUMNS]
    assert len(curves) == sum(len(r.curve) for r in results)
    tables = long_frame(results, "at_risk")
    assert tables.groupby("group").size().to_dict() == {"a": 2, "b": 2, ALL: 2}


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="product"):
        cumulative_incidence(pd.DataFrame({"endpoint": [], "time_days": [], "status": []}))
