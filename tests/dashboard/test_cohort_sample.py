"""The cohort view on the shipped 40-patient sample (loaded once, read only), checked against the
CSV files themselves and the scenarios of sample_data/README.md."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.services.auth import sign_in
from dashboard.services.cohort import CohortFilters, CohortView, cohort_view, summary_csv
from dashboard.services.deidentify import KEY_ENV, leaks, pseudonym, pseudonym_key
from dashboard.store.access import SYSTEM
from dashboard.store.database import open_database
from dashboard.store.errors import AccessDeniedError
from dashboard.store.sample import COHORT
from dashboard.store.unit_of_work import UnitOfWork
from grading.course import grade_course

PATIENTS = pd.read_csv(COHORT / "patients.csv")
TIME_COLUMNS = {
    "patients": ("infusion_at", "lymphodepletion_start_at"),
    "assessments": ("observed_at",),
    "labs": ("collected_at",),
    "drugs": ("given_at",),
}


@pytest.fixture(scope="module")
def engine(sample_template: Path) -> Iterator[Engine]:
    engine = open_database(f"sqlite+pysqlite:///{sample_template}")
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_key_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
def view(engine: Engine) -> CohortView:
    return cohort_view(engine, sign_in(engine, "researcher", "researcher-demo"), CohortFilters())


def study_ids(engine: Engine, view: CohortView) -> pd.DataFrame:
    """The view's summary indexed by study id (the test knows the key; the view does not say)."""
    with UnitOfWork(engine, SYSTEM) as uow:
        key = pseudonym_key(uow.session, environ={})
    names = {pseudonym(pid, key): pid for pid in PATIENTS["patient_id"]}
    return view.summary.assign(patient_id=view.summary["pseudonym"].map(names)).set_index(
        "patient_id"
    )


def test_incidence_equals_a_count_from_the_csv_files(view: CohortView) -> None:
    """Hand count: grade the CSV course directly, then count patients by highest episode grade."""
    assessments = pd.read_csv(COHORT / "assessments.csv")
    drugs = pd.read_csv(COHORT / "drugs.csv")
    course = grade_course(assessments, drugs, PATIENTS)
    highest: dict[tuple[str, str], int] = {}
    for episode in course.episodes.itertuples():
        key = (str(episode.patient_id), str(episode.syndrome))
        highest[key] = max(highest.get(key, 0), int(episode.peak_grade))
    product = dict(zip(PATIENTS["patient_id"], PATIENTS["product"], strict=True))
    expected: Counter[tuple[str, str, str]] = Counter()
    for (pid, syndrome), grade in highest.items():
        band = "grade_1_2" if grade <= 2 else "grade_3_4" if grade <= 4 else "grade_5"
        for group in (product[pid], "all products"):
            expected[(group, syndrome, "any")] += 1
            expected[(group, syndrome, band)] += 1
    table = view.incidence.set_index(["product", "syndrome"])
    for (group, syndrome), row in table.iterrows():
        for band in ("any", "grade_1_2", "grade_3_4", "grade_5"):
            assert row[band] == expected[(group, syndrome, band)], (group, syndrome, band)
    everyone = table.loc[("all products", "CRS")]
    assert (everyone["patients"], everyone["any"], everyone["grade_3_4"]) == (40, 30, 2)
    assert table.loc[("all products", "ICANS"), "any"] == 3


def test_scenario_patients(engine: Engine, view: CohortView) -> None:
    rows = study_ids(engine, view)
    assert rows.loc["S01-0001", ["crs_max_grade", "tocilizumab_doses", "steroid_doses"]].tolist() == [
        4, 2, 10]  # fmt: skip
    assert rows.loc["S02-0001", ["icans_max_grade", "icans_onset_day"]].tolist() == [3, 3]
    assert rows.loc["S04-0001", ["crs_max_grade", "tocilizumab_doses"]].tolist() == [3, 4]
    assert rows.loc["S04-0002", ["ivig", "ivig_doses"]].tolist() == [True, 6]
    no_recovery = rows.loc["S03-0002"]
    assert (no_recovery["bcell_status"], no_recovery["bcell_censored"]) == ("aplasia_ongoing", True)
    # CAAR-T depletion: first CD19 < 1 % on 2025-01-29, the first of two samples above on
    # 2025-05-29 (labs.csv): 2 + 28 + 31 + 30 + 29 = 120 days
    assert rows.loc["S05-0002", "bcell_status"] == "recovered"
    assert rows.loc["S05-0002", "bcell_aplasia_days"] == 120


def test_drug_and_ivig_totals_equal_the_drug_log(view: CohortView) -> None:
    drugs = pd.read_csv(COHORT / "drugs.csv")
    every = view.drugs.set_index("product").loc["all products"]
    assert every["tocilizumab_doses"] == (drugs["drug"] == "tocilizumab").sum() == 10
    assert every["steroid_doses"] == (drugs["drug"] == "dexamethasone").sum()
    assert view.bcells.set_index("product").loc["all products", "ivig_doses"] == (
        (drugs["drug"] == "ivig").sum()
    )


def test_table_one_from_the_patients_file(view: CohortView) -> None:
    table = view.table1
    n = table[table["characteristic"] == "n"].iloc[0]
    for product, count in PATIENTS["product"].value_counts().items():
        assert n[str(product)] == str(count)
    age = table[table["characteristic"].str.startswith("age_years")].iloc[0]
    assert (
        age["Overall"] == f"{PATIENTS['age_years'].mean():.1f} ({PATIENTS['age_years'].std():.1f})"
    )
    female = table[table["characteristic"].str.startswith("sex") & (table["level"] == "female")]
    women = int((PATIENTS["sex"] == "female").sum())
    assert female.iloc[0]["Overall"] == f"{women} ({100 * women / 40:.1f})"


def test_no_identifier_of_the_sample_in_the_view_or_the_download(view: CohortView) -> None:
    instants: list[datetime] = []
    for name, columns in TIME_COLUMNS.items():
        frame = pd.read_csv(COHORT / f"{name}.csv", usecols=list(columns))
        for column in columns:
            instants += [t.to_pydatetime() for t in pd.to_datetime(frame[column]).dropna()]
    assert len({i.date() for i in instants}) > 300
    ids = list(PATIENTS["patient_id"])
    for text in [summary_csv(view).decode(), *(f.to_csv() for f in view.frames().values())]:
        assert leaks(text, ids, instants) == []
        assert "Sample site" not in text


def test_pseudonyms_are_stable_and_change_with_the_key(
    engine: Engine, view: CohortView, monkeypatch: pytest.MonkeyPatch
) -> None:
    researcher = sign_in(engine, "researcher", "researcher-demo")
    again = cohort_view(engine, researcher, CohortFilters())
    assert again.summary["pseudonym"].tolist() == view.summary["pseudonym"].tolist()
    monkeypatch.setenv(KEY_ENV, "site secret one")
    first = cohort_view(engine, researcher, CohortFilters())
    monkeypatch.setenv(KEY_ENV, "site secret two")
    second = cohort_view(engine, researcher, CohortFilters())
    one, two = set(first.summary["pseudonym"]), set(second.summary["pseudonym"])
    assert len(one) == len(two) == 40
    assert not one & two
    assert not one & set(view.summary["pseudonym"])
    assert first.manifest["pseudonym key source"].startswith("environment")
    assert first.manifest["pseudonym key id"] != second.manifest["pseudonym key id"]


def test_demo_accounts_nurse_refused_admin_sees_everyone(engine: Engine) -> None:
    with pytest.raises(AccessDeniedError):
        cohort_view(engine, sign_in(engine, "nurse-s01", "nurse-s01-demo"), CohortFilters())
    with pytest.raises(AccessDeniedError):
        cohort_view(engine, sign_in(engine, "physician-s01", "physician-s01-demo"), CohortFilters())
    assert (
        cohort_view(engine, sign_in(engine, "admin", "admin-demo"), CohortFilters()).patients == 40
    )
    only = cohort_view(
        engine,
        sign_in(engine, "researcher", "researcher-demo"),
        CohortFilters(site_ids=frozenset({"S03"}), products=frozenset({"cd19_bcma_car_t"})),
    )
    expected = ((PATIENTS["site_id"] == "S03") & (PATIENTS["product"] == "cd19_bcma_car_t")).sum()
    assert only.patients == expected > 0
