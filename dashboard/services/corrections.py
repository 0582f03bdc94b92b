"""Correcting or withdrawing a saved assessment: a new version with who, when, old value, new value
and a required reason; never an overwrite.

The page shows the patient's recent assessments; the nurse picks one, changes fields and gives a
reason. The correction is made against the version the nurse saw (optimistic concurrency): if
someone saved a newer version meanwhile, :class:`dashboard.store.errors.ConflictError` says who,
when and what, and nothing is written. When the day of the assessment was already signed off by a
physician, the correction still goes through (with its reason) and the timeline shows the day as
"changed after sign-off" with both values (:mod:`dashboard.services.signoff`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine

from dashboard.services.signoff import signoffs_of
from dashboard.store.access import Actor
from dashboard.store.errors import InvalidRecordError
from dashboard.store.records import StoredRecord
from dashboard.store.unit_of_work import UnitOfWork
from grading import Assessment

#: The fields a correction may change (the clinical values; patient and derived fields stay).
CORRECTABLE = tuple(
    name for name in Assessment.model_fields
    if name not in ("patient_id", "antipyretic_or_anticytokine_given", "ice_items", "capd_items")
)  # fmt: skip


class Recent(BaseModel):
    """One saved assessment as the correction list shows it."""

    model_config = ConfigDict(frozen=True)

    record_id: str
    version: int
    observed_at: datetime
    entered_by: str
    entered_at: datetime
    values: dict[str, Any]
    signed_off_by: str | None  # the physician who signed the day off, if any


def recent(engine: Engine, actor: Actor, patient_id: str, limit: int = 20) -> list[Recent]:
    """The patient's current assessments, newest clinical time first."""
    with UnitOfWork(engine, actor) as uow:
        stored = uow.assessments.current(patient_id)[-limit:]
        patient = uow.patients.get(patient_id)
        signed = {s.study_day: s.signed_by for s in signoffs_of(uow.session, patient_id)}
    infusion = patient.infusion_at.date()
    return [
        Recent(
            record_id=s.record_id, version=s.version, observed_at=s.values.observed_at,
            entered_by=s.entered_by, entered_at=s.entered_at,
            values={k: _plain(v) for k, v in s.values.model_dump().items() if k in CORRECTABLE},
            signed_off_by=signed.get((s.values.observed_at.date() - infusion).days),
        )
        for s in reversed(stored)
    ]  # fmt: skip


def correct(
    engine: Engine, actor: Actor, record_id: str, version: int, changes: Mapping[str, Any],
    reason: str,
) -> StoredRecord[Assessment]:  # fmt: skip
    """A new version with ``changes`` applied to the version the user saw."""
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise InvalidRecordError([f"{name}: cannot be corrected here" for name in unknown])
    with UnitOfWork(engine, actor) as uow:
        history = uow.assessments.history(record_id)
        seen = next((h for h in history if h.version == version), None)
        if seen is None:
            raise InvalidRecordError([f"record {record_id} has no version {version}"])
        values = {**seen.values.model_dump(), **changes}
        try:
            corrected = Assessment.model_validate(values)
        except ValidationError as error:
            raise InvalidRecordError(
                [f"{'.'.join(map(str, d['loc']))} = {d.get('input')!r}: {d['msg']}"
                 for d in error.errors()]
            ) from None  # fmt: skip
        stored = uow.assessments.correct(record_id, version, corrected, reason)
        uow.commit()
    return stored


def withdraw(
    engine: Engine, actor: Actor, record_id: str, version: int, reason: str
) -> StoredRecord[Assessment]:
    """An entry made in error (wrong patient, duplicate): withdrawn with a reason, still readable."""
    with UnitOfWork(engine, actor) as uow:
        stored = uow.assessments.withdraw(record_id, version, reason)
        uow.commit()
    return stored


def history(engine: Engine, actor: Actor, record_id: str) -> list[StoredRecord[Assessment]]:
    with UnitOfWork(engine, actor) as uow:
        return uow.assessments.history(record_id)


def _plain(value: Any) -> Any:
    return getattr(value, "value", value)


def options(field: str) -> tuple[str, ...] | None:
    """The allowed values of a coded field (its enumeration), None for a free value."""
    annotation = Assessment.model_fields[field].annotation
    for candidate in get_args(annotation) or (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, Enum):
            return tuple(str(member.value) for member in candidate)
        if candidate is bool:
            return ("true", "false")
    return None
