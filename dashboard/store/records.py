"""Versioned clinical records: add, correct (with a reason and the version you saw), withdraw,
read the current values and the whole history. Rows are read back through the pydantic models
(the third validation edge), and every change is audited with who, when, old, new and why."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.store import audit
from dashboard.store.access import SYSTEM, Actor
from dashboard.store.errors import ConflictError, NotFoundError, ReasonRequiredError
from dashboard.store.locks import lock_patients
from dashboard.store.schema import (
    AssessmentRow,
    DrugAdministrationRow,
    LabResultRow,
    OutcomeEventRow,
    Patient,
    User,
    _Versioned,
)
from grading import Assessment
from grading.records import DrugAdministration, LabResult, OutcomeEvent

M = TypeVar("M", bound=BaseModel)
#: An entry made this long after the clinical time is flagged as late.
LATE_AFTER = timedelta(hours=24)


class StoredRecord(BaseModel, Generic[M]):
    """One version of a clinical record, as the store returns it."""

    model_config = ConfigDict(frozen=True)

    record_id: str
    version: int
    status: str  # current, superseded, withdrawn
    entered_by: str
    entered_at: datetime
    reason: str | None
    late_entry: bool
    source: str
    values: M


class RecordKind(Generic[M]):
    """How one record type maps to its table."""

    def __init__(
        self, name: str, row: type[_Versioned], model: type[M], clinical_time: str
    ) -> None:
        self.name, self.model, self.clinical_time = name, model, clinical_time
        self.row: Any = row  # a mapped class; typed loosely because the columns differ by kind
        self.fields = tuple(model.model_fields)
        # pydantic caches StoredRecord[model] only weakly: without this reference the garbage
        # collector can drop the class and the next save builds it again (about 2 ms).
        self.stored: type[StoredRecord[M]] = StoredRecord[model]  # type: ignore[valid-type]

    def to_columns(self, record: M) -> dict[str, Any]:
        dumped = record.model_dump(mode="python")
        return {
            name: (value.value if hasattr(value, "value") and not isinstance(value, int | float)
                   else value)
            for name, value in dumped.items()
        }  # fmt: skip

    def from_row(self, row: _Versioned | SimpleNamespace) -> M:
        values = {name: getattr(row, name) for name in self.fields}
        return self.model.model_validate({k: v for k, v in values.items() if v is not None})


ASSESSMENTS = RecordKind("assessment", AssessmentRow, Assessment, "observed_at")
LABS = RecordKind("lab_result", LabResultRow, LabResult, "collected_at")
DRUGS = RecordKind("drug_administration", DrugAdministrationRow, DrugAdministration, "given_at")
#: Deaths and re-treatments (issue #6): versioned and audited like the clinical records.
EVENTS = RecordKind("outcome_event", OutcomeEventRow, OutcomeEvent, "occurred_at")


class RecordRepository(Generic[M]):
    """Versioned records of one kind, seen through the acting user's rights."""

    def __init__(self, session: Session, actor: Actor, kind: RecordKind[M]) -> None:
        self.session, self.actor, self.kind = session, actor, kind
        self.touched: set[str] = set()  # patients whose course needs re-grading

    # -- reading -------------------------------------------------------------------------------
    def _patient_site(self, patient_id: str, *, lock: bool = False) -> str:
        """The patient's site; ``lock``: first lock the patient for writing (dashboard.store.locks)."""
        if lock:
            patient = lock_patients(self.session, [patient_id]).get(patient_id)
        else:
            patient = self.session.get(Patient, patient_id)
        if patient is None:
            raise NotFoundError(f"no patient {patient_id}")
        return patient.site_id

    def _stored(self, row: _Versioned | SimpleNamespace) -> StoredRecord[M]:
        return self.kind.stored(
            record_id=row.record_id, version=row.version, status=row.status,
            entered_by=self._username(row.entered_by), entered_at=row.entered_at,
            reason=row.reason, late_entry=row.late_entry, source=row.source,
            values=self.kind.from_row(row),
        )  # fmt: skip

    def _username(self, user_id: int) -> str:
        """Who entered a version. The acting user's own versions (every one a save returns) name
        the actor, whose username is the account's (usernames never change): no SELECT."""
        if user_id == self.actor.user_id and user_id != SYSTEM.user_id:
            return self.actor.username
        user = self.session.get(User, user_id)
        return user.username if user else "system"

    def current(self, patient_id: str) -> list[StoredRecord[M]]:
        """The current, not withdrawn, version of every record of the patient, in clinical time."""
        self.actor.require_site(self._patient_site(patient_id))
        row = self.kind.row
        rows = self.session.execute(
            select(row)
            .where(row.patient_id == patient_id, row.status == "current")
            .order_by(getattr(row, self.kind.clinical_time), row.row_id)
        ).scalars()
        return [self._stored(r) for r in rows]

    def history(self, record_id: str) -> list[StoredRecord[M]]:
        """Every version of one record, oldest first: nothing is ever lost."""
        row = self.kind.row
        rows = list(
            self.session.execute(
                select(row).where(row.record_id == record_id).order_by(row.version)
            ).scalars()
        )
        if not rows:
            raise NotFoundError(f"no {self.kind.name} {record_id}")
        self.actor.require_site(self._patient_site(rows[0].patient_id))
        return [self._stored(r) for r in rows]

    # -- writing -------------------------------------------------------------------------------
    def add(
        self, record: M, *, entered_at: datetime | None = None, source: str = "form"
    ) -> StoredRecord[M]:
        patient_id = _patient_of(record)
        self.actor.require_write(self._patient_site(patient_id, lock=True))
        now = entered_at or datetime.now(UTC)
        columns = self.kind.to_columns(record)
        row = SimpleNamespace(
            record_id=str(uuid.uuid4()), version=1, status="current",
            entered_by=self.actor.user_id, entered_at=now, reason=None,
            late_entry=self.is_late(record, now), source=source, **columns,
        )  # fmt: skip
        # A Core INSERT of the values rather than an ORM object and a flush of the unit of work
        # (the same row; the ORM would only have kept the object in the session).
        self.session.flush()  # rows this one refers to (a patient added in this unit of work)
        self.session.connection().execute(insert(self.kind.row.__table__), vars(row))
        audit.append(self.session, self.actor.username, "create", self.kind.name, row.record_id,
                     {"patient_id": patient_id, "new": columns,
                      "late_entry": row.late_entry, "source": source})  # fmt: skip
        self.touched.add(patient_id)
        return self._stored(row)

    def correct(
        self, record_id: str, expected_version: int, record: M, reason: str
    ) -> StoredRecord[M]:
        """A new version; refused if someone saved a newer one since ``expected_version``."""
        return self._new_version(record_id, expected_version, record, reason, "current")

    def withdraw(self, record_id: str, expected_version: int, reason: str) -> StoredRecord[M]:
        """A reasoned, audited withdrawal: the values stay readable in the history."""
        return self._new_version(record_id, expected_version, None, reason, "withdrawn")

    def _new_version(
        self, record_id: str, expected: int, record: M | None, reason: str, status: str
    ) -> StoredRecord[M]:
        if not reason or not reason.strip():
            raise ReasonRequiredError("a correction or withdrawal needs a reason")
        row_type = self.kind.row
        owner = self.session.execute(
            select(row_type.patient_id).where(row_type.record_id == record_id).limit(1)
        ).scalar_one_or_none()
        if owner is None:
            raise NotFoundError(f"no {self.kind.name} {record_id}")
        self.actor.require_write(self._patient_site(str(owner), lock=True))  # before the record
        latest = self.session.execute(
            select(row_type).where(row_type.record_id == record_id)
            .order_by(row_type.version.desc()).limit(1).with_for_update()
        ).scalar_one_or_none()  # fmt: skip
        if latest is None:
            raise NotFoundError(f"no {self.kind.name} {record_id}")
        patient_id = str(latest.patient_id)
        if latest.version != expected or latest.status != "current":
            raise self._conflict(latest, expected)
        old = {name: getattr(latest, name) for name in self.kind.fields}
        new = self.kind.to_columns(record) if record is not None else old
        if record is not None and _patient_of(record) != patient_id:
            raise ReasonRequiredError("a correction cannot move a record to another patient")
        latest.status = "superseded"
        now = datetime.now(UTC)
        row = row_type(
            record_id=record_id, version=expected + 1, status=status,
            entered_by=self.actor.user_id, entered_at=now, reason=reason.strip(),
            late_entry=latest.late_entry, source="form", **new,
        )  # fmt: skip
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError:  # someone else created version expected + 1 at the same moment
            self.session.rollback()
            raise ConflictError(
                f"{self.kind.name} {record_id} was changed by someone else at the same moment; "
                "nothing was overwritten. Reload and apply your change again.",
                {"version": expected + 1},
            ) from None
        changes = {k: {"old": old[k], "new": new[k]} for k in new if old.get(k) != new.get(k)}
        action = "withdraw" if status == "withdrawn" else "correct"
        audit.append(self.session, self.actor.username, action, self.kind.name, record_id,
                     {"patient_id": patient_id, "version": expected + 1, "reason": reason.strip(),
                      "changes": changes})  # fmt: skip
        self.touched.add(patient_id)
        return self._stored(row)

    def _conflict(self, latest: _Versioned, expected: int) -> ConflictError:
        user = self.session.get(User, latest.entered_by)
        who = user.username if user else "system"
        theirs = {
            "version": latest.version, "status": latest.status, "entered_by": who,
            "entered_at": latest.entered_at.isoformat(), "reason": latest.reason,
            "values": {name: getattr(latest, name) for name in self.kind.fields},
        }  # fmt: skip
        return ConflictError(
            f"{self.kind.name} {latest.record_id} is at version {latest.version} "
            f"({latest.status}), saved by {who} at {latest.entered_at:%Y-%m-%d %H:%M} "
            f"(reason: {latest.reason or 'first entry'}); you edited version {expected}. Nothing "
            "was overwritten: review their change and apply yours again.",
            theirs,
        )

    def is_late(self, record: M, entered_at: datetime) -> bool:
        """Entered more than LATE_AFTER after its clinical time (flagged, never refused)."""
        clinical = getattr(record, self.kind.clinical_time)
        if clinical.tzinfo is None:
            clinical = clinical.replace(tzinfo=UTC)
        entered = entered_at if entered_at.tzinfo else entered_at.replace(tzinfo=UTC)
        return bool(entered - clinical > LATE_AFTER)


def _patient_of(record: BaseModel) -> str:
    return str(record.model_dump(include={"patient_id"})["patient_id"])
