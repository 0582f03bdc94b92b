"""Deaths and re-treatments of the synthetic cohort (sample_data/outcomes.py): deterministic, after
every other record of the patient. That adding them changed no other table is checked by
test_generator's byte-for-byte comparison of the shipped CSVs (committed before the outcomes
existed, unchanged since)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grading.records import DeathCause
from sample_data import generate_cohort
from sample_data.draws import draw_people

SHIPPED = Path(__file__).resolve().parents[2] / "sample_data" / "cohort"
#: every instant of every other table, by table
TIMES = {
    "assessments": ("observed_at",),
    "labs": ("collected_at",),
    "drugs": ("given_at",),
    "infections": ("onset_at",),
    "licats": ("onset_at", "resolved_at"),
}


def test_the_same_seed_gives_the_same_events_and_another_seed_other_ones() -> None:
    first, second = generate_cohort(400, 5).events, generate_cohort(400, 5).events
    pd.testing.assert_frame_equal(first, second)
    assert not first.equals(generate_cohort(400, 6).events)


def test_no_record_of_any_table_follows_a_death_or_a_retreatment() -> None:
    cohort = generate_cohort(400, 5)
    outcome_at = cohort.events.set_index("patient_id")["occurred_at"]
    assert outcome_at.index.is_unique  # at most one outcome per patient
    for table, columns in TIMES.items():
        frame = getattr(cohort, table)
        for column in columns:
            at = pd.to_datetime(frame[column])
            limit = frame["patient_id"].map(outcome_at)
            later = at.notna() & limit.notna() & (at >= limit)
            assert not later.any(), (table, column, frame[later].head())


def test_about_3_percent_die_with_a_cause_and_6_percent_of_recovered_patients_are_retreated() -> (
    None
):
    """1,000 patients: round(0.03 * 1000) = 30 deaths, round(0.06 * 1000) = 60 re-treatments."""
    cohort = generate_cohort(1000, 9)
    events = cohort.events
    deaths = events[events["event"] == "death"]
    retreated = events[events["event"] == "retreatment"]
    assert (len(deaths), len(retreated)) == (30, 60)
    assert deaths["cause"].notna().all()
    assert set(deaths["cause"]) <= {c.value for c in DeathCause}
    assert deaths["cause"].isin(["infection", "other"]).mean() > 0.5
    assert retreated["cause"].isna().all()
    people = draw_people(1000, 9).frame.set_index("patient_id")
    chosen = people.loc[retreated["patient_id"]]
    assert chosen["car_t"].all()
    assert np.isfinite(chosen["b_recovery_day"]).all()  # B cells came back: relapse is possible
    assert not people.loc[events["patient_id"], "scenario"].any()


def test_the_shipped_cohort_has_one_death_and_two_retreatments() -> None:
    """round(0.03 * 40) = 1 and round(0.06 * 40) = 2 (the file is the generator's, see
    test_generator's byte-for-byte check)."""
    events = pd.read_csv(SHIPPED / "events.csv", dtype=str, keep_default_na=False)
    assert list(events.columns) == ["patient_id", "event", "occurred_at", "cause"]
    assert sorted(events["event"]) == ["death", "retreatment", "retreatment"]
    assert events.loc[events["event"] == "death", "cause"].ne("").all()
