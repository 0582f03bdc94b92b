"""Sign-off of a day's grades: snapshot and audit stored, once per day, physicians and admins of
the site only, and a correction after sign-off shown with both values."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from test_timeline_world import TODAY, at, build_world

from dashboard.services.signoff import AlreadySignedError, NothingToSignError, sign_off
from dashboard.services.timeline import patient_timeline
from dashboard.store.access import SYSTEM, Actor
from dashboard.store.errors import AccessDeniedError
from dashboard.store.schema import AuditEntry, SignoffRow
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment

World = tuple[Engine, dict[str, Actor]]


@pytest.fixture
def world(tmp_path: Path) -> World:
    engine, actors, _ = build_world(tmp_path)
    return engine, actors


def stored(engine: Engine) -> list[tuple[str, int, int, list[dict[str, object]]]]:
    with UnitOfWork(engine, SYSTEM) as uow:
        rows = uow.session.execute(select(SignoffRow).order_by(SignoffRow.study_day)).scalars()
        return [(r.patient_id, r.study_day, r.signed_by, list(r.grades)) for r in rows]


def test_a_sign_off_stores_the_days_grades_and_an_audit_entry(world: World) -> None:
    engine, actors = world
    done = sign_off(engine, actors["physician1"], "P1", 1, "reviewed on the ward round")
    assert (done.study_day, done.signed_by, done.changed) == (1, "physician1", False)
    [(patient, day, user, grades)] = stored(engine)
    assert (patient, day, user) == ("P1", 1, actors["physician1"].user_id)
    assert [(g["observed_at"], g["crs_grade"], g["icans_status"]) for g in grades] == [
        (at(1, 8).isoformat(), 3, "no_toxicity"),
        (at(1, 12).isoformat(), 1, "not_gradable"),
    ]
    assert "CRS-HYPOTENSION-3" in str(grades[0]["crs_reason"])
    with UnitOfWork(engine, SYSTEM) as uow:
        entry = uow.session.execute(
            select(AuditEntry).where(AuditEntry.action == "sign_off")
        ).scalar_one()
        assert (entry.actor, entry.entity_id) == ("physician1", "P1|1")
        assert entry.detail["note"] == "reviewed on the ward round"
        assert [g["crs_grade"] for g in entry.detail["grades"]] == [3, 1]


def test_a_day_is_signed_once_and_the_refusal_names_who_and_when(world: World) -> None:
    engine, actors = world
    first = sign_off(engine, actors["physician1"], "P1", 1)
    with pytest.raises(AlreadySignedError) as refused:
        sign_off(engine, actors["admin"], "P1", 1)
    message = str(refused.value)
    assert "already signed off by physician1" in message
    assert f"{first.signed_at:%Y-%m-%d %H:%M}" in message
    assert len(stored(engine)) == 1


@pytest.mark.parametrize("who", ["nurse1", "researcher", "physician2"])
def test_nurses_researchers_and_other_sites_cannot_sign_off(world: World, who: str) -> None:
    engine, actors = world
    with pytest.raises(AccessDeniedError):
        sign_off(engine, actors[who], "P1", 1)
    assert stored(engine) == []


def test_an_admin_may_sign_off_and_an_empty_day_is_refused(world: World) -> None:
    engine, actors = world
    assert sign_off(engine, actors["admin"], "P1", -5).signed_by == "admin"
    with pytest.raises(NothingToSignError):
        sign_off(engine, actors["physician1"], "P1", 0)  # no assessment on day 0
    assert [(p, d) for p, d, _, _ in stored(engine)] == [("P1", -5)]


def test_a_correction_after_sign_off_is_shown_with_both_values(world: World) -> None:
    engine, actors = world
    sign_off(engine, actors["physician1"], "P1", 1)
    with UnitOfWork(engine, actors["nurse1"]) as uow:
        record = uow.assessments.current("P1")[1]
        assert record.values.observed_at == at(1, 8)
        fixed = Assessment.model_validate(
            {**record.values.model_dump(), "hypotension": "fluid_responsive"}
        )
        uow.assessments.correct(record.record_id, record.version, fixed, "vasopressor was charted "
                                "for the wrong patient")  # fmt: skip
        uow.commit()
    timeline = patient_timeline(engine, actors["physician1"], "P1", now=TODAY)
    [signed] = timeline.signoffs
    assert signed.changed
    assert [(c.what, c.signed, c.current) for c in signed.changes] == [("crs_grade", 3, 2)]
    assert signed.changes[0].observed_at == at(1, 8).isoformat()
    # the corrected grade is what the timeline shows now; the snapshot keeps what was signed
    assert timeline.points["crs_grade"].tolist()[1] == 2
    assert signed.grades[0]["crs_grade"] == 3
