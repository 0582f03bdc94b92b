"""Sign-off of one study day of one patient's grades, by a physician of the patient's site or an
administrator.

A sign-off stores a snapshot of that day's grade rows (:class:`~dashboard.store.schema.SignoffRow`)
and an audit entry. A day is signed once: a second sign-off is refused, naming who signed and when.
Records stay correctable after a sign-off (the records repository asks for a reason and audits it);
when the current grades of a signed day differ from the snapshot, :func:`signoffs_of` reports each
difference with the signed and the current value ("changed after sign-off"): nothing is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.store import audit
from dashboard.store.access import Actor, Role
from dashboard.store.errors import AccessDeniedError, NotFoundError, StoreError
from dashboard.store.schema import AssessmentRow, GradeRow, Patient, SignoffRow, User
from dashboard.store.unit_of_work import UnitOfWork

#: Who may sign off grades.
SIGNERS = frozenset({Role.PHYSICIAN, Role.ADMIN})
#: The snapshot fields compared after a sign-off (a change in any is shown).
COMPARED = ("crs_grade", "crs_status", "icans_grade", "icans_status", "masked")


class AlreadySignedError(StoreError):
    """The day was signed off before; the first sign-off stands."""


class NothingToSignError(StoreError):
    """No graded assessment on that study day."""


@dataclass(frozen=True)
class Change:
    """One difference between what was signed and what the grades are now."""

    record_id: str
    observed_at: str
    what: str  # a snapshot field, or "assessment"
    signed: Any  # the value signed (None: the assessment was not there)
    current: Any  # the value now (None: the assessment was withdrawn)


@dataclass(frozen=True)
class Signoff:
    patient_id: str
    study_day: int
    signed_by: str
    signed_at: datetime
    note: str
    grades: tuple[dict[str, Any], ...]
    changes: tuple[Change, ...]  # empty while the day is as signed

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def sign_off(
    engine: Engine, actor: Actor, patient_id: str, study_day: int, note: str = ""
) -> Signoff:
    """Sign off ``study_day`` of the patient's grades; commits the sign-off and its audit entry."""
    with UnitOfWork(engine, actor) as uow:
        patient = uow.patients.get(patient_id)  # site check (AccessDeniedError / NotFoundError)
        if actor.role not in SIGNERS:
            raise AccessDeniedError(
                f"{actor.username} ({actor.role.value}) cannot sign off grades: only the site's "
                "physicians and administrators can"
            )
        session = uow.session
        audit.Chain(session)  # lock the audit head first: concurrent sign-offs queue here
        earlier = _row(session, patient_id, study_day)
        if earlier is not None:
            raise _already(session, earlier)
        grades = day_grades(session, patient_id, study_day)
        if not grades:
            raise NothingToSignError(
                f"no graded assessment of {patient_id} on study day {study_day}: nothing to sign"
            )
        now = datetime.now(UTC)
        row = SignoffRow(patient_id=patient_id, study_day=study_day, signed_by=actor.user_id,
                         signed_at=now, note=note.strip() or None, grades=grades)  # fmt: skip
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # signed by someone else at the same moment
            session.rollback()
            raise AlreadySignedError(
                f"study day {study_day} of {patient_id} was signed off by someone else at the same "
                "moment; reload to see their sign-off"
            ) from None
        audit.append(session, actor.username, "sign_off", "signoff", f"{patient_id}|{study_day}",
                     {"patient_id": patient_id, "site_id": patient.site_id,
                      "study_day": study_day, "note": row.note, "grades": grades})  # fmt: skip
        uow.commit()
        return _model(row, actor.username, grades)


def signoffs_of(session: Session, patient_id: str) -> list[Signoff]:
    """The patient's sign-offs by day, each compared with the current grades. The caller has
    checked the actor's access to the patient."""
    rows = session.execute(
        select(SignoffRow, User.username)
        .join(User, User.user_id == SignoffRow.signed_by)
        .where(SignoffRow.patient_id == patient_id)
        .order_by(SignoffRow.study_day)
    ).all()
    return [_model(row, name, day_grades(session, patient_id, row.study_day)) for row, name in rows]


def day_grades(session: Session, patient_id: str, study_day: int) -> list[dict[str, Any]]:
    """The current grade rows of one study day, oldest first, as the snapshot stores them."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFoundError(f"no patient {patient_id}")
    infusion_day = patient.infusion_at.date()
    rows = session.execute(
        select(AssessmentRow, GradeRow)
        .join(GradeRow, GradeRow.assessment_row_id == AssessmentRow.row_id)
        .where(AssessmentRow.patient_id == patient_id, AssessmentRow.status == "current")
        .order_by(AssessmentRow.observed_at, AssessmentRow.row_id)
    ).all()
    return [
        {"record_id": a.record_id, "version": a.version, "observed_at": a.observed_at.isoformat(),
         "crs_grade": g.crs_grade, "crs_status": g.crs_status, "crs_reason": g.crs_reason,
         "icans_grade": g.icans_grade, "icans_status": g.icans_status,
         "icans_reason": g.icans_reason, "masked": g.masked, "flags": g.flags,
         "policy": g.policy}
        for a, g in rows
        if (a.observed_at.date() - infusion_day).days == study_day
    ]  # fmt: skip


def compare(signed: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[Change]:
    """Every difference between the snapshot and the current grades of the day."""
    now = {g["record_id"]: g for g in current}
    then = {g["record_id"]: g for g in signed}
    changes = []
    for record_id, old in then.items():
        new = now.get(record_id)
        if new is None:
            changes.append(Change(record_id, old["observed_at"], "assessment", "present",
                                  "withdrawn"))  # fmt: skip
            continue
        changes += [
            Change(record_id, new["observed_at"], name, old.get(name), new.get(name))
            for name in COMPARED
            if old.get(name) != new.get(name)
        ]
    changes += [
        Change(record_id, new["observed_at"], "assessment", "absent", "added")
        for record_id, new in now.items()
        if record_id not in then
    ]
    return changes


def _row(session: Session, patient_id: str, study_day: int) -> SignoffRow | None:
    return session.execute(
        select(SignoffRow).where(
            SignoffRow.patient_id == patient_id, SignoffRow.study_day == study_day
        )
    ).scalar_one_or_none()


def _already(session: Session, row: SignoffRow) -> AlreadySignedError:
    user = session.get(User, row.signed_by)
    who = user.username if user else "an unknown user"
    return AlreadySignedError(
        f"study day {row.study_day} of {row.patient_id} was already signed off by {who} at "
        f"{row.signed_at:%Y-%m-%d %H:%M} UTC; a day is signed once. Corrections stay possible with "
        "a reason and are shown beside the signed grades."
    )


def _model(row: SignoffRow, username: str, current: list[dict[str, Any]]) -> Signoff:
    signed_at = row.signed_at if row.signed_at.tzinfo else row.signed_at.replace(tzinfo=UTC)
    return Signoff(
        patient_id=row.patient_id, study_day=row.study_day, signed_by=username,
        signed_at=signed_at, note=row.note or "", grades=tuple(row.grades),
        changes=tuple(compare(list(row.grades), current)),
    )  # fmt: skip
