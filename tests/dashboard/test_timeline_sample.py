"""The timeline on the shipped sample cohort (loaded once, about 25 s): S01-0001 is the scenario
'crs_grade_3_masked' (sample_data/README.md)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine, select

from dashboard.services.timeline import Timeline, explain, patient_timeline
from dashboard.store.access import SYSTEM, Actor
from dashboard.store.database import open_database
from dashboard.store.errors import AccessDeniedError
from dashboard.store.sample import load_sample
from dashboard.store.schema import User
from dashboard.store.unit_of_work import UnitOfWork


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Actor]:
    engine = open_database(f"sqlite+pysqlite:///{tmp_path_factory.mktemp('sample') / 'x.db'}")
    load_sample(engine)
    with UnitOfWork(engine, SYSTEM) as uow:
        user = uow.session.execute(
            select(User).where(User.username == "physician-s01")
        ).scalar_one()
        return engine, uow.people.actor_for(user)


@pytest.fixture(scope="module")
def timeline(sample: tuple[Engine, Actor]) -> Timeline:
    engine, physician = sample
    return patient_timeline(engine, physician, "S01-0001", now=datetime(2024, 11, 10, 12))


def test_the_masked_grade_3_assessment_is_at_day_1_with_its_reason(timeline: Timeline) -> None:
    p = timeline.points
    [row] = p.index[p["observed_at"] == datetime(2024, 11, 2, 22, 9)]
    detail = explain(timeline, str(p.loc[row, "record_id"]))
    assert (detail.day, detail.crs.headline, detail.masked) == (1, "CRS grade 3", True)
    assert [r.rule_id for r in detail.crs.rules] == [
        "CRS-FEVER", "CRS-HYPOTENSION-3", "CRS-HYPOXIA-3-MASK",
    ]  # fmt: skip
    assert detail.crs.rules[2].source_text == (
        "Hypoxia requiring facemask, nonrebreather mask, or Venturi mask"
    )
    assert detail.flags == "tocilizumab=indicated, steroids, icu"
    assert timeline.today == 9
    assert timeline.end_x == 10.0
    assert int(p["crs_grade"].max()) == 4
    crs = timeline.episodes[timeline.episodes["syndrome"] == "CRS"]
    assert list(crs["peak_grade"]) == [4]
    assert list(crs["status"]) == ["resolved"]


def test_another_sites_patient_is_refused(sample: tuple[Engine, Actor]) -> None:
    engine, physician = sample
    with pytest.raises(AccessDeniedError):
        patient_timeline(engine, physician, "S02-0001")
