"""What every research export refuses, and what it must not carry, found in review (issue #6):
a request for a site the researcher may not see is refused before any file is written (it used
to leave header-only files behind, or overwrite an earlier export in the same folder); the
tidy manifest words the filters without dates; alerts carry no server time of raising."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from dashboard.exports.source import DateMode, ExportRequest, columns
from dashboard.exports.tidy import write_tidy
from dashboard.services.cohort_data import CohortFilters
from dashboard.services.exports import KINDS, run_export
from dashboard.store.access import Actor, Role
from dashboard.store.errors import AccessDeniedError
from dashboard.store.sample import COHORT
from dashboard.store.unit_of_work import UnitOfWork
from grading.records import DrugAdministration
from tests.sample_accounts import demo

PATIENTS = pd.read_csv(COHORT / "patients.csv", parse_dates=["infusion_at"])
#: A researcher of site S01 only (the sample's researcher sees all five sites).
S01_RESEARCHER = Actor(user_id=10_001, username="s01-researcher", role=Role.RESEARCHER,
                       site_ids=frozenset({"S01"}))  # fmt: skip
S02 = ExportRequest(filters=CohortFilters(site_ids=frozenset({"S02"})), dates=DateMode.SHIFTED)


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_site_the_researcher_may_not_see_is_refused_before_any_file(
    sample_engine: Engine, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(AccessDeniedError):
        run_export(sample_engine, S01_RESEARCHER, kind, S02, out)
    assert not out.exists()


def test_an_earlier_export_in_the_folder_is_left_as_it_was(
    sample_engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "patients.csv"
    earlier.write_text("an earlier export\n", encoding="utf-8")
    with pytest.raises(AccessDeniedError):
        write_tidy(sample_engine, S01_RESEARCHER, S02, out, "csv")
    assert [p.name for p in out.iterdir()] == ["patients.csv"]
    assert earlier.read_text(encoding="utf-8") == "an earlier export\n"


def test_the_tidy_manifest_words_a_date_filter_without_the_dates(
    sample_engine: Engine, researcher: Actor, tmp_path: Path
) -> None:
    one = PATIENTS.loc[PATIENTS["patient_id"] == "S01-0008", "infusion_at"].iloc[0].date()
    request = ExportRequest(filters=CohortFilters(infused_from=one, infused_to=one))
    out = tmp_path / "out"
    write_tidy(sample_engine, researcher, request, out, "csv")
    text = (out / "manifest.json").read_text(encoding="utf-8")
    assert one.isoformat() not in text
    assert "infusion dates: restricted" in json.loads(text)["filters"]
    chosen = pd.read_csv(out / "patients.csv", comment="#")
    assert len(chosen) == int((PATIENTS["infusion_at"].dt.date == one).sum()) >= 1


@pytest.mark.parametrize("dates", list(DateMode))
def test_alerts_carry_the_finding_time_but_not_the_servers_time_of_raising(
    dates: DateMode,
) -> None:
    names = columns("alerts", dates)
    assert not [c for c in names if c.startswith("raised")]
    assert ("finding_at" if dates is DateMode.SHIFTED else "finding_day") in names


def test_a_dose_unit_that_is_not_a_unit_leaves_as_other(
    sample_engine: Engine, researcher: Actor, tmp_path: Path
) -> None:
    """The CSV import takes any 32 characters as a dose unit: free text must not leave."""
    nurse = demo(sample_engine, "nurse-s01")
    given = datetime(2024, 11, 3, 9, 0)
    with UnitOfWork(sample_engine, nurse) as uow:
        for unit in ("ask Mrs Jones, bed 4", "mg/kg"):
            uow.drugs.add(DrugAdministration(patient_id="S01-0001", given_at=given,
                                             drug="dexamethasone", dose=17.5, dose_unit=unit))  # fmt: skip
            given += timedelta(hours=1)
        uow.commit()
    out = tmp_path / "out"
    write_tidy(sample_engine, researcher, ExportRequest(), out, "csv")
    text = (out / "drugs.csv").read_text(encoding="utf-8")
    assert "Jones" not in text
    drugs = pd.read_csv(out / "drugs.csv", comment="#")
    dex = drugs[(drugs["drug"] == "dexamethasone") & (drugs["dose"] == 17.5)]
    assert sorted(dex["dose_unit"]) == ["mg/kg", "other"]
    shipped = pd.read_csv(COHORT / "drugs.csv")
    assert set(shipped["dose_unit"].dropna()) <= set(drugs["dose_unit"])  # real units kept
