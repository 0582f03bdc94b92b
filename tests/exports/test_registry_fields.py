"""Registry Day-100 fields: occurrence yes/no/unknown, the day 0-100 window on both sides,
highest grade, treatment flags, ongoing at day 100, incomplete follow-up; and one sample patient
checked by hand through the written files.

Most tests build one patient's tables by hand (the columns of dashboard.exports.source with
shifted times) and call :func:`day100_fields`; infusion 2024-01-01T10:00, so day N is
2024-01-01 + N days.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.exports.registry_fields import (
    NO,
    NOT_APPLICABLE,
    UNKNOWN,
    YES,
    cibmtr_columns,
    cibmtr_frame,
    day100_fields,
    ebmt_columns,
    write_registry,
)
from dashboard.exports.source import DateMode, ExportRequest, export_key
from dashboard.services.deidentify import pseudonym
from dashboard.store.access import Actor
from dashboard.store.errors import AccessDeniedError
from tests.sample_accounts import demo

INFUSION = pd.Timestamp("2024-01-01T10:00")


def _at(day: int, hour: int = 8) -> pd.Timestamp:
    return INFUSION.normalize() + pd.Timedelta(days=day, hours=hour)


def _tables(
    assessments: Sequence[tuple[int, float | None, float | None]] = (),
    episodes: Sequence[tuple[str, int, int | None, int]] = (),
    drugs: Sequence[tuple[int, str]] = (),
    last_lab_day: int | None = 365,
    death_day: int | None = None,
    icu_days: frozenset[int] = frozenset(),
) -> dict[str, pd.DataFrame]:
    """One patient P-x: assessments (day, CRS grade, ICANS grade), episodes (syndrome, onset day,
    resolution day or None, peak grade), drugs (day, drug), a lab on ``last_lab_day``."""
    patients = pd.DataFrame(
        {"pseudonym": ["P-x"], "site_id": ["S01"], "product": ["cd19_car_t"],
         "infusion_at": [INFUSION]}
    )  # fmt: skip
    a = pd.DataFrame(
        {"pseudonym": "P-x", "observed_at": [_at(d) for d, _, _ in assessments],
         "crs_grade": pd.array([c for _, c, _ in assessments], dtype="Int64"),
         "icans_grade": pd.array([i for _, _, i in assessments], dtype="Int64"),
         "icu_indicated": [d in icu_days for d, _, _ in assessments]}
    )  # fmt: skip
    e = pd.DataFrame(
        {"pseudonym": "P-x", "syndrome": [s for s, _, _, _ in episodes],
         "episode": range(1, len(episodes) + 1),
         "onset_at": [_at(o) for _, o, _, _ in episodes],
         "resolved_at": [_at(r, 20) if r is not None else pd.NaT for _, _, r, _ in episodes],
         "peak_grade": [g for _, _, _, g in episodes],
         "status": ["resolved" if r is not None else "ongoing" for _, _, r, _ in episodes]}
    )  # fmt: skip
    d = pd.DataFrame(
        {"pseudonym": "P-x", "given_at": [_at(day, 12) for day, _ in drugs],
         "drug": [name for _, name in drugs]}
    )  # fmt: skip
    labs = pd.DataFrame(
        {"pseudonym": "P-x", "collected_at": [_at(last_lab_day)] if last_lab_day is not None
         else pd.to_datetime([])}
    )  # fmt: skip
    events = pd.DataFrame(
        {"pseudonym": "P-x", "event": ["death"] if death_day is not None else [],
         "occurred_at": [_at(death_day)] if death_day is not None else pd.to_datetime([])}
    )  # fmt: skip
    return {"patients": patients, "assessments": a, "episodes": e, "drugs": d, "labs": labs,
            "events": events}  # fmt: skip


def _row(tables: dict[str, pd.DataFrame]) -> pd.Series:
    fields = day100_fields(tables)
    assert len(fields) == 1
    return fields.iloc[0]


def test_occurrence_is_unknown_without_an_assessment_in_the_window() -> None:
    # Only an assessment before the infusion (day -5): nothing assessed in day 0-100.
    row = _row(_tables(assessments=[(-5, 0, 0)]))
    assert row["crs_occurrence"] == UNKNOWN
    assert row["icans_occurrence"] == UNKNOWN
    assert row["crs_tocilizumab"] == UNKNOWN
    assert row["crs_max_grade_astct"] == ""


def test_occurrence_is_unknown_when_the_assessments_could_not_be_graded() -> None:
    # CRS graded 0 on day 3, ICANS not gradable (blank: no ICE): CRS "no", ICANS "unknown".
    row = _row(_tables(assessments=[(3, 0, None)]))
    assert row["crs_occurrence"] == NO
    assert row["crs_tocilizumab"] == NOT_APPLICABLE
    assert row["crs_episodes"] == 0
    assert row["icans_occurrence"] == UNKNOWN


def test_onset_on_day_100_counts_and_onset_on_day_101_does_not() -> None:
    inside = _row(_tables(assessments=[(50, 0, 0), (100, 1, 0)],
                          episodes=[("CRS", 100, None, 1)]))  # fmt: skip
    assert inside["crs_occurrence"] == YES
    assert inside["crs_onset_day"] == 100
    assert inside["crs_onset_date"] == "2024-04-10"  # 2024-01-01 + 100 days
    after = _row(_tables(assessments=[(50, 0, 0), (101, 2, 0)],
                         episodes=[("CRS", 101, 103, 2)]))  # fmt: skip
    assert after["crs_occurrence"] == NO
    assert after["crs_onset_day"] == ""
    assert after["crs_max_grade_astct"] == ""


def test_highest_grade_is_the_highest_inside_the_window() -> None:
    # Episode day 2-6: grades 1, 3, 2 on days 2, 3, 4; a later grade 4 on day 101 belongs to a
    # second episode after the window and does not count.
    row = _row(_tables(
        assessments=[(2, 1, 0), (3, 3, 0), (4, 2, 0), (7, 0, 0), (101, 4, 0)],
        episodes=[("CRS", 2, 6, 3), ("CRS", 101, 104, 4)],
    ))  # fmt: skip
    assert row["crs_max_grade_astct"] == 3
    assert row["crs_episodes"] == 1
    assert row["crs_resolution_day"] == 6
    assert row["crs_ongoing_at_day100"] == NO


def test_treatment_flags_count_drugs_given_during_the_episode_only() -> None:
    # CRS day 1-4: tocilizumab day 1, dexamethasone day 2; anakinra day 10 (after resolution)
    # and paracetamol (an antipyretic, not a registry treatment) do not count.
    row = _row(_tables(
        assessments=[(1, 2, 0), (2, 2, 0), (5, 0, 0)],
        episodes=[("CRS", 1, 4, 2)],
        drugs=[(1, "tocilizumab"), (2, "dexamethasone"), (10, "anakinra"), (1, "paracetamol")],
        icu_days=frozenset({2}),
    ))  # fmt: skip
    assert row["crs_tocilizumab"] == YES
    assert row["crs_corticosteroids"] == YES
    assert row["crs_other_anticytokine"] == NO
    assert row["crs_icu_admission"] == UNKNOWN  # not recorded by cartwatch
    assert row["crs_icu_indicated_policy"] == YES
    assert row["icans_occurrence"] == NO
    cibmtr = cibmtr_frame(day100_fields(_tables(
        assessments=[(1, 2, 0), (2, 2, 0), (5, 0, 0)], episodes=[("CRS", 1, 4, 2)],
        drugs=[(1, "tocilizumab"), (2, "dexamethasone")],
    ))).iloc[0]  # fmt: skip
    assert cibmtr["cibmtr_crs_therapy"] == "tocilizumab; corticosteroids"
    assert cibmtr["cibmtr_icans_therapy"] == NOT_APPLICABLE


def _with_icu(flags: Sequence[bool | None]) -> pd.Series:
    """The CRS episode day 1-4 (assessments days 1, 2, 3) with a nullable ICU flag per day."""
    tables = _tables(assessments=[(1, 2, 0), (2, 2, 0), (3, 1, 0)], episodes=[("CRS", 1, 4, 2)])
    tables["assessments"]["icu_indicated"] = pd.array(list(flags), dtype="boolean")
    return _row(tables)


def test_a_not_evaluated_icu_flag_is_unknown_not_an_error() -> None:
    # A nullable column with NA made astype(bool) raise; NA is "not evaluated": unknown.
    assert _with_icu([None, None, None])["crs_icu_indicated_policy"] == UNKNOWN
    assert _with_icu([False, None, False])["crs_icu_indicated_policy"] == UNKNOWN
    assert _with_icu([False, False, False])["crs_icu_indicated_policy"] == NO
    assert _with_icu([None, True, None])["crs_icu_indicated_policy"] == YES


def test_other_anticytokine_during_icans_counts_for_icans() -> None:
    row = _row(_tables(assessments=[(5, 0, 2), (9, 0, 0)], episodes=[("ICANS", 5, 8, 2)],
                       drugs=[(6, "anakinra")]))  # fmt: skip
    assert row["icans_other_anticytokine"] == YES
    assert row["icans_tocilizumab"] == NO
    assert row["crs_occurrence"] == NO


def test_episode_unresolved_with_follow_up_past_day_100_is_ongoing_at_day_100() -> None:
    row = _row(_tables(assessments=[(90, 1, 0), (120, 1, 0)], episodes=[("CRS", 90, None, 1)]))
    assert row["crs_ongoing_at_day100"] == YES
    assert row["crs_resolution_day"] == ""


def test_episode_resolved_after_day_100_is_ongoing_at_day_100_without_a_resolution_date() -> None:
    row = _row(_tables(assessments=[(98, 1, 0), (102, 0, 0)], episodes=[("CRS", 98, 101, 1)]))
    assert row["crs_ongoing_at_day100"] == YES
    assert row["crs_resolution_day"] == ""


def test_follow_up_ending_before_day_100_flags_an_incomplete_window() -> None:
    # Last record on day 40, episode still open: ongoing at day 100 cannot be known.
    row = _row(_tables(assessments=[(30, 1, 0), (40, 1, 0)], episodes=[("CRS", 30, None, 1)],
                       last_lab_day=None))  # fmt: skip
    assert row["last_followup_day"] == 40
    assert row["day100_window_complete"] == NO
    assert row["crs_ongoing_at_day100"] == UNKNOWN
    complete = _row(_tables(assessments=[(30, 0, 0)], last_lab_day=100))
    assert complete["day100_window_complete"] == YES
    assert complete["last_followup_day"] == 100


def test_death_before_day_100_is_flagged() -> None:
    row = _row(_tables(assessments=[(3, 0, 0)], last_lab_day=None, death_day=60))
    assert row["death_by_day100"] == YES
    assert row["day100_window_complete"] == NO


@pytest.mark.parametrize(("last_day", "expected"), [(99, UNKNOWN), (100, NO)])
def test_no_death_is_no_only_when_follow_up_reaches_day_100(last_day: int, expected: str) -> None:
    row = _row(_tables(assessments=[(3, 0, 0)], last_lab_day=last_day))
    assert row["death_by_day100"] == expected


@pytest.mark.parametrize(
    ("last_day", "occurrence", "episodes", "filler"),
    [(99, UNKNOWN, "", UNKNOWN), (100, NO, 0, NOT_APPLICABLE)],
)
def test_no_occurrence_is_no_only_when_follow_up_reaches_day_100(
    last_day: int, occurrence: str, episodes: object, filler: str
) -> None:
    # Graded 0 on day 3; the records end on day 99 (an onset on day 99-100 could be unseen) or 100.
    row = _row(_tables(assessments=[(3, 0, 0)], last_lab_day=last_day))
    for syndrome in ("crs", "icans"):
        assert row[f"{syndrome}_occurrence"] == occurrence
        assert row[f"{syndrome}_episodes"] == episodes
        assert row[f"{syndrome}_tocilizumab"] == filler
    cibmtr = cibmtr_frame(day100_fields(_tables(assessments=[(3, 0, 0)], last_lab_day=last_day)))
    assert cibmtr.iloc[0]["cibmtr_crs"] == occurrence


def test_a_death_before_day_100_closes_the_window_so_no_stays_no() -> None:
    # Died on day 60, graded 0 on day 3: nothing can happen after the death.
    row = _row(_tables(assessments=[(3, 0, 0)], last_lab_day=None, death_day=60))
    assert row["death_by_day100"] == YES
    assert row["crs_occurrence"] == NO
    assert row["day100_window_complete"] == NO


@pytest.mark.parametrize(
    ("last_day", "absent", "therapy"),
    [(99, UNKNOWN, "corticosteroids (others unknown)"), (100, NO, "corticosteroids")],
)
def test_treatment_not_given_is_no_only_when_follow_up_reaches_day_100(
    last_day: int, absent: str, therapy: str
) -> None:
    # CRS from day 90, unresolved; dexamethasone on day 91; no tocilizumab recorded.
    tables = _tables(assessments=[(90, 2, 0), (95, 2, 0)], episodes=[("CRS", 90, None, 2)],
                     drugs=[(91, "dexamethasone")], last_lab_day=last_day)  # fmt: skip
    row = _row(tables)
    assert row["crs_corticosteroids"] == YES
    assert row["crs_tocilizumab"] == absent
    assert row["crs_other_anticytokine"] == absent
    assert row["crs_icu_indicated_policy"] == absent
    assert cibmtr_frame(day100_fields(tables)).iloc[0]["cibmtr_crs_therapy"] == therapy


def test_no_treatment_at_all_before_day_100_end_of_follow_up_is_unknown() -> None:
    # A resolved episode on days 10-12 and records ending on day 50: a later episode could have
    # been treated before day 100, so the CIBMTR list is "unknown", not "none recorded".
    tables = _tables(assessments=[(10, 1, 0), (13, 0, 0)], episodes=[("CRS", 10, 12, 1)],
                     last_lab_day=50)  # fmt: skip
    assert _row(tables)["crs_tocilizumab"] == UNKNOWN
    assert cibmtr_frame(day100_fields(tables)).iloc[0]["cibmtr_crs_therapy"] == UNKNOWN


# --- the written files, one sample patient by hand ------------------------------------------------


def test_sample_patient_s02_0001_in_both_registry_files(
    sample_engine: Engine, researcher: Actor, tmp_path: Path
) -> None:
    # By hand from sample_data/cohort (infusion 2024-04-08T10:00 = day 0):
    # CRS onset 2024-04-09T06:07 (38.3 C, room air) -> day 1, grade 1, resolved 2024-04-10
    # (day 2, first of >= 24 h afebrile); paracetamol only during it -> no registry treatment.
    # ICANS onset 2024-04-11 (ICE 8) -> day 3, highest grade 3 (ICE 2 + seizure on 04-12),
    # resolved 2024-04-15 (day 7); dexamethasone 10 mg from 2024-04-11T23:00 -> corticosteroids.
    paths = write_registry(sample_engine, researcher, ExportRequest(dates=DateMode.STUDY_DAY),
                           tmp_path)  # fmt: skip
    assert [p.name for p in paths] == [
        "registry_ebmt_day100.csv", "registry_cibmtr_day100.csv", "manifest.json",
    ]  # fmt: skip
    ebmt = pd.read_csv(paths[0], comment="#", dtype=str, keep_default_na=False)
    cibmtr = pd.read_csv(paths[1], comment="#", dtype=str, keep_default_na=False)
    assert tuple(ebmt.columns) == ebmt_columns(DateMode.STUDY_DAY)
    assert tuple(cibmtr.columns) == cibmtr_columns(DateMode.STUDY_DAY)
    assert not any(c.endswith("_date") for c in ebmt.columns)
    assert len(ebmt) == len(cibmtr) == 40
    me = pseudonym("S02-0001", export_key(sample_engine, researcher))
    row = ebmt.set_index("pseudonym").loc[me]
    expected = {
        "crs_occurrence": YES, "crs_onset_day": "1", "crs_max_grade_astct": "1",
        "crs_resolution_day": "2", "crs_ongoing_at_day100": NO, "crs_tocilizumab": NO,
        "crs_corticosteroids": NO, "icans_occurrence": YES, "icans_onset_day": "3",
        "icans_max_grade_astct": "3", "icans_resolution_day": "7",
        "icans_ongoing_at_day100": NO, "icans_corticosteroids": YES, "icans_tocilizumab": NO,
        "icans_other_anticytokine": NO, "day100_window_complete": YES,
    }  # fmt: skip
    assert {k: row[k] for k in expected} == expected
    other = cibmtr.set_index("pseudonym").loc[me]
    assert other["cibmtr_icans"] == YES
    assert other["cibmtr_icans_max_grade"] == "3"
    assert other["cibmtr_icans_therapy"] == "corticosteroids"
    assert other["cibmtr_crs_therapy"] == "none recorded"
    assert paths[0].read_text(encoding="utf-8").startswith("# scheme:")


def test_shifted_registry_files_give_iso_dates(
    sample_engine: Engine, researcher: Actor, tmp_path: Path
) -> None:
    paths = write_registry(sample_engine, researcher, ExportRequest(dates=DateMode.SHIFTED),
                           tmp_path)  # fmt: skip
    ebmt = pd.read_csv(paths[0], comment="#", dtype=str, keep_default_na=False)
    assert tuple(ebmt.columns) == ebmt_columns(DateMode.SHIFTED)
    yes = ebmt[ebmt["crs_occurrence"] == YES]
    assert yes["crs_onset_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    gap = pd.to_datetime(yes["crs_onset_date"]) - pd.to_datetime(yes["infusion_date"])
    assert (gap.dt.days == yes["crs_onset_day"].astype(int)).all()


@pytest.mark.parametrize("dates", list(DateMode))
def test_column_lists_differ_only_by_the_date_columns(dates: DateMode) -> None:
    dated = [c for c in ebmt_columns(DateMode.SHIFTED) if c.endswith("_date")]
    assert dated
    undated = [c for c in ebmt_columns(DateMode.SHIFTED) if not c.endswith("_date")]
    assert list(ebmt_columns(DateMode.STUDY_DAY)) == undated
    assert set(cibmtr_columns(dates)) >= {"cibmtr_crs", "cibmtr_icans_therapy"}


def test_a_nurse_may_not_export_registry_fields(sample_engine: Engine, tmp_path: Path) -> None:
    nurse = demo(sample_engine, "nurse-s01")
    with pytest.raises(AccessDeniedError):
        write_registry(sample_engine, nurse, ExportRequest(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
