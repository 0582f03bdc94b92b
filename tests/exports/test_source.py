"""The de-identified export source (dashboard/exports/source.py) on a copy of the loaded sample.

Expected values come from the shipped sample CSVs (sample_data/cohort), converted by hand rules:
a study day is (time - infusion instant) in days, rounded to 0.01.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.exports.source import (
    TABLES,
    DateMode,
    ExportRequest,
    columns,
    date_shift,
    export_chunks,
    export_key,
    export_manifest,
)
from dashboard.services.cohort_data import CohortFilters
from dashboard.services.deidentify import pseudonym
from dashboard.store.access import Actor
from dashboard.store.errors import AccessDeniedError
from dashboard.store.sample import COHORT
from dashboard.store.unit_of_work import UnitOfWork
from tests.sample_accounts import demo

PATIENT = "S01-0001"  # infused 2024-11-01T10:00, lymphodepletion from 2024-10-27T08:40


def tables(engine: Engine, actor: Actor, request: ExportRequest) -> dict[str, pd.DataFrame]:
    chunks = list(export_chunks(engine, actor, request))
    out = {}
    for name in TABLES:
        filled = [c.tables[name] for c in chunks if not c.tables[name].empty]
        out[name] = concat(filled) if filled else chunks[0].tables[name]
    return out


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks one below the other. A column left blank in one chunk does not decide the
    column's type (pandas' FutureWarning: leave such entries out before concatenating); a column
    blank in every chunk keeps the first chunk's type."""
    columns = frames[0].columns
    parts = [frame.dropna(axis=1, how="all") for frame in frames]
    out = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    for column in columns:
        if out[column].isna().all():
            out[column] = out[column].astype(frames[0][column].dtype)
        if out[column].dtype == object:  # blanks as None, as each chunk has them
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def test_patients_leave_with_a_pseudonym_and_study_days_only(
    sample_engine: Engine, researcher: Actor
) -> None:
    out = tables(sample_engine, researcher, ExportRequest())
    name = pseudonym(PATIENT, export_key(sample_engine, researcher))
    row = out["patients"].set_index("pseudonym").loc[name]
    assert row["infusion_day"] == 0.0
    # 2024-10-27T08:40 is 5 days 1 h 20 min before 2024-11-01T10:00: 5.0556 days
    assert row["lymphodepletion_start_day"] == -5.06
    assert (row["site_id"], row["disease"], row["age_years"]) == ("S01", "sle", 34.0)
    for table, frame in out.items():
        assert list(frame.columns) == list(columns(table)), table
        assert not [c for c in frame.columns if c.endswith("_at")], table


def test_every_assessment_is_there_with_its_study_day(
    sample_engine: Engine, researcher: Actor
) -> None:
    out = tables(sample_engine, researcher, ExportRequest())
    name = pseudonym(PATIENT, export_key(sample_engine, researcher))
    source = pd.read_csv(COHORT / "assessments.csv", parse_dates=["observed_at"])
    source = source[source["patient_id"] == PATIENT]
    expected = ((source["observed_at"] - pd.Timestamp("2024-11-01T10:00")).dt.total_seconds()
                / 86_400).round(2).tolist()  # fmt: skip
    mine = out["assessments"][out["assessments"]["pseudonym"] == name]
    assert sorted(mine["observed_day"].tolist()) == sorted(expected)
    assert expected[0] == -5.04  # 2024-10-27T09:00: 5 days 1 h before the infusion
    assert len(out["assessments"]) == len(pd.read_csv(COHORT / "assessments.csv"))


def test_shifted_dates_move_each_patient_by_one_fixed_offset(
    sample_engine: Engine, researcher: Actor
) -> None:
    out = tables(sample_engine, researcher, ExportRequest(dates=DateMode.SHIFTED))
    key = export_key(sample_engine, researcher)
    patients = pd.read_csv(COHORT / "patients.csv", parse_dates=["infusion_at"])
    by_name = {pseudonym(pid, key): pid for pid in patients["patient_id"]}
    infusion = patients.set_index("patient_id")["infusion_at"]
    frame = out["patients"]
    for name, shifted in zip(frame["pseudonym"], frame["infusion_at"], strict=True):
        study_id = by_name[name]
        shift = date_shift(study_id, key)
        assert timedelta(days=-364) <= shift <= timedelta(days=-1)
        assert shifted - shift == infusion[study_id]
        assert shifted != infusion[study_id]
    labs = out["labs"]
    lab_shift = labs["collected_at"] - pd.to_datetime(
        labs["pseudonym"].map(dict(zip(frame["pseudonym"], frame["infusion_at"], strict=True)))
    )
    # shifted time minus shifted infusion is the study day again: intervals are kept
    assert ((lab_shift.dt.total_seconds() / 86_400).round(2) == labs["collected_day"]).all()


def test_free_text_and_names_never_leave(sample_engine: Engine, researcher: Actor) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    with UnitOfWork(sample_engine, nurse) as uow:
        first = uow.labs.current(PATIENT)[0]
        uow.labs.correct(first.record_id, first.version, first.values, "REASON-7Q2 typo fixed")
        uow.commit()
    out = tables(sample_engine, researcher, ExportRequest(dates=DateMode.SHIFTED))
    text = "\n".join(frame.to_csv() for frame in out.values())
    assert "REASON-7Q2" not in text
    assert "nurse-s01" not in text
    assert "S01-0001" not in text
    assert "detail" not in out["alerts"].columns
    assert "date_of_birth" not in out["patients"].columns


def test_chunk_size_does_not_change_the_tables(sample_engine: Engine, researcher: Actor) -> None:
    one = tables(sample_engine, researcher, ExportRequest(chunk_patients=7))
    whole = tables(sample_engine, researcher, ExportRequest(chunk_patients=1000))
    for name in TABLES:
        key = [c for c in columns(name) if c in ("pseudonym", "observed_day", "collected_day",
               "given_day", "onset_day", "finding_day", "analyte", "kind", "syndrome")]  # fmt: skip
        left = one[name].sort_values(key).reset_index(drop=True)
        right = whole[name].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=name)


def test_filters_and_roles(sample_engine: Engine, researcher: Actor) -> None:
    s02 = tables(sample_engine, researcher,
                 ExportRequest(filters=CohortFilters(site_ids=frozenset({"S02"}))))  # fmt: skip
    assert set(s02["patients"]["site_id"]) == {"S02"}
    assert len(s02["patients"]) == 8
    with pytest.raises(AccessDeniedError):
        next(export_chunks(sample_engine, demo(sample_engine, "nurse-s01"), ExportRequest()))
    with pytest.raises(AccessDeniedError):
        next(export_chunks(sample_engine, demo(sample_engine, "physician-s02"), ExportRequest()))
    admin = tables(sample_engine, demo(sample_engine, "admin"), ExportRequest())
    assert len(admin["patients"]) == 40


def test_the_manifest_says_how_dates_left(sample_engine: Engine, researcher: Actor) -> None:
    key = export_key(sample_engine, researcher)
    study = export_manifest(key, ExportRequest())
    shifted = export_manifest(key, ExportRequest(dates=DateMode.SHIFTED))
    assert study["removed: dates and times"].startswith("replaced by study day")
    assert shifted["removed: dates and times"].startswith("shifted back by a whole number")
    assert "alert details" in study["removed: free text"]


def test_assessments_carry_the_patients_own_episode_number(
    sample_engine: Engine, researcher: Actor
) -> None:
    out = tables(sample_engine, researcher, ExportRequest(chunk_patients=5))
    episodes = out["episodes"][out["episodes"]["syndrome"] == "CRS"]
    rows = out["assessments"].dropna(subset=["crs_episode"])
    assert rows["crs_episode"].min() == 1
    for (name, number), group in rows.groupby(["pseudonym", "crs_episode"]):
        episode = episodes[(episodes["pseudonym"] == name) & (episodes["episode"] == number)]
        assert len(episode) == 1, (name, number)
        # every row of the episode lies between its onset and its resolution (or is ongoing)
        assert group["observed_day"].min() == episode["onset_day"].iloc[0]
        resolved = episode["resolved_day"].iloc[0]
        assert pd.isna(resolved) or group["observed_day"].max() <= resolved
    outside = out["assessments"][out["assessments"]["crs_episode"].isna()]
    assert outside["crs_grade"].fillna(0).max() == 0  # no graded CRS row outside an episode
