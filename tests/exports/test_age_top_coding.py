"""Ages of 90 and over leave as 90 ("90 or older", HIPAA Safe Harbor; dashboard/services/
deidentify.py ``top_code_ages``) in every researcher output; 89 stays 89 and a blank age stays
blank. Patients of those ages are added to a copy of the sample through the store."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.exports.sdtm import write_sdtm
from dashboard.exports.source import ExportRequest, export_key
from dashboard.exports.tidy import write_tidy
from dashboard.services.cohort import cohort_view, table_one_of
from dashboard.services.cohort_data import CohortFilters
from dashboard.services.deidentify import (
    AGE_TOP_CODE,
    PseudonymKey,
    manifest,
    pseudonym,
    top_code_ages,
)
from dashboard.store.access import Actor
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import Patient
from tests.sample_accounts import demo

#: study id -> (age as entered, age as it must leave)
AGES: dict[str, tuple[float | None, float | None]] = {
    "S01-9089": (89.0, 89.0),
    "S01-9090": (90.0, 90.0),
    "S01-9095": (95.0, 90.0),
    "S01-9104": (104.0, 90.0),
    "S01-9999": (None, None),
}
ONLY_S01 = CohortFilters(site_ids=frozenset({"S01"}))


def test_the_rule_on_both_sides_of_the_cut_point() -> None:
    ages = [None, 0.5, 89.0, 89.99, 90.0, 90.01, 120.0]
    out = top_code_ages(pd.DataFrame({"age_years": ages, "sex": ["f"] * len(ages)}))
    assert out["age_years"].tolist()[1:] == [0.5, 89.0, 89.99, 90.0, 90.0, 90.0]
    assert pd.isna(out["age_years"].iloc[0])
    nullable = top_code_ages(pd.DataFrame({"age_years": pd.array([None, 95.0, 50.0], "Float64")}))
    assert pd.isna(nullable["age_years"].iloc[0])  # a blank stays blank with pandas' NA too
    assert nullable["age_years"].tolist()[1:] == [90.0, 50.0]
    assert AGE_TOP_CODE == 90
    assert "removed: ages 90 and over" in manifest(PseudonymKey(b"k", "test"))


@pytest.fixture
def old_patients(sample_engine: Engine) -> Engine:
    with UnitOfWork(sample_engine, demo(sample_engine, "nurse-s01")) as uow:
        for patient_id, (age, _) in AGES.items():
            uow.patients.add(
                Patient(patient_id=patient_id, site_id="S01", disease="sle",
                        product="cd19_car_t", infusion_at=datetime(2025, 1, 6, 9), age_years=age)
            )  # fmt: skip
        uow.commit()
    return sample_engine


def expected_by_pseudonym(engine: Engine, researcher: Actor) -> dict[str, float | None]:
    key = export_key(engine, researcher)
    return {pseudonym(pid, key): leaves for pid, (_, leaves) in AGES.items()}


def same(got: float, want: float | None) -> bool:
    return bool(pd.isna(got)) if want is None else float(got) == want


def test_tidy_csv_ages(old_patients: Engine, researcher: Actor, tmp_path: Path) -> None:
    write_tidy(old_patients, researcher, ExportRequest(filters=ONLY_S01), tmp_path, "csv")
    patients = pd.read_csv(tmp_path / "patients.csv", comment="#").set_index("pseudonym")
    for name, want in expected_by_pseudonym(old_patients, researcher).items():
        assert same(patients.loc[name, "age_years"], want), (name, want)
    assert patients["age_years"].max() == 90


def test_sdtm_dm_ages(old_patients: Engine, researcher: Actor, tmp_path: Path) -> None:
    write_sdtm(old_patients, researcher, ExportRequest(filters=ONLY_S01), tmp_path)
    [dm_file] = [p for p in tmp_path.rglob("*.csv") if p.stem.lower() == "dm"]
    with dm_file.open(newline="") as handle:
        rows = {r["USUBJID"]: r for r in csv.DictReader(row for row in handle if row[:1] != "#")}
    expected = expected_by_pseudonym(old_patients, researcher)
    for name, want in expected.items():
        [row] = [r for subject, r in rows.items() if subject.endswith(name)]
        assert (row["AGE"] == "") if want is None else float(row["AGE"]) == want, (name, row)


def test_cohort_view_and_table_one(old_patients: Engine, researcher: Actor) -> None:
    """Table 1's age row (mean (SD) over the site's patients) counts 95 and 104 as 90."""
    with UnitOfWork(old_patients, demo(old_patients, "nurse-s01")) as uow:
        stored = [p.age_years for p in uow.patients.visible()]
    counted = [min(a, AGE_TOP_CODE) for a in stored if a is not None]
    assert counted != [a for a in stored if a is not None]  # the site has patients over 90
    mean = f"{sum(counted) / len(counted):.1f}"
    for table in (
        cohort_view(old_patients, researcher, ONLY_S01).table1,
        table_one_of(old_patients, researcher, ONLY_S01),
    ):
        ages = table[table["characteristic"].astype(str).str.startswith("age_years")]
        assert str(ages["Overall"].iloc[0]).startswith(mean), (mean, ages)
