"""The alert engine writes a grade row only when its values change (both backends)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from dashboard.store.access import Actor
from dashboard.store.schema import AssessmentRow, GradeRow
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment

SEEN = datetime(2026, 3, 2, 8, 0)


def grades(engine: Engine) -> dict[datetime, tuple[int | None, datetime]]:
    """CRS grade and graded_at by the assessment's clinical time."""
    with Session(engine) as session:
        rows = session.execute(
            select(AssessmentRow.observed_at, GradeRow.crs_grade, GradeRow.graded_at).join(
                GradeRow, GradeRow.assessment_row_id == AssessmentRow.row_id
            )
        ).all()
    return {observed: (grade, graded_at) for observed, grade, graded_at in rows}


def save(engine: Engine, actor: Actor, at: datetime, temperature: float) -> str:
    with UnitOfWork(engine, actor) as uow:
        record = uow.assessments.add(
            Assessment(patient_id="P1", observed_at=at, temperature_c=temperature)
        )
        uow.commit()
    return record.record_id


def test_unchanged_grade_rows_are_not_rewritten(engine: Engine, people: dict[str, Actor]) -> None:
    nurse = people["nurse1"]
    first = save(engine, nurse, SEEN, 38.6)
    before = grades(engine)
    save(engine, nurse, SEEN + timedelta(hours=2), 37.0)
    after = grades(engine)
    assert after[SEEN] == before[SEEN]  # same grade, same graded_at: the row was not written
    assert len(after) == 2
    with UnitOfWork(engine, nurse) as uow:  # a correction grades the new version
        uow.assessments.correct(
            first, 1, Assessment(patient_id="P1", observed_at=SEEN, temperature_c=37.2), "typo"
        )
        uow.commit()
    corrected = grades(engine)
    assert len(corrected) == 2
    assert corrected[SEEN][0] == 0
    assert corrected[SEEN + timedelta(hours=2)] == after[SEEN + timedelta(hours=2)]
